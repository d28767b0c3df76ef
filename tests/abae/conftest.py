"""Session fixtures of the proxy tests: the tiny collection's proxy is trained once per session.

Training a proxy (pretraining the backbone, cross-validating three candidates,
scoring) is the slow part of the proxy-pipeline tests. :func:`tiny_trained`
does it once, in a session folder; :func:`trained_store` hands each test its
own copy of that store (database file and proxies folder), so tests that query
or retrain never see each other's changes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from proxy_pipeline_data import TinyImages, import_tiny, tiny_images

from abae.proxy.backbone import Pretraining
from abae.proxy.store_pipeline import (
    ProxyTrainingSettings,
    TrainedCollectionProxy,
    train_collection_proxy,
)
from abae.query.plan import OracleCall
from abae.store import Store

TINY_SETTINGS = ProxyTrainingSettings(
    pilot_size=120,
    epochs=4,
    lr=5e-3,
    batch_size=32,
    folds=3,
    pretraining=Pretraining(epochs=1, batch_size=64),
)
"""Training settings small enough for the default test run (seconds on one thread)."""
HAS_SQUARE = OracleCall("has_square", ("image",))


@dataclass(frozen=True)
class TrainedTiny:
    """The tiny collection with its proxy ``afno_proxy`` trained (in a session folder)."""

    folder: Path
    data: TinyImages
    trained: TrainedCollectionProxy

    @property
    def db(self) -> Path:
        return self.folder / "db.duckdb"


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedTiny:
    """240 tiny images, a 120-label pilot and the proxy chosen on it; trained once."""
    folder = tmp_path_factory.mktemp("tiny_trained")
    data = tiny_images()
    store = import_tiny(folder / "db.duckdb", data)
    trained = train_collection_proxy(
        store,
        "tiny",
        "afno_proxy",
        data.oracles(),
        predicate=HAS_SQUARE,
        settings=TINY_SETTINGS,
        progress=False,
    )
    store.close()
    return TrainedTiny(folder, data, trained)


def copy_store(source: Path, target_folder: Path) -> Path:
    """Copy a store file and its ``.proxies`` folder into ``target_folder``; the new db path."""
    target = target_folder / source.name
    shutil.copy2(source, target)
    proxies = source.parent / f"{source.name}.proxies"
    if proxies.is_dir():
        shutil.copytree(proxies, target_folder / proxies.name)
    return target


@pytest.fixture
def trained_store(tiny_trained: TrainedTiny, tmp_path: Path) -> tuple[Store, TrainedTiny]:
    """This test's own copy of the trained tiny store, and what was trained."""
    return Store(copy_store(tiny_trained.db, tmp_path)), tiny_trained
