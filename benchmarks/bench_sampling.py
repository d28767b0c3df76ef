"""Benchmark of the ABae sampling core against uniform sampling and the paper's allocation.

Sections (each printed as a table and saved under ``benchmarks/results/``):

1. RMSE at equal budgets (1k, 5k, 20k) on three 1M-record generators in the
   style of the paper's code (``paper``: proxy ~ Beta(0.1, 0.5), predicate ~
   Bernoulli(proxy), statistic ~ N(10, 3); ``growing``: the statistic grows with
   the proxy; ``rare``: ~2% positives), for uniform sampling, ``"abae"``
   (√p·σ) and ``"variance"`` allocation, with the standard error of each RMSE
   ratio (delta method on independent runs).
2. MSE against the budget N (500 … 32,000) on a log–log plot, with the fitted slope.
3. N·MSE against the oracle-allocation constant (Σ√p_kσ_k)²/(Σp_k)² computed
   from the population, over proxies of decreasing quality.
4. Engine overhead: one ``abae.estimate`` call over 10M records with a 10k
   budget, an instant oracle and a 1000-replicate bootstrap.

Run ``python benchmarks/bench_sampling.py`` (a few minutes) or ``--quick`` for a
smoke run. Timings are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import abae
from abae.sampling import make_strata, oracle_allocation_constant
from abae.sampling.synthetic import (
    POPULATIONS,
    SyntheticPopulation,
    paper_population,
)

METHODS = ("uniform", "abae", "variance")


def run_method(
    population: SyntheticPopulation, method: str, budget: int, seed: int, ci: str = "normal"
) -> float:
    """One estimate of the AVG by ``method`` (uniform or an allocation rule)."""
    rng = np.random.default_rng(seed)
    if method == "uniform":
        result = abae.estimate_uniform(len(population), population.oracle, budget, ci=ci, rng=rng)
    else:
        result = abae.estimate(
            population.scores, population.oracle, budget, allocation=method, ci=ci, rng=rng
        )
    return result.estimate


def squared_errors(
    population: SyntheticPopulation, method: str, budget: int, seeds: int
) -> np.ndarray:
    truth = population.truth("avg")
    values = np.array([run_method(population, method, budget, s) for s in range(seeds)])
    return (values - truth) ** 2


def rmse_ratio(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, float]:
    """RMSE(numerator)/RMSE(denominator) and its standard error (delta method)."""
    m1, m2 = numerator.mean(), denominator.mean()
    ratio = float(np.sqrt(m1 / m2))
    rel_var = numerator.var(ddof=1) / (numerator.size * m1**2) + denominator.var(ddof=1) / (
        denominator.size * m2**2
    )
    return ratio, float(ratio * 0.5 * np.sqrt(rel_var))


def section_rmse(n_records: int, budgets: list[int], seeds: int, out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, make in POPULATIONS.items():
        population = make(n_records, np.random.default_rng(2024))
        for budget in budgets:
            errors = {m: squared_errors(population, m, budget, seeds) for m in METHODS}
            uniform_ratio, uniform_se = rmse_ratio(errors["uniform"], errors["variance"])
            abae_ratio, abae_se = rmse_ratio(errors["abae"], errors["variance"])
            rows.append(
                {
                    "generator": name,
                    "records": n_records,
                    "positives": float(population.predicate.mean()),
                    "budget": budget,
                    "seeds": seeds,
                    **{f"rmse_{m}": float(np.sqrt(errors[m].mean())) for m in METHODS},
                    "uniform_over_variance": uniform_ratio,
                    "uniform_over_variance_se": uniform_se,
                    "abae_over_variance": abae_ratio,
                    "abae_over_variance_se": abae_se,
                }
            )
    print("\n== RMSE of the AVG at equal budgets (ratios > 1: 'variance' is better) ==")
    print(
        f"{'generator':>9} {'budget':>7} {'uniform':>9} {'abae':>9} {'variance':>9} "
        f"{'unif/var':>14} {'abae/var':>14}"
    )
    for r in rows:
        print(
            f"{r['generator']:>9} {r['budget']:>7} {r['rmse_uniform']:>9.4f} {r['rmse_abae']:>9.4f} "
            f"{r['rmse_variance']:>9.4f} "
            f"{r['uniform_over_variance']:>7.3f}±{r['uniform_over_variance_se']:<6.3f}"
            f"{r['abae_over_variance']:>7.3f}±{r['abae_over_variance_se']:<6.3f}"
        )
    with (out / "sampling_rmse.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    figure, axes = plt.subplots(1, len(POPULATIONS), figsize=(4 * len(POPULATIONS), 3.5))
    for axis, name in zip(np.atleast_1d(axes), POPULATIONS, strict=True):
        mine = [r for r in rows if r["generator"] == name]
        for method in METHODS:
            axis.loglog(
                [r["budget"] for r in mine], [r[f"rmse_{method}"] for r in mine], "o-", label=method
            )
        axis.set_title(name)
        axis.set_xlabel("oracle budget")
        axis.set_ylabel("RMSE of AVG")
        axis.legend()
    figure.tight_layout()
    figure.savefig(out / "sampling_rmse.png", dpi=120)
    plt.close(figure)
    return rows


def section_rate(n_records: int, budgets: list[int], seeds: int, out: Path) -> dict[str, Any]:
    population = paper_population(n_records, np.random.default_rng(77))
    mse = [float(squared_errors(population, "variance", b, seeds).mean()) for b in budgets]
    slope, intercept = np.polyfit(np.log(budgets), np.log(mse), 1)
    print("\n== MSE against the budget ('variance', paper generator) ==")
    for b, m in zip(budgets, mse, strict=True):
        print(f"  N={b:>6}  MSE={m:.3e}  N·MSE={b * m:.3f}")
    print(f"  fitted log-log slope: {slope:.3f} (target in [-1.1, -0.9])")
    figure, axis = plt.subplots(figsize=(5, 4))
    axis.loglog(budgets, mse, "o", label="measured")
    fit = np.exp(intercept) * np.asarray(budgets, dtype=float) ** slope
    axis.loglog(budgets, fit, "-", label=f"fit, slope {slope:.3f}")
    axis.set_xlabel("oracle budget N")
    axis.set_ylabel("MSE of AVG")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "sampling_mse_rate.png", dpi=120)
    plt.close(figure)
    return {"budgets": budgets, "mse": mse, "slope": float(slope), "seeds": seeds}


def population_constant(population: SyntheticPopulation, strata: int = 5) -> float:
    """(Σ√p_kσ_k)²/(Σp_k)² over the population's own strata."""
    layout = make_strata(population.scores, strata, np.random.default_rng(0))
    p, sigma = [], []
    for members in layout.members:
        positive = population.predicate[members]
        p.append(float(positive.mean()))
        values = population.statistic[members][positive]
        sigma.append(float(values.std(ddof=1)) if values.size > 1 else 0.0)
    return oracle_allocation_constant(p, sigma)


def section_constant(n_records: int, budget: int, seeds: int, out: Path) -> list[dict[str, Any]]:
    base = paper_population(n_records, np.random.default_rng(99))
    noise_rng = np.random.default_rng(5)
    rows: list[dict[str, Any]] = []
    for blur in (0.0, 0.05, 0.1, 0.2, 0.4, 1.0):
        scores = np.clip(base.scores + noise_rng.normal(0.0, blur, len(base)), 0.0, 1.0)
        population = SyntheticPopulation(f"blur {blur}", scores, base.predicate, base.statistic)
        constant = population_constant(population)
        mse = float(squared_errors(population, "abae", budget, seeds).mean())
        rows.append({"proxy": population.name, "constant": constant, "n_mse": budget * mse})
    print(f"\n== N·MSE against the oracle-allocation constant (abae, N={budget}) ==")
    for r in rows:
        print(f"  {r['proxy']:>9}  constant={r['constant']:.3f}  N·MSE={r['n_mse']:.3f}")
    correlation = float(
        np.corrcoef([r["constant"] for r in rows], [r["n_mse"] for r in rows])[0, 1]
    )
    print(f"  correlation: {correlation:.3f}")
    figure, axis = plt.subplots(figsize=(5, 4))
    constants = [float(r["constant"]) for r in rows]
    n_mses = [float(r["n_mse"]) for r in rows]
    axis.plot(constants, n_mses, "o")
    for r, x, y in zip(rows, constants, n_mses, strict=True):
        axis.annotate(str(r["proxy"]), (x, y), fontsize=7)
    axis.set_xlabel("(Σ√p_kσ_k)² / (Σp_k)²")
    axis.set_ylabel(f"N·MSE (N={budget})")
    figure.tight_layout()
    figure.savefig(out / "sampling_constant.png", dpi=120)
    plt.close(figure)
    return rows


def timed(action: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def section_overhead(n_records: int, budget: int, repeats: int) -> dict[str, Any]:
    population = paper_population(n_records, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    whole = timed(
        lambda: abae.estimate(
            population.scores, population.oracle, budget, bootstrap_replicates=1000, rng=rng
        ),
        repeats,
    )
    strata = timed(lambda: make_strata(population.scores, 5, rng), repeats)
    print(f"\n== Engine overhead: {n_records:,} records, budget {budget:,}, instant oracle ==")
    print(
        f"  whole call incl. 1000-replicate bootstrap: median {np.median(whole):.3f} s "
        f"(min {min(whole):.3f} s; target <= 1 s at 10M)"
    )
    print(f"  of which stratification:                  median {np.median(strata):.3f} s")
    return {
        "records": n_records,
        "budget": budget,
        "seconds_whole_call": whole,
        "seconds_stratification": strata,
        "median_whole_call": float(np.median(whole)),
    }


class BenchConfig(NamedTuple):
    """Sizes of one benchmark run (records, budgets, seeds per cell)."""

    records: int
    budgets: tuple[int, ...]
    seeds: int
    rate_budgets: tuple[int, ...]
    rate_seeds: int
    constant_budget: int
    constant_seeds: int
    overhead_records: int
    overhead_budget: int
    repeats: int


FULL_CONFIG = BenchConfig(
    records=1_000_000,
    budgets=(1000, 5000, 20_000),
    seeds=200,
    rate_budgets=(500, 1000, 2000, 4000, 8000, 16_000, 32_000),
    rate_seeds=100,
    constant_budget=5000,
    constant_seeds=100,
    overhead_records=10_000_000,
    overhead_budget=10_000,
    repeats=3,
)
QUICK_CONFIG = BenchConfig(
    records=50_000,
    budgets=(1000, 5000),
    seeds=4,
    rate_budgets=(500, 1000, 2000),
    rate_seeds=4,
    constant_budget=1000,
    constant_seeds=4,
    overhead_records=1_000_000,
    overhead_budget=10_000,
    repeats=1,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (seconds)")
    parser.add_argument("--seeds", type=int, default=None, help="runs per RMSE cell")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="where CSV/JSON/PNG go",
    )
    args = parser.parse_args(argv)
    out: Path = args.results_dir
    out.mkdir(parents=True, exist_ok=True)
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    if args.seeds:
        config = config._replace(seeds=args.seeds)
    start = time.perf_counter()
    report: dict[str, Any] = {"config": config._asdict()}
    report["rmse"] = section_rmse(config.records, list(config.budgets), config.seeds, out)
    report["rate"] = section_rate(config.records, list(config.rate_budgets), config.rate_seeds, out)
    report["constant"] = section_constant(
        config.records, config.constant_budget, config.constant_seeds, out
    )
    report["overhead"] = section_overhead(
        config.overhead_records, config.overhead_budget, config.repeats
    )
    report["seconds_total"] = time.perf_counter() - start
    name = "sampling_quick.json" if args.quick else "sampling.json"
    (out / name).write_text(json.dumps(report, indent=2))
    print(f"\nresults in {out} ({report['seconds_total']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
