"""Path rules: what may be a store, links out of an image folder, glob-like names, exports."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from abae.cli import main
from abae.errors import AbaeError
from abae.store import (
    CollectionImportError,
    SkippedFileWarning,
    Store,
    export_json,
    import_arrays,
    import_image_folder,
    import_table_file,
)

SECRET = b"root:x:0:0:secret-bytes-that-must-not-be-imported\n"


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4), value, np.uint8)).save(path)


# --- what may be a store ------------------------------------------------------------------


def _first_transaction(path: Path) -> None:
    with Store(path).transaction() as con:
        con.execute("SELECT 1").fetchall()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("frames.csv", b"id,score\n1,0.5\n", "not a DuckDB database"),
        ("notes.duckdb", b"just text, not a database", "not a DuckDB database"),
        ("empty.duckdb", b"", "an empty file"),
        ("new.csv", None, "a name ending in .csv is a data file's"),
        ("new.parquet", None, "a name ending in .parquet is a data file's"),
    ],
)
def test_paths_that_cannot_be_a_store_are_refused(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AbaeError, match=message):
        _first_transaction(path)
    if content is not None:
        assert path.read_bytes() == content, "the refused file was changed"
    else:
        assert not path.exists()


def test_a_folder_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(AbaeError, match="is a folder"):
        Store(tmp_path)


@pytest.mark.parametrize("name", ["store.duckdb", "store.db", "store"])
def test_new_store_paths_are_accepted(tmp_path: Path, name: str) -> None:
    store = Store(tmp_path / name)
    import_arrays(store, "r", columns={"v": np.arange(2)})
    store.close()
    assert Store(tmp_path / name).path == tmp_path / name


def test_cli_refuses_db_that_is_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "frames.csv"
    csv.write_text("id,score\n1,0.5\n")
    assert main(["labels", "--db", str(csv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("abae labels: error: --db ")
    assert "not a DuckDB database" in err
    assert csv.read_text() == "id,score\n1,0.5\n"


# --- image folders: links -----------------------------------------------------------------


@pytest.fixture
def folder_with_links(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd.png").write_bytes(SECRET)
    folder = tmp_path / "images"
    _png(folder / "a.png", 10)
    _png(folder / "sub" / "b.png", 20)
    (folder / "escape.png").symlink_to(outside / "passwd.png")
    (folder / "sub" / "up.png").symlink_to(Path("..") / ".." / "outside" / "passwd.png")
    (folder / "inside.png").symlink_to(folder / "a.png")
    (folder / "broken.png").symlink_to(folder / "missing.png")
    (folder / "linked_dir").symlink_to(outside, target_is_directory=True)
    os.mkfifo(folder / "pipe.png")
    return folder


@pytest.mark.parametrize("embed", [False, True])
def test_links_out_of_the_folder_are_skipped_with_a_warning(
    tmp_path: Path, folder_with_links: Path, embed: bool
) -> None:
    store = Store(tmp_path / "s.duckdb")
    warnings: list[str] = []
    collection = import_image_folder(
        store, "imgs", folder_with_links, embed=embed, on_warning=warnings.append
    )
    batch = next(collection.iter_batches(columns=["filename"]))
    assert batch.columns["filename"].tolist() == ["a.png", "inside.png", "sub/b.png"]
    assert all(str(folder_with_links.resolve()) in (image or "") for image in batch.images)
    assert len(warnings) == 1
    for skipped in ("escape.png links outside", "sub/up.png links outside", "broken.png is a broken link", "pipe.png is not a regular file"):  # fmt: skip
        assert skipped in warnings[0]
    if embed:
        assert batch.blobs[1] == (folder_with_links / "a.png").read_bytes()
    with store.transaction() as con:
        leaked = con.execute(
            "SELECT count(*) FROM imgs WHERE contains(image, 'passwd') "
            "OR contains(CAST(image_blob AS VARCHAR), 'secret-bytes')"
        ).fetchall()
    assert leaked == [(0,)]


def test_skipped_files_warn_by_default(tmp_path: Path, folder_with_links: Path) -> None:
    with pytest.warns(SkippedFileWarning, match="skipped 4 file"):
        import_image_folder(Store(tmp_path / "s.duckdb"), "imgs", folder_with_links)


def test_cli_warns_about_skipped_links(
    tmp_path: Path, folder_with_links: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "s.duckdb")
    assert main(["import", str(folder_with_links), "--embed", "--db", db, "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "abae import: warning: skipped 4 file(s)" in captured.err
    assert "imported 3 records" in captured.out


def test_a_folder_with_only_unsafe_files_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "escape.png").symlink_to("/etc/hostname")
    with pytest.raises(CollectionImportError, match="no image files"):
        import_image_folder(Store(tmp_path / "s.duckdb"), "imgs", folder, on_warning=print)


# --- glob-like file names -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["*.csv", "a?.csv", "[ab].csv", "{x}.csv"])
def test_a_csv_named_like_a_pattern_is_read_as_that_file(tmp_path: Path, name: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for other in ("ab.csv", "a.csv", "b.csv", "x.csv"):
        (data / other).write_text("v\n100\n200\n")
    (data / name).write_text("v\n1\n2\n3\n")
    collection = import_table_file(Store(tmp_path / "s.duckdb"), "t", data / name)
    assert next(collection.iter_batches(columns=["v"])).columns["v"].tolist() == [1, 2, 3]


# --- JSON export destinations -------------------------------------------------------------


def test_export_to_a_folder_or_a_missing_folder_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(AbaeError, match="it is a folder; give a file path"):
        export_json(store, tmp_path)
    with pytest.raises(AbaeError, match="does not exist"):
        export_json(store, tmp_path / "missing" / "out.json")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(AbaeError, match="does not exist"):
        export_json(store, blocker / "out.json")
    assert [p.name for p in tmp_path.rglob("*") if "json" in p.name] == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_export_to_an_unwritable_place_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(AbaeError, match="permission denied"):
            export_json(Store(tmp_path / "s.duckdb"), locked / "out.json")
    finally:
        locked.chmod(0o700)


def test_cli_export_to_a_folder_prints_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "s.duckdb")
    assert main(["labels", "--db", db, "--export", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("abae labels: error: cannot export to ")
    assert len(err.strip().splitlines()) == 1
