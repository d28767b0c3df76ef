"""Benchmark of the ABae sampling core: accuracy, bias and coverage against its baselines.

Sections (each prints a table and writes to ``benchmarks/results/``):

1. ``accuracy``: on synthetic populations (``--records``, 200,000 by default,
   generators of :mod:`abae.sampling.synthetic`: ``paper``-style, ``very_rare``
   (0.5% positives), ``lognormal`` (heavy-tailed statistic growing with the
   proxy), ``useless`` (a proxy with no information), ``miscalibrated`` (a
   monotone, saturating transform of a good proxy)), for AVG, SUM and COUNT at
   budgets 500, 1,000, 2,000 and 5,000: RMSE, bias and 95% coverage of
   ``ours`` (``abae.estimate`` with its defaults), ``paper`` (the paper's
   ``"abae"`` allocation, same interval), ``uniform`` (``abae.estimate_uniform``)
   and ``oracle`` (one stage, the same strata, Neyman allocation from the true
   per-stratum spread: the best a stratified design can do; at least two labels
   per stratum). Every method runs the same seeds; ratios come with standard
   errors from a bootstrap over seeds. Rows go to ``sampling_cells.csv``, which
   later runs update cell by cell (so a run can be split with ``--generators``).
2. ``pilot``: the same total spend with known labels: a uniform pilot of 1,000
   labels plus a budget, for ``ours`` (pilot as a census stratum and planning
   information) against ``uniform`` (pilot plus as many uniform draws).
3. ``overhead``: one ``abae.estimate`` call over 10M records with a 10k budget
   and an instant oracle, default interval and 1000-replicate bootstrap.

Run ``python benchmarks/bench_sampling.py --workers 2`` (full, see
``docs/statistics.md`` for the time it took), or ``--quick`` for a smoke run.
Timings are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt

import abae
from abae.sampling import (
    KnownLabels,
    StratifiedSample,
    allocate_stage2,
    draw_fresh,
    estimate_from_labels,
    make_strata,
)
from abae.sampling.synthetic import POPULATIONS, SyntheticPopulation

GENERATORS = ("paper", "very_rare", "lognormal", "useless", "miscalibrated")
AGGREGATES = ("avg", "sum", "count")
METHODS = ("ours", "paper", "uniform", "oracle")
POPULATION_SEED = 2024
BOOTSTRAP_RESAMPLES = 400


class Cell(NamedTuple):
    """One design point of the accuracy grid."""

    generator: str
    aggregate: str
    budget: int
    method: str


@lru_cache(maxsize=4)
def population(generator: str, records: int) -> SyntheticPopulation:
    """The generator's population, records relabelled in proxy-score order.

    Sorting only renames record ids (the estimators see the same ranking and
    draw the same way) and makes the ranking step inside ``abae.estimate``
    cheaper.
    """
    raw = POPULATIONS[generator](records, np.random.default_rng(POPULATION_SEED))
    order = np.argsort(raw.scores, kind="stable")
    return SyntheticPopulation(
        raw.name, raw.scores[order], raw.predicate[order], raw.statistic[order]
    )


def true_spread(
    pop: SyntheticPopulation, members: Iterable[npt.NDArray[np.int64]], aggregate: str
) -> npt.NDArray[np.float64]:
    """Per-stratum standard deviation of the estimator's linearised residual, from the truth."""
    mu = pop.truth("avg")
    spread = []
    for m in members:
        positive = pop.predicate[m]
        if aggregate == "count":
            residual = positive.astype(np.float64)
        else:
            centre = mu if aggregate == "avg" else 0.0
            residual = np.where(positive, pop.statistic[m] - centre, 0.0)
        spread.append(float(residual.std()))
    return np.array(spread)


def oracle_neyman(
    pop: SyntheticPopulation, aggregate: str, budget: int, rng: np.random.Generator
) -> abae.Estimate:
    """One stage on the same strata, Neyman-allocated from the true spreads (at least 2 each)."""
    layout = make_strata(pop.scores, 5, rng)
    spread = true_spread(pop, layout.members, aggregate)
    floor = np.minimum(2, layout.sizes)
    extra = allocate_stage2(layout.sizes * spread, layout.sizes - floor, budget - int(floor.sum()))
    counts = floor + extra
    indices, stratum = [], []
    for j, members in enumerate(layout.members):
        positions = draw_fresh(int(layout.sizes[j]), np.empty(0, np.int64), int(counts[j]), rng)
        indices.append(members[positions])
        stratum.append(np.full(positions.size, j, np.int64))
    chosen = np.concatenate(indices)
    predicate, statistic = pop.oracle(chosen)
    sample = StratifiedSample(
        layout.sizes,
        chosen,
        predicate,
        statistic,
        np.concatenate(stratum),
        np.ones(chosen.size, np.int8),
    )
    return estimate_from_labels(
        sample,
        aggregate=aggregate,
        allocation="oracle",
        budget=budget,
        oracle_calls=int(chosen.size),
        confidence=0.95,
        ci="studentized",
        rng=rng,
    )


def run_once(pop: SyntheticPopulation, cell: Cell, seed: int) -> tuple[float, float, float]:
    """``(estimate, ci_low, ci_high)`` of one run of ``cell.method``."""
    rng = np.random.default_rng([seed, 7])
    if cell.method == "uniform":
        result = abae.estimate_uniform(
            len(pop), pop.oracle, cell.budget, aggregate=cell.aggregate, rng=rng
        )
    elif cell.method == "oracle":
        result = oracle_neyman(pop, cell.aggregate, cell.budget, rng)
    else:
        allocation = "abae" if cell.method == "paper" else "robust"
        result = abae.estimate(
            pop.scores,
            pop.oracle,
            cell.budget,
            aggregate=cell.aggregate,
            allocation=allocation,
            rng=rng,
        )
    return result.estimate, result.ci_low, result.ci_high


def run_cell(args: tuple[Cell, int, int]) -> tuple[Cell, npt.NDArray[np.float64]]:
    """Every seed of one cell: array ``(seeds, 3)`` of estimate, low, high."""
    cell, records, seeds = args
    pop = population(cell.generator, records)
    return cell, np.array([run_once(pop, cell, seed) for seed in range(seeds)])


def summarise(cell: Cell, runs: npt.NDArray[np.float64], truth: float) -> dict[str, Any]:
    error = runs[:, 0] - truth
    finite = np.isfinite(error)
    covered = (runs[:, 1] <= truth) & (truth <= runs[:, 2])
    n = runs.shape[0]
    return {
        **cell._asdict(),
        "seeds": n,
        "truth": truth,
        "rmse": float(np.sqrt(np.mean(error[finite] ** 2))) if finite.any() else float("nan"),
        "relative_rmse": (
            float(np.sqrt(np.mean(error[finite] ** 2)) / abs(truth))
            if finite.any()
            else float("nan")
        ),
        "bias": float(np.mean(error[finite])) if finite.any() else float("nan"),
        "bias_se": (
            float(np.std(error[finite], ddof=1) / np.sqrt(finite.sum()))
            if finite.sum() > 1
            else float("nan")
        ),
        "undefined": int(n - finite.sum()),
        "coverage": float(covered.mean()),
        "coverage_se": float(np.sqrt(covered.mean() * (1 - covered.mean()) / n)),
        "median_width": float(np.median(runs[:, 2] - runs[:, 1]) / abs(truth)),
    }


def rmse_ratio(
    numerator: npt.NDArray[np.float64],
    denominator: npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> tuple[float, float]:
    """RMSE ratio of two error arrays over the same seeds, with its bootstrap standard error."""
    a, b = numerator**2, denominator**2
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size == 0 or b.mean() == 0:
        return float("nan"), float("nan")
    ratio = float(np.sqrt(a.mean() / b.mean()))
    picks = rng.integers(0, a.size, size=(BOOTSTRAP_RESAMPLES, a.size))
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = np.sqrt(a[picks].mean(axis=1) / b[picks].mean(axis=1))
    finite = replicates[np.isfinite(replicates)]
    return ratio, float(finite.std(ddof=1)) if finite.size > 1 else float("nan")


def section_accuracy(config: BenchConfig, workers: int, out: Path) -> list[dict[str, Any]]:
    cells = [
        Cell(g, a, b, m)
        for g in config.generators
        for a in config.aggregates
        for b in config.budgets
        for m in METHODS
    ]
    tasks = [(cell, config.records, config.seeds) for cell in cells]
    runs: dict[Cell, npt.NDArray[np.float64]] = {}
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for cell, result in pool.map(run_cell, tasks, chunksize=1):
                runs[cell] = result
    else:
        for task in tasks:
            cell, result = run_cell(task)
            runs[cell] = result
    rows = []
    rng = np.random.default_rng(0)
    for g in config.generators:
        pop = population(g, config.records)
        for a in config.aggregates:
            truth = pop.truth(a)
            for b in config.budgets:
                errors = {m: runs[Cell(g, a, b, m)][:, 0] - truth for m in METHODS}
                for m in METHODS:
                    row = summarise(Cell(g, a, b, m), runs[Cell(g, a, b, m)], truth)
                    row["records"] = config.records
                    if m == "ours":
                        for other in METHODS[1:]:
                            value, se = rmse_ratio(errors[other], errors["ours"], rng)
                            row[f"{other}_over_ours"], row[f"{other}_over_ours_se"] = value, se
                    rows.append(row)
    merged = _merge_cells(out / "sampling_cells.csv", rows)
    (out / "sampling_cells.md").write_text(markdown_table(merged))
    _print_accuracy(merged)
    _plot_accuracy(
        merged, out / "sampling_rmse.png", out / "sampling_coverage.png", draft=config.seeds < 10
    )
    return merged


def _merge_cells(path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of earlier runs for cells not rerun now, plus these rows; written back to ``path``."""
    key = ("generator", "aggregate", "budget", "method")
    fresh = {tuple(str(r[k]) for k in key) for r in rows}
    kept: list[dict[str, Any]] = []
    if path.exists():
        with path.open() as handle:
            for old in csv.DictReader(handle):
                if tuple(old[k] for k in key) not in fresh:
                    kept.append({k: _number(v) for k, v in old.items()})
    merged = sorted(
        kept + rows,
        key=lambda r: (
            GENERATORS.index(r["generator"]) if r["generator"] in GENERATORS else 99,
            AGGREGATES.index(r["aggregate"]),
            int(r["budget"]),
            METHODS.index(r["method"]),
        ),
    )
    fields = list(dict.fromkeys(k for r in merged for k in r))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(merged)
    return merged


def _number(value: str) -> Any:
    if value == "":
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def _print_accuracy(rows: list[dict[str, Any]]) -> None:
    print(
        "\n== Accuracy: RMSE ratios (> 1: ours is better; ours/oracle: the price of not knowing) =="
    )
    print(
        f"{'generator':>13} {'agg':>5} {'budget':>6} {'ours RMSE':>10} {'unif/ours':>13} "
        f"{'paper/ours':>13} {'ours/oracle':>13} {'cov ours':>9} {'paper':>6} {'unif':>6} "
        f"{'bias/SE':>8}"
    )
    by_key = {(r["generator"], r["aggregate"], r["budget"], r["method"]): r for r in rows}
    for r in rows:
        if r["method"] != "ours":
            continue
        k = (r["generator"], r["aggregate"], r["budget"])
        paper = by_key.get((*k, "paper"), {})
        uniform = by_key.get((*k, "uniform"), {})
        inverse = 1.0 / r["oracle_over_ours"] if r.get("oracle_over_ours") else float("nan")
        inverse_se = (
            r["oracle_over_ours_se"] * inverse**2 if r.get("oracle_over_ours") else float("nan")
        )
        print(
            f"{r['generator']:>13} {r['aggregate']:>5} {r['budget']:>6} {r['relative_rmse']:>9.2%} "
            f"{r['uniform_over_ours']:>7.3f}±{r['uniform_over_ours_se']:<5.3f}"
            f"{r['paper_over_ours']:>7.3f}±{r['paper_over_ours_se']:<5.3f}"
            f"{inverse:>7.3f}±{inverse_se:<5.3f}"
            f"{r['coverage']:>9.3f} {paper.get('coverage', float('nan')):>6.3f} "
            f"{uniform.get('coverage', float('nan')):>6.3f} {r['bias'] / r['bias_se']:>+8.2f}"
        )


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The accuracy grid as a Markdown table (one line per generator, aggregate and budget)."""
    by_key = {(r["generator"], r["aggregate"], int(r["budget"]), r["method"]): r for r in rows}
    lines = [
        "| generator | aggregate | budget | RMSE ours (relative) | uniform / ours | paper / ours "
        "| ours / oracle-Neyman | coverage ours | coverage paper | coverage uniform | bias ours / SE |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["method"] != "ours":
            continue
        k = (r["generator"], r["aggregate"], int(r["budget"]))
        inverse = 1.0 / float(r["oracle_over_ours"])
        inverse_se = float(r["oracle_over_ours_se"]) * inverse**2
        lines.append(
            f"| {k[0]} | {k[1].upper()} | {k[2]:,} | {float(r['relative_rmse']):.2%} "
            f"| {float(r['uniform_over_ours']):.2f} ± {float(r['uniform_over_ours_se']):.2f} "
            f"| {float(r['paper_over_ours']):.2f} ± {float(r['paper_over_ours_se']):.2f} "
            f"| {inverse:.2f} ± {inverse_se:.2f} | {float(r['coverage']):.3f} "
            f"| {float(by_key[(*k, 'paper')]['coverage']):.3f} "
            f"| {float(by_key[(*k, 'uniform')]['coverage']):.3f} "
            f"| {float(r['bias']) / float(r['bias_se']):+.1f} |"
        )
    return "\n".join(lines) + "\n"


def _plot_accuracy(
    rows: list[dict[str, Any]], rmse_path: Path, coverage_path: Path, draft: bool = False
) -> None:
    """RMSE and coverage against the budget, one panel per generator and aggregate.

    ``draft`` (the quick mode) skips the layout pass and draws at low resolution.
    """
    generators = [g for g in GENERATORS if any(r["generator"] == g for r in rows)]
    for path, field, label in (
        (rmse_path, "relative_rmse", "RMSE / |truth|"),
        (coverage_path, "coverage", "coverage of the 95% interval"),
    ):
        figure, axes = plt.subplots(
            len(AGGREGATES), len(generators), figsize=(3.2 * len(generators), 8), squeeze=False
        )
        for i, aggregate in enumerate(AGGREGATES):
            for j, generator in enumerate(generators):
                axis = axes[i][j]
                for method in METHODS:
                    mine = [
                        r
                        for r in rows
                        if r["generator"] == generator
                        and r["aggregate"] == aggregate
                        and r["method"] == method
                    ]
                    if mine:
                        budgets = [int(r["budget"]) for r in mine]
                        values = [float(r[field]) for r in mine]
                        axis.plot(budgets, values, "o-", label=method)
                axis.set_xscale("log")
                axis.minorticks_off()
                ticks = sorted({int(r["budget"]) for r in rows})
                axis.set_xticks(ticks, [f"{t:,}" for t in ticks], fontsize=7)
                if field == "relative_rmse":
                    axis.set_yscale("log")
                else:
                    axis.axhspan(0.93, 0.97, color="0.9")
                axis.set_title(f"{generator} {aggregate.upper()}", fontsize=9)
                axis.set_xlabel("budget", fontsize=8)
                if j == 0:
                    axis.set_ylabel(label, fontsize=8)
        axes[0][0].legend(fontsize=7)
        if not draft:
            figure.tight_layout()
        figure.savefig(path, dpi=30 if draft else 110)
        plt.close(figure)


def section_pilot(config: BenchConfig, out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(1)
    for generator in config.pilot_generators:
        pop = population(generator, config.records)
        for aggregate in ("avg", "count"):
            truth = pop.truth(aggregate)
            for budget in config.pilot_budgets:
                ours, uniform, covered = [], [], []
                for seed in range(config.seeds):
                    seeded = np.random.default_rng([seed, 11])
                    chosen = seeded.choice(len(pop), config.pilot, replace=False)
                    known = KnownLabels(
                        chosen,
                        pop.predicate[chosen],
                        np.where(pop.predicate[chosen], pop.statistic[chosen], np.nan),
                        pop.scores[chosen],
                    )
                    mine = abae.estimate(
                        pop.scores, pop.oracle, budget, aggregate=aggregate, rng=seeded, known=known
                    )
                    base = abae.estimate_uniform(
                        len(pop), pop.oracle, budget, aggregate=aggregate, rng=seeded, known=known
                    )
                    ours.append(mine.estimate)
                    uniform.append(base.estimate)
                    covered.append(mine.ci_low <= truth <= mine.ci_high)
                ratio, se = rmse_ratio(np.array(uniform) - truth, np.array(ours) - truth, rng)
                error = np.array(ours) - truth
                rows.append(
                    {
                        "generator": generator,
                        "aggregate": aggregate,
                        "pilot": config.pilot,
                        "budget": budget,
                        "total_spend": config.pilot + budget,
                        "seeds": config.seeds,
                        "relative_rmse_ours": float(np.sqrt(np.mean(error**2)) / abs(truth)),
                        "uniform_over_ours": ratio,
                        "uniform_over_ours_se": se,
                        "bias_over_se": float(
                            error.mean() / (error.std(ddof=1) / np.sqrt(error.size))
                        ),
                        "coverage": float(np.mean(covered)),
                    }
                )
    print(f"\n== Same total spend: pilot of {config.pilot} known labels + budget ==")
    print(
        f"{'generator':>10} {'agg':>5} {'budget':>6} {'total':>6} {'ours RMSE':>10} {'unif/ours':>13} {'cov':>6} {'bias/SE':>8}"
    )
    for r in rows:
        print(
            f"{r['generator']:>10} {r['aggregate']:>5} {r['budget']:>6} {r['total_spend']:>6} "
            f"{r['relative_rmse_ours']:>9.2%} {r['uniform_over_ours']:>7.3f}±{r['uniform_over_ours_se']:<5.3f}"
            f"{r['coverage']:>6.3f} {r['bias_over_se']:>+8.2f}"
        )
    with (out / "sampling_pilot.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def timed(action: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def section_overhead(records: int, budget: int, repeats: int) -> dict[str, Any]:
    pop = POPULATIONS["paper"](records, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    default = timed(lambda: abae.estimate(pop.scores, pop.oracle, budget, rng=rng), repeats)
    bootstrap = timed(
        lambda: abae.estimate(pop.scores, pop.oracle, budget, ci="bootstrap", rng=rng), repeats
    )
    strata = timed(lambda: make_strata(pop.scores, 5, rng), repeats)
    print(f"\n== Overhead: {records:,} records, budget {budget:,}, instant oracle ==")
    print(
        f"  default call (studentized interval): median {np.median(default):.3f} s (target <= 1 s at 10M)"
    )
    print(f"  with a 1000-replicate bootstrap:     median {np.median(bootstrap):.3f} s")
    print(f"  of which stratification:            median {np.median(strata):.3f} s")
    return {
        "records": records,
        "budget": budget,
        "seconds_default": default,
        "seconds_bootstrap": bootstrap,
        "seconds_stratification": strata,
        "median_default": float(np.median(default)),
    }


class BenchConfig(NamedTuple):
    """Sizes of one benchmark run."""

    records: int
    generators: tuple[str, ...]
    aggregates: tuple[str, ...]
    budgets: tuple[int, ...]
    seeds: int
    pilot: int
    pilot_generators: tuple[str, ...]
    pilot_budgets: tuple[int, ...]
    overhead_records: int
    overhead_budget: int
    repeats: int


FULL_CONFIG = BenchConfig(
    records=200_000,
    generators=GENERATORS,
    aggregates=AGGREGATES,
    budgets=(500, 1000, 2000, 5000),
    seeds=300,
    pilot=1000,
    pilot_generators=("paper", "lognormal"),
    pilot_budgets=(500, 1000, 2000),
    overhead_records=10_000_000,
    overhead_budget=10_000,
    repeats=3,
)
QUICK_CONFIG = BenchConfig(
    records=10_000,
    generators=GENERATORS,
    aggregates=AGGREGATES,
    budgets=(500, 2000),
    seeds=4,
    pilot=300,
    pilot_generators=("paper",),
    pilot_budgets=(500,),
    overhead_records=100_000,
    overhead_budget=2_000,
    repeats=1,
)
SECTIONS = ("accuracy", "pilot", "overhead")
"""What a run computes; ``report`` instead reprints and replots ``sampling_cells.csv``."""


def section_report(out: Path) -> list[dict[str, Any]]:
    """Table, Markdown and plots again from the cells an earlier run wrote."""
    rows = _merge_cells(out / "sampling_cells.csv", [])
    (out / "sampling_cells.md").write_text(markdown_table(rows))
    _print_accuracy(rows)
    _plot_accuracy(rows, out / "sampling_rmse.png", out / "sampling_coverage.png")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (seconds)")
    parser.add_argument("--seeds", type=int, default=None, help="runs per cell")
    parser.add_argument("--records", type=int, default=None, help="records per population")
    parser.add_argument("--generators", default=None, help="comma-separated subset")
    parser.add_argument("--aggregates", default=None, help="comma-separated subset")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help="comma-separated subset, or 'report' to redraw from sampling_cells.csv",
    )
    parser.add_argument("--workers", type=int, default=1, help="processes for the accuracy grid")
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
    if args.records:
        config = config._replace(records=args.records)
    if args.generators:
        config = config._replace(generators=tuple(args.generators.split(",")))
    if args.aggregates:
        config = config._replace(aggregates=tuple(args.aggregates.split(",")))
    sections = args.sections.split(",")
    if sections == ["report"]:
        section_report(out)
        return 0
    start = time.perf_counter()
    report: dict[str, Any] = {"config": config._asdict()}
    if "accuracy" in sections:
        report["accuracy"] = section_accuracy(config, args.workers, out)
    if "pilot" in sections:
        report["pilot"] = section_pilot(config, out)
    if "overhead" in sections:
        report["overhead"] = section_overhead(
            config.overhead_records, config.overhead_budget, config.repeats
        )
    report[f"seconds_{'_'.join(sections)}"] = time.perf_counter() - start
    path = out / ("sampling_quick.json" if args.quick else "sampling.json")
    if path.exists():  # keep the sections this run did not redo
        earlier = json.loads(path.read_text())
        earlier.update(report)
        report = earlier
    path.write_text(json.dumps(report, indent=2))
    print(f"\nresults in {out} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
