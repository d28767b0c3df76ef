"""Bad input to the proxy pipeline: each error names the record or file; the ledger keeps its labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from proxy_pipeline_data import PREFIX, import_tiny, tiny_images

import afno
from abae.demo.truth_oracles import truth_registry
from abae.errors import AbaeError
from abae.proxy import ImageInputError, ProxyCheckpointError, save_proxy, train_proxy
from abae.proxy.backbone import Pretraining
from abae.proxy.pilot_labels import pilot_query_id
from abae.proxy.store_pipeline import (
    ProxyTrainingSettings,
    score_collection,
    train_collection_proxy,
)
from abae.query.plan import OracleCall
from abae.store import LabelLedger, RecordCollection, Store, import_arrays, import_image_folder
from afno.training import CheckpointError

SETTINGS = ProxyTrainingSettings(
    pilot_size=40, epochs=1, batch_size=16, folds=3, pretraining=Pretraining(epochs=1)
)
CHEAP = dataclasses.replace(SETTINGS, candidates=("pixels_logistic",))
"""Without a backbone to pretrain, images are first decoded after the pilot is labelled."""


def _folder_of_images(folder: Path, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """n 16×16 grey PNGs named 000.png...; returns (predicate, statistic) per file."""
    data = tiny_images(n, seed=3)
    folder.mkdir()
    for i, image in enumerate(data.images):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return data.predicate, data.statistic


def _folder_store(tmp_path: Path) -> tuple[Store, object]:
    predicate, statistic = _folder_of_images(tmp_path / "images")
    store = Store(tmp_path / "db.duckdb")
    import_image_folder(store, "frames", tmp_path / "images")
    # Oracles keyed by the file name (the folder importer's `filename` column).
    registry = truth_registry(
        PREFIX, "has_square", predicate, "brightness", statistic, latency_s=0.0
    )
    spec = registry.get("has_square")
    lookup = spec.fn

    def by_file(filename: str) -> bool:
        return bool(lookup(f"{PREFIX}/{int(filename[:3])}"))

    registry.add(type(spec)("has_square", by_file))
    return store, registry


def _train_frames(
    store: Store, registry: object, settings: ProxyTrainingSettings = SETTINGS
) -> object:
    return train_collection_proxy(
        store,
        "frames",
        "p",
        registry,  # type: ignore[arg-type]
        predicate=OracleCall("has_square", ("filename",)),
        settings=settings,
        progress=False,
    )


def test_truncated_file_is_found_by_pretraining_before_any_label_is_bought(
    tmp_path: Path,
) -> None:
    store, registry = _folder_store(tmp_path)
    broken = tmp_path / "images" / "007.png"
    content = broken.read_bytes()
    broken.write_bytes(content[: len(content) - 40])
    with pytest.raises(ImageInputError, match=r"record 7 \(.*007\.png\).*truncated"):
        _train_frames(store, registry)
    # The backbone's pretraining decodes the collection's images first: nothing was spent.
    assert LabelLedger(store, "frames").spent(pilot_query_id("p")) == 0


def test_truncated_file_names_the_record_and_file_and_keeps_the_pilot_labels(
    tmp_path: Path,
) -> None:
    store, registry = _folder_store(tmp_path)
    broken = tmp_path / "images" / "007.png"
    content = broken.read_bytes()
    broken.write_bytes(content[: len(content) - 40])
    with pytest.raises(ImageInputError, match=r"record 7 \(.*007\.png\).*truncated"):
        _train_frames(store, registry, CHEAP)
    # The pilot labels bought before the failure are in the ledger, and a rerun reuses them.
    ledger = LabelLedger(store, "frames")
    assert ledger.spent(pilot_query_id("p")) == 40
    assert len(ledger.lookup("has_square", range(40))) == 40
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(broken)
    trained = _train_frames(store, registry, CHEAP)
    assert trained.pilot.calls == 0
    assert trained.pilot.reused == 40


def test_unreadable_file_wrong_size_and_wrong_mode_name_the_record(tmp_path: Path) -> None:
    store, registry = _folder_store(tmp_path)
    images = tmp_path / "images"
    trained = _train_frames(store, registry, CHEAP)
    (images / "003.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageInputError, match=r"record 3 .*003\.png.*not an image"):
        score_collection(store, "frames", trained.proxy, progress=False)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(images / "003.png")
    Image.fromarray(np.zeros((20, 16), np.uint8)).save(images / "011.png")
    with pytest.raises(ImageInputError, match=r"record 11 .*011\.png.*20×16.*resize"):
        score_collection(store, "frames", trained.proxy, progress=False)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(images / "011.png")
    with pytest.raises(ImageInputError, match=r"record 11 .*mode is RGB.*reads L"):
        score_collection(store, "frames", trained.proxy, progress=False)


def test_bad_image_blob_names_the_record(tmp_path: Path) -> None:
    data = tiny_images(30)
    store = import_tiny(tmp_path / "db.duckdb", data)
    blob = RecordCollection(store, "tiny").fetch(np.array([12])).blobs[0]
    assert blob is not None
    with store.transaction() as con:
        con.execute("UPDATE tiny SET image_blob = ? WHERE id = 12", [blob[: len(blob) - 40]])
    proxy = train_proxy(data.images, data.predicate, epochs=1, progress=False)
    with pytest.raises(ImageInputError, match=r"record 12: unreadable or truncated image_blob"):
        score_collection(store, "tiny", proxy, progress=False)


def test_empty_table_is_a_clear_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    import_arrays(store, "empty", ids=np.array([], dtype=np.int64))
    registry = tiny_images(10).oracles()
    with pytest.raises(AbaeError, match="'empty' is empty"):
        train_collection_proxy(
            store,
            "empty",
            "p",
            registry,
            predicate=OracleCall("has_square", ("image",)),
            settings=SETTINGS,
            progress=False,
        )
    proxy = train_proxy(*_pair(tiny_images(30)), epochs=1, progress=False)
    with pytest.raises(AbaeError, match="'empty' is empty"):
        score_collection(store, "empty", proxy, progress=False)


def _pair(data: object) -> tuple[np.ndarray, np.ndarray]:
    return data.images, data.predicate  # type: ignore[attr-defined]


def test_checkpoint_for_another_model_or_other_images_names_the_file(tmp_path: Path) -> None:
    data = tiny_images(40)
    store = import_tiny(tmp_path / "db.duckdb", data)
    plain = afno.create_model(
        "afnonet_tiny", img_size=16, patch_size=4, in_chans=1, num_classes=1, seed=0
    )
    not_a_proxy = afno.save_checkpoint(tmp_path / "plain.pt", plain)
    with pytest.raises(ProxyCheckpointError, match=r"plain\.pt.*not an abae proxy"):
        score_collection(store, "tiny", not_a_proxy, progress=False)
    wrong_size = tiny_images(20)
    big = np.repeat(np.repeat(wrong_size.images, 2, axis=1), 2, axis=2)
    other = save_proxy(
        tmp_path / "other.pt", train_proxy(big, wrong_size.predicate, epochs=1, progress=False)
    )
    with pytest.raises(ProxyCheckpointError, match=r"other\.pt reads 32×32 L.*16×16 L"):
        score_collection(store, "tiny", other, progress=False)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match=r"garbage\.pt cannot be read"):
        score_collection(store, "tiny", garbage, progress=False)
