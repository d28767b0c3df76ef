"""The main job, ``abae demo``, in reduced versions (small --limit, pilot and budget)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from abae.cli import main
from abae.datasets.fashion_mnist import DEFAULT_DIR
from abae.demo.builtin_datasets import load_dataset
from abae.demo.main_job import DemoOptions, run_demo
from abae.store import LabelLedger, Store

needs_fashion_mnist = pytest.mark.skipif(
    not (DEFAULT_DIR / "train-labels-idx1-ubyte.gz").is_file(),
    reason=f"Fashion-MNIST is not installed in {DEFAULT_DIR} (apt-get install dataset-fashion-mnist)",
)
REDUCED = ["--limit", "1500", "--pilot", "300", "--epochs", "2", "--budget", "300"]


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in output:\n{text}"
    return float(found.group(1))


@needs_fashion_mnist
def test_fashion_demo_prints_estimate_truth_error_spend_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.duckdb"
    report = tmp_path / "report"
    status = main(
        [
            "demo",
            *REDUCED,
            "--db",
            str(db),
            "--report",
            str(report),
            "--no-progress",
            "--oracle-latency",
            "0",
        ]
    )
    output = capsys.readouterr().out
    assert status == 0
    estimate = _number(r"ABae estimate:\s+([\d.]+)", output)
    low = _number(r"CI \[([\d.]+),", output)
    exact = _number(r"exact answer:\s+([\d.]+)", output)
    data = load_dataset("fashion", 1500)
    assert exact == pytest.approx(data.exact_answer(), rel=1e-4)
    assert low <= estimate
    assert abs(estimate - exact) < 0.05  # ink coverage of footwear is ~0.2
    assert "uniform, same budget:" in output
    assert re.search(r"oracle calls: 300 for the query \(ORACLE LIMIT 300\), 300 for the", output)
    assert _number(r"AUC ([\d.]+) on the 1,200 records", output) > 0.6
    pngs, pages = list(report.glob("query-*.png")), list(report.glob("query-*.html"))
    assert len(pngs) == 1
    assert len(pages) == 1
    assert str(pngs[0]) in output
    # The ledger holds the pilot and the query's labels; a rerun on the same store
    # reuses the collection, the proxy and every label: no new oracle call.
    ledger = LabelLedger(Store(db), "fashion")
    assert ledger.spent("pilot:afno_proxy") == 300
    main(["demo", *REDUCED, "--db", str(db), "--report", str(report), "--no-progress"])
    again = capsys.readouterr().out
    assert "0 for the proxy's pilot" in again
    assert _number(r"ABae estimate:\s+([\d.]+)", again) == estimate


def test_scenes_demo_runs_end_to_end_through_the_python_api(tmp_path: Path) -> None:
    outcome = run_demo(
        DemoOptions(
            dataset="scenes",
            records=300,
            pilot=120,
            epochs=2,
            budget=100,
            db=tmp_path / "s.duckdb",
            oracle_latency_s=0.0,
            progress=False,
        )
    )
    data = load_dataset("scenes", 300)
    assert outcome.exact == pytest.approx(data.exact_answer())
    assert outcome.result.population == 300 - 120
    assert outcome.result.calls_spent == 100
    assert outcome.pilot_calls == 120
    assert np.isfinite(outcome.estimate)
    assert outcome.report[0].is_file()
    assert outcome.report[1].is_file()
    assert set(outcome.seconds) >= {"pilot, train and score", "query", "total"}


def test_demo_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="budget must be at least 10"):
        DemoOptions(budget=3)
    with pytest.raises(ValueError, match="needs at least 20 records"):
        load_dataset("scenes", 5)
    with pytest.raises(SystemExit):
        main(["demo", "--dataset", "cifar"])
    assert "invalid choice: 'cifar'" in capsys.readouterr().err
