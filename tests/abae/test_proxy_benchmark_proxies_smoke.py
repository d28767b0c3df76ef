"""The proxy-selection benchmark runs end to end in its quick mode."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from abae.datasets.fashion_mnist import DEFAULT_DIR

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_proxies.py"


@pytest.mark.skipif(
    not (DEFAULT_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_quick_run_writes_rows_a_table_and_a_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_proxies", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    table = module.main(
        [
            "--quick",
            "--datasets",
            "fashion",
            "--seeds",
            "0",
            "--sizes",
            "40",
            "--out",
            str(tmp_path),
        ]
    )
    assert {(row["method"], row["pilot"]) for row in table} == {(m, 40) for m in module.METHODS}
    saved = json.loads((tmp_path / "proxies_fashion.json").read_text())
    by_method = {row["method"]: row for row in saved["rows"]}
    assert set(by_method) == set(module.METHODS)
    # The selection's row is one of the production candidates' rows, chosen by CV AUC.
    selected = by_method["selected"]
    assert selected["setting"] in module.PRODUCTION
    best_cv = max(by_method[m]["cv_auc"] for m in module.PRODUCTION)
    assert selected["cv_auc"] >= best_cv - 0.005
    assert selected["test_auc"] == by_method[selected["setting"]]["test_auc"]
    assert all(0.0 <= row["test_auc"] <= 1.0 for row in saved["rows"])
    assert "| afno_pretrained |" in (tmp_path / "proxies.md").read_text()
    assert (tmp_path / "proxies.png").stat().st_size > 1000
