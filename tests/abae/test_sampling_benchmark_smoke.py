"""The sampling benchmark runs end to end in its quick mode and writes its results."""

from __future__ import annotations

import csv
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
    assert {"accuracy", "pilot", "overhead"} <= set(report)
    with (tmp_path / "sampling_cells.csv").open() as handle:
        cells = list(csv.DictReader(handle))
    assert {row["generator"] for row in cells} == set(module.GENERATORS)
    assert {row["method"] for row in cells} == {"ours", "paper", "uniform", "oracle"}
    assert {row["aggregate"] for row in cells} == {"avg", "sum", "count"}
    assert len(cells) == len(module.GENERATORS) * 3 * 2 * 4
    assert all(row["seeds"] == "2" for row in cells)
    for name in ("sampling_rmse.png", "sampling_coverage.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "sampling_pilot.csv").read_text().startswith("generator,")
    out = capsys.readouterr().out
    assert "Accuracy: RMSE ratios" in out
    assert "Same total spend" in out
    # a second run of one generator replaces its cells and keeps the others
    assert (
        module.main(
            [
                "--quick",
                "--seeds",
                "3",
                "--generators",
                "paper",
                "--sections",
                "accuracy",
                "--results-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    with (tmp_path / "sampling_cells.csv").open() as handle:
        again = list(csv.DictReader(handle))
    assert len(again) == len(cells)
    assert {row["seeds"] for row in again if row["generator"] == "paper"} == {"3"}
    assert {row["seeds"] for row in again if row["generator"] != "paper"} == {"2"}
