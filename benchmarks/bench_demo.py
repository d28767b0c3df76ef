"""Main-job benchmark: ``abae demo`` wall time, and ABae with its trained proxy against
uniform sampling at the same total oracle spend.

Per built-in dataset (Fashion-MNIST and street scenes):

1. **End to end**: ``python -m abae demo --dataset D`` in a fresh process, twice
   on the same fresh ``--db``: the first run imports, pretrains the backbone,
   grows the pilot, selects and scores the proxy, queries and reports; the
   second reuses the cached backbone, the proxy and every label. Wall time from
   process start to exit. Target (Fashion, the default demo): first run ≤ 90 s
   on 2 CPU cores.
2. **RMSE at the same total spend**: the demo's dataset and proxy settings. The
   collection is imported into one store and the backbone pretrained once
   (cached); then for each of ``--pilots`` pilot seeds the proxy is trained by
   the demo's pipeline (:func:`abae.proxy.store_pipeline.train_collection_proxy`,
   ``pilot_size="auto"``, model selection by cross-validated AUC), which gives the
   pilot ``P`` (``m`` records), every record's score and each pilot record's
   cross-fitted score. For ``--seeds`` sampling seeds per pilot, side by side
   on the same records and ground truth:

   - **ABae** (:func:`abae.estimate`, the demo's strata and stage-1 share) over
     all ``N`` records, the pilot a census stratum (``known=KnownLabels(...)``
     with the pilot's labels and cross-fitted scores). As in the engine, the
     statistic of each pilot positive is bought within the query's budget ``B``,
     so ABae draws ``B - positives(P)`` fresh records. Total spend ``m + B``.
   - **uniform, whole spend**: :func:`abae.estimate_uniform` with ``m + B``
     records drawn from all ``N``.
   - **uniform, amortised**: ``round(m / 10) + B`` records (the proxy's pilot
     shared by 10 queries).
   - **uniform, query budget only**: ``B`` records (the pilot treated as free;
     the measure this benchmark reported before issue 10).

   RMSE against the exact AVG over all records; ABae's CI coverage (the
   engine's interval, ``ci="studentized"``).

Standard errors come from a two-level (cluster) bootstrap: resample the pilot
seeds with replacement, then the sampling seeds within each, and recompute the
RMSEs and their ratio (2,000 replicates); the ABae and uniform errors of one
sampling seed stay paired. With few pilot seeds this understates the
between-pilot variance somewhat. Coverage's SE is binomial.

Run ``python benchmarks/bench_demo.py`` (``--quick``: a tiny collection, a tiny
proxy and few seeds, for a smoke test). Prints a table (and a markdown table for
the README) and writes ``benchmarks/results/demo.{csv,json}``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

import abae
from abae.demo.builtin_datasets import PROXY_NAME, DemoDataset, load_dataset
from abae.demo.choices import DATASET_NAMES
from abae.proxy import roc_auc
from abae.proxy.store_pipeline import ProxyTrainingSettings, train_collection_proxy
from abae.query.plan import OracleCall
from abae.sampling import KnownLabels
from abae.store import Store, import_arrays
from abae.store.records import RecordCollection, list_collections

RESULTS = Path(__file__).resolve().parent / "results"
WALL_TIME_TARGET_S = 90.0
RMSE_RATIO_TARGET = 1.5
AMORTISED_OVER = 10
BOOTSTRAP_REPLICATES = 2000
QUICK_PILOT = 60
PILOT_SEEDS = {"fashion": 5, "scenes": 3}


@dataclass(frozen=True)
class TrainedPilot:
    """One pilot seed's proxy: scores of every record, the pilot, and what it cost."""

    seed: int
    scores: NDArray[np.float64]
    pilot_ids: NDArray[np.int64]
    pilot_scores: NDArray[np.float64]
    candidate: str
    cv_auc: float
    unseen_auc: float
    seconds: float
    pretrain_seconds: float


@dataclass(frozen=True)
class Row:
    dataset: str
    records: int
    budget: int
    strata: int
    stage1_share: float
    pilot_seeds: int
    seeds_per_pilot: int
    runs: int
    pilot_labels_mean: float
    pilot_labels: str
    candidates: str
    cv_auc_mean: float
    unseen_auc_mean: float
    pretrain_s: float
    train_s_cached_mean: float
    exact: float
    rmse_abae: float
    rmse_abae_se: float
    rmse_uniform_whole: float
    rmse_uniform_whole_se: float
    ratio_whole: float
    ratio_whole_se: float
    rmse_uniform_amortised: float
    ratio_amortised: float
    ratio_amortised_se: float
    rmse_uniform_budget: float
    ratio_budget: float
    ratio_budget_se: float
    coverage_abae: float
    coverage_abae_se: float
    demo_wall_first_s: float
    demo_wall_second_s: float


def demo_wall_times(dataset: str, extra: Sequence[str]) -> tuple[float, float]:
    """Seconds for ``python -m abae demo --dataset D`` in a fresh process: (first, second) run
    on the same fresh ``--db`` (the second reuses the cached backbone and the proxy)."""
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as folder:
        command = [
            sys.executable, "-m", "abae", "demo", "--dataset", dataset, "--no-progress",
            "--db", str(Path(folder) / "demo.duckdb"), "--report", str(Path(folder) / "report"),
            *extra,
        ]  # fmt: skip
        for _ in range(2):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
            print(done.stdout.strip(), file=sys.stderr)
    return times[0], times[1]


def train_pilots(
    data: DemoDataset, settings: ProxyTrainingSettings, pilot_seeds: Sequence[int], db: Path
) -> list[TrainedPilot]:
    """Train the demo's proxy once per pilot seed on one store (the backbone pretrained once).

    ``db`` may be a store that already holds the dataset's collection (e.g. one
    ``abae demo --db`` made): its cached backbone and labels are reused.
    """
    store = Store(db)
    if data.name in list_collections(store):
        collection = RecordCollection(store, data.name)
        if collection.count() != len(data):
            raise ValueError(
                f"{db} holds another {data.name!r} collection ({collection.count()} records)"
            )
    else:
        collection = import_arrays(
            store, data.name, images=data.references, image_arrays=data.images, source="bench_demo"
        )
    oracles = data.oracles(0.0)
    trained = []
    for seed in pilot_seeds:
        started = time.perf_counter()
        result = train_collection_proxy(
            store,
            data.name,
            PROXY_NAME,
            oracles,
            predicate=OracleCall(data.predicate_oracle, ("image",)),
            settings=dataclasses.replace(settings, seed=seed),
            query_id=f"pilot:{PROXY_NAME}:seed{seed}",
            progress=False,
        )
        seconds = time.perf_counter() - started
        scores = np.full(len(data), np.nan)
        for batch in collection.iter_batches(batch_size=65536, columns=[PROXY_NAME]):
            scores[batch.ids] = batch.columns[PROXY_NAME].astype(np.float64)
        unseen = np.setdiff1d(np.arange(len(data)), result.pilot_ids)
        backbone = result.backbone
        pretrain = 0.0 if backbone is None or backbone.reused else backbone.seconds
        trained.append(
            TrainedPilot(
                seed=seed,
                scores=scores,
                pilot_ids=result.pilot_ids,
                pilot_scores=result.pilot_scores,
                candidate=result.candidate,
                cv_auc=float(result.cv_auc or np.nan),
                unseen_auc=roc_auc(scores[unseen], data.predicate[unseen]),
                seconds=seconds - pretrain,
                pretrain_seconds=pretrain,
            )
        )
        print(
            f"  pilot seed {seed}: {result.pilot_ids.size} labels, {result.candidate} "
            f"(cv AUC {trained[-1].cv_auc:.3f}, AUC outside the pilot "
            f"{trained[-1].unseen_auc:.3f}), {seconds:.1f} s",
            file=sys.stderr,
        )
    return trained


def sampling_errors(
    data: DemoDataset, pilot: TrainedPilot, budget: int, seeds: int
) -> dict[str, NDArray[np.float64]]:
    """Errors against the exact AVG over ``seeds`` sampling seeds, per method, and ABae's
    coverage (``"covered"``: 0/1 per seed). Seeds are offset by the pilot seed so that
    no two pilots share sampling draws."""
    predicate, statistic = data.predicate, data.statistic
    exact = float(statistic[predicate].mean())
    values = np.where(predicate, statistic, np.nan)

    def oracle(indices: NDArray[np.int64]) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
        return predicate[indices], values[indices]

    ids = pilot.pilot_ids
    known = KnownLabels(ids, predicate[ids], values[ids], pilot.pilot_scores)
    fresh = budget - int(predicate[ids].sum())
    m = int(ids.size)
    uniform_sizes = {
        "uniform_whole": m + budget,
        "uniform_amortised": round(m / AMORTISED_OVER) + budget,
        "uniform_budget": budget,
    }
    out: dict[str, list[float]] = {"abae": [], "covered": []}
    out.update({name: [] for name in uniform_sizes})
    for k in range(seeds):
        seed = 1_000_000 + 1_000 * pilot.seed + k
        result = abae.estimate(
            pilot.scores,
            oracle,
            fresh,
            strata=data.strata,
            stage1_share=data.stage1_share,
            ci="studentized",
            known=known,
            rng=np.random.default_rng(seed),
        )
        out["abae"].append(result.estimate - exact)
        out["covered"].append(float(result.ci_low <= exact <= result.ci_high))
        for j, (name, size) in enumerate(uniform_sizes.items()):
            baseline = abae.estimate_uniform(
                len(data), oracle, size, ci="normal",
                rng=np.random.default_rng([seed, 1 + j]),
            )  # fmt: skip
            out[name].append(baseline.estimate - exact)
    return {name: np.asarray(v, dtype=np.float64) for name, v in out.items()}


def rmse(errors: NDArray[np.float64]) -> float:
    return float(np.sqrt(np.nanmean(np.square(errors))))


def cluster_bootstrap(
    errors: Sequence[dict[str, NDArray[np.float64]]], rng: np.random.Generator
) -> dict[str, NDArray[np.float64]]:
    """RMSE per method in each of :data:`BOOTSTRAP_REPLICATES` two-level resamples
    (pilots, then sampling seeds within each), the methods kept paired."""
    names = [n for n in errors[0] if n != "covered"]
    squared = {n: np.stack([np.square(e[n]) for e in errors]) for n in names}  # (pilots, seeds)
    pilots, seeds = squared[names[0]].shape
    out = {n: np.empty(BOOTSTRAP_REPLICATES) for n in names}
    for b in range(BOOTSTRAP_REPLICATES):
        rows = rng.integers(0, pilots, pilots)
        cols = rng.integers(0, seeds, (pilots, seeds))
        for n in names:
            resampled = np.take_along_axis(squared[n][rows], cols, axis=1)
            out[n][b] = np.sqrt(np.nanmean(resampled))
    return out


def measure(
    name: str, quick: bool, pilot_seeds: int, seeds: int, skip_wall: bool, store: Path | None = None
) -> Row:
    records = {"fashion": 1000, "scenes": 240}[name] if quick else None
    data = load_dataset(name, records)
    settings = data.settings
    budget = data.budget
    extra: list[str] = []
    if quick:
        settings = dataclasses.replace(
            settings,
            pilot_size=QUICK_PILOT,
            max_pilot=QUICK_PILOT,
            epochs=1,
            folds=3,
            candidates=("afno_linear_probe", "pixels_logistic"),
            pretraining=dataclasses.replace(settings.pretraining, epochs=1, max_images=100),
        )
        data = dataclasses.replace(data, settings=settings)
        budget = len(data) // 4
        extra = ["--limit", str(len(data)), "--pilot", str(QUICK_PILOT), "--epochs", "1"]
        extra += ["--pretrain-epochs", "1"]
    extra += ["--budget", str(budget)]
    first, second = (np.nan, np.nan) if skip_wall else demo_wall_times(name, extra)
    if store is not None:
        pilots = train_pilots(data, settings, range(pilot_seeds), store)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-demo-store-") as folder:
            pilots = train_pilots(data, settings, range(pilot_seeds), Path(folder) / "bench.duckdb")
    errors = [sampling_errors(data, pilot, budget, seeds) for pilot in pilots]
    boot = cluster_bootstrap(errors, np.random.default_rng(12345))
    pooled = {n: np.concatenate([e[n] for e in errors]) for n in errors[0]}
    r = {n: rmse(pooled[n]) for n in pooled if n != "covered"}
    coverage = float(pooled["covered"].mean())
    runs = pooled["abae"].size
    sizes = [int(p.pilot_ids.size) for p in pilots]
    candidates = Counter(p.candidate for p in pilots)
    cached = [p.seconds for p in pilots[1:]] or [pilots[0].seconds]

    def ratio_se(uniform: str) -> float:
        return float(np.std(boot[uniform] / boot["abae"], ddof=1))

    return Row(
        dataset=name,
        records=len(data),
        budget=budget,
        strata=data.strata,
        stage1_share=data.stage1_share,
        pilot_seeds=pilot_seeds,
        seeds_per_pilot=seeds,
        runs=runs,
        pilot_labels_mean=round(float(np.mean(sizes)), 1),
        pilot_labels="/".join(str(s) for s in sizes),
        candidates=", ".join(f"{c}×{k}" for c, k in candidates.most_common()),
        cv_auc_mean=round(float(np.mean([p.cv_auc for p in pilots])), 4),
        unseen_auc_mean=round(float(np.mean([p.unseen_auc for p in pilots])), 4),
        pretrain_s=round(pilots[0].pretrain_seconds, 1),
        train_s_cached_mean=round(float(np.mean(cached)), 1),
        exact=round(float(data.statistic[data.predicate].mean()), 6),
        rmse_abae=round(r["abae"], 6),
        rmse_abae_se=round(float(np.std(boot["abae"], ddof=1)), 6),
        rmse_uniform_whole=round(r["uniform_whole"], 6),
        rmse_uniform_whole_se=round(float(np.std(boot["uniform_whole"], ddof=1)), 6),
        ratio_whole=round(r["uniform_whole"] / r["abae"], 3),
        ratio_whole_se=round(ratio_se("uniform_whole"), 3),
        rmse_uniform_amortised=round(r["uniform_amortised"], 6),
        ratio_amortised=round(r["uniform_amortised"] / r["abae"], 3),
        ratio_amortised_se=round(ratio_se("uniform_amortised"), 3),
        rmse_uniform_budget=round(r["uniform_budget"], 6),
        ratio_budget=round(r["uniform_budget"] / r["abae"], 3),
        ratio_budget_se=round(ratio_se("uniform_budget"), 3),
        coverage_abae=round(coverage, 3),
        coverage_abae_se=round(float(np.sqrt(coverage * (1 - coverage) / runs)), 3),
        demo_wall_first_s=round(first, 1),
        demo_wall_second_s=round(second, 1),
    )


def print_table(rows: Sequence[Row]) -> None:
    header = (
        f"{'dataset':<8} {'records':>7} {'pilot':>6} {'budget':>6} {'runs':>5} {'AUC':>6} "
        f"{'RMSE ABae':>10} {'RMSE unif':>10} {'ratio whole':>13} {'ratio amort':>13} "
        f"{'cover':>6} {'demo s':>7} {'again s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.dataset:<8} {r.records:>7} {r.pilot_labels_mean:>6.0f} {r.budget:>6} "
            f"{r.runs:>5} {r.unseen_auc_mean:>6.3f} {r.rmse_abae:>10.5f} "
            f"{r.rmse_uniform_whole:>10.5f} {r.ratio_whole:>6.2f} ± {r.ratio_whole_se:<4.2f} "
            f"{r.ratio_amortised:>6.2f} ± {r.ratio_amortised_se:<4.2f} {r.coverage_abae:>6.3f} "
            f"{r.demo_wall_first_s:>7.1f} {r.demo_wall_second_s:>7.1f}"
        )
    print(
        f"targets: demo (fashion, first run) ≤ {WALL_TIME_TARGET_S:.0f} s; RMSE of uniform at the "
        f"whole spend / ABae ≥ {RMSE_RATIO_TARGET}"
    )
    print()
    print(markdown_table(rows))


def markdown_table(rows: Sequence[Row]) -> str:
    """The results as a markdown table for the README."""
    lines = [
        "| dataset | records | pilot labels (auto) | chosen proxy | AUC outside pilot | query budget "
        "| runs (pilots × seeds) | RMSE ABae | RMSE uniform, whole spend "
        "| uniform / ABae, whole spend "
        f"| uniform / ABae, pilot amortised over {AMORTISED_OVER} | uniform / ABae, pilot free "
        "| ABae 95% CI coverage | `abae demo` first / cached run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.dataset} | {r.records:,} | {r.pilot_labels_mean:.0f} ({r.pilot_labels}) "
            f"| {r.candidates} | {r.unseen_auc_mean:.3f} | {r.budget:,} "
            f"| {r.runs} ({r.pilot_seeds} × {r.seeds_per_pilot}) "
            f"| {r.rmse_abae:.4g} ± {r.rmse_abae_se:.2g} "
            f"| {r.rmse_uniform_whole:.4g} ± {r.rmse_uniform_whole_se:.2g} "
            f"| **{r.ratio_whole:.2f}× ± {r.ratio_whole_se:.2f}** "
            f"| {r.ratio_amortised:.2f}× ± {r.ratio_amortised_se:.2f} "
            f"| {r.ratio_budget:.2f}× ± {r.ratio_budget_se:.2f} "
            f"| {r.coverage_abae:.3f} ± {r.coverage_abae_se:.3f} "
            f"| {_seconds(r.demo_wall_first_s)} / {_seconds(r.demo_wall_second_s)} |"
        )
    lines.append("")
    lines.append(
        "± is a standard error: a two-level bootstrap (pilot seeds, then sampling seeds) for "
        "RMSEs and ratios, binomial for coverage. Whole spend: uniform sampling gets the "
        "pilot's labels plus the query's budget; amortised: a tenth of the pilot plus the "
        "budget; pilot free: the budget alone."
    )
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return "not timed" if np.isnan(value) else f"{value:.0f} s"


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
        "amortised_over": AMORTISED_OVER,
        "standard_errors": (
            f"two-level bootstrap over pilot seeds and sampling seeds, {BOOTSTRAP_REPLICATES} "
            "replicates; coverage: binomial"
        ),
        "date": time.strftime("%Y-%m-%d"),
    }
    (results / f"demo{suffix}.json").write_text(
        json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2) + "\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few seeds (smoke)")
    parser.add_argument("--pilots", type=int, default=None, help="pilot seeds (default 5; quick 2)")
    parser.add_argument(
        "--seeds", type=int, default=None, help="sampling seeds per pilot (default 40; quick 5)"
    )
    parser.add_argument(
        "--datasets", default=",".join(DATASET_NAMES), help="comma-separated built-in datasets"
    )
    parser.add_argument(
        "--skip-wall-time", action="store_true", help="do not time `abae demo` end to end"
    )
    parser.add_argument(
        "--wall-time-datasets",
        default=",".join(DATASET_NAMES),
        help="the datasets whose `abae demo` is timed end to end (default: all)",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="train the pilots' proxies in this store (one `abae demo --db` made for the "
        "dataset: its cached backbone and labels are reused); default: a fresh one",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    args = parser.parse_args(argv)
    timed = {n.strip() for n in args.wall_time_datasets.split(",")}
    seeds = args.seeds or (5 if args.quick else 40)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(DATASET_NAMES))
    if unknown or not names:
        parser.error(f"--datasets must name some of {DATASET_NAMES}, got {args.datasets!r}")
    rows = []
    for name in names:
        started = time.perf_counter()
        pilots = args.pilots or (2 if args.quick else PILOT_SEEDS[name])
        skip_wall = args.skip_wall_time or name not in timed
        rows.append(measure(name, args.quick, pilots, seeds, skip_wall, args.store))
        print(f"done {name} in {time.perf_counter() - started:.0f} s: {rows[-1]}", file=sys.stderr)
        write_results(rows, args.quick, args.results)
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
