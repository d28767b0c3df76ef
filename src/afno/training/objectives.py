"""Losses the training loop optimises and the metrics it reports for them.

Three objectives, chosen by name:

- ``"cross_entropy"``: single-label classification. Outputs are logits
  ``(B, K)`` (or ``(B, K, *spatial)`` for per-pixel labels), targets are int64
  class indices ``(B,)`` (or ``(B, *spatial)``). Metrics: ``loss``, ``accuracy``.
- ``"bce"``: binary / multi-label classification on logits. Outputs ``(B,)``,
  ``(B, 1)`` or ``(B, K)``; targets hold the same number of values per sample,
  in [0, 1]. Metrics: ``loss``, ``accuracy`` (logit > 0 against target > 0.5).
- ``"mse"``: regression. Outputs and targets as for ``"bce"``, any real values.
  Metrics: ``loss`` (mean squared error), ``mae``.

Every metric is a mean over all predicted values (samples × outputs).

Beyond the named losses, :func:`afno.training.fit` and :func:`~afno.training.evaluate`
accept any :class:`Objective`: an object that computes a batch's loss from the
model and the batch itself, which is what a self-supervised objective needs
(it corrupts its own inputs, e.g.
:class:`afno.training.inpainting.MaskedInpainting`).
"""

from __future__ import annotations

from typing import Literal, Protocol, get_args, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LossName = Literal["cross_entropy", "bce", "mse"]
LOSS_NAMES: tuple[str, ...] = get_args(LossName)


@runtime_checkable
class Objective(Protocol):
    """A training objective that computes a batch's loss itself.

    Attributes:
        name: a short name for messages.
        needs_targets: False when the objective learns from the inputs alone
            (then :func:`~afno.training.fit` accepts a bare batch of inputs as data).
    """

    name: str
    needs_targets: bool

    def batch_loss(
        self, model: nn.Module, inputs: Tensor, targets: Tensor, generator: torch.Generator
    ) -> Tensor:
        """The mean loss of one batch, carrying gradients; random choices come from ``generator``."""
        ...

    def batch_metrics(
        self, model: nn.Module, inputs: Tensor, targets: Tensor, generator: torch.Generator
    ) -> dict[str, float]:
        """Means of the objective's metrics over one batch (``{"loss": ...}`` at least)."""
        ...


def check_loss_name(loss: str) -> LossName:
    """Return ``loss`` if it names an objective, else raise ValueError listing the names."""
    if loss not in LOSS_NAMES:
        raise ValueError(f"loss must be one of {LOSS_NAMES}, got {loss!r}")
    return loss  # type: ignore[return-value]


def _match_targets(outputs: Tensor, targets: Tensor, loss: str) -> Tensor:
    """Targets as float with the outputs' shape, for the element-wise objectives."""
    if outputs.shape[0] != targets.shape[0] or outputs.numel() != targets.numel():
        raise ValueError(
            f"loss {loss!r} needs one target per output value: outputs {tuple(outputs.shape)}, "
            f"targets {tuple(targets.shape)}"
        )
    return targets.reshape(outputs.shape).to(outputs.dtype)


def _check_class_targets(outputs: Tensor, targets: Tensor) -> None:
    if outputs.dim() < 2 or targets.shape != outputs.shape[:1] + outputs.shape[2:]:
        raise ValueError(
            "loss 'cross_entropy' needs logits (B, K, *spatial) and class indices "
            f"(B, *spatial): got outputs {tuple(outputs.shape)}, targets {tuple(targets.shape)}"
        )
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(
            f"loss 'cross_entropy' needs integer class indices, got targets of dtype {targets.dtype}"
        )


def compute_loss(loss: LossName, outputs: Tensor, targets: Tensor) -> Tensor:
    """Mean loss of one batch (a scalar tensor that carries gradients).

    Raises:
        ValueError: if the targets do not fit the outputs (shapes named).
    """
    if loss == "cross_entropy":
        _check_class_targets(outputs, targets)
        return F.cross_entropy(outputs, targets.long())
    matched = _match_targets(outputs, targets, loss)
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(outputs, matched)
    return F.mse_loss(outputs, matched)


class MetricTotals:
    """Running sums of per-value metrics over batches, for one objective.

    Call :meth:`add` per batch, then :meth:`means` for the averages over all
    values seen (``{"loss": ..., "accuracy": ...}`` or ``{"loss": ..., "mae": ...}``).
    """

    def __init__(self, loss: LossName) -> None:
        self.loss = loss
        self.count = 0
        self.sums: dict[str, float] = {}

    def add(self, outputs: Tensor, targets: Tensor) -> None:
        """Accumulate one batch of outputs and targets (no gradients needed)."""
        outputs = outputs.detach().float()
        sums: dict[str, Tensor]
        if self.loss == "cross_entropy":
            _check_class_targets(outputs, targets)
            targets = targets.long()
            count = targets.numel()
            sums = {
                "loss": F.cross_entropy(outputs, targets, reduction="sum"),
                "accuracy": (outputs.argmax(dim=1) == targets).sum(),
            }
        else:
            matched = _match_targets(outputs, targets, self.loss)
            count = matched.numel()
            if self.loss == "bce":
                sums = {
                    "loss": F.binary_cross_entropy_with_logits(outputs, matched, reduction="sum"),
                    "accuracy": ((outputs > 0) == (matched > 0.5)).sum(),
                }
            else:
                sums = {
                    "loss": F.mse_loss(outputs, matched, reduction="sum"),
                    "mae": (outputs - matched).abs().sum(),
                }
        self.count += count
        for name, value in sums.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value)

    def means(self) -> dict[str, float]:
        """Averages over every value added so far; raises ValueError if nothing was added."""
        if self.count == 0:
            raise ValueError("no batches were evaluated, so there are no metrics")
        return {name: total / self.count for name, total in self.sums.items()}
