"""Main-job benchmark: ``abae demo`` wall time, and RMSE of ABae + AFNO proxy vs uniform sampling.

Two measures per built-in dataset (Fashion-MNIST and street scenes):

1. **End to end**: ``python -m abae demo --dataset D`` in a fresh process (import,
   pilot labels, proxy training, scoring, query, uniform baseline, report), wall
   time from process start to exit. Target: ≤ 90 s on 2 CPU cores.
2. **RMSE**: the demo's dataset and proxy settings, the proxy trained once on a
   uniform pilot and the scores computed once; then, for ≥ 100 seeds, ABae
   (:func:`abae.estimate`, the sampling core, with the demo's strata and
   stage-1 share) and uniform sampling
   (:func:`abae.estimate_uniform`) each spend the same budget on the records the
   proxy did not train on, with an in-memory oracle over the known ground
   truth. RMSE against the exact AVG over those records. Target: uniform's RMSE
   ≥ 1.5 × ABae's.

Proxy scoring throughput and AUC against self-attention are measured by
``benchmarks/bench_proxy_scoring.py``; not repeated here.

Run ``python benchmarks/bench_demo.py`` (``--quick``: small sizes, few seeds,
for a smoke test). Prints a table and writes ``benchmarks/results/demo.{csv,json}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

import abae
from abae.demo.builtin_datasets import DemoDataset, load_dataset
from abae.demo.choices import DATASET_NAMES
from abae.proxy import roc_auc, train_proxy

RESULTS = Path(__file__).resolve().parent / "results"
WALL_TIME_TARGET_S = 90.0
RMSE_RATIO_TARGET = 1.5


@dataclass(frozen=True)
class Row:
    dataset: str
    records: int
    pilot: int
    budget: int
    seeds: int
    demo_wall_s: float
    proxy_auc: float
    exact: float
    rmse_abae: float
    rmse_uniform: float
    rmse_ratio: float
    coverage_abae: float


def demo_wall_time(dataset: str, extra: Sequence[str]) -> float:
    """Seconds for ``python -m abae demo --dataset D`` in a fresh process (report in a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as folder:
        command = [
            sys.executable, "-m", "abae", "demo", "--dataset", dataset, "--no-progress",
            "--db", str(Path(folder) / "demo.duckdb"), "--report", str(Path(folder) / "report"),
            *extra,
        ]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    print(done.stdout.strip(), file=sys.stderr)
    return seconds


def proxy_scores(
    data: DemoDataset, pilot: int, epochs: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Train the demo's proxy once on a uniform pilot; (scores of all records, unseen rows)."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(data), size=min(pilot, len(data) - 10), replace=False))
    settings = data.settings
    proxy = train_proxy(
        data.images[rows],
        data.predicate[rows],
        model_kwargs=settings.model_kwargs,
        epochs=epochs,
        lr=settings.lr,
        batch_size=settings.batch_size,
        seed=seed,
        progress=False,
    )
    scores = proxy.score(data.images, progress=False)
    return scores, np.setdiff1d(np.arange(len(data)), rows)


def rmse_over_seeds(
    data: DemoDataset, scores: NDArray[np.float64], rows: NDArray[np.int64], budget: int, seeds: int
) -> tuple[float, float, float, float]:
    """(exact, RMSE of ABae, RMSE of uniform, ABae's CI coverage) over ``seeds`` runs."""
    predicate, statistic = data.predicate[rows], data.statistic[rows]
    exact = float(statistic[predicate].mean())

    def oracle(indices: NDArray[np.int64]) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
        return predicate[indices], statistic[indices]

    errors_abae, errors_uniform, covered = [], [], 0
    for seed in range(seeds):
        result = abae.estimate(
            scores[rows],
            oracle,
            budget,
            strata=data.strata,
            stage1_share=data.stage1_share,
            ci="normal",
            rng=np.random.default_rng(seed),
        )
        baseline = abae.estimate_uniform(
            len(rows), oracle, budget, ci="normal", rng=np.random.default_rng(10_000 + seed)
        )
        errors_abae.append(result.estimate - exact)
        errors_uniform.append(baseline.estimate - exact)
        covered += int(result.ci_low <= exact <= result.ci_high)
    rmse_abae = float(np.sqrt(np.nanmean(np.square(errors_abae))))
    rmse_uniform = float(np.sqrt(np.nanmean(np.square(errors_uniform))))
    return exact, rmse_abae, rmse_uniform, covered / seeds


def run(quick: bool, seeds: int, skip_wall: bool) -> list[Row]:
    rows: list[Row] = []
    for name in DATASET_NAMES:
        records = {"fashion": 1500, "scenes": 300}[name] if quick else None
        data = load_dataset(name, records)
        pilot = min(data.settings.pilot_size, len(data) // 3) if quick else data.settings.pilot_size
        epochs = 2 if quick else data.settings.epochs
        budget = min(data.budget, (len(data) - pilot) // 4)
        extra: list[str] = []
        if quick:
            extra = ["--limit", str(len(data)), "--pilot", str(pilot), "--epochs", str(epochs)]
        extra += ["--budget", str(budget)]
        wall = float("nan") if skip_wall else demo_wall_time(name, extra)
        scores, unseen = proxy_scores(data, pilot, epochs, data.settings.seed)
        auc = roc_auc(scores[unseen], data.predicate[unseen])
        exact, rmse_abae, rmse_uniform, coverage = rmse_over_seeds(
            data, scores, unseen, budget, seeds
        )
        rows.append(
            Row(
                dataset=name,
                records=len(data),
                pilot=pilot,
                budget=budget,
                seeds=seeds,
                demo_wall_s=round(wall, 2),
                proxy_auc=round(auc, 4),
                exact=round(exact, 6),
                rmse_abae=round(rmse_abae, 6),
                rmse_uniform=round(rmse_uniform, 6),
                rmse_ratio=round(rmse_uniform / rmse_abae, 3),
                coverage_abae=round(coverage, 3),
            )
        )
        print(f"done {name}: {rows[-1]}", file=sys.stderr)
    return rows


def print_table(rows: Sequence[Row]) -> None:
    header = (
        f"{'dataset':<8} {'records':>7} {'pilot':>5} {'budget':>6} {'seeds':>5} "
        f"{'demo s':>7} {'AUC':>6} {'RMSE ABae':>10} {'RMSE unif':>10} {'ratio':>6} {'cover':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.dataset:<8} {r.records:>7} {r.pilot:>5} {r.budget:>6} {r.seeds:>5} "
            f"{r.demo_wall_s:>7.1f} {r.proxy_auc:>6.3f} {r.rmse_abae:>10.5f} "
            f"{r.rmse_uniform:>10.5f} {r.rmse_ratio:>6.2f} {r.coverage_abae:>6.2f}"
        )
    print(
        f"targets: demo ≤ {WALL_TIME_TARGET_S:.0f} s, RMSE ratio (uniform / ABae) ≥ "
        f"{RMSE_RATIO_TARGET}"
    )


def write_results(rows: Sequence[Row], quick: bool, results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if quick else ""
    with (results / f"demo{suffix}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    meta = {
        "quick": quick,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "wall_time_target_s": WALL_TIME_TARGET_S,
        "rmse_ratio_target": RMSE_RATIO_TARGET,
    }
    (results / f"demo{suffix}.json").write_text(
        json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2) + "\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and 20 seeds (smoke)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 200; quick 20)")
    parser.add_argument(
        "--skip-wall-time", action="store_true", help="do not time `abae demo` end to end"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    args = parser.parse_args(argv)
    seeds = args.seeds or (20 if args.quick else 200)
    rows = run(args.quick, seeds, args.skip_wall_time)
    print_table(rows)
    write_results(rows, args.quick, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
