"""GROUP BY benchmark: ABae's GROUP BY against uniform sampling and the oracle-Neyman design.

For every generator, aggregate (AVG, COUNT) and budget (500, 1,000, 2,000,
5,000), each method runs on the same seeds with the same total oracle spend:

- ``ours``: :func:`abae.estimate_by_group` (groups of a cheap column) or
  :func:`abae.estimate_groups` (groups of an oracle output), defaults;
- ``uniform``: a uniform random sample labelled by an oracle that also returns
  each record's group; each group is a domain estimate from that one sample;
- ``neyman``: the oracle-Neyman design over the same cells as ``ours``: the
  minimax allocation computed from the true per-cell variances (2 labels per
  cell first, so that every cell has a variance estimate), then the same
  estimator: the best a design over these cells can do.

Generators (:mod:`abae.sampling.synthetic_groups`): ``paper_groups`` (the ABae
paper's 4 groups, one proxy each, the oracle tells the group), ``sharp_groups``
(4 groups of an oracle output with informative proxies) and ``column_groups``
(3 groups of a cheap column, 60/30/10% of the records).

Reported per cell: each group's RMSE (absolute for AVG, relative to the true
value for COUNT, so groups of different sizes are comparable), bias and
coverage of the 95% interval, with standard errors; the worst group's RMSE
per method and the ratios uniform/ours and ours/neyman (delta-method standard
errors); zero-width intervals and COUNT intervals that go below the positives
seen. A last section times one :func:`abae.estimate_by_group` call over 10M
records and a 10-value column (budget 10,000, instant oracle), next to one
NumPy ``argsort`` of the scores in the same process.

Run ``python benchmarks/bench_groups.py`` (about 30 minutes on one core; use
``--generators`` to split it) or ``--quick`` for a smoke run. Timings are only
meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

import abae
from abae.sampling import StratifiedSample, estimate_from_labels
from abae.sampling.allocation import allocate_stage2
from abae.sampling.group_allocation import minimax_cell_allocation
from abae.sampling.group_cells import CellPlan, plan_cells
from abae.sampling.group_estimates import estimate_group
from abae.sampling.group_sampling import CellSampler
from abae.sampling.groups import predicted_blocks
from abae.sampling.labelling import LabelRecorder
from abae.sampling.synthetic_groups import GROUP_POPULATIONS, GroupPopulation

METHODS = ("ours", "uniform", "neyman")
STRATA = 5
STAGE1_SHARE = 0.5
CONFIDENCE = 0.95


class Config(NamedTuple):
    records: int
    budgets: tuple[int, ...]
    seeds: int
    aggregates: tuple[str, ...]
    timing_records: int
    timing_groups: int
    timing_budget: int
    timing_repeats: int


FULL_CONFIG = Config(
    300_000, (500, 1000, 2000, 5000), 300, ("avg", "count"), 10_000_000, 10, 10_000, 3
)
QUICK_CONFIG = Config(20_000, (500, 1000), 3, ("avg", "count"), 200_000, 10, 2_000, 1)


class Run(NamedTuple):
    """One method's answer for every group: arrays ``(G,)``."""

    estimate: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    positives_seen: npt.NDArray[np.float64]


def _run_of(estimates: list[abae.Estimate]) -> Run:
    return Run(
        np.array([e.estimate for e in estimates]),
        np.array([e.ci_low for e in estimates]),
        np.array([e.ci_high for e in estimates]),
        np.array([float(e.strata.positives.sum()) for e in estimates]),
    )


def run_ours(population: GroupPopulation, budget: int, aggregate: str, seed: int) -> Run:
    """ABae's GROUP BY with its defaults."""
    if population.kind == "column":
        result = abae.estimate_by_group(
            population.scores[0], population.group, population.oracle, budget,
            aggregate=aggregate, strata=STRATA, stage1_share=STAGE1_SHARE, rng=seed,
        )  # fmt: skip
    else:
        result = abae.estimate_groups(
            population.scores, population.oracle, budget,
            aggregate=aggregate, strata=STRATA, stage1_share=STAGE1_SHARE, rng=seed,
        )  # fmt: skip
    return _run_of([result[g] for g in range(population.n_groups)])


def run_uniform(population: GroupPopulation, budget: int, aggregate: str, seed: int) -> Run:
    """A uniform sample labelled by a group-returning oracle; one domain estimate per group."""
    rng = np.random.default_rng(seed)
    n = len(population)
    indices = rng.choice(n, size=min(budget, n), replace=False).astype(np.int64)
    predicate, statistic, group = population.group_oracle(indices)
    estimates = []
    for g in range(population.n_groups):
        sample = StratifiedSample(
            sizes=np.array([n], np.int64),
            indices=indices,
            predicate=predicate & (group == g),
            statistic=statistic,
            stratum=np.zeros(indices.size, np.int64),
            stage=np.ones(indices.size, np.int8),
        )
        estimates.append(
            estimate_from_labels(
                sample,
                aggregate=aggregate,
                allocation="uniform",
                budget=budget,
                oracle_calls=indices.size,
                confidence=CONFIDENCE,
                ci="studentized",
                rng=rng,
            )
        )
    return _run_of(estimates)


def design_cells(population: GroupPopulation, budget: int, rng: np.random.Generator) -> CellPlan:
    """The cells ``ours`` would build at this budget."""
    spend = min(budget, len(population))
    if population.kind == "column":
        scores, codes, n_blocks = population.scores[0], population.group, population.n_groups
    else:
        arrays = [population.scores[g] for g in range(population.n_groups)]
        codes, scores, n_blocks = predicted_blocks(arrays)
    return plan_cells(scores, codes, n_blocks, spend, STRATA, STAGE1_SHARE, rng)


def true_variance_weights(
    population: GroupPopulation,
    cell_of: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    aggregate: str,
) -> npt.NDArray[np.float64]:
    """``A_gc = (N_c S_gc / D_g)²`` from the whole population, shape ``(G, C)``.

    ``S_gc²`` is the variance in cell ``c`` of group ``g``'s linearised
    residual; ``D_g`` its positives (AVG) or its true total (COUNT, SUM).
    """
    n_cells = sizes.shape[0]
    rows = []
    for g in range(population.n_groups):
        mine = population.positives(g)
        f = np.where(mine, population.statistic, 0.0)
        if aggregate == "avg":
            residual = np.where(mine, f - f[mine].mean(), 0.0)
            scale = float(mine.sum())
        elif aggregate == "sum":
            residual, scale = f, abs(float(f.sum()))
        else:
            residual, scale = mine.astype(np.float64), float(mine.sum())
        total = np.bincount(cell_of, weights=residual, minlength=n_cells)
        squares = np.bincount(cell_of, weights=residual**2, minlength=n_cells)
        variance = (
            np.maximum(squares / sizes - (total / sizes) ** 2, 0.0)
            * sizes
            / np.maximum(sizes - 1, 1)
        )
        rows.append((sizes * np.sqrt(variance) / scale) ** 2)
    return np.array(rows)


def run_neyman(population: GroupPopulation, budget: int, aggregate: str, seed: int) -> Run:
    """The oracle-Neyman design over ``ours``' cells: minimax allocation from the truth."""
    rng = np.random.default_rng(seed)
    plan = design_cells(population, budget, rng)
    cells = plan.cells
    spend = min(budget, len(population))
    weights = true_variance_weights(population, cells.cell_of_records(), cells.sizes, aggregate)
    floor = np.minimum(cells.sizes, 2)
    draws, _ = minimax_cell_allocation(weights, floor, cells.sizes, spend - int(floor.sum()))
    rest = allocate_stage2(draws, cells.sizes - floor, spend - int(floor.sum()))
    oracle = population.group_oracle if population.kind == "oracle" else population.oracle
    recorder = LabelRecorder(
        oracle, len(population), budget, with_groups=population.kind == "oracle"
    )
    sampler = CellSampler(cells, recorder, rng)
    sampler.draw(floor, 1, None)
    sampler.draw(rest, 2, None)
    labels = sampler.labels()
    estimates = []
    for g in range(population.n_groups):
        if population.kind == "column":
            mine = cells.cells_of(g)
            sample = labels.sample(
                cells.sizes[mine], keep=cells.group[labels.cell] == g, first_cell=mine.start
            )
        else:
            assert labels.groups is not None
            in_group = labels.predicate & (labels.groups.astype(np.int64) == g)
            sample = labels.sample(cells.sizes, positive=in_group)
        estimates.append(
            estimate_group(
                sample,
                aggregate=aggregate,
                allocation="oracle-neyman",
                budget=budget,
                confidence=CONFIDENCE,
                ci="studentized",
                rng=rng,
                bootstrap_replicates=1000,
            )
        )
    return _run_of(estimates)


RUNNERS: dict[str, Callable[[GroupPopulation, int, str, int], Run]] = {
    "ours": run_ours,
    "uniform": run_uniform,
    "neyman": run_neyman,
}


def rmse_and_se(errors: npt.NDArray[np.float64]) -> tuple[float, float]:
    """RMSE over runs (NaN runs left out) and its standard error (delta method)."""
    squared = errors[np.isfinite(errors)] ** 2
    rmse = float(np.sqrt(squared.mean()))
    se = float(squared.std(ddof=1) / (2.0 * rmse * np.sqrt(squared.size))) if rmse > 0 else 0.0
    return rmse, se


def rmse_ratio(
    numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]
) -> tuple[float, float]:
    """RMSE(numerator)/RMSE(denominator) and its standard error (independent runs)."""
    a = numerator[np.isfinite(numerator)] ** 2
    b = denominator[np.isfinite(denominator)] ** 2
    ratio = float(np.sqrt(a.mean() / b.mean()))
    relative = a.var(ddof=1) / (a.size * a.mean() ** 2) + b.var(ddof=1) / (b.size * b.mean() ** 2)
    return ratio, float(ratio * 0.5 * np.sqrt(relative))


def measure(
    population: GroupPopulation, aggregate: str, budget: int, seeds: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every method on ``seeds`` seeds: the summary row and the per-group rows."""
    truth = population.truth(aggregate)
    scale = np.ones_like(truth) if aggregate == "avg" else np.abs(truth)
    runs = {
        m: [RUNNERS[m](population, budget, aggregate, s) for s in range(seeds)] for m in METHODS
    }
    group_rows: list[dict[str, Any]] = []
    worst: dict[str, tuple[int, npt.NDArray[np.float64]]] = {}
    summary: dict[str, Any] = {
        "generator": population.name, "kind": population.kind, "aggregate": aggregate,
        "budget": budget, "seeds": seeds, "records": len(population),
    }  # fmt: skip
    for method, results in runs.items():
        estimate = np.array([r.estimate for r in results])
        low = np.array([r.low for r in results])
        high = np.array([r.high for r in results])
        seen = np.array([r.positives_seen for r in results])
        errors = (estimate - truth) / scale
        covered = (low <= truth) & (truth <= high)
        rmses = []
        for g in range(population.n_groups):
            rmse, rmse_se = rmse_and_se(errors[:, g])
            rmses.append(rmse)
            finite = np.isfinite(errors[:, g])
            coverage = float(covered[:, g].mean())
            group_rows.append(
                {
                    **{k: summary[k] for k in ("generator", "aggregate", "budget", "seeds")},
                    "method": method,
                    "group": g,
                    "truth": float(truth[g]),
                    "rmse": rmse,
                    "rmse_se": rmse_se,
                    "bias": float(errors[finite, g].mean()),
                    "bias_se": float(errors[finite, g].std(ddof=1) / np.sqrt(finite.sum())),
                    "coverage": coverage,
                    "coverage_se": float(np.sqrt(coverage * (1 - coverage) / seeds)),
                    "undefined": int((~finite).sum()),
                    "zero_width": int(np.sum(high[:, g] - low[:, g] <= 0.0)),
                    "count_low_below_seen": int(np.sum(low[:, g] < seen[:, g] - 1e-9))
                    if aggregate == "count"
                    else 0,
                }
            )
        g_worst = int(np.argmax(rmses))
        worst[method] = (g_worst, errors[:, g_worst])
        mine = [r for r in group_rows if r["method"] == method]
        summary[f"worst_rmse_{method}"] = rmses[g_worst]
        summary[f"worst_rmse_{method}_se"] = mine[g_worst]["rmse_se"]
        summary[f"worst_group_{method}"] = g_worst
        summary[f"coverage_min_{method}"] = min(r["coverage"] for r in mine)
        summary[f"coverage_max_{method}"] = max(r["coverage"] for r in mine)
        summary[f"zero_width_{method}"] = sum(r["zero_width"] for r in mine)
        summary[f"count_low_below_seen_{method}"] = sum(r["count_low_below_seen"] for r in mine)
    summary["uniform_over_ours"], summary["uniform_over_ours_se"] = rmse_ratio(
        worst["uniform"][1], worst["ours"][1]
    )
    summary["ours_over_neyman"], summary["ours_over_neyman_se"] = rmse_ratio(
        worst["ours"][1], worst["neyman"][1]
    )
    return summary, group_rows


def section_accuracy(
    config: Config, generators: list[str], out: Path, tag: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    summaries: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for name in generators:
        population = GROUP_POPULATIONS[name](config.records, np.random.default_rng(2024))
        for aggregate in config.aggregates:
            for budget in config.budgets:
                summary, rows = measure(population, aggregate, budget, config.seeds)
                summaries.append(summary)
                groups.extend(rows)
                print_summary([summary], header=len(summaries) == 1)
    with (out / f"groups{tag}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(groups[0]))
        writer.writeheader()
        writer.writerows(groups)
    return summaries, groups


def print_summary(rows: list[dict[str, Any]], header: bool = True) -> None:
    if header:
        print(
            "\n== Worst group's RMSE (COUNT: relative), same seeds and spend; ratios with ±1 s.e. =="
        )
        print(
            f"{'generator':>16} {'agg':>5} {'budget':>6} {'ours':>16} {'uniform':>16} {'neyman':>16} "
            f"{'unif/ours':>13} {'ours/neyman':>13} {'coverage ours':>14} {'coverage unif':>14} {'zw':>3} {'<seen':>5}"
        )
    for r in rows:
        cells = " ".join(
            f"{r[f'worst_rmse_{m}']:>9.4g}±{r[f'worst_rmse_{m}_se']:<6.2g}" for m in METHODS
        )
        print(
            f"{r['generator']:>16} {r['aggregate']:>5} {r['budget']:>6} {cells} "
            f"{r['uniform_over_ours']:>6.2f}±{r['uniform_over_ours_se']:<5.2f} "
            f"{r['ours_over_neyman']:>6.2f}±{r['ours_over_neyman_se']:<5.2f} "
            f"{r['coverage_min_ours']:>6.3f}–{r['coverage_max_ours']:<6.3f} "
            f"{r['coverage_min_uniform']:>6.3f}–{r['coverage_max_uniform']:<6.3f} "
            f"{r['zero_width_ours']:>3} {r['count_low_below_seen_ours']:>5}",
            flush=True,
        )


def section_timing(config: Config) -> dict[str, Any]:
    """One cheap-column GROUP BY over ``timing_records`` records, next to one argsort."""
    rng = np.random.default_rng(11)
    n = config.timing_records
    scores = rng.random(n)
    codes = rng.integers(0, config.timing_groups, n).astype(np.int64)
    positive = rng.random(n) < scores
    statistic = rng.normal(10.0, 3.0, n)

    def oracle(indices: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        return positive[indices], statistic[indices]

    def group_by() -> object:
        return abae.estimate_by_group(scores, codes, oracle, config.timing_budget, rng=0)

    def sort() -> object:
        return np.argsort(scores)

    group_by()  # warm up imports and caches
    times = {"group_by": [], "argsort": []}  # type: dict[str, list[float]]
    for _ in range(config.timing_repeats):
        for name, action in (("group_by", group_by), ("argsort", sort)):
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
    best = {name: min(values) for name, values in times.items()}
    print(
        f"\n== Cheap-column GROUP BY: {n:,} records, {config.timing_groups} groups, budget "
        f"{config.timing_budget:,}, instant oracle (best of {config.timing_repeats}) ==\n"
        f"  estimate_by_group: {best['group_by']:.2f} s   numpy argsort of the scores: "
        f"{best['argsort']:.2f} s   ratio {best['group_by'] / best['argsort']:.2f}"
    )
    return {
        "records": n,
        "groups": config.timing_groups,
        "budget": config.timing_budget,
        "seconds": times,
        "best_group_by_s": best["group_by"],
        "best_argsort_s": best["argsort"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (seconds)")
    parser.add_argument("--seeds", type=int, default=None, help="runs per cell")
    parser.add_argument(
        "--generators",
        nargs="+",
        choices=sorted(GROUP_POPULATIONS),
        default=list(GROUP_POPULATIONS),
        help="generators to run (default: all)",
    )
    parser.add_argument("--no-timing", action="store_true", help="skip the 10M-record timing")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="where CSV/JSON go",
    )
    args = parser.parse_args(argv)
    out: Path = args.results_dir
    out.mkdir(parents=True, exist_ok=True)
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    if args.seeds:
        config = config._replace(seeds=args.seeds)
    generators: list[str] = args.generators
    tag = "_quick" if args.quick else ""
    if sorted(generators) != sorted(GROUP_POPULATIONS):
        tag += "_" + "_".join(generators)
    started = time.perf_counter()
    report: dict[str, Any] = {"config": config._asdict(), "generators": generators}
    report["summary"], report["groups"] = section_accuracy(config, generators, out, tag)
    if not args.no_timing:
        report["timing"] = section_timing(config)
    report["seconds_total"] = time.perf_counter() - started
    (out / f"groups{tag}.json").write_text(json.dumps(report, indent=2))
    print(
        f"\nresults in {out} (groups{tag}.json, groups{tag}.csv; {report['seconds_total']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
