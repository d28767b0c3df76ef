"""Import formats: PNG encoding, Parquet/CSV through DuckDB, NumPy ``.npz``, CLI dispatch."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from abae.cli import main
from abae.store import (
    CollectionImportError,
    RecordCollection,
    Store,
    import_npz,
    import_table_file,
)
from abae.store.png_encoding import encode_png_batch


@st.composite
def image_batches(draw: st.DrawFn) -> np.ndarray:
    count = draw(st.integers(1, 3))
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    channels = draw(st.sampled_from([None, 1, 2, 3, 4]))
    shape = (count, height, width) if channels is None else (count, height, width, channels)
    return draw(arrays(np.uint8, shape))


@settings(max_examples=60, deadline=None)
@given(pixels=image_batches(), compression=st.integers(0, 9))
def test_png_batches_decode_to_the_same_pixels(pixels: np.ndarray, compression: int) -> None:
    blobs = encode_png_batch(pixels, compression=compression)
    assert len(blobs) == pixels.shape[0]
    for blob, expected in zip(blobs, pixels, strict=True):
        decoded = np.asarray(Image.open(io.BytesIO(blob)))
        if expected.ndim == 3 and expected.shape[2] == 1:
            expected = expected[..., 0]
        np.testing.assert_array_equal(decoded, expected)


def test_png_encoding_refuses_what_png_cannot_hold() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_png_batch(np.zeros((1, 2, 2), np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1 to 4 channels"):
        encode_png_batch(np.zeros((1, 2, 2, 5), np.uint8))
    with pytest.raises(ValueError, match="zlib level"):
        encode_png_batch(np.zeros((1, 2, 2), np.uint8), compression=10)


def _parquet(path: Path, sql: str) -> Path:
    duckdb.sql(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")
    return path


def test_parquet_keeps_types_and_stores_records_in_id_order(tmp_path: Path) -> None:
    source = _parquet(
        tmp_path / "frames.parquet",
        "SELECT (1000 - range) * 3 AS frame, 'img_' || range || '.png' AS path, "
        "range % 2 = 0 AS night, range::INTEGER AS lane, range / 4.0 AS speed, "
        "TIMESTAMP '2026-01-01' + INTERVAL (range) MINUTE AS seen, "
        "range / 1000.0 AS score FROM range(1000)",
    )
    store = Store(tmp_path / "s.duckdb")
    collection = import_table_file(
        store, "frames", source, id_column="frame", image_column="path", proxy_columns=["score"]
    )
    types = collection.column_types()
    assert types == {
        "id": "BIGINT",
        "image": "VARCHAR",
        "image_blob": "BLOB",
        "night": "BOOLEAN",
        "lane": "INTEGER",
        "speed": "DOUBLE",
        "seen": "TIMESTAMP",
        "score": "DOUBLE",
    }
    assert collection.proxy_names() == ["score"]
    with store.transaction() as con:
        stored_ids = con.execute("SELECT id FROM frames").fetchnumpy()["id"]
    np.testing.assert_array_equal(stored_ids, np.sort(stored_ids))
    first = next(collection.iter_batches(batch_size=2, columns=["score", "lane"]))
    assert first.ids.tolist() == [3, 6]
    assert first.images == ["img_999.png", "img_998.png"]
    assert first.columns["score"].tolist() == [0.999, 0.998]


def test_csv_without_an_id_column_numbers_its_rows(tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text("camera,score\nnorth,0.5\nsouth,0.25\nnorth,1\n")
    collection = import_table_file(Store(tmp_path / "s.duckdb"), "r", csv, proxy_columns=["score"])
    batch = next(collection.iter_batches(columns=["camera", "score"]))
    assert batch.ids.tolist() == [0, 1, 2]
    assert batch.columns["camera"].tolist() == ["north", "south", "north"]
    assert batch.columns["score"].tolist() == [0.5, 0.25, 1.0]


@pytest.mark.parametrize(
    ("header", "options", "message"),
    [
        ("a,b", {"id_column": "rid"}, "--id-column 'rid' is not in r.csv"),
        ("a,b", {"proxy_columns": ["p"]}, "--proxy-column 'p' is not in r.csv"),
        ("a,b", {"image_column": "a"}, "--image-column 'a' holds BIGINT"),
        ("a,id", {}, "clashes with a built-in column"),
        ("a,b", {"id_column": "a", "proxy_columns": ["a"]}, "both a proxy and the id"),
        ("my col,b", {}, r"invalid column name in r\.csv 'my col'.*rename it in the file"),
    ],
)
def test_csv_roles_are_checked(
    tmp_path: Path, header: str, options: dict[str, object], message: str
) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text(f"{header}\n1,2\n3,4\n")
    with pytest.raises(CollectionImportError, match=message):
        import_table_file(Store(tmp_path / "s.duckdb"), "r", csv, **options)  # type: ignore[arg-type]


def test_npz_with_images_columns_and_proxies(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 6, 7), dtype=np.uint8)
    path = tmp_path / "set.npz"
    np.savez(
        path,
        ids=np.array([9, 7, 5, 3, 1]),
        image_arrays=pixels,
        label=np.array(["a", "b", "a", "c", "b"]),
        guess=np.linspace(0, 1, 5),
        matrix=np.zeros((5, 2)),
    )
    warnings: list[str] = []
    collection = import_npz(
        Store(tmp_path / "s.duckdb"),
        "set",
        path,
        proxy_columns=["guess"],
        on_warning=warnings.append,
    )
    assert warnings == ["array 'matrix' of set.npz has shape (5, 2), not (N,): not imported"]
    assert collection.proxy_names() == ["guess"]
    batch = next(collection.iter_batches(columns=["label", "guess"]))
    assert batch.ids.tolist() == [1, 3, 5, 7, 9]
    assert batch.columns["label"].tolist() == ["b", "c", "a", "b", "a"]
    for position, blob in enumerate(batch.blobs):
        assert blob is not None
        np.testing.assert_array_equal(
            np.asarray(Image.open(io.BytesIO(blob))), pixels[4 - position]
        )


def test_npz_with_pickled_objects_or_garbage_is_refused(tmp_path: Path) -> None:
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, things=np.array([{"a": 1}, None], dtype=object))
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(CollectionImportError, match="never loads pickled"):
        import_npz(store, "x", pickled)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(CollectionImportError, match=r"cannot read .* as a NumPy \.npz file"):
        import_npz(store, "x", garbage)
    np.savez(tmp_path / "ok.npz", v=np.arange(3))
    with pytest.raises(CollectionImportError, match="--proxy-column nope not in"):
        import_npz(store, "x", tmp_path / "ok.npz", proxy_columns=["nope"])


def test_cli_imports_npz_and_refuses_options_of_other_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "set.npz"
    np.savez(path, v=np.arange(4), guess=np.linspace(0, 1, 4))
    db = str(tmp_path / "s.duckdb")
    assert main(["import", str(path), "--table", "set", "--proxy-column", "guess", "--db", db]) == 0
    assert "imported 4 records into 'set'" in capsys.readouterr().out
    assert RecordCollection(Store(db), "set").proxy_names() == ["guess"]
    assert main(["import", str(path), "--table", "x", "--embed", "--db", db]) == 2
    assert "--embed does not apply to a npz file" in capsys.readouterr().err
    assert main(["import", str(path), "--table", "x", "--every", "1s", "--db", db]) == 2
    assert "--every does not apply" in capsys.readouterr().err
    text = tmp_path / "notes.md"
    text.write_text("hello")
    assert main(["import", str(text), "--db", db]) == 2
    assert "expected a folder of images, a .csv, .parquet, .npz or video" in capsys.readouterr().err


def test_import_help_documents_every_input_kind(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    text = capsys.readouterr().out
    for kind in ("a folder of images", "a .csv or .parquet", "a .npz file", "a video file"):
        assert kind in text
    for example in ("abae import photos/", "abae import frames.csv", "abae import dashcam.mp4"):
        assert example in text


def test_imports_with_progress_bars_give_the_same_collection(tmp_path: Path) -> None:
    source = _parquet(
        tmp_path / "r.parquet", "SELECT range AS rid, range / 10.0 AS score FROM range(3000)"
    )
    store = Store(tmp_path / "s.duckdb")
    quiet = import_table_file(store, "quiet", source, id_column="rid", proxy_columns=["score"])
    shown = import_table_file(
        store, "shown", source, id_column="rid", proxy_columns=["score"], progress=True
    )
    with store.transaction() as con:
        differing = con.execute(
            "SELECT count(*) FROM (SELECT * FROM quiet EXCEPT SELECT * FROM shown)"
        ).fetchall()
    assert differing == [(0,)]
    assert shown.count() == quiet.count() == 3000
