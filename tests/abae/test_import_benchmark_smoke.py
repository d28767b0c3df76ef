"""Smoke test: the scale benchmark (import rows) runs in quick mode and writes its results."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scale.py"


def test_bench_scale_quick_runs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--quick", "--out", str(tmp_path)])
    assert [r["records"] for r in rows] == [50_000, 5_000, 500]
    for row in rows:
        assert float(row["seconds"]) > 0
        assert float(row["reference_s"]) > 0
        expected = float(row["seconds"]) / float(row["reference_s"])
        assert row["ratio"] == pytest.approx(expected, rel=0.02, abs=0.01)
        assert float(row["peak_rss_mib"]) > 0
    saved = json.loads((tmp_path / "scale_import_quick.json").read_text())
    assert saved["rows"] == rows
    assert (tmp_path / "scale_import_quick.csv").read_text().startswith("measure,records,")
