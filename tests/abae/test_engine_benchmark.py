"""Smoke test: the engine benchmark runs in quick mode and writes its results."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_engine.py"


def test_bench_engine_quick_runs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--quick", "--out", str(tmp_path)])
    assert [r["unit"] for r in rows] == ["calls/s", "s"]
    assert all(float(r["value"]) > 0 for r in rows)
    saved = json.loads((tmp_path / "bench_engine_quick.json").read_text())
    assert len(saved["rows"]) == 2
    assert (tmp_path / "bench_engine_quick.csv").read_text().startswith("measure,")
