"""The store side of proxies: pilot labels, training, checkpoint, score column, USING."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from proxy_pipeline_data import import_tiny, tiny_images

from abae.engine import Engine
from abae.engine.proxy_requests import MissingProxyError
from abae.proxy import save_proxy, train_proxy
from abae.proxy.pilot_labels import pilot_query_id
from abae.proxy.store_pipeline import (
    ProxyTrainingSettings,
    QueryProxyTrainer,
    proxy_checkpoint_path,
    score_collection,
    train_collection_proxy,
)
from abae.query.plan import OracleCall
from abae.store import LabelLedger, RecordCollection
from abae.store.pilot_records import pilot_records

SETTINGS = ProxyTrainingSettings(pilot_size=120, epochs=3, lr=5e-3, batch_size=32)
QUERY = (
    "SELECT AVG(brightness(image)) FROM tiny WHERE has_square(image) "
    "ORACLE LIMIT 100 USING afno_proxy"
)


def _train(store, data, **kwargs):
    return train_collection_proxy(
        store,
        "tiny",
        "afno_proxy",
        data.oracles(),
        predicate=OracleCall("has_square", ("image",)),
        settings=kwargs.pop("settings", SETTINGS),
        progress=False,
        **kwargs,
    )


def test_train_labels_a_pilot_saves_a_checkpoint_and_writes_scores(tmp_path: Path) -> None:
    data = tiny_images()
    store = import_tiny(tmp_path / "db.duckdb", data)
    trained = _train(store, data)

    # The pilot went through the runtime: 120 labels in the ledger, charged to pilot:afno_proxy.
    ledger = LabelLedger(store, "tiny")
    assert trained.pilot.ids.size == 120
    assert ledger.spent(pilot_query_id("afno_proxy")) == 120
    labels = ledger.lookup("has_square", trained.pilot.ids.tolist())
    assert [labels[i].predicate for i in trained.pilot.ids.tolist()] == (
        data.predicate[trained.pilot.ids].tolist()
    )
    # Checkpoint beside the database; pilot recorded; every record scored.
    assert trained.checkpoint == proxy_checkpoint_path(store, "tiny", "afno_proxy")
    assert trained.checkpoint.parent.parent == tmp_path / "db.duckdb.proxies"
    assert trained.checkpoint.is_file()
    np.testing.assert_array_equal(pilot_records(store, "tiny", ["afno_proxy"]), trained.pilot.ids)
    collection = RecordCollection(store, "tiny")
    assert "afno_proxy" in collection.proxy_names()
    batch = next(collection.iter_batches(batch_size=1000, columns=["afno_proxy"]))
    scores = batch.columns["afno_proxy"].astype(float)
    np.testing.assert_allclose(scores, trained.proxy.score(data.images, progress=False))
    # The proxy learned the square: positives rank above negatives.
    assert scores[data.predicate].mean() > scores[~data.predicate].mean() + 0.2


def test_query_leaves_the_pilot_records_out_of_sampling(tmp_path: Path) -> None:
    data = tiny_images()
    store = import_tiny(tmp_path / "db.duckdb", data)
    trained = _train(store, data)
    result = Engine(store, data.oracles()).run(QUERY, seed=1)
    assert result.population == 240 - 120
    assert any("left out of sampling" in w for w in result.warnings)
    ledger = LabelLedger(store, "tiny")
    claimed = set()
    with store.transaction() as con:
        rows = con.execute(
            "SELECT record_id FROM abae_claims WHERE query_id = ?", [result.query_id]
        ).fetchall()
    claimed = {int(r[0]) for r in rows}
    assert claimed, "the query labelled records"
    assert claimed.isdisjoint(trained.pilot.ids.tolist())
    assert ledger.spent(result.query_id) <= 100


def test_missing_proxy_is_an_error_that_says_how_to_train_it(tmp_path: Path) -> None:
    data = tiny_images()
    store = import_tiny(tmp_path / "db.duckdb", data)
    with pytest.raises(MissingProxyError, match="abae proxy train tiny --name afno_proxy"):
        Engine(store, data.oracles()).run(QUERY)


def test_train_proxy_inside_a_query_spends_the_query_budget(tmp_path: Path) -> None:
    data = tiny_images()
    store = import_tiny(tmp_path / "db.duckdb", data)
    trainer = QueryProxyTrainer(SETTINGS, max_pilot_share=0.5, progress=False)
    engine = Engine(store, data.oracles(), proxy_trainer=trainer)
    query = QUERY.replace("LIMIT 100", "LIMIT 160")
    result = engine.run(query, seed=2)
    (trained,) = trainer.trained
    assert trained.pilot.ids.size == 80  # capped at half of ORACLE LIMIT 160
    # Pilot and sampling share one budget and one query id.
    assert result.calls_spent_total <= 160
    assert result.calls_spent == result.calls_spent_total
    assert result.calls_spent > 80
    assert result.population == 240 - 80
    assert LabelLedger(store, "tiny").spent(pilot_query_id("afno_proxy")) == 0


def test_score_with_a_checkpoint_trained_elsewhere(tmp_path: Path) -> None:
    data = tiny_images()
    store = import_tiny(tmp_path / "db.duckdb", data)
    elsewhere = tiny_images(seed=5)
    proxy = train_proxy(
        elsewhere.images[:100],
        elsewhere.predicate[:100],
        epochs=2,
        name="outside",
        progress=False,
    )
    path = save_proxy(tmp_path / "outside.pt", proxy)
    scores = score_collection(store, "tiny", path, batch_size=64, progress=False)
    np.testing.assert_allclose(scores, proxy.score(data.images, progress=False))
    assert "outside" in RecordCollection(store, "tiny").proxy_names()
    # The same column can be written under another name.
    score_collection(store, "tiny", path, name="renamed", progress=False)
    assert "renamed" in RecordCollection(store, "tiny").proxy_names()


def test_count_over_the_records_left_is_scaled_to_the_whole_collection(tmp_path: Path) -> None:
    data = tiny_images()
    store = import_tiny(tmp_path / "db.duckdb", data)
    trained = _train(store, data)
    # A budget that labels every record left: the count over them is exact, then scaled.
    query = "SELECT COUNT(*) FROM tiny WHERE has_square(image) ORACLE LIMIT 120 USING afno_proxy"
    result = Engine(store, data.oracles()).run(query)
    left = np.setdiff1d(np.arange(240), trained.pilot.ids)
    (count,) = result.aggregates
    assert count.estimate == pytest.approx(data.predicate[left].sum() * 240 / 120)
