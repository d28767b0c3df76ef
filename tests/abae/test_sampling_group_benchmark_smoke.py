"""The GROUP BY benchmark runs end to end in its quick mode and writes its results."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_groups.py"


def test_quick_benchmark_writes_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_groups", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick", "--seeds", "2", "--results-dir", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "groups_quick.json").read_text())
    assert {"summary", "groups", "timing", "config"} <= set(report)
    generators = {row["generator"] for row in report["summary"]}
    assert generators == {"paper 4 groups", "sharp 4 groups", "column 3 groups"}
    for row in report["summary"]:
        for method in ("ours", "uniform", "neyman"):
            assert row[f"worst_rmse_{method}"] >= 0.0
        assert row["seeds"] == 2
    assert {row["method"] for row in report["groups"]} == {"ours", "uniform", "neyman"}
    assert report["timing"]["best_group_by_s"] > 0.0
    assert (tmp_path / "groups_quick.csv").read_text().startswith("generator,")
    assert "Worst group's RMSE" in capsys.readouterr().out
