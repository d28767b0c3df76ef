"""Smoke test: the mixer benchmark runs end to end on its smallest grid."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_mixers.py"


def load_benchmark():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_mixers", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_mixers"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_table_csv_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmark = load_benchmark()
    assert benchmark.main(["--quick", "--threads", "1", "--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "afno_keep1.0" in printed
    assert "peak MiB" in printed
    with open(tmp_path / "bench_mixers.csv") as handle:
        rows = list(csv.DictReader(handle))
    cases = {row["case"] for row in rows}
    assert cases == {"fft_roundtrip", "afno_keep1.0", "afno_keep0.25", "attention", "gfn"}
    for row in rows:
        assert row["grid"] == "32x32", row
        assert float(row["time_s"]) > 0, row
        assert float(row["peak_mib"]) >= 0, row
    payload = json.loads((tmp_path / "bench_mixers.json").read_text())
    assert payload["config"]["channels"] == 256
    assert len(payload["rows"]) == len(rows)
