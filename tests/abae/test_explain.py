"""``abae explain`` predicts from the ledger on the aggregate's own scale, with the query's
population and estimator, and predicts the labels an error target needs."""

from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from abae.engine import Engine, explain_query
from abae.oracles import OracleRegistry, OracleSpec
from abae.store import Store, import_arrays

N = 4000


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    rng = np.random.default_rng(5)
    score = rng.beta(0.5, 1.0, N)
    truth = rng.random(N) < score
    value = 50.0 + 20.0 * score + rng.normal(0.0, 5.0, N)
    store = Store(tmp_path / "x.duckdb")
    import_arrays(store, "frames", proxies={"p": score})
    registry = OracleRegistry()
    registry.add(OracleSpec("hit", lambda rid: bool(truth[rid]), returns="bool"))
    registry.add(OracleSpec("value", lambda rid: float(value[rid]), returns="number"))
    return Engine(store, registry, concurrency=16)


SQL = "SELECT AVG(value(id)) FROM frames WHERE hit(id) ORACLE LIMIT {budget} USING p"


def test_without_ledger_labels_the_prediction_says_why(engine: Engine) -> None:
    explanation = explain_query(engine, SQL.format(budget=600))
    assert explanation.predicted_error is None
    assert "no ledger labels" in explanation.prediction_note
    assert explanation.population == N
    assert sum(row["size"] for row in explanation.strata) == N
    assert explanation.sampling_budget == 600


def test_prediction_is_on_the_avg_scale_and_near_the_realised_error(engine: Engine) -> None:
    first = engine.run(SQL.format(budget=800), seed=1)
    explanation = explain_query(engine, SQL.format(budget=800), seed=2)
    assert explanation.predicted_error is not None
    assert all(row["ledger_labels"] > 0 for row in explanation.strata)
    z = NormalDist().inv_cdf(0.975)
    realised = (first.aggregates[0].ci_high - first.aggregates[0].ci_low) / (2 * z)
    # The AVG's standard error (about 0.3 here), not the positive rate's (about 0.01).
    assert 0.5 * realised < explanation.predicted_error < 2.0 * realised
    assert "AVG" in explanation.prediction_note


def test_error_target_predicts_the_labels_it_needs(engine: Engine) -> None:
    engine.run(SQL.format(budget=800), seed=1)
    wide = explain_query(engine, SQL.format(budget=800).replace("ORACLE", "ERROR WITHIN 1 ORACLE"))
    narrow = explain_query(
        engine, SQL.format(budget=800).replace("ORACLE", "ERROR WITHIN 0.5 ORACLE")
    )
    assert wide.labels_for_target is not None
    assert narrow.labels_for_target is not None
    # Halving the half-width needs about four times the labels (less with the finite population).
    assert 2.5 * wide.labels_for_target < narrow.labels_for_target < 4.5 * wide.labels_for_target
