"""Benchmark ``ERROR WITHIN``: calls spent, targets met and coverage, against fixed budgets.

For each generator (paper-style; rare predicate, 0.5%) and relative target
(0.5%, 1%, 2% of the AVG), over ``--seeds`` seeds:

- with the target: :func:`abae.estimate` with ``target=PrecisionTarget(e, relative=True)``
  and a cap large enough not to bind (``--cap``); report the calls spent
  (median and 90th percentile), the share of runs that met the target, and the
  interval's coverage of the truth (95%);
- the best fixed budget that meets the target on average: the smallest budget
  on a geometric grid (ratio ``--grid``) whose mean relative half-width, over the
  same number of seeds, is at most the target; report the ratio of the target
  runs' median calls to it.

Targets (issue 12): coverage 93%–97%; median calls / best fixed budget <= 1.3.

Usage::

    python benchmarks/bench_error_target.py                 # 300 seeds
    python benchmarks/bench_error_target.py --quick         # 30 seeds, one target

Prints a table and writes ``benchmarks/results/error_target.{csv,json}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from abae.sampling import estimate
from abae.sampling.error_target import PrecisionTarget
from abae.sampling.synthetic import POPULATIONS, SyntheticPopulation

RESULTS = Path(__file__).resolve().parent / "results"
GENERATORS = ("paper", "very_rare")
TARGETS = (0.005, 0.01, 0.02)

_population: SyntheticPopulation | None = None


def _load(generator: str, records: int) -> SyntheticPopulation:
    global _population
    if _population is None or _population.name != generator or len(_population) != records:
        _population = POPULATIONS[generator](records, np.random.default_rng(0))
    return _population


def _target_run(args: tuple[str, int, float, int, int]) -> tuple[int, float, bool]:
    generator, records, target, cap, seed = args
    population = _load(generator, records)
    result = estimate(
        population.scores,
        population.oracle,
        cap,
        rng=seed,
        target=PrecisionTarget(target, relative=True),
    )
    truth = population.truth("avg")
    half = (result.ci_high - result.ci_low) / 2 / abs(result.estimate)
    return result.oracle_calls, half, bool(result.ci_low <= truth <= result.ci_high)


def _fixed_run(args: tuple[str, int, int, int]) -> float:
    generator, records, budget, seed = args
    population = _load(generator, records)
    result = estimate(population.scores, population.oracle, budget, rng=seed)
    return float((result.ci_high - result.ci_low) / 2 / abs(result.estimate))


def best_fixed_budget(
    pool: ProcessPoolExecutor,
    generator: str,
    records: int,
    target: float,
    start: int,
    seeds: int,
    grid: float,
) -> tuple[int, float]:
    """The smallest grid budget whose mean relative half-width is at most ``target``."""
    budget = max(int(start / grid**3), 100)
    while True:
        jobs = [(generator, records, budget, 10_000 + s) for s in range(seeds)]
        mean_half = float(np.mean(list(pool.map(_fixed_run, jobs, chunksize=4))))
        if mean_half <= target or budget >= records:
            return budget, mean_half
        budget = min(math.ceil(budget * grid), records)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--cap", type=int, default=200_000)
    parser.add_argument("--grid", type=float, default=1.1, help="fixed-budget grid ratio")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="30 seeds, 100k records, 2%% only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    records = 100_000 if args.quick else args.records
    seeds = 30 if args.quick else args.seeds
    targets = (0.02,) if args.quick else TARGETS
    generators = ("paper",) if args.quick else GENERATORS
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for generator in generators:
            for target in targets:
                jobs = [(generator, records, target, args.cap, s) for s in range(seeds)]
                runs = list(pool.map(_target_run, jobs, chunksize=4))
                calls = np.array([r[0] for r in runs], dtype=np.float64)
                halves = np.array([r[1] for r in runs])
                covered = np.array([r[2] for r in runs], dtype=np.float64)
                median_calls = float(np.median(calls))
                fixed, fixed_half = best_fixed_budget(
                    pool, generator, records, target, int(median_calls), seeds, args.grid
                )
                coverage = float(covered.mean())
                rows.append(
                    {
                        "generator": generator,
                        "target_relative": target,
                        "median_calls": median_calls,
                        "p90_calls": float(np.percentile(calls, 90)),
                        "met": float(np.mean(halves <= target * (1 + 1e-9))),
                        "coverage": round(coverage, 3),
                        "coverage_se": round(math.sqrt(coverage * (1 - coverage) / seeds), 3),
                        "best_fixed_budget": fixed,
                        "fixed_mean_half": round(fixed_half, 5),
                        "calls_over_fixed": round(median_calls / fixed, 3),
                        "ok": 0.93 <= coverage <= 0.97 and median_calls / fixed <= 1.3,
                    }
                )
    print(
        f"{'generator':<10} {'target':>7} {'median':>8} {'p90':>8} {'met':>5} {'cover':>11} "
        f"{'best fixed':>10} {'ratio':>6}"
    )
    for row in rows:
        print(
            f"{row['generator']:<10} {row['target_relative']:>7.1%} {row['median_calls']:>8.0f} "
            f"{row['p90_calls']:>8.0f} {row['met']:>5.2f} {row['coverage']:>5.3f}±{row['coverage_se']:.3f} "
            f"{row['best_fixed_budget']:>10} {row['calls_over_fixed']:>6.2f}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "error_target.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta = {
        "python": platform.python_version(),
        "records": records,
        "seeds": seeds,
        "cap": args.cap,
        "grid": args.grid,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "error_target.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
    sys.exit(0)
