"""Smoke test: the oracle benchmark runs in quick mode and writes its results.

Marked slow: the quick mode still starts two server processes, waits out
``Retry-After: 1`` answers and times a Ctrl-C in a subprocess (about 10 s).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_oracles.py"


@pytest.mark.slow
def test_bench_oracles_quick_runs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_oracles", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--quick", "--out", str(tmp_path)])
    assert [r["unit"] for r in rows] == ["calls/s", "labels/s", "max ratio", "s"]
    assert all(float(r["value"]) > 0 for r in rows)
    assert float(rows[2]["value"]) <= 1.0  # money never above the cap
    saved = json.loads((tmp_path / "oracles_quick.json").read_text())
    assert len(saved["rows"]) == 4
    assert (tmp_path / "oracles_quick.csv").read_text().startswith("measure,")
