"""The sampling benchmark runs end to end in its quick mode and writes its results."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sampling.py"


def test_quick_benchmark_writes_tables_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("bench_sampling", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick", "--seeds", "2", "--results-dir", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "sampling_quick.json").read_text())
    assert {"rmse", "rate", "constant", "overhead"} <= set(report)
    assert {row["generator"] for row in report["rmse"]} == {"paper", "growing", "rare"}
    for name in ("sampling_rmse.png", "sampling_mse_rate.png", "sampling_constant.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "sampling_rmse.csv").read_text().startswith("generator,")
    assert "RMSE of the AVG at equal budgets" in capsys.readouterr().out
