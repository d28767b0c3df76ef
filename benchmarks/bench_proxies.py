"""Proxy benchmark: held-out AUC against pilot size, per candidate, and the selection's choice.

For Fashion-MNIST (``is_trouser``, true for 10 %) and street scenes
(``has_red_light``), a collection of unlabelled images is given; pilots of
50, 100, 200, 400 and 1,000 labels are drawn from it uniformly (one draw per
seed); every method is trained on the pilot with the production recipe
(:mod:`abae.proxy.candidates`: stratified 5-fold cross-validation chooses
epochs or λ, then a fit on the whole pilot) and scores a test set it never saw:

- ``afno_scratch``: the AFNO proxy network from random weights;
- ``afno_pretrained``: the same network from the backbone pretrained on the
  collection's own images by masked inpainting (the ``afno_finetuned`` candidate);
- ``afno_linear_probe``: logistic regression on the pretrained backbone's features;
- ``pixels_logistic``: logistic regression on downsampled pixels;
- ``attention_pretrained``: the self-attention mixer in the same network,
  pretrained and fine-tuned the same way;
- ``selected``: what :func:`abae.proxy.select_proxy` picks among the production
  candidates (``afno_pretrained``, ``afno_linear_probe``, ``pixels_logistic``) by
  cross-validated AUC on the same folds (ties within 0.005 go to the cheapest).

One backbone per dataset and mixer is pretrained once (as the pipeline caches one
per collection); its wall and CPU seconds are reported. Also measured: the
store pipeline on the demo's collection (20,000 Fashion-MNIST images,
``--pilot auto``), twice, the second run reusing the cached backbone and labels.

Runs are resumable in parts, each part well under 20 minutes on a shared
2-core machine::

    python benchmarks/bench_proxies.py --datasets fashion --seeds 0,1,2
    python benchmarks/bench_proxies.py --datasets scenes --seeds 0,1,2
    python benchmarks/bench_proxies.py --pipeline        # the demo-sized pipeline timing
    python benchmarks/bench_proxies.py --table           # table and plot from what was run

Rows go to ``benchmarks/results/proxies_<dataset>.json`` (merged by dataset,
seed, pilot size and method), the table to ``proxies.md`` and ``proxies.csv``,
the plot to ``proxies.png``. ``--quick`` runs tiny sizes into a separate folder.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import hashlib
import json
import math
import platform
import resource
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from numpy.typing import NDArray

from abae.datasets.fashion_mnist import load_fashion_mnist, predicate_truth
from abae.datasets.street_scenes import StreetSceneConfig, generate_street_scenes
from abae.proxy import roc_auc
from abae.proxy.backbone import Pretraining, ProxyNetwork, pretrain_backbone
from abae.proxy.candidates import (
    CrossValidated,
    FineTunedNetwork,
    FineTuning,
    LinearProbe,
    PilotImages,
    PixelLogistic,
    network_logits,
)
from abae.proxy.cross_validation import PilotTooSmallError, fold_count, stratified_folds
from abae.proxy.image_spec import ImageSpec
from abae.proxy.selection import choose, fresh_head
from afno.training import load_checkpoint, save_checkpoint

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).resolve().parent / "results"
BACKBONE_CACHE = Path(tempfile.gettempdir()) / "abae-bench-proxies-backbones"
"""Where pretrained backbones are kept between the parts of a split run (not results)."""
METHODS = (
    "afno_scratch",
    "afno_pretrained",
    "afno_linear_probe",
    "pixels_logistic",
    "attention_pretrained",
    "selected",
)
PRODUCTION = {
    "afno_pretrained": "afno_finetuned",
    "afno_linear_probe": "afno_linear_probe",
    "pixels_logistic": "pixels_logistic",
}
"""The selection's candidates (benchmark name: production name)."""
DATASETS = ("fashion", "scenes")


@dataclass(frozen=True)
class Scale:
    """Sizes of one benchmark run."""

    sizes: tuple[int, ...] = (50, 100, 200, 400, 1000)
    fashion_records: int = 20_000
    fashion_test: int = 5_000
    scenes_records: int = 3_000
    scenes_side: int = 128
    scenes_test: int = 1_000
    folds: int = 5
    fine_tuning: FineTuning = field(default_factory=FineTuning)
    pretraining: Pretraining = field(default_factory=Pretraining)


FULL = Scale()
QUICK = Scale(
    sizes=(40, 80),
    fashion_records=300,
    fashion_test=200,
    scenes_records=200,
    scenes_side=64,
    scenes_test=100,
    folds=3,
    fine_tuning=FineTuning(max_epochs=2, patience=1),
    pretraining=Pretraining(epochs=1, max_images=100),
)


@dataclass(frozen=True)
class Task:
    """A collection (unlabelled images, hidden labels), where pilots are drawn, and a test set.

    Attributes:
        pool: collection rows pilots are drawn from (all, or all but the test rows).
        test_source: where the test images come from, for the table.
    """

    dataset: str
    predicate: str
    images: NDArray[np.uint8]
    labels: NDArray[np.bool_]
    test_images: NDArray[np.uint8]
    test_labels: NDArray[np.bool_]
    pool: NDArray[np.int64]
    test_source: str


@dataclass(frozen=True)
class Row:
    dataset: str
    seed: int
    pilot: int
    positives: int
    method: str
    test_auc: float
    cv_auc: float
    setting: str
    seconds: float


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """Wall and CPU seconds of the block (CPU: this process, all threads)."""
    out: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    yield out
    out["wall_s"] = time.perf_counter() - wall
    out["cpu_s"] = time.process_time() - cpu


def fashion_task(scale: Scale) -> Task:
    """The demo's collection: 20,000 train images drawn with seed 0; test: the test split."""
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    rows = np.sort(
        np.random.default_rng(0).choice(len(train.labels), scale.fashion_records, replace=False)
    )
    return Task(
        "fashion",
        "is_trouser",
        np.ascontiguousarray(train.images[rows]),
        predicate_truth(train.labels[rows], "is_trouser"),
        np.ascontiguousarray(test.images[: scale.fashion_test]),
        predicate_truth(test.labels[: scale.fashion_test], "is_trouser"),
        np.arange(scale.fashion_records),
        "the first images of the Fashion-MNIST test split",
    )


def scenes_task(scale: Scale) -> Task:
    """Street scenes (``scenes_side`` px, RGB). The test set is a fixed uniform sample of the
    collection's own frames, never drawn into a pilot: frames come in clips (one road, one
    light, its cars), so the records a proxy must rank are frames of the clips it was trained
    on, and a test set of other clips would measure something a query never asks for."""
    config = StreetSceneConfig(height=scale.scenes_side, width=scale.scenes_side)
    collection = generate_street_scenes(scale.scenes_records, rng=0, config=config)
    images = collection.render(np.arange(scale.scenes_records)).images
    labels = np.asarray(collection.has_red_light)
    order = np.random.default_rng(12345).permutation(scale.scenes_records)
    test, pool = np.sort(order[: scale.scenes_test]), np.sort(order[scale.scenes_test :])
    return Task(
        "scenes",
        "has_red_light",
        images,
        labels,
        images[test],
        labels[test],
        pool,
        "held-out frames of the collection (never in a pilot)",
    )


def pretrained_backbones(
    task: Task, scale: Scale, cache: Path
) -> tuple[dict[str, torch.nn.Module], dict[str, dict[str, float]]]:
    """One backbone per mixer (AFNO, attention), pretrained on a uniform sample of the collection.

    Backbones are kept in ``cache`` (keyed by dataset, sizes and settings), so the
    parts of a split run pretrain once; the timings are those of the pretraining run.
    """
    spec = ImageSpec.of_batch(task.images)
    count = scale.pretraining.image_count(spec, len(task.images))
    settings = json.dumps(asdict(scale.pretraining), sort_keys=True).encode()
    key = f"{task.dataset}-{len(task.images)}-{spec.height}x{spec.width}-"
    key += hashlib.sha256(settings).hexdigest()[:10]
    backbones, timings = {}, {}
    pixels: torch.Tensor | None = None
    for mixer in ("afno", "attention"):
        path, info = cache / f"{key}-{mixer}.pt", cache / f"{key}-{mixer}.json"
        if path.is_file() and info.is_file():
            backbones[mixer] = load_checkpoint(path).model
            timings[mixer] = json.loads(info.read_text())
            continue
        if pixels is None:
            chosen = np.random.default_rng(scale.pretraining.seed).choice(
                len(task.images), count, replace=False
            )
            pixels = spec.to_pixels(task.images[np.sort(chosen)])
        network = ProxyNetwork(mixer=mixer).build(spec, seed=scale.pretraining.seed)
        with timed() as spent:
            loss = pretrain_backbone(network, pixels, spec, scale.pretraining)
        backbones[mixer] = network
        timings[mixer] = {
            **spent,
            "images": float(count),
            "loss_first": loss[0],
            "loss_last": loss[-1],
        }
        cache.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, network)
        info.write_text(json.dumps(timings[mixer]))
        print(f"{task.dataset}: pretrained the {mixer} backbone on {count} images in "
              f"{spent['wall_s']:.1f} s ({spent['cpu_s']:.1f} CPU s); loss {loss[0]:.3f} -> {loss[-1]:.3f}",
              flush=True)  # fmt: skip
    return backbones, timings


def run_cell(
    task: Task, backbones: dict[str, torch.nn.Module], size: int, seed: int, scale: Scale
) -> list[Row]:
    """Every method on one pilot (``size`` labels drawn with ``seed``)."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(task.pool, size, replace=False))
    labels = task.labels[rows]
    spec = ImageSpec.of_batch(task.images)
    positives = int(labels.sum())
    try:
        folds = stratified_folds(labels, fold_count(labels, scale.folds), rng)
    except PilotTooSmallError:
        return [Row(task.dataset, seed, size, positives, m, math.nan, math.nan, "too few positives", 0.0) for m in METHODS]  # fmt: skip
    pilot = PilotImages(spec.to_pixels(task.images[rows]), labels, spec)
    tuning = replace(scale.fine_tuning, seed=seed)
    candidates: dict[str, Any] = {
        "afno_scratch": FineTunedNetwork("afno_scratch", ProxyNetwork().build(spec, seed=seed).train(), tuning),
        "afno_pretrained": FineTunedNetwork("afno_finetuned", fresh_head(backbones["afno"], seed), tuning),
        "afno_linear_probe": LinearProbe(backbones["afno"]),
        "pixels_logistic": PixelLogistic(),
        "attention_pretrained": FineTunedNetwork("attention_finetuned", fresh_head(backbones["attention"], seed), tuning),
    }  # fmt: skip
    test_input = spec.to_tensor(task.test_images)
    out: list[Row] = []
    results: dict[str, CrossValidated] = {}
    for method, candidate in candidates.items():
        with timed() as spent:
            result = candidate.cross_validate(pilot, folds)
            network = candidate.fit_final(pilot, result)
        results[method] = result
        test_auc = roc_auc(network_logits(network, test_input), task.test_labels)
        setting = ",".join(f"{k}={v}" for k, v in result.setting.items())
        out.append(Row(task.dataset, seed, size, positives, method, test_auc, result.auc, setting, spent["wall_s"]))  # fmt: skip
    production = [r for r in out if r.method in PRODUCTION]
    # The selection's own rule (best CV AUC; ties within the margin go to the cheapest).
    by_production_name = {PRODUCTION[r.method]: results[r.method] for r in production}
    chosen = production[choose(by_production_name)]
    out.append(
        replace(
            chosen,
            method="selected",
            setting=chosen.method,
            seconds=sum(r.seconds for r in production),
        )
    )
    print(f"{task.dataset} seed {seed} pilot {size} ({positives} positive): "
          + ", ".join(f"{r.method} {r.test_auc:.3f}" for r in out), flush=True)  # fmt: skip
    return out


def results_file(out: Path, dataset: str) -> Path:
    return out / f"proxies_{dataset}.json"


def merge_rows(path: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    """Write ``rows`` into ``path``, replacing earlier rows of the same (seed, pilot, method).

    Parts of a split run may finish together: the read-merge-write holds a lock file.
    """
    with (path.parent / f".{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _merge_rows(path, rows, meta)


def _merge_rows(path: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    old = json.loads(path.read_text()) if path.is_file() else {"meta": {}, "rows": []}
    keys = {(r.seed, r.pilot, r.method) for r in rows}
    kept = [r for r in old["rows"] if (r["seed"], r["pilot"], r["method"]) not in keys]
    merged = sorted(
        kept + [asdict(r) for r in rows],
        key=lambda r: (r["seed"], r["pilot"], METHODS.index(r["method"])),
    )
    path.write_text(json.dumps({"meta": {**old["meta"], **meta}, "rows": merged}, indent=1))  # fmt: skip


def run_dataset(name: str, seeds: Sequence[int], scale: Scale, out: Path) -> None:
    task = fashion_task(scale) if name == "fashion" else scenes_task(scale)
    print(f"{name}: {len(task.images)} collection images {task.images.shape[1:]}, "
          f"{task.labels.mean():.1%} {task.predicate}; test {len(task.test_labels)}", flush=True)  # fmt: skip
    backbones, timings = pretrained_backbones(task, scale, BACKBONE_CACHE)
    meta = {
        "collection": len(task.images),
        "image_shape": list(task.images.shape[1:]),
        "test": len(task.test_labels),
        "test_source": task.test_source,
        "predicate": task.predicate,
        "positive_share": float(task.labels.mean()),
        "pretraining": {**asdict(scale.pretraining), "seconds": timings},
        "fine_tuning": asdict(scale.fine_tuning),
        "folds": scale.folds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    for seed in seeds:
        rows: list[Row] = []
        for size in scale.sizes:
            rows += run_cell(task, backbones, size, seed, scale)
        merge_rows(results_file(out, name), rows, meta)


def _mean_se(values: list[float]) -> tuple[float, float, int]:
    finite = np.array([v for v in values if not math.isnan(v)])
    if finite.size == 0:
        return math.nan, math.nan, 0
    se = float(finite.std(ddof=1) / math.sqrt(finite.size)) if finite.size > 1 else math.nan
    return float(finite.mean()), se, int(finite.size)


def _cell(values: list[float]) -> str:
    mean, se, n = _mean_se(values)
    if n == 0:
        return "–"
    return f"{mean:.3f}" if math.isnan(se) else f"{mean:.3f} ± {se:.3f}"


def tabulate(out: Path) -> list[dict[str, Any]]:
    """The table (markdown, CSV) and the plot from every ``proxies_<dataset>.json`` in ``out``."""
    table: list[dict[str, Any]] = []
    lines: list[str] = []
    figure, axes = plt.subplots(1, len(DATASETS), figsize=(11, 4.2))
    for axis, dataset in zip(axes, DATASETS, strict=True):
        path = results_file(out, dataset)
        if not path.is_file():
            continue
        saved = json.loads(path.read_text())
        rows, meta = saved["rows"], saved["meta"]
        sizes = sorted({r["pilot"] for r in rows})
        seeds = sorted({r["seed"] for r in rows})
        lines += [f"\n**{dataset}** ({meta['predicate']}, {meta['positive_share']:.0%} positive; "
                  f"collection {meta['collection']:,} images {tuple(meta['image_shape'])}, test {meta['test']:,}: "
                  f"{meta.get('test_source', 'a test set')}; "
                  f"seeds {seeds}): held-out AUC, mean ± standard error over seeds\n",
                  "| method | " + " | ".join(f"{s} labels" for s in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]  # fmt: skip
        for method in METHODS:
            cells = [
                [r["test_auc"] for r in rows if r["method"] == method and r["pilot"] == s]
                for s in sizes
            ]
            lines.append(f"| {method} | " + " | ".join(_cell(c) for c in cells) + " |")
            means = [_mean_se(c) for c in cells]
            for size, (mean, se, n) in zip(sizes, means, strict=True):
                table.append(
                    {
                        "dataset": dataset,
                        "method": method,
                        "pilot": size,
                        "auc_mean": mean,
                        "auc_se": se,
                        "seeds": n,
                    }
                )
            if method != "selected":
                axis.errorbar(sizes, [m for m, _, _ in means], yerr=[0 if math.isnan(e) else e for _, e, _ in means],
                              label=method, marker="o", capsize=3)  # fmt: skip
        gaps, others = [], []
        for s in sizes:
            per_seed_gap, per_seed_margin = [], []
            for seed in seeds:
                got = {
                    r["method"]: r["test_auc"]
                    for r in rows
                    if r["pilot"] == s and r["seed"] == seed
                }
                if "selected" in got and not math.isnan(got["selected"]):
                    per_seed_gap.append(max(got[m] for m in PRODUCTION) - got["selected"])
                    rest = [
                        got[m]
                        for m in (
                            "afno_scratch",
                            "afno_linear_probe",
                            "pixels_logistic",
                            "attention_pretrained",
                        )
                    ]
                    per_seed_margin.append(got["afno_pretrained"] - max(rest))
            gaps.append(per_seed_gap)
            others.append(per_seed_margin)
        lines.append("| best candidate − selected | " + " | ".join(_cell(g) for g in gaps) + " |")
        lines.append(
            "| afno_pretrained − best other method | " + " | ".join(_cell(g) for g in others) + " |"
        )
        timing = meta["pretraining"]["seconds"]
        lines.append(
            "\nPretraining (masked inpainting, "
            f"{meta['pretraining']['epochs']} epochs): "
            + "; ".join(f"{mixer} {t['images']:.0f} images in {t['wall_s']:.1f} s wall, {t['cpu_s']:.1f} s CPU "
                        f"(loss {t['loss_first']:.3f} → {t['loss_last']:.3f})" for mixer, t in timing.items())
        )  # fmt: skip
        axis.set_xscale("log")
        axis.set_xticks(sizes, [str(s) for s in sizes])
        axis.set_xlabel("pilot labels")
        axis.set_ylabel("held-out AUC")
        axis.set_title(f"{dataset}: {meta['predicate']}")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "proxies.png", dpi=110)
    plt.close(figure)
    if table:
        with (out / "proxies.csv").open("w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    pipeline = out / "proxies_pipeline.json"
    if pipeline.is_file():
        lines.append("\n" + pipeline_lines(json.loads(pipeline.read_text())))
    text = "\n".join(lines).strip() + "\n"
    (out / "proxies.md").write_text(text)
    print(text)
    return table


def pipeline_lines(saved: dict[str, Any]) -> str:
    runs = saved["runs"]
    parts = [f"Store pipeline on {saved['records']:,} Fashion-MNIST images (`{saved['settings']}`), "
             f"{saved['threads']} thread(s):", "", "| run | step | wall s | CPU s |", "|---|---|---|---|"]  # fmt: skip
    for run in runs:
        for step, spent in run["steps"].items():
            cpu = "–" if math.isnan(spent["cpu_s"]) else f"{spent['cpu_s']:.1f}"
            parts.append(f"| {run['run']} | {step} | {spent['wall_s']:.1f} | {cpu} |")
        parts.append(f"| {run['run']} | chose {run['candidate']} (cv AUC {run['cv_auc']:.3f}, "
                     f"{run['pilot']} labels, {run['calls']} bought) | | |")  # fmt: skip
    return "\n".join(parts)


def run_pipeline(scale: Scale, out: Path, quick: bool) -> None:
    """The demo-sized store pipeline, twice: backbone pretrained, then reused from the cache."""
    from abae.demo.truth_oracles import image_reference, truth_registry
    from abae.proxy.store_pipeline import ProxyTrainingSettings, train_collection_proxy
    from abae.query.plan import OracleCall
    from abae.store import Store, import_arrays

    task = fashion_task(scale)
    settings = ProxyTrainingSettings(
        pilot_size="auto",
        max_pilot=80 if quick else 1000,
        first_round=40 if quick else 100,
        folds=scale.folds,
        epochs=scale.fine_tuning.max_epochs,
        patience=scale.fine_tuning.patience,
        pretraining=scale.pretraining,
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-proxies-"))
    store = Store(folder / "db.duckdb")
    prefix = "fashion-mnist/bench"
    with timed() as imported:
        import_arrays(store, "fashion", images=[image_reference(prefix, i) for i in range(len(task.images))],
                      image_arrays=task.images)  # fmt: skip
    oracles = truth_registry(
        prefix, "is_trouser", task.labels, "ink", task.labels.astype(float), latency_s=0.0
    )
    runs = []
    for run in ("first (pretrains)", "second (cache)"):
        steps: dict[str, dict[str, float]] = {"import": imported} if run.startswith("first") else {}
        with timed() as spent:
            trained = train_collection_proxy(store, "fashion", "afno_proxy", oracles,
                                             predicate=OracleCall("is_trouser", ("image",)),
                                             settings=settings, progress=False, log=print)  # fmt: skip
        steps["train_collection_proxy"] = spent
        if trained.backbone is not None:
            steps["of which pretraining (when not cached)"] = {
                "wall_s": 0.0 if trained.backbone.reused else trained.backbone.seconds,
                "cpu_s": math.nan,
            }
        runs.append({"run": run, "steps": steps, "candidate": trained.candidate, "cv_auc": trained.cv_auc,
                     "pilot": int(trained.pilot_ids.size), "calls": trained.calls})  # fmt: skip
    saved = {"records": len(task.images), "threads": torch.get_num_threads(),
             "settings": f"pilot auto, at most {settings.max_pilot} labels", "runs": runs,
             "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip
    (out / "proxies_pipeline.json").write_text(json.dumps(saved, indent=1))
    print(pipeline_lines(saved))


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = (int(v) for v in text.split("-"))
        return list(range(first, last + 1))
    return [int(v) for v in text.split(",") if v]


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="", help="comma-separated: fashion, scenes")
    parser.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="e.g. 0,1,2 or 0-4")
    parser.add_argument("--sizes", default="", help="pilot sizes (default 50,100,200,400,1000)")
    parser.add_argument(
        "--pipeline", action="store_true", help="time the demo-sized store pipeline"
    )
    parser.add_argument("--table", action="store_true", help="only tabulate what was run")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    scale = QUICK if args.quick else FULL
    if args.sizes:
        scale = replace(scale, sizes=tuple(int(v) for v in args.sizes.split(",")))
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [d for d in args.datasets.split(",") if d]
    unknown = sorted(set(chosen) - set(DATASETS))
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {DATASETS}")
    run_everything = not (chosen or args.pipeline or args.table)
    for dataset in DATASETS if run_everything else chosen:
        run_dataset(dataset, args.seeds, scale, out)
    if args.pipeline or run_everything:
        run_pipeline(scale, out, args.quick)
    return tabulate(out)


if __name__ == "__main__":
    main()
