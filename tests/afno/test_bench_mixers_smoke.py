"""Smoke test: the mixer benchmark runs end to end on its smallest grid."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_mixers.py"
TOKENS_MIB = 32 * 32 * 256 * 4 / 2**20
"""One (1, 32, 32, 256) float32 token tensor, in MiB: every step leaves at least its output."""


def load_benchmark():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_mixers", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_mixers"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # about 25 s (compiles and exports); test_compile/test_export/test_onnx cover the paths
def test_quick_run_writes_table_csv_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmark = load_benchmark()
    assert benchmark.main(["--quick", "--threads", "1", "--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "afno_keep1.0" in printed
    assert "peak MiB" in printed
    assert "compiled / eager time, fwd_bwd" in printed
    with open(tmp_path / "bench_mixers.csv") as handle:
        rows = list(csv.DictReader(handle))
    cases = {row["case"] for row in rows}
    assert cases == {"fft_roundtrip", "afno_keep1.0", "afno_keep0.25", "attention", "gfn"}
    for row in rows:
        assert row["grid"] == "32x32", row
        assert row["note"] == "", row
        # A step on 1,024 tokens takes between 10 microseconds and a minute, and the
        # median of the interleaved rounds is at least their minimum.
        assert 1e-5 < float(row["time_min_s"]) <= float(row["time_s"]) < 60, row
        assert int(row["repeats"]) >= 3, row
        # The step's output alone is one token tensor; no case needs 100 of them.
        assert TOKENS_MIB <= float(row["peak_mib"]) < 100 * TOKENS_MIB, row
    with open(tmp_path / "bench_mixers.deployment.csv") as handle:
        (deployment,) = list(csv.DictReader(handle))
    assert deployment["case"] == "afno_mixer"
    assert deployment["input_shape"] == "1x32x32x256"
    assert deployment["note"] == ""
    for column in (
        "eager_fwd_s",
        "eager_fwd_bwd_s",
        "compiled_fwd_s",
        "compiled_fwd_bwd_s",
        "exported_fwd_s",
        "exported_fwd_bwd_s",
        "onnxruntime_fwd_s",
    ):
        assert 1e-5 < float(deployment[column]) < 60, column
    assert deployment["compiled_real_pairs_fwd_bwd_s"] == ""  # not compiled in --quick
    # Forward+backward costs more than the forward alone.
    assert float(deployment["eager_fwd_bwd_s"]) > float(deployment["eager_fwd_s"])
    # The exported program and the ONNX file compute what eager mode does.
    assert float(deployment["exported_relative_difference"]) <= 1e-5
    assert float(deployment["onnx_relative_difference"]) <= 1e-4
    payload = json.loads((tmp_path / "bench_mixers.json").read_text())
    assert payload["config"]["channels"] == 256
    assert len(payload["rows"]) == len(rows)
    assert payload["deployment"][0]["case"] == "afno_mixer"
    targets = {check["target"] for check in payload["targets"]}
    assert "afno_mixer 1x32x32x256: compiled / eager time, fwd_bwd" in targets
