"""Training and inference throughput (images/s) of several models, measured alternately.

The CPU is shared, so load changes while a table is measured. Every round
times each model once (a training step, then an inference pass) before the
next round starts, so a burst of load hits all models alike; the reported
figure is the median over rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Throughput:
    """Median images per second over the rounds, for training steps and inference."""

    train_images_per_s: float
    inference_images_per_s: float


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor) -> None:
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


@torch.no_grad()
def _inference(model: nn.Module, x: Tensor) -> None:
    model(x)


def _timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def alternating_throughput(
    models: Mapping[str, nn.Module],
    images: Tensor,
    labels: Tensor,
    *,
    rounds: int,
    warmup: int = 1,
) -> dict[str, Throughput]:
    """Measure every model in turn, ``rounds`` times, on the same batch.

    Args:
        models: name -> classifier mapping images to logits ``(B, K)``; the
            training steps change their weights (pass copies).
        images: one batch ``(B, C, H, W)``.
        labels: int64 ``(B,)`` class indices for the training steps.
        rounds: timed rounds (the median is reported); at least 1.
        warmup: untimed rounds before (allocator and kernel warm-up).

    Returns:
        ``{name: Throughput}`` in images per second.
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"need rounds >= 1 and warmup >= 0, got {rounds} and {warmup}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"images {tuple(images.shape)} and labels {tuple(labels.shape)} differ in B"
        )
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-4) for name, m in models.items()}
    train_times: dict[str, list[float]] = {name: [] for name in models}
    infer_times: dict[str, list[float]] = {name: [] for name in models}
    for round_index in range(warmup + rounds):
        for name, model in models.items():
            model.train()
            train = _timed(partial(_train_step, model, optimizers[name], images, labels))
            model.eval()
            infer = _timed(partial(_inference, model, images))
            if round_index >= warmup:
                train_times[name].append(train)
                infer_times[name].append(infer)
    batch = images.shape[0]
    return {
        name: Throughput(
            train_images_per_s=batch / statistics.median(train_times[name]),
            inference_images_per_s=batch / statistics.median(infer_times[name]),
        )
        for name in models
    }
