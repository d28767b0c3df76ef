"""The ERROR WITHIN benchmark runs in its quick mode and writes its table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_quick_run_writes_calls_met_rate_coverage_and_the_fixed_budget(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_error_target
    finally:
        sys.path.remove(str(BENCHMARKS))
    rows = bench_error_target.main(["--quick", "--workers", "1", "--out", str(tmp_path)])
    (row,) = rows
    assert row["generator"] == "paper"
    assert row["median_calls"] <= row["p90_calls"]
    assert 0.0 <= row["met"] <= 1.0
    assert row["best_fixed_budget"] >= 100
    assert row["calls_over_fixed"] == round(row["median_calls"] / row["best_fixed_budget"], 3)
    written = json.loads((tmp_path / "error_target.json").read_text())
    assert written["rows"] == rows
    assert (tmp_path / "error_target.csv").read_text().startswith("generator,")
