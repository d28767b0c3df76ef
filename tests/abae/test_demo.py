"""The main job, ``abae demo``, in reduced versions (small --limit, pilot, epochs and budget)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from abae.cli import main
from abae.datasets.fashion_mnist import DEFAULT_DIR
from abae.demo.builtin_datasets import load_dataset
from abae.demo.main_job import DemoOptions, run_demo
from abae.proxy.selection import CANDIDATE_NAMES
from abae.sampling import estimate_uniform
from abae.store import LabelLedger, Store

needs_fashion_mnist = pytest.mark.skipif(
    not (DEFAULT_DIR / "train-labels-idx1-ubyte.gz").is_file(),
    reason=f"Fashion-MNIST is not installed in {DEFAULT_DIR} (apt-get install dataset-fashion-mnist)",
)
REDUCED = [
    "--limit", "1500", "--pilot", "300", "--epochs", "2", "--pretrain-epochs", "1",
    "--budget", "300",
]  # fmt: skip


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in output:\n{text}"
    return float(found.group(1).replace(",", ""))


@needs_fashion_mnist
def test_fashion_demo_compares_with_uniform_at_the_same_total_spend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.duckdb"
    report = tmp_path / "report"
    options = ["--db", str(db), "--report", str(report), "--no-progress", "--oracle-latency", "0"]
    status = main(["demo", *REDUCED, *options])
    output = capsys.readouterr().out
    assert status == 0
    data = load_dataset("fashion", 1500)
    # The proxy: a named candidate with its cross-validated AUC, and its AUC on the
    # 1,200 records outside the 300-record pilot.
    chosen = re.search(r"proxy: (\w+), chosen by cross-validated AUC ([\d.]+) \((.*)\)", output)
    assert chosen, output
    assert chosen.group(1) in CANDIDATE_NAMES
    assert float(chosen.group(2)) > 0.8
    assert all(name in chosen.group(3) for name in CANDIDATE_NAMES)
    assert _number(r"AUC ([\d.]+) on the 1,200 records outside its pilot", output) > 0.8
    assert "pilot: 300 labels (rounds 300), 300 bought now; backbone pretrained now" in output
    # Every record is in the population: the pilot is a census, the rest is sampled.
    assert "population: all 1,500 records = 300 pilot records" in output
    assert "+ 1,200 sampled by ABae" in output
    # Spend: the pilot and the query separately, and the total the baseline gets.
    pilot = _number(r"spend \(records labelled\): pilot ([\d,]+)", output)
    query = _number(r"\+ query ([\d,]+) \(", output)
    total = _number(r"= ([\d,]+) in all", output)
    assert (pilot, query, total) == (300, 300, 600)
    assert _number(r"; ([\d,]+) records drawn uniformly from all 1,500", output) == total
    # The baseline is what uniform sampling of that many records gives (seed 0).
    uniform = _number(r"uniform, same spend:\s+([\d.]+)", output)
    again = estimate_uniform(
        1500, lambda i: (data.predicate[i], data.statistic[i]), 600, aggregate="avg", rng=0
    )
    assert uniform == pytest.approx(again.estimate, rel=1e-4)
    estimate = _number(r"ABae estimate:\s+([\d.]+)", output)
    low = _number(r"CI \[([\d.]+),", output)
    exact = _number(r"exact answer:\s+([\d.]+)", output)
    assert exact == pytest.approx(data.exact_answer(), rel=1e-4)
    assert low <= estimate
    assert abs(estimate - exact) < 0.05  # ink coverage of trousers is ~0.25
    pngs, pages = list(report.glob("query-*.png")), list(report.glob("query-*.html"))
    assert len(pngs) == 1
    assert len(pages) == 1
    assert str(pngs[0]) in output
    # The ledger holds the pilot; a rerun on the same store reuses the collection,
    # the backbone, the proxy and every label: no new oracle call, the same answer,
    # and the comparison still counts the pilot's spend.
    assert LabelLedger(Store(db), "fashion").spent("pilot:afno_proxy") == 300
    main(["demo", *REDUCED, *options])
    rerun = capsys.readouterr().out
    assert "pilot: 300 labels, bought by an earlier run (0 bought now;" in rerun
    assert "(from the store's catalog)" in rerun
    assert _number(r"ABae estimate:\s+([\d.]+)", rerun) == estimate
    assert _number(r"= ([\d,]+) in all", rerun) == 600
    assert "backbone pretraining" not in rerun


def test_scenes_demo_runs_end_to_end_through_the_python_api(tmp_path: Path) -> None:
    outcome = run_demo(
        DemoOptions(
            dataset="scenes",
            records=200,
            pilot=80,
            epochs=1,
            pretrain_epochs=1,
            budget=60,
            db=tmp_path / "s.duckdb",
            oracle_latency_s=0.0,
            progress=False,
        )
    )
    data = load_dataset("scenes", 200)
    assert outcome.exact == pytest.approx(data.exact_answer())
    assert outcome.result.population == 200  # nothing thrown away
    assert outcome.result.census_labels == 80
    assert outcome.result.calls_spent == 60
    assert outcome.proxy.pilot_labels == 80
    assert outcome.proxy.training.bought_now == 80
    assert outcome.proxy.trained_now
    assert outcome.proxy.candidate in CANDIDATE_NAMES
    assert (outcome.pilot_spend, outcome.query_spend, outcome.total_spend) == (80, 60, 140)
    assert outcome.uniform_records == 140
    assert np.isfinite(outcome.estimate)
    assert outcome.report[0].is_file()
    assert outcome.report[1].is_file()
    assert set(outcome.seconds) >= {"pilot, selection and scoring", "query", "total"}


def test_demo_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="budget must be at least 10"):
        DemoOptions(budget=3)
    with pytest.raises(ValueError, match="pilot must be 'auto' or at least 4"):
        DemoOptions(pilot=3)
    with pytest.raises(ValueError, match="pretrain_epochs must be at least 1"):
        DemoOptions(pretrain_epochs=0)
    with pytest.raises(ValueError, match="needs at least 20 records"):
        load_dataset("scenes", 5)
    with pytest.raises(SystemExit):
        main(["demo", "--dataset", "cifar"])
    assert "invalid choice: 'cifar'" in capsys.readouterr().err
