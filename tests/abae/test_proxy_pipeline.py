"""The store side of proxies: pilot labels, backbone cache, selection, checkpoint, score column,
pilot scores, catalog, and ``USING`` a proxy in a query.

The proxy is trained once per session (``tiny_trained`` in ``conftest.py``); each
test that changes the store works on its own copy (``trained_store``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import HAS_SQUARE, TINY_SETTINGS, TrainedTiny
from proxy_pipeline_data import import_tiny, tiny_images

from abae.engine import Engine
from abae.engine.proxy_requests import MissingProxyError
from abae.proxy import PilotShortfallError, PilotTooSmallError, load_proxy, save_proxy, train_proxy
from abae.proxy.backbone import backbone_path
from abae.proxy.pilot_labels import pilot_query_id
from abae.proxy.selection import KNOWN_CANDIDATES, TIE_MARGIN
from abae.proxy.store_pipeline import (
    QueryProxyTrainer,
    proxy_checkpoint_path,
    score_collection,
    train_collection_proxy,
)
from abae.store import LabelLedger, RecordCollection, Store
from abae.store.pilot_records import pilot_records, pilot_records_with_scores
from abae.store.proxy_catalog import note_proxy_use, proxy_entry
from numerics import assert_close_across_paths, assert_same_path

QUERY = (
    "SELECT AVG(brightness(image)) FROM tiny WHERE has_square(image) "
    "ORACLE LIMIT 100 USING afno_proxy"
)


def _column(store: Store, name: str = "afno_proxy") -> np.ndarray:
    batch = next(RecordCollection(store, "tiny").iter_batches(batch_size=1000, columns=[name]))
    return batch.columns[name].astype(np.float64)


def _train(store: Store, data: object, name: str = "afno_proxy", **changes: object) -> object:
    return train_collection_proxy(
        store,
        "tiny",
        name,
        data.oracles(),  # type: ignore[attr-defined]
        predicate=HAS_SQUARE,
        settings=dataclasses.replace(TINY_SETTINGS, **changes),  # type: ignore[arg-type]
        progress=False,
    )


def test_train_labels_a_pilot_chooses_a_candidate_and_writes_scores(
    trained_store: tuple[Store, TrainedTiny],
) -> None:
    store, tiny = trained_store
    trained, data = tiny.trained, tiny.data
    # The pilot went through the runtime: 120 labels in the ledger, charged to pilot:afno_proxy.
    ledger = LabelLedger(store, "tiny")
    assert trained.pilot_ids.size == 120
    assert trained.calls == trained.spent == 120
    assert ledger.spent(pilot_query_id("afno_proxy")) == 120
    labels = ledger.lookup("has_square", trained.pilot_ids.tolist())
    assert [labels[i].predicate for i in trained.pilot_ids.tolist()] == (
        data.predicate[trained.pilot_ids].tolist()
    )
    # Every candidate was cross-validated; the chosen one has the best AUC (ties: the cheapest).
    results = trained.selection.results
    assert set(results) == set(TINY_SETTINGS.candidates)
    assert trained.candidate in KNOWN_CANDIDATES
    assert trained.cv_auc == results[trained.candidate].auc
    assert trained.cv_auc >= max(r.auc for r in results.values()) - TIE_MARGIN
    assert trained.proxy.metadata["candidate"] == trained.candidate
    # Checkpoint beside the database; every record scored.
    assert trained.checkpoint.name == "afno_proxy.pt"
    assert trained.checkpoint.parent.parent.name == "db.duckdb.proxies"
    scores = _column(store)
    # The store path decodes PNG blobs in batches of 256; the in-memory path reads arrays.
    assert_close_across_paths(scores, trained.proxy.score(data.images, progress=False))
    # The proxy learned the square: positives rank above negatives.
    assert scores[data.predicate].mean() > scores[~data.predicate].mean() + 0.2


def test_pilot_is_recorded_with_cross_fitted_scores_on_the_score_scale(
    trained_store: tuple[Store, TrainedTiny],
) -> None:
    store, tiny = trained_store
    trained = tiny.trained
    ids, scores = pilot_records_with_scores(store, "tiny", "afno_proxy")
    assert_same_path(ids, trained.pilot_ids)
    assert_same_path(scores, trained.pilot_scores)
    assert_same_path(pilot_records(store, "tiny", ["afno_proxy"]), ids)
    # The cross-fitted order is kept, and the values are final scores of the other records.
    out_of_fold = trained.selection.out_of_fold_scores
    assert np.all(np.diff(scores[np.argsort(out_of_fold, kind="stable")]) >= 0)
    others = np.setdiff1d(np.arange(240), ids)
    column = _column(store)
    assert column[others].min() <= scores.min() <= scores.max() <= column[others].max()
    # A proxy without a pilot has none.
    empty_ids, empty_scores = pilot_records_with_scores(store, "tiny", "unknown_proxy")
    assert empty_ids.size == empty_scores.size == 0


def test_catalog_holds_the_choice_and_counts_uses(
    trained_store: tuple[Store, TrainedTiny],
) -> None:
    store, tiny = trained_store
    entry = proxy_entry(store, "tiny", "afno_proxy")
    assert entry is not None
    assert (entry.candidate, entry.cv_auc) == (tiny.trained.candidate, tiny.trained.cv_auc)
    assert (entry.pilot_size, entry.pilot_calls, entry.uses) == (120, 120, 0)
    assert entry.warning is None
    assert Path(str(entry.checkpoint)).name == "afno_proxy.pt"
    assert [note_proxy_use(store, "tiny", "afno_proxy") for _ in range(3)] == [1, 2, 3]
    assert proxy_entry(store, "tiny", "afno_proxy").uses == 3  # type: ignore[union-attr]
    assert note_proxy_use(store, "tiny", "imported_column") == 0


def test_backbone_is_cached_per_collection_and_reused(
    trained_store: tuple[Store, TrainedTiny],
) -> None:
    store, tiny = trained_store
    first = tiny.trained.backbone
    assert first is not None
    assert not first.reused
    cached = backbone_path(store, "tiny", first.key)
    assert cached.is_file()
    # A second proxy on the same collection reuses the backbone: no pretraining.
    second = _train(store, tiny.data, name="second_proxy", candidates=("afno_linear_probe",))
    assert second.backbone.reused  # type: ignore[attr-defined]
    assert second.backbone.key == first.key  # type: ignore[attr-defined]
    # Labels already in the ledger are free: the second pilot (same seed) buys nothing.
    assert second.calls == 0  # type: ignore[attr-defined]


def test_a_changed_collection_gets_a_new_backbone(
    tmp_path: Path, tiny_trained: TrainedTiny
) -> None:
    first = tiny_trained.trained.backbone
    assert first is not None
    changed = tiny_images()
    changed.images[7] = 255 - changed.images[7]
    store = import_tiny(tmp_path / "db.duckdb", changed)
    trained = _train(store, changed, candidates=("afno_linear_probe",))
    assert not trained.backbone.reused  # type: ignore[attr-defined]
    assert trained.backbone.key != first.key  # type: ignore[attr-defined]


def test_a_query_uses_the_pilot_as_a_census_and_never_buys_its_labels_again(
    trained_store: tuple[Store, TrainedTiny],
) -> None:
    store, tiny = trained_store
    result = Engine(store, tiny.data.oracles()).run(QUERY, seed=1)
    assert result.population == 240  # the pilot is no longer left out
    assert 0 < LabelLedger(store, "tiny").spent(result.query_id) <= 100
    # Every pilot label is still the one the pilot bought: none was paid for again.
    with store.transaction() as con:
        rows = con.execute(
            "SELECT record_id, query_id FROM abae_labels WHERE collection = 'tiny' "
            "AND oracle = 'has_square'"
        ).fetchall()
    bought_by = {int(record): str(query) for record, query in rows}
    assert {bought_by[i] for i in tiny.trained.pilot_ids.tolist()} == {"pilot:afno_proxy"}


def test_results_and_reports_show_the_chosen_candidate_and_its_auc(
    trained_store: tuple[Store, TrainedTiny], tmp_path: Path
) -> None:
    from abae.report import write_report

    store, tiny = trained_store
    result = Engine(store, tiny.data.oracles()).run(QUERY, seed=2)
    (facts,) = result.proxies
    assert facts["candidate"] == tiny.trained.candidate
    line = f"proxy afno_proxy: {tiny.trained.candidate}, cross-validated AUC "
    _, page = write_report(result, tmp_path / "report")
    assert line in page.read_text()


def test_missing_proxy_is_an_error_that_says_how_to_train_it(tmp_path: Path) -> None:
    data = tiny_images()
    store = import_tiny(tmp_path / "db.duckdb", data)
    with pytest.raises(MissingProxyError, match="abae proxy train tiny --name afno_proxy"):
        Engine(store, data.oracles()).run(QUERY)


def test_train_proxy_inside_a_query_reports_the_pilot_spend(
    trained_store: tuple[Store, TrainedTiny],
) -> None:
    store, tiny = trained_store
    settings = dataclasses.replace(TINY_SETTINGS, candidates=("pixels_logistic",))
    trainer = QueryProxyTrainer(settings, max_pilot_share=0.5, progress=False, log=None)
    engine = Engine(store, tiny.data.oracles(), proxy_trainer=trainer)
    query = QUERY.replace("LIMIT 100", "LIMIT 160").replace("afno_proxy", "query_proxy")
    result = engine.run(query, seed=2)
    (trained,) = trainer.trained
    assert trained.pilot_ids.size == 80  # capped at half of ORACLE LIMIT 160
    # The pilot's labels were in the ledger already (the session proxy's pilot, same seed
    # order): reused for free, so the pilot spent nothing of the query's budget.
    assert trained.calls == trainer.pilot_spent == trained.spent == 0
    assert result.calls_spent_total <= 160
    assert LabelLedger(store, "tiny").spent(pilot_query_id("query_proxy")) == 0


def test_query_trainer_spend_counts_fresh_pilot_labels(tmp_path: Path) -> None:
    data = tiny_images()
    store = import_tiny(tmp_path / "db.duckdb", data)
    settings = dataclasses.replace(TINY_SETTINGS, candidates=("pixels_logistic",))
    trainer = QueryProxyTrainer(settings, max_pilot_share=0.5, progress=False, log=None)
    result = Engine(store, data.oracles(), proxy_trainer=trainer).run(
        QUERY.replace("LIMIT 100", "LIMIT 160"), seed=2
    )
    (trained,) = trainer.trained
    assert trained.pilot_ids.size == trained.calls == trained.spent == trainer.pilot_spent == 80
    assert LabelLedger(store, "tiny").spent(result.query_id) == result.calls_spent_total <= 160


def test_score_with_a_checkpoint_trained_elsewhere(
    trained_store: tuple[Store, TrainedTiny], tmp_path: Path
) -> None:
    store, tiny = trained_store
    elsewhere = tiny_images(seed=5)
    proxy = train_proxy(
        elsewhere.images[:100], elsewhere.predicate[:100], epochs=2, name="outside", progress=False
    )
    path = save_proxy(tmp_path / "outside.pt", proxy)
    scores = score_collection(store, "tiny", path, batch_size=64, progress=False)
    assert_close_across_paths(scores, proxy.score(tiny.data.images, progress=False))
    assert_close_across_paths(_column(store, "outside"), scores)
    # The same column can be written under another name; the same path twice is bitwise.
    again = score_collection(store, "tiny", path, name="renamed", batch_size=64, progress=False)
    assert_same_path(again, scores)
    assert "renamed" in RecordCollection(store, "tiny").proxy_names()


def test_the_saved_proxy_scores_like_the_trained_one(
    trained_store: tuple[Store, TrainedTiny],
) -> None:
    store, tiny = trained_store
    loaded = load_proxy(proxy_checkpoint_path(store, "tiny", "afno_proxy"))
    assert loaded.metadata["candidate"] == tiny.trained.candidate
    assert_same_path(
        loaded.score_batch(tiny.data.images[:50]),
        tiny.trained.proxy.score_batch(tiny.data.images[:50]),
    )


def test_auto_pilot_grows_in_rounds_and_reuses_labels(tmp_path: Path) -> None:
    data = tiny_images()
    store = import_tiny(tmp_path / "db.duckdb", data)
    trained = _train(
        store,
        data,
        pilot_size="auto",
        first_round=30,
        max_pilot=200,
        min_auc_gain=1.0,  # stop after the second round whatever it gains
        candidates=("pixels_logistic",),
    )
    rounds = trained.rounds  # type: ignore[attr-defined]
    assert [r.asked for r in rounds] == [30, 60]
    assert all(r.cv_auc is not None for r in rounds)
    # Nested pilots: the second round bought only its 30 new records.
    assert trained.calls == trained.spent == trained.pilot_ids.size == 60  # type: ignore[attr-defined]
    assert [r["asked"] for r in trained.proxy.metadata["pilot_rounds"]] == [30, 60]  # type: ignore[attr-defined]


def test_auto_pilot_stops_at_its_cap() -> None:
    settings = dataclasses.replace(TINY_SETTINGS, pilot_size="auto", first_round=100)
    assert settings.round_sizes(1000) == [100, 200, 400, 800, 1000]
    assert settings.round_sizes(300) == [100, 200, 300]
    assert settings.round_sizes(60) == [60]
    assert dataclasses.replace(TINY_SETTINGS, pilot_size=500).round_sizes(300) == [300]


def test_a_pilot_with_fewer_labels_than_asked_is_refused_or_said(tmp_path: Path) -> None:
    data = tiny_images()
    store = import_tiny(tmp_path / "db.duckdb", data)
    # A budget of 70 for a 120-record pilot: as after a killed run whose claims stay spent.
    with pytest.raises(PilotShortfallError, match=r"70 labels of the 120 asked: 50 are missing"):
        _train(store, data, pilot_budget=70, candidates=("pixels_logistic",))
    trained = _train(
        store, data, pilot_budget=70, accept_smaller_pilot=True, candidates=("pixels_logistic",)
    )
    assert trained.pilot_ids.size == 70  # type: ignore[attr-defined]
    assert trained.calls == 0  # type: ignore[attr-defined]  # bought by the refused run
    assert any("70 labels of the 120 asked" in w for w in trained.warnings)  # type: ignore[attr-defined]
    entry = proxy_entry(store, "tiny", "afno_proxy")
    assert entry is not None
    assert entry.pilot_size == 70
    assert "70 labels of the 120 asked" in str(entry.warning)


def test_a_pilot_without_enough_positives_is_a_clear_error(tmp_path: Path) -> None:
    data = tiny_images()
    data.predicate[:] = False
    data.predicate[3] = True
    store = import_tiny(tmp_path / "db.duckdb", data)
    with pytest.raises(PilotTooSmallError, match=r"(0|1) positive and \d+ negative"):
        _train(store, data, candidates=("pixels_logistic",))


def test_a_count_that_labels_every_other_record_is_exact(
    trained_store: tuple[Store, TrainedTiny],
) -> None:
    # The census (120 pilot labels) plus a budget that labels the 120 other records: exact.
    store, tiny = trained_store
    query = "SELECT COUNT(*) FROM tiny WHERE has_square(image) ORACLE LIMIT 120 USING afno_proxy"
    result = Engine(store, tiny.data.oracles()).run(query)
    (count,) = result.aggregates
    assert count.estimate == pytest.approx(tiny.data.predicate.sum())
