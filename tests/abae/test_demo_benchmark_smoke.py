"""Smoke test: ``benchmarks/bench_demo.py --quick`` runs and writes its table."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from abae.datasets.fashion_mnist import DEFAULT_DIR

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_demo.py"


@pytest.mark.skipif(
    not (DEFAULT_DIR / "train-labels-idx1-ubyte.gz").is_file(),
    reason=f"Fashion-MNIST is not installed in {DEFAULT_DIR}",
)
def test_bench_demo_quick_writes_csv_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_demo", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_demo", bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    status = bench.main(["--quick", "--seeds", "3", "--skip-wall-time", "--results", str(tmp_path)])
    assert status == 0
    assert "RMSE ABae" in capsys.readouterr().out
    with (tmp_path / "demo_quick.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["dataset"] for r in rows] == ["fashion", "scenes"]
    for row in rows:
        assert float(row["rmse_abae"]) > 0
        assert float(row["rmse_uniform"]) > 0
        assert int(row["seeds"]) == 3
    meta = json.loads((tmp_path / "demo_quick.json").read_text())["meta"]
    assert meta["quick"] is True
