"""Smoke test: ``benchmarks/bench_demo.py --quick`` runs and writes its table."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from abae.datasets.fashion_mnist import DEFAULT_DIR
from abae.proxy.selection import CANDIDATE_NAMES

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_demo.py"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``benchmarks/bench_demo.py`` as a module."""
    spec = importlib.util.spec_from_file_location("bench_demo", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_demo", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not (DEFAULT_DIR / "train-labels-idx1-ubyte.gz").is_file(),
    reason=f"Fashion-MNIST is not installed in {DEFAULT_DIR}",
)
def test_bench_demo_quick_writes_csv_json_and_a_markdown_table(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = bench.main(["--quick", "--seeds", "3", "--skip-wall-time", "--results", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "RMSE ABae" in out
    assert "| uniform / ABae, whole spend |" in out
    with (tmp_path / "demo_quick.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["dataset"] for r in rows] == ["fashion", "scenes"]
    for row in rows:
        assert int(row["pilot_seeds"]) == 2
        assert int(row["seeds_per_pilot"]) == 3
        assert int(row["runs"]) == 6
        assert row["pilot_labels"] == f"{bench.QUICK_PILOT}/{bench.QUICK_PILOT}"
        chosen = [part.split("×")[0] for part in row["candidates"].split(", ")]
        assert set(chosen) <= set(CANDIDATE_NAMES)
        rmse_abae, whole = float(row["rmse_abae"]), float(row["rmse_uniform_whole"])
        budget_only, amortised = (
            float(row["rmse_uniform_budget"]),
            float(row["rmse_uniform_amortised"]),
        )
        assert rmse_abae > 0
        assert whole > 0
        assert float(row["ratio_whole"]) == pytest.approx(whole / rmse_abae, rel=2e-3)
        assert float(row["ratio_amortised"]) == pytest.approx(amortised / rmse_abae, rel=2e-3)
        assert float(row["ratio_budget"]) == pytest.approx(budget_only / rmse_abae, rel=2e-3)
        assert 0.0 <= float(row["coverage_abae"]) <= 1.0
        assert float(row["ratio_whole_se"]) >= 0
        assert np.isnan(float(row["demo_wall_first_s"]))
    meta = json.loads((tmp_path / "demo_quick.json").read_text())["meta"]
    assert meta["quick"] is True
    assert meta["amortised_over"] == 10
    assert "bootstrap" in meta["standard_errors"]


def test_cluster_bootstrap_keeps_methods_paired_and_is_exact_without_spread(
    bench: ModuleType,
) -> None:
    same = np.full(4, 0.5)
    errors = [{"abae": same, "uniform_whole": 2 * same, "covered": np.ones(4)} for _ in range(3)]
    boot = bench.cluster_bootstrap(errors, np.random.default_rng(0))
    assert set(boot) == {"abae", "uniform_whole"}
    np.testing.assert_allclose(boot["abae"], 0.5)
    np.testing.assert_allclose(boot["uniform_whole"] / boot["abae"], 2.0)
