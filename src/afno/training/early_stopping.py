"""Early stopping for :func:`afno.training.fit`: stop when a held-out score stops improving.

The score is any function of the model (higher is better), evaluated after
every epoch with the model in eval mode: held-out accuracy, AUC, or minus a
validation loss. Training stops once ``patience`` epochs in a row failed to
beat the best score by more than ``min_delta``; with ``restore_best`` the
model's weights are put back to those of the best epoch.

Example:
    >>> import torch
    >>> from afno.training import fit
    >>> x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    >>> model = torch.nn.Linear(4, 2)
    >>> stop = EarlyStopping(lambda m: -float(torch.nn.functional.cross_entropy(m(x), y)),
    ...                      patience=2)
    >>> history = fit(model, (x, y), epochs=50, batch_size=8, early_stopping=stop,
    ...               progress=False)
    >>> history.best_epoch == max(range(1, len(history.scores) + 1),
    ...                           key=lambda e: history.scores[e - 1])
    True
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EarlyStopping:
    """When :func:`~afno.training.fit` stops, judged on a held-out score.

    Args:
        score: maps the model (in eval mode, gradients off) to a float, higher
            is better; it may record anything it likes (e.g. the predictions).
        patience: epochs in a row without improvement before stopping (>= 1).
        min_delta: an epoch improves only if it beats the best score by more than this.
        restore_best: put back the weights of the best epoch when training ends.
    """

    score: Callable[[nn.Module], float]
    patience: int = 2
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {self.patience}")
        if not self.min_delta >= 0:
            raise ValueError(f"min_delta must be non-negative, got {self.min_delta}")


class EarlyStoppingState:
    """The running state of one :class:`EarlyStopping` during one :func:`fit` call."""

    def __init__(self, rule: EarlyStopping) -> None:
        self.rule = rule
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    @torch.no_grad()
    def judge(self, model: nn.Module, epoch: int) -> tuple[float, bool]:
        """Score the model after ``epoch``; returns (score, whether to stop now).

        Raises:
            FloatingPointError: if the score is NaN.
        """
        was_training = model.training
        model.eval()
        try:
            value = float(self.rule.score(model))
        finally:
            model.train(was_training)
        if math.isnan(value):
            raise FloatingPointError(f"the early-stopping score was NaN after epoch {epoch}")
        if value > self.best_score + self.rule.min_delta or self.best_epoch == 0:
            self.best_score, self.best_epoch = value, epoch
            if self.rule.restore_best:
                self.best_state = copy.deepcopy(model.state_dict())
        return value, epoch - self.best_epoch >= self.rule.patience

    def finish(self, model: nn.Module) -> None:
        """Restore the best epoch's weights, if asked to."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
