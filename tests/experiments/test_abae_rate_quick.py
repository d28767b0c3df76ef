"""The ABae rate experiments: the fitting helpers, and the ``--quick`` run end to end."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT_DIR = ROOT / "experiments" / "abae_rate"
sys.path.insert(0, str(EXPERIMENT_DIR))

from linearised_mse import (  # noqa: E402
    asymptotic_labels,
    linearised_mse,
    stratum_moments,
    uniform_mse,
)
from populations import PopulationSpec, build_population  # noqa: E402
from rate_fit import fit_rate, loglog_slopes  # noqa: E402


def test_fit_rate_recovers_known_coefficients_and_stays_non_negative() -> None:
    n1 = np.repeat([10.0, 40.0, 160.0], 3)
    n2 = np.tile([250.0, 1000.0, 4000.0], 3)
    truth = 0.03 / n1 + 12.0 / n2 + 5.0 * np.sqrt(n1) * n2**-1.5
    fit = fit_rate(n1, n2, truth)
    np.testing.assert_allclose(fit.coefficients, [0.03, 12.0, 5.0], rtol=1e-6)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.max_relative_residual < 1e-6
    # data that a negative c would fit better: NNLS must clamp c at 0
    clamped = fit_rate(n1, n2, 12.0 / n2 - 0.5 * np.sqrt(n1) * n2**-1.5)
    assert clamped.coefficients[2] == 0.0
    assert (clamped.coefficients >= 0).all()


def test_loglog_slope_of_power_laws_and_their_replicates() -> None:
    budgets = np.array([500.0, 1000.0, 4000.0])
    rows = np.stack([3.0 / budgets, 2.0 * budgets**-0.5])
    np.testing.assert_allclose(loglog_slopes(budgets, rows), [-1.0, -0.5])
    with pytest.raises(ValueError, match="at least two"):
        loglog_slopes([100, 100], np.array([1.0, 2.0]))


def test_linearised_mse_reduces_to_the_oracle_constant_and_orders_allocations() -> None:
    population = build_population(PopulationSpec("paper", 20_000))
    moments = stratum_moments(population)
    # statistic independent of the proxy: the two constants (nearly) agree
    assert moments.neyman_constant == pytest.approx(moments.allocation_constant, rel=0.05)
    budget = 2000
    best = linearised_mse(moments, asymptotic_labels(moments, budget, 1e-9, "abae"))
    paper = linearised_mse(moments, asymptotic_labels(moments, budget, 0.5, "abae"))
    proportional = linearised_mse(moments, asymptotic_labels(moments, budget, 0.5, "proportional"))
    assert best <= paper <= proportional <= 1.05 * uniform_mse(moments, budget)
    # all labels in stage 2 by √p·σ: the constant, up to the finite-population correction
    small = 100
    all_stage2 = linearised_mse(moments, asymptotic_labels(moments, small, 1e-9, "abae"))
    assert small * all_stage2 == pytest.approx(moments.allocation_constant, rel=0.05)
    with pytest.raises(ValueError, match="labels must"):
        linearised_mse(moments, np.zeros(5))


def test_populations_are_deterministic_and_blurring_keeps_the_records() -> None:
    clean = build_population(PopulationSpec("paper", 5_000))
    again = build_population(PopulationSpec("paper", 5_000))
    blurred = build_population(PopulationSpec("paper", 5_000, proxy_noise=math.inf))
    np.testing.assert_array_equal(clean.scores, again.scores)
    assert (np.diff(clean.scores) >= 0).all()
    assert clean.truth == blurred.truth
    assert clean.predicate.sum() == blurred.predicate.sum()
    with pytest.raises(ValueError, match="generator must be one of"):
        PopulationSpec("nope", 100)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_quick_run_writes_sane_tables_plots_and_summary(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(EXPERIMENT_DIR / "run.py"), "--quick", "--results-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for name in ("rate_fit.png", "rate_slope.png", "oracle_constant.png", "stage1_share.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name

    grid = read_csv(tmp_path / "rate_grid.csv")
    assert len(grid) == 9
    for row in grid:
        n1, n2, budget = int(row["n1_per_stratum"]), int(row["n2"]), int(row["budget"])
        assert budget == 5 * n1 + n2
        assert float(row["mse_low"]) <= float(row["mse"]) <= float(row["mse_high"])
        assert float(row["mse"]) > 0

    fits = read_csv(tmp_path / "rate_fit.csv")
    full = next(r for r in fits if r["model"].startswith("full"))
    assert all(float(full[t]) >= 0 for t in "abc")
    assert float(full["r2_log"]) > 0.5

    slopes = read_csv(tmp_path / "rate_slope.csv")
    for row in slopes:
        assert -2.0 < float(row["slope"]) < -0.3
        assert float(row["slope_low"]) <= float(row["slope"]) <= float(row["slope_high"])

    constant = read_csv(tmp_path / "oracle_constant.csv")
    by_name = {r["population"]: r for r in constant}
    # a blurred proxy has a larger constant than the clean one
    assert float(by_name["paper+noise0.4"]["oracle_constant"]) > float(
        by_name["paper"]["oracle_constant"]
    )

    share = read_csv(tmp_path / "stage1_share.csv")
    assert [float(r["stage1_share"]) for r in share] == [0.05, 0.3, 1.0]

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary) == {"grid", "slope", "constant", "share"}
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["mode"] == "quick"
    assert "--quick" in info["command"]
    markdown = (tmp_path / "summary.md").read_text()
    assert "Experiment 1" in markdown
    assert "| generator |" in markdown
