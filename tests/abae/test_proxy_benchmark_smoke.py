"""The proxy benchmark runs end to end in its quick mode."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from abae.datasets.fashion_mnist import DEFAULT_DIR

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_proxy_scoring.py"


@pytest.mark.skipif(
    not (DEFAULT_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_quick_run_writes_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_proxy_scoring", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    rows = module.main(["--quick", "--threads", "1", "--out", str(tmp_path)])
    assert {(r.dataset, r.mixer) for r in rows} == {
        (d, m) for d in ("fashion-mnist", "street-scenes") for m in ("afno", "attention")
    }
    for row in rows:
        assert 0.0 <= row.auc <= 1.0
        assert (row.pilot, row.evaluated) == (
            (300, 1000) if row.dataset == "fashion-mnist" else (100, 100)
        )
    saved = json.loads((tmp_path / "proxy_scoring_quick.json").read_text())
    assert saved["rows"] == [dataclasses.asdict(row) for row in rows]
    assert (tmp_path / "proxy_scoring_quick.csv").read_text().startswith("dataset,")
    assert "images/s" in capsys.readouterr().out
