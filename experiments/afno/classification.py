"""Experiment 1: Fashion-MNIST accuracy of AFNONet with each token mixer, at matched budgets.

The AFNO classifier at ``--reference-width`` sets the parameter budget; the
self-attention, GFN and FNO classifiers get the width whose parameter count is
closest to it (see ``parameter_budget.py``). Each mixer is trained from
``--seeds`` seeds on the same training subset and scored on the test split.
Then, in one process and alternately (round-robin over the mixers), training
and inference throughput are measured on one batch, and the forward FLOPs per
image are counted (``flop_count.py``: FFTs and CPU attention added analytically).

Usage (from the repository root)::

    OMP_NUM_THREADS=2 .venv/bin/python experiments/afno/classification.py          # full
    OMP_NUM_THREADS=2 .venv/bin/python experiments/afno/classification.py --quick  # seconds

Outputs in ``experiments/afno/results/classification/`` (``--quick``: ``.../quick/classification``):
``classification.csv``, ``classification.md``, ``classification_runs.csv``,
``classification.png`` and ``run_info.json``.
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from experiment_cli import parse_experiment_args, results_folder
from flop_count import count_forward_flops
from parameter_budget import (
    MIXER_KWARGS,
    ClassifierShape,
    classifier_kwargs,
    classifier_parameters,
    count_parameters,
    matched_widths,
)
from result_tables import (
    command_line,
    markdown_table,
    mean_and_sd,
    write_csv,
    write_run_info,
)
from throughput import alternating_throughput

import afno
from abae.datasets.fashion_mnist import load_fashion_mnist

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
MIXERS = ("afno", "attention", "gfn", "fno")
PIXEL_MEAN, PIXEL_STD = 0.2860, 0.3530
"""Fashion-MNIST training-set pixel mean and standard deviation (intensities in [0, 1])."""
THROUGHPUT_BATCH = 128
"""Images per timed training step and inference pass."""
SUBSET_SEED = 20260
"""Seed of the training-subset draw (the same subset for every mixer and seed)."""


@dataclass(frozen=True)
class ClassificationScale:
    """How much work the experiment does."""

    train_images: int
    test_images: int
    epochs: int
    seeds: int
    batch_size: int
    throughput_rounds: int
    reference_width: int = 64


FULL = ClassificationScale(
    train_images=10_000, test_images=10_000, epochs=3, seeds=3, batch_size=32, throughput_rounds=5
)
QUICK = ClassificationScale(
    train_images=256, test_images=256, epochs=1, seeds=2, batch_size=32, throughput_rounds=1
)


def normalised(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` -> float32 ``(N, 1, 28, 28)``, standardised."""
    tensor = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return (tensor - PIXEL_MEAN) / PIXEL_STD


def load_data(scale: ClassificationScale) -> tuple[torch.Tensor, ...]:
    """Training subset and test images/labels as tensors."""
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    pick = np.random.default_rng(SUBSET_SEED).permutation(train.labels.size)[: scale.train_images]
    return (
        normalised(train.images[pick]),
        torch.from_numpy(train.labels[pick]),
        normalised(test.images[: scale.test_images]),
        torch.from_numpy(test.labels[: scale.test_images]),
    )


def train_and_score(
    mixer: str,
    width: int,
    seed: int,
    shape: ClassifierShape,
    scale: ClassificationScale,
    data: tuple[torch.Tensor, ...],
) -> dict[str, float]:
    """Train one classifier and return its test accuracy and training time."""
    x_train, y_train, x_test, y_test = data
    model = afno.create_model("afnonet_tiny", seed=seed, **classifier_kwargs(mixer, width, shape))
    steps = scale.epochs * -(-x_train.shape[0] // scale.batch_size)
    history = afno.fit(
        model,
        (x_train, y_train),
        epochs=scale.epochs,
        batch_size=scale.batch_size,
        lr=5e-3,
        weight_decay=0.05,
        schedule="cosine",
        warmup_steps=max(1, steps // 10),
        max_grad_norm=1.0,
        seed=seed,
        progress=False,
    )
    metrics = afno.evaluate(model, (x_test, y_test), batch_size=500)
    return {"accuracy": metrics["accuracy"], "train_seconds": history.seconds}


def build_rows(
    widths: dict[str, tuple[int, int]],
    runs: list[dict[str, Any]],
    shape: ClassifierShape,
    scale: ClassificationScale,
    x_batch: torch.Tensor,
    y_batch: torch.Tensor,
) -> list[dict[str, Any]]:
    """One summary row per mixer: accuracy, parameters, FLOPs, throughput."""
    models = {
        mixer: afno.create_model("afnonet_tiny", seed=0, **classifier_kwargs(mixer, width, shape))
        for mixer, (width, _) in widths.items()
    }
    flops = {mixer: count_forward_flops(model, x_batch[:1]) for mixer, model in models.items()}
    speeds = alternating_throughput(
        {mixer: copy.deepcopy(model) for mixer, model in models.items()},
        x_batch,
        y_batch,
        rounds=scale.throughput_rounds,
    )
    reference = widths["afno"][1]
    rows: list[dict[str, Any]] = []
    for mixer, (width, params) in widths.items():
        accuracies = [float(r["accuracy"]) for r in runs if r["mixer"] == mixer]
        mean, sd = mean_and_sd(accuracies)
        count = flops[mixer]
        rows.append(
            {
                "mixer": mixer,
                "width": width,
                "parameters": params,
                "params_vs_afno": round(params / reference, 3),
                "accuracy_mean": round(mean, 4),
                "accuracy_sd": round(sd, 4),
                "seeds": len(accuracies),
                "mflops_per_image": round(count.total / 1e6, 3),
                "mflops_flopcountermode": round(count.library_count / 1e6, 3),
                "mflops_fft_analytic": round(count.fft / 1e6, 3),
                "mflops_attention_analytic": round(count.attention / 1e6, 3),
                "train_images_per_s": round(speeds[mixer].train_images_per_s, 1),
                "inference_images_per_s": round(speeds[mixer].inference_images_per_s, 1),
            }
        )
        assert count_parameters(models[mixer]) == params
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Accuracy (mean ± sd over seeds) against forward MFLOPs per image."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for row in rows:
        x = float(row["mflops_per_image"])
        y = float(row["accuracy_mean"])
        axis.errorbar(x, y, yerr=float(row["accuracy_sd"]), fmt="o", capsize=4)
        axis.annotate(
            f"{row['mixer']} ({int(row['parameters']) / 1e3:.0f}k)",
            (x, y),
            textcoords="offset points",
            xytext=(6, 4),
        )
    axis.set_xlabel("forward MFLOPs per image (FFT and attention included)")
    axis.set_ylabel("Fashion-MNIST test accuracy")
    axis.set_title("AFNONet with each mixer, matched parameter budgets")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Run experiment 1 and write its tables and plot; returns 0."""
    arguments = sys.argv[1:] if argv is None else argv
    args = parse_experiment_args(__doc__.split("\n\n")[0], arguments)
    scale = QUICK if args.quick else FULL
    out_dir = results_folder(args, "classification")
    started = time.perf_counter()
    shape = ClassifierShape()
    target = classifier_parameters("afno", scale.reference_width, shape)
    widths = dict(matched_widths(target, shape, MIXERS))
    print("widths and parameters:", widths, flush=True)
    data = load_data(scale)
    runs: list[dict[str, Any]] = []
    for seed in range(scale.seeds):
        for mixer in MIXERS:
            result = train_and_score(mixer, widths[mixer][0], seed, shape, scale, data)
            runs.append(
                {"mixer": mixer, "seed": seed, **{k: round(v, 4) for k, v in result.items()}}
            )
            print(runs[-1], flush=True)
    batch = min(THROUGHPUT_BATCH, data[0].shape[0])
    rows = build_rows(widths, runs, shape, scale, data[0][:batch], data[1][:batch])
    write_csv(out_dir / "classification.csv", rows)
    write_csv(out_dir / "classification_runs.csv", runs)
    shown = [
        {
            "mixer": r["mixer"],
            "width": r["width"],
            "params": r["parameters"],
            "accuracy (mean ± sd)": f"{r['accuracy_mean']:.4f} ± {r['accuracy_sd']:.4f}",
            "MFLOPs/image": r["mflops_per_image"],
            "of which FFT": r["mflops_fft_analytic"],
            "train img/s": r["train_images_per_s"],
            "inference img/s": r["inference_images_per_s"],
        }
        for r in rows
    ]
    command = command_line("classification.py", arguments)
    (out_dir / "classification.md").write_text(
        f"Made by `{command}` ({scale.seeds} seeds, {scale.train_images} training images, "
        f"{scale.epochs} epochs, {scale.test_images} test images, "
        f"{torch.get_num_threads()} threads).\n\n" + markdown_table(shown)
    )
    plot(rows, out_dir / "classification.png")
    seconds = round(time.perf_counter() - started, 1)
    write_run_info(
        out_dir,
        command,
        "quick" if args.quick else "full",
        {
            "scale": asdict(scale),
            "shape": asdict(shape),
            "mixer_kwargs": MIXER_KWARGS,
            "seconds": seconds,
        },
    )
    print(markdown_table(shown), f"\nwrote {out_dir} in {seconds} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
