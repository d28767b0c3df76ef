"""Conditions on oracle outputs and ERROR WITHIN, end to end through the engine and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from abae.cli import main
from abae.engine import Engine
from abae.oracles import load_oracle_file
from abae.store import Store, import_arrays

N = 2000
ORACLES = """
import abae
import numpy as np

_rng = np.random.default_rng(7)
_cars = _rng.poisson(1.5 + 3.0 * np.linspace(0, 1, {n}) ** 2)

@abae.oracle("count_cars", returns="number")
def count_cars(rid):
    return float(_cars[rid])
"""


def _cars() -> np.ndarray:
    return np.random.default_rng(7).poisson(1.5 + 3.0 * np.linspace(0, 1, N) ** 2)


@pytest.fixture
def store(tmp_path: Path) -> dict[str, str]:
    rng = np.random.default_rng(1)
    proxy = np.linspace(0, 1, N) + rng.normal(0, 0.2, N)
    db = tmp_path / "t.duckdb"
    import_arrays(Store(db), "frames", proxies={"p": proxy})
    oracles = tmp_path / "oracles.py"
    oracles.write_text(ORACLES.format(n=N))
    return {"db": str(db), "oracles": str(oracles)}


COUNT_SQL = "SELECT COUNT(*) FROM frames WHERE count_cars(id) > 2 ORACLE LIMIT {limit} USING p"


def test_a_condition_on_an_oracle_output_is_exact_when_the_budget_covers_the_collection(
    store: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sql = COUNT_SQL.format(limit=N)
    assert main(["query", sql, "--oracles", store["oracles"], "--db", store["db"], "--json",
                 "--no-progress"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    (count,) = result["aggregates"]
    truth = int((_cars() > 2).sum())
    assert count["estimate"] == truth
    assert count["ci_low"] == count["ci_high"] == truth


def test_error_within_stops_when_the_target_is_met_and_says_so(store: dict[str, str]) -> None:
    engine = Engine(store["db"], load_oracle_file(store["oracles"]), concurrency=16)
    result = engine.run(
        "SELECT AVG(count_cars(id)) FROM frames ERROR WITHIN 0.1 RELATIVE USING p", seed=3
    )
    assert result.budget_defaulted
    assert result.target is not None
    (average,) = result.aggregates
    assert result.target.reached == [pytest.approx(average.half_width / average.estimate)]
    assert result.target.met == (result.target.reached[0] <= 0.1)
    # far fewer than the default cap of 10,000 (and than the 2,000 records)
    assert result.calls_spent_total < N // 2
    assert any("error target" in w and "planned" in w for w in result.warnings)
    assert any("default cap of 10000" in w for w in result.warnings)


def test_a_cap_too_small_for_the_target_is_reported(store: dict[str, str]) -> None:
    engine = Engine(store["db"], load_oracle_file(store["oracles"]), concurrency=16)
    result = engine.run(
        "SELECT AVG(count_cars(id)), COUNT(*) FROM frames WHERE count_cars(id) > 0 "
        "ERROR WITHIN 0.001 RELATIVE ORACLE LIMIT 300 USING p"
    )
    assert result.target is not None
    assert not result.target.met
    assert len(result.target.reached) == 2
    assert result.calls_spent_total == 300
    assert any("raise ORACLE LIMIT" in w for w in result.warnings)


@pytest.mark.slow
@pytest.mark.parametrize(
    "sql",
    [
        COUNT_SQL.format(limit=300),
        "SELECT AVG(count_cars(id)) FROM frames ERROR WITHIN 0.05 RELATIVE USING p",
    ],
)
def test_repeated_runs_cover_the_truth_95_percent_of_the_time(
    store: dict[str, str], sql: str
) -> None:
    engine = Engine(store["db"], load_oracle_file(store["oracles"]), concurrency=16)
    cars = _cars()
    truth = float((cars > 2).sum()) if "COUNT" in sql else float(cars.mean())
    runs = 300
    covered = 0
    for seed in range(runs):
        (estimate,) = engine.run(sql, seed=seed).aggregates
        covered += estimate.ci_low <= truth <= estimate.ci_high
    assert 0.93 <= covered / runs <= 0.97
