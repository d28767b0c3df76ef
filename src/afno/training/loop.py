"""A small, reusable train / evaluate / predict loop for any ``nn.Module``.

:func:`fit` trains with AdamW on one of three objectives (see
:mod:`afno.training.objectives`), shuffling with a ``torch.Generator`` seeded
from ``seed`` and running under a forked, seeded global RNG (for dropout and
drop-path), so two runs from the same initial weights and seed end with
bitwise-equal weights; the caller's global RNG state is left untouched.
Progress is a tqdm bar per epoch (``progress=False`` turns it off).

Besides the named losses, ``loss`` may be an :class:`~afno.training.objectives.Objective`
such as :class:`~afno.training.inpainting.MaskedInpainting` (self-supervised:
the data may then be a bare batch of inputs), and ``early_stopping`` stops
training when a held-out score stops improving
(:class:`~afno.training.early_stopping.EarlyStopping`).

Example:
    >>> import torch
    >>> model = torch.nn.Linear(4, 3)
    >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> history = fit(model, (x, y), epochs=2, batch_size=8, seed=0, progress=False)
    >>> len(history.epochs)
    2
    >>> sorted(evaluate(model, (x, y)))
    ['accuracy', 'loss']
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from afno.training.data import (
    TrainingData,
    as_dataset,
    count_batches,
    iterate_batches,
)
from afno.training.early_stopping import EarlyStopping, EarlyStoppingState
from afno.training.objectives import (
    LossName,
    MetricTotals,
    Objective,
    check_loss_name,
    compute_loss,
)

ScheduleName = Literal["constant", "cosine"]
_OBJECTIVE_SEED_OFFSET = 0x9E3779B1
"""Objectives draw (masks, ...) from their own generator, seeded apart from the shuffling."""


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of :func:`fit` did.

    Attributes:
        epoch: 1-based epoch number.
        train_loss: mean training loss over the epoch's batches (as optimised,
            in training mode).
        seconds: wall time of the epoch's training pass (validation excluded).
        validation: :func:`evaluate` metrics on the validation data, if given.
        score: the early-stopping score after the epoch, if early stopping is on.
    """

    epoch: int
    train_loss: float
    seconds: float
    validation: dict[str, float] | None = None
    score: float | None = None


@dataclass
class History:
    """The record of a :func:`fit` call: one :class:`EpochRecord` per epoch.

    Attributes:
        epochs: what each epoch did.
        steps: optimiser steps taken.
        best_epoch: with early stopping, the epoch of the best score (whose
            weights the model holds when ``restore_best`` is on); else None.
        stopped_early: True when early stopping ended training before ``epochs``.
    """

    epochs: list[EpochRecord] = field(default_factory=list)
    steps: int = 0
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def scores(self) -> list[float]:
        """The early-stopping score per epoch (empty without early stopping)."""
        return [record.score for record in self.epochs if record.score is not None]

    @property
    def train_loss(self) -> list[float]:
        """Mean training loss per epoch."""
        return [record.train_loss for record in self.epochs]

    @property
    def seconds(self) -> float:
        """Total training time in seconds (validation excluded)."""
        return sum(record.seconds for record in self.epochs)


def _model_device(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def _learning_rate_factor(
    schedule: ScheduleName, total_steps: int, warmup_steps: int
) -> Callable[[int], float]:
    """Multiplier of the base learning rate at each optimiser step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        if schedule == "constant":
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _check_fit_arguments(
    epochs: int, batch_size: int, lr: float, weight_decay: float, schedule: str, warmup_steps: int
) -> None:
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be non-negative, got {warmup_steps}")


def _check_objective(loss: LossName | Objective) -> LossName | Objective:
    if isinstance(loss, str):
        return check_loss_name(loss)
    if isinstance(loss, Objective):
        return loss
    raise ValueError(
        f"loss must be one of {('cross_entropy', 'bce', 'mse')} or an Objective, got {loss!r}"
    )


def _needs_targets(loss: LossName | Objective) -> bool:
    return isinstance(loss, str) or loss.needs_targets


def fit(
    model: nn.Module,
    train_data: TrainingData,
    *,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    loss: LossName | Objective = "cross_entropy",
    seed: int = 0,
    schedule: ScheduleName = "constant",
    warmup_steps: int = 0,
    max_grad_norm: float | None = None,
    validation_data: TrainingData | None = None,
    early_stopping: EarlyStopping | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` in place with AdamW and return the per-epoch history.

    Args:
        model: any module mapping an input batch to outputs that fit ``loss``.
        train_data: ``(inputs, targets)`` tensors/arrays, or a Dataset of pairs;
            for a self-supervised objective also a bare batch of inputs.
        epochs: passes over the training data (at most, with early stopping).
        batch_size: samples per optimiser step (the last batch may be short).
        lr: peak learning rate of AdamW.
        weight_decay: AdamW's decoupled weight decay.
        loss: ``"cross_entropy"`` (class indices), ``"bce"`` (logits vs 0/1
            targets) or ``"mse"`` (regression), see :mod:`afno.training.objectives`;
            or an :class:`~afno.training.objectives.Objective` such as
            :class:`~afno.training.inpainting.MaskedInpainting`.
        seed: seeds the shuffling generator, the objective's generator and the
            global RNG (forked, so the caller's RNG state is restored afterwards).
        schedule: ``"constant"`` or ``"cosine"`` decay to 0 over all steps.
        warmup_steps: steps of linear warm-up before the schedule.
        max_grad_norm: clip the global gradient norm to this, if given.
        validation_data: evaluated after every epoch, if given.
        early_stopping: stop when its held-out score stops improving (and, by
            default, restore the best epoch's weights); see
            :class:`~afno.training.early_stopping.EarlyStopping`.
        progress: show a tqdm progress bar per epoch.

    Returns:
        The :class:`History`; the model is left in training mode.

    Raises:
        ValueError: for invalid arguments, or targets that do not fit the
            outputs (with both shapes).
        FloatingPointError: if the training loss or the early-stopping score
            becomes NaN or infinite.
    """
    objective = _check_objective(loss)
    _check_fit_arguments(epochs, batch_size, lr, weight_decay, schedule, warmup_steps)
    dataset = as_dataset(train_data, targets_required=_needs_targets(objective))
    validation = (
        None
        if validation_data is None
        else as_dataset(validation_data, targets_required=_needs_targets(objective))
    )
    batches_per_epoch = count_batches(dataset, batch_size)
    device = _model_device(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _learning_rate_factor(schedule, epochs * batches_per_epoch, warmup_steps)
    )
    history = History()
    stopping = EarlyStoppingState(early_stopping) if early_stopping is not None else None
    shuffle_generator = torch.Generator().manual_seed(seed)
    objective_generator = torch.Generator().manual_seed(seed + _OBJECTIVE_SEED_OFFSET)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            model.train()
            started = time.perf_counter()
            loss_sum, seen = 0.0, 0
            bar = tqdm(
                iterate_batches(dataset, batch_size, shuffle=True, generator=shuffle_generator),
                total=batches_per_epoch,
                desc=f"epoch {epoch}/{epochs}",
                disable=not progress,
                leave=False,
            )
            for inputs, targets in bar:
                inputs, targets = inputs.to(device), targets.to(device)
                if isinstance(objective, str):
                    batch_loss = compute_loss(objective, model(inputs), targets)
                else:
                    batch_loss = objective.batch_loss(model, inputs, targets, objective_generator)
                if not torch.isfinite(batch_loss):
                    raise FloatingPointError(
                        f"training loss became {float(batch_loss.detach())} at epoch {epoch}, step "
                        f"{history.steps}; lower lr (now {lr}) or set max_grad_norm"
                    )
                optimizer.zero_grad(set_to_none=True)
                batch_loss.backward()
                if max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
                scheduler.step()
                history.steps += 1
                loss_sum += float(batch_loss.detach()) * inputs.shape[0]
                seen += inputs.shape[0]
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", refresh=False)
            bar.close()
            seconds = time.perf_counter() - started
            metrics = None
            if validation is not None:
                metrics = evaluate(
                    model, validation, loss=objective, batch_size=max(batch_size, 256), seed=seed
                )
                model.train()
            score, stop = (None, False) if stopping is None else stopping.judge(model, epoch)
            history.epochs.append(EpochRecord(epoch, loss_sum / seen, seconds, metrics, score))
            if stop:
                history.stopped_early = epoch < epochs
                break
    if stopping is not None:
        stopping.finish(model)
        history.best_epoch = stopping.best_epoch
    return history


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: TrainingData,
    *,
    loss: LossName | Objective = "cross_entropy",
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, float]:
    """Metrics of ``model`` on ``data`` in eval mode (dropout off), in data order.

    Args:
        model: the module to score.
        data: ``(inputs, targets)`` tensors/arrays, or a Dataset of pairs (a bare
            batch of inputs for a self-supervised objective).
        loss: the objective whose metrics to report (see
            :mod:`afno.training.objectives`): ``loss`` and ``accuracy`` for the
            classifiers, ``loss`` (MSE) and ``mae`` for ``"mse"``; an
            :class:`~afno.training.objectives.Objective`'s own metrics.
        batch_size: samples per forward pass.
        seed: seeds an objective's random choices (masks), so the same model
            and data give the same metrics.
        progress: show a tqdm progress bar.

    Returns:
        ``{metric name: mean over all predicted values}`` (an objective's metrics:
        means over samples). The model's training/eval mode is restored afterwards.
    """
    objective = _check_objective(loss)
    dataset = as_dataset(data, targets_required=_needs_targets(objective))
    device = _model_device(model)
    totals = MetricTotals(objective) if isinstance(objective, str) else None
    generator = torch.Generator().manual_seed(seed + _OBJECTIVE_SEED_OFFSET)
    sums: dict[str, float] = {}
    count = 0
    was_training = model.training
    model.eval()
    try:
        for inputs, targets in tqdm(
            iterate_batches(dataset, batch_size, shuffle=False),
            total=count_batches(dataset, batch_size),
            desc="evaluate",
            disable=not progress,
            leave=False,
        ):
            inputs, targets = inputs.to(device), targets.to(device)
            if totals is not None:
                totals.add(model(inputs), targets)
                continue
            assert not isinstance(objective, str)
            for name, value in objective.batch_metrics(model, inputs, targets, generator).items():
                sums[name] = sums.get(name, 0.0) + value * inputs.shape[0]
            count += inputs.shape[0]
    finally:
        model.train(was_training)
    if totals is not None:
        return totals.means()
    return {name: total / count for name, total in sums.items()}


@torch.no_grad()
def predict(
    model: nn.Module,
    inputs: Tensor | np.ndarray[Any, Any],
    *,
    batch_size: int = 256,
    progress: bool = False,
) -> Tensor:
    """Outputs of ``model`` for every input, in eval mode, concatenated on the CPU.

    Args:
        model: the module to run.
        inputs: a batch ``(N, ...)`` of inputs (tensor or array).
        batch_size: samples per forward pass.
        progress: show a tqdm progress bar.

    Returns:
        ``(N, ...)`` outputs (e.g. logits ``(N, K)``), detached.
    """
    tensor = torch.as_tensor(inputs)
    if tensor.dim() == 0:
        raise ValueError("predict needs a batch of inputs (N, ...), got a 0-dimensional value")
    dataset = as_dataset((tensor, torch.zeros(tensor.shape[0])))
    device = _model_device(model)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for batch, _ in tqdm(
            iterate_batches(dataset, batch_size, shuffle=False),
            total=count_batches(dataset, batch_size),
            desc="predict",
            disable=not progress,
            leave=False,
        ):
            outputs.append(model(batch.to(device)).cpu())
    finally:
        model.train(was_training)
    return torch.cat(outputs)
