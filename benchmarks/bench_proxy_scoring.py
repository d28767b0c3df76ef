"""Proxy benchmark: scoring throughput, and ranking quality (AUC) of AFNO vs self-attention.

For each built-in dataset and each token mixer, the same pipeline
(:func:`abae.proxy.train_proxy` on a seeded pilot of oracle labels, Platt
calibration on a held-out part) trains a proxy; it then scores an evaluation
set the proxy never saw. Reported per row: training seconds, scoring
throughput (images/s, best of 3 passes, progress bars off), and AUC.

- Fashion-MNIST, ``is_footwear``: pilot from the train split, evaluation on the
  10,000 test images (28×28 grey). Target: scoring ≥ 3000 images/s on 2 cores.
- Street scenes, ``has_red_light``: pilot and evaluation frames from one
  generated sequence (256×256 RGB by default).

Run ``python benchmarks/bench_proxy_scoring.py`` (add ``--quick`` for a smoke
run on small sizes). Prints a table and writes
``benchmarks/results/proxy_scoring.{csv,json}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from abae.datasets.fashion_mnist import load_fashion_mnist, predicate_truth
from abae.datasets.street_scenes import StreetSceneConfig, generate_street_scenes
from abae.proxy import Proxy, roc_auc, train_proxy

MIXERS = ("afno", "attention")
RESULTS = Path(__file__).resolve().parent / "results"
THROUGHPUT_TARGET = 3000.0


@dataclass(frozen=True)
class Row:
    dataset: str
    predicate: str
    image_size: str
    mixer: str
    pilot: int
    evaluated: int
    epochs: int
    train_s: float
    images_per_s: float
    auc: float
    held_out_auc: float


@dataclass(frozen=True)
class Task:
    dataset: str
    predicate: str
    pilot_images: NDArray[np.uint8]
    pilot_labels: NDArray[np.bool_]
    eval_images: NDArray[np.uint8]
    eval_labels: NDArray[np.bool_]
    epochs: int


def fashion_task(quick: bool, seed: int) -> Task:
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    rng = np.random.default_rng(seed)
    pilot = rng.choice(len(train.labels), 300 if quick else 2000, replace=False)
    evaluated = np.arange(1000 if quick else len(test.labels))
    return Task(
        "fashion-mnist",
        "is_footwear",
        train.images[pilot],
        predicate_truth(train.labels[pilot], "is_footwear"),
        test.images[evaluated],
        predicate_truth(test.labels[evaluated], "is_footwear"),
        epochs=1 if quick else 8,
    )


def scenes_task(quick: bool, seed: int, size: int) -> Task:
    n_pilot, n_eval = (100, 100) if quick else (2000, 1000)
    config = StreetSceneConfig(height=size, width=size, clip_length=100)
    scenes = generate_street_scenes(n_pilot + n_eval, rng=seed, config=config)
    order = np.random.default_rng(seed).permutation(len(scenes))
    pilot, evaluated = np.sort(order[:n_pilot]), np.sort(order[n_pilot:])
    return Task(
        "street-scenes",
        "has_red_light",
        scenes.render(pilot).images,
        scenes.has_red_light[pilot],
        scenes.render(evaluated).images,
        scenes.has_red_light[evaluated],
        epochs=1 if quick else 12,
    )


def best_throughput(
    proxy: Proxy, images: NDArray[np.uint8], repeats: int
) -> tuple[float, NDArray[np.float64]]:
    """Images per second of ``proxy.score`` (best of ``repeats``) and the scores."""
    proxy.score(images[:256], progress=False)  # warm-up
    best, scores = float("inf"), np.empty(0)
    for _ in range(repeats):
        started = time.perf_counter()
        scores = proxy.score(images, batch_size=1024, progress=False)
        best = min(best, time.perf_counter() - started)
    return len(images) / best, scores


def run_task(task: Task, mixer: str, seed: int, repeats: int) -> Row:
    started = time.perf_counter()
    proxy = train_proxy(
        task.pilot_images,
        task.pilot_labels,
        mixer=mixer,
        epochs=task.epochs,
        seed=seed,
        progress=False,
    )
    train_s = time.perf_counter() - started
    images_per_s, scores = best_throughput(proxy, task.eval_images, repeats)
    height, width = task.eval_images.shape[1:3]
    return Row(
        dataset=task.dataset,
        predicate=task.predicate,
        image_size=f"{height}x{width}",
        mixer=mixer,
        pilot=len(task.pilot_labels),
        evaluated=len(task.eval_labels),
        epochs=task.epochs,
        train_s=round(train_s, 2),
        images_per_s=round(images_per_s, 1),
        auc=round(roc_auc(scores, task.eval_labels), 4),
        held_out_auc=round(float(proxy.metadata["held_out_auc"]), 4),
    )


def print_table(rows: Sequence[Row]) -> None:
    header = ("dataset", "size", "mixer", "pilot", "eval", "epochs", "train s", "img/s", "AUC")
    print(" | ".join(f"{h:>13}" for h in header))
    print("-|-".join("-" * 13 for _ in header))
    for row in rows:
        cells = (
            row.dataset,
            row.image_size,
            row.mixer,
            row.pilot,
            row.evaluated,
            row.epochs,
            f"{row.train_s:.1f}",
            f"{row.images_per_s:.0f}",
            f"{row.auc:.3f}",
        )
        print(" | ".join(f"{c!s:>13}" for c in cells))


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scene-size", type=int, default=256, help="street-scene frame side")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the CSV and JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    scene_size = 64 if args.quick else args.scene_size
    repeats = 1 if args.quick else 3

    rows = []
    for task in (
        fashion_task(args.quick, args.seed),
        scenes_task(args.quick, args.seed, scene_size),
    ):
        for mixer in MIXERS:
            rows.append(run_task(task, mixer, args.seed, repeats))
    print_table(rows)
    fashion_afno = next(r for r in rows if r.dataset == "fashion-mnist" and r.mixer == "afno")
    verdict = "meets" if fashion_afno.images_per_s >= THROUGHPUT_TARGET else "misses"
    print(
        f"\n28x28 scoring throughput (AFNO proxy, {args.threads} threads): "
        f"{fashion_afno.images_per_s:.0f} images/s, {verdict} the target of {THROUGHPUT_TARGET:.0f}"
    )

    args.out.mkdir(parents=True, exist_ok=True)
    name = "proxy_scoring_quick" if args.quick else "proxy_scoring"
    with (args.out / f"{name}.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    meta = {
        "threads": args.threads,
        "quick": args.quick,
        "seed": args.seed,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "throughput_target_images_per_s": THROUGHPUT_TARGET,
    }
    (args.out / f"{name}.json").write_text(
        json.dumps({"meta": meta, "rows": [asdict(row) for row in rows]}, indent=2)
    )
    print(f"wrote {args.out / name}.csv and .json")
    return rows


if __name__ == "__main__":
    main()
