"""The candidate proxies the selection compares, each cross-validated on the pilot.

Every candidate turns pilot images and labels into a network that maps
standardised images ``(N, C, H, W)`` to one logit each, and reports
out-of-fold logits on the pilot's folds (see :mod:`abae.proxy.cross_validation`):

- :class:`FineTunedNetwork` (``"afno_finetuned"``): the AFNO proxy network,
  started from the collection's pretrained backbone (or from random weights,
  ``"afno_scratch"``), every weight trained on the labels with binary
  cross-entropy. Each fold stops early when its out-of-fold AUC has not improved
  for ``patience`` epochs; the number of epochs is then chosen among a few
  (:data:`EPOCH_GRID`) by the pooled out-of-fold AUC, and the final network
  trains that many epochs on the whole pilot (constant learning rate after
  warm-up, so epoch ``e`` of a fold and of the final fit follow the same recipe).
- :class:`LinearProbe` (``"afno_linear_probe"``): the pretrained backbone, frozen;
  logistic regression on its pooled token features (the features its own head
  reads). The network is the backbone with the fitted head.
- :class:`PixelLogistic` (``"pixels_logistic"``): logistic regression on
  area-downsampled pixels (:class:`~abae.proxy.pixel_linear.PixelLinearNetwork`).

The logistic candidates choose their penalty λ from a small grid by the pooled
out-of-fold AUC, as the fine-tuned network chooses its epochs: each candidate's
cross-validated AUC includes one such choice, so they compare on equal terms.
"""

from __future__ import annotations

import abc
import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from abae.proxy.cross_validation import pooled_auc
from abae.proxy.image_spec import ImageSpec
from abae.proxy.logistic_regression import LogisticModel, fit_logistic_path
from abae.proxy.pixel_linear import PixelLinearNetwork, pixel_grid
from abae.proxy.ranking_quality import roc_auc
from abae.proxy.training import PixelInput
from afno.training import EarlyStopping, fit

PENALTIES = (1e-3, 1e-2, 1e-1, 1.0)
"""λ grid of the logistic candidates (on standardised features)."""
EPOCH_GRID = (2, 4, 7, 10, 15, 20, 30)
"""Epoch counts the network candidates choose from (those up to the epochs run, and the
last epoch run). A choice among a few settings, like λ's, keeps the cross-validated AUCs
of the candidates comparable: picking the best of every epoch would flatter the networks
(on a pilot with 17 positives, by about 0.04 AUC in the benchmark)."""
_SCORE_BATCH = 512


@dataclass(frozen=True)
class PilotImages:
    """A labelled pilot as the candidates read it.

    Attributes:
        pixels: contiguous uint8 ``(n, C, H, W)`` (from :meth:`ImageSpec.to_pixels`).
        labels: bool ``(n,)``.
        spec: the images' :class:`~abae.proxy.image_spec.ImageSpec`.
    """

    pixels: torch.Tensor
    labels: NDArray[np.bool_]
    spec: ImageSpec

    def __post_init__(self) -> None:
        if self.pixels.dim() != 4 or self.pixels.shape[0] != self.labels.shape[0]:
            raise ValueError(
                f"pilot pixels (n, C, H, W) and labels (n,) disagree: "
                f"{tuple(self.pixels.shape)} and {self.labels.shape}"
            )

    def __len__(self) -> int:
        return int(self.labels.size)

    def standardised(self, rows: NDArray[np.int64] | None = None) -> torch.Tensor:
        """Float32 model input ``(m, C, H, W)`` of the rows (all when None)."""
        pixels = self.pixels if rows is None else self.pixels[torch.as_tensor(rows)]
        return self.spec.normalise(pixels)


@dataclass(frozen=True)
class CrossValidated:
    """A candidate's cross-validation on the pilot.

    Attributes:
        candidate: its name.
        out_of_fold: float64 ``(n,)`` logits, each from the fold model that did
            not see that record's label (at the chosen setting).
        auc: the pooled out-of-fold AUC.
        setting: what the folds chose (``{"epochs": e}`` or ``{"penalty": λ}``).
        auc_by_setting: pooled AUC of every setting tried.
        seconds: wall time of the cross-validation.
    """

    candidate: str
    out_of_fold: NDArray[np.float64]
    auc: float
    setting: dict[str, Any]
    auc_by_setting: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


class Candidate(Protocol):
    """A way to make a proxy network from pilot labels."""

    name: str

    def cross_validate(self, pilot: PilotImages, folds: NDArray[np.int64]) -> CrossValidated:
        """Fit on every fold's complement, score the fold; choose the setting by pooled AUC."""
        ...

    def fit_final(self, pilot: PilotImages, chosen: CrossValidated) -> nn.Module:
        """The network (standardised images to logits ``(N, 1)``) fitted on the whole pilot."""
        ...


def epoch_choices(epochs_run: int) -> list[int]:
    """The epochs of :data:`EPOCH_GRID` up to ``epochs_run``, and ``epochs_run`` itself."""
    return sorted({e for e in EPOCH_GRID if e < epochs_run} | {epochs_run})


def network_logits(network: nn.Module, images: torch.Tensor) -> NDArray[np.float64]:
    """float64 ``(N,)`` outputs of ``network`` on standardised images, in eval mode, in batches."""
    was_training = network.training
    network.eval()
    outputs = []
    try:
        with torch.inference_mode():
            for start in range(0, images.shape[0], _SCORE_BATCH):
                outputs.append(network(images[start : start + _SCORE_BATCH]).reshape(-1))
    finally:
        network.train(was_training)
    return torch.cat(outputs).double().numpy()


@dataclass(frozen=True)
class FineTuning:
    """How :class:`FineTunedNetwork` trains.

    Args:
        max_epochs: most epochs per fit (early stopping usually ends sooner).
        patience: epochs without a better out-of-fold AUC before a fold stops.
        lr, weight_decay, batch_size: AdamW, constant learning rate after warm-up.
        warmup_steps: linear warm-up steps.
        seed: seeds the shuffling (and dropout) of every fit.
    """

    max_epochs: int = 15
    patience: int = 4
    lr: float = 5e-3
    weight_decay: float = 0.05
    batch_size: int = 16
    warmup_steps: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.patience < 1 or self.batch_size < 1:
            raise ValueError(f"fine-tuning needs positive epochs, patience and batch: {self}")


class FineTunedNetwork:
    """Train a whole network on the pilot labels, from ``initial`` weights.

    Args:
        name: the candidate's name (``"afno_finetuned"``, ``"afno_scratch"``).
        initial: the network to start every fit from (copied, never changed):
            the pretrained backbone with a fresh one-logit head, or random weights.
        training: epochs, early stopping and optimiser settings.
        progress: show a progress bar per epoch.
    """

    def __init__(
        self, name: str, initial: nn.Module, training: FineTuning, *, progress: bool = False
    ) -> None:
        self.name = name
        self.initial = initial
        self.training = training
        self.progress = progress

    def _fit(
        self,
        pilot: PilotImages,
        rows: NDArray[np.int64],
        epochs: int,
        early_stopping: EarlyStopping | None,
    ) -> nn.Module:
        network = copy.deepcopy(self.initial)
        targets = torch.as_tensor(pilot.labels[rows], dtype=torch.float32)
        settings = self.training
        fit(
            PixelInput(network, pilot.spec),
            (pilot.pixels[torch.as_tensor(rows)], targets),
            epochs=epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            weight_decay=settings.weight_decay,
            loss="bce",
            seed=settings.seed,
            schedule="constant",
            warmup_steps=settings.warmup_steps,
            early_stopping=early_stopping,
            progress=self.progress,
        )
        return network.eval()

    def cross_validate(self, pilot: PilotImages, folds: NDArray[np.int64]) -> CrossValidated:
        started = time.perf_counter()
        fold_ids = np.unique(folds)
        per_fold: list[list[NDArray[np.float64]]] = []
        for fold in fold_ids:
            held_out = np.flatnonzero(folds == fold)
            held_images = pilot.standardised(held_out)
            held_labels = pilot.labels[held_out]
            recorded: list[NDArray[np.float64]] = []

            def held_out_auc(
                model: nn.Module,
                images: torch.Tensor = held_images,
                labels: NDArray[np.bool_] = held_labels,
                record: list[NDArray[np.float64]] = recorded,
            ) -> float:
                logits = network_logits(model.network, images)  # type: ignore[arg-type]
                record.append(logits)
                return roc_auc(logits, labels)

            stopping = EarlyStopping(
                held_out_auc, patience=self.training.patience, restore_best=False
            )
            self._fit(pilot, np.flatnonzero(folds != fold), self.training.max_epochs, stopping)
            per_fold.append(recorded)
        epochs_run = max(len(record) for record in per_fold)
        auc_by_epoch: dict[str, float] = {}
        pooled_by_epoch: dict[int, NDArray[np.float64]] = {}
        for epoch in epoch_choices(epochs_run):
            pooled = np.empty(len(pilot))
            for fold, record in zip(fold_ids, per_fold, strict=True):
                # A fold that stopped early had stopped improving: carry its last logits on.
                pooled[folds == fold] = record[min(epoch, len(record)) - 1]
            pooled_by_epoch[epoch] = pooled
            auc_by_epoch[str(epoch)] = pooled_auc(pooled, pilot.labels)
        best = max(pooled_by_epoch, key=lambda e: (auc_by_epoch[str(e)], -e))
        return CrossValidated(
            self.name,
            pooled_by_epoch[best],
            auc_by_epoch[str(best)],
            {"epochs": best},
            auc_by_epoch,
            time.perf_counter() - started,
        )

    def fit_final(self, pilot: PilotImages, chosen: CrossValidated) -> nn.Module:
        epochs = int(chosen.setting["epochs"])
        return self._fit(pilot, np.arange(len(pilot)), epochs, None)


class _LogisticCandidate(abc.ABC):
    """Logistic regression on fixed per-image features, λ chosen by pooled OOF AUC."""

    name = "logistic"

    @abc.abstractmethod
    def features(self, pilot: PilotImages) -> NDArray[np.float64]:
        """float64 ``(n, d)`` features of the pilot images."""

    @abc.abstractmethod
    def network(self, pilot: PilotImages, model: LogisticModel) -> nn.Module:
        """The network that computes ``model``'s logit from standardised images."""

    def __init__(self, penalties: Sequence[float] = PENALTIES) -> None:
        self.penalties = tuple(penalties)
        self._cache: tuple[PilotImages, NDArray[np.float64]] | None = None

    def _features(self, pilot: PilotImages) -> NDArray[np.float64]:
        """The pilot's features, computed once per pilot (cross-validation and final fit share them)."""
        if self._cache is None or self._cache[0] is not pilot:
            self._cache = (pilot, self.features(pilot))
        return self._cache[1]

    def cross_validate(self, pilot: PilotImages, folds: NDArray[np.int64]) -> CrossValidated:
        started = time.perf_counter()
        features = self._features(pilot)
        out_of_fold = np.empty((len(self.penalties), len(pilot)))
        for fold in np.unique(folds):
            train, held_out = folds != fold, folds == fold
            models = fit_logistic_path(features[train], pilot.labels[train], self.penalties)
            for position, model in enumerate(models):
                out_of_fold[position, held_out] = model.logits(features[held_out])
        aucs = [pooled_auc(row, pilot.labels) for row in out_of_fold]
        best = int(np.argmax(aucs))
        return CrossValidated(
            self.name,
            out_of_fold[best],
            aucs[best],
            {"penalty": self.penalties[best]},
            {f"{lam:g}": auc for lam, auc in zip(self.penalties, aucs, strict=True)},
            time.perf_counter() - started,
        )

    def fit_final(self, pilot: PilotImages, chosen: CrossValidated) -> nn.Module:
        penalty = float(chosen.setting["penalty"])
        (model,) = fit_logistic_path(self._features(pilot), pilot.labels, [penalty])
        return self.network(pilot, model).eval()


class PixelLogistic(_LogisticCandidate):
    """Logistic regression on area-downsampled pixels (``"pixels_logistic"``)."""

    name = "pixels_logistic"

    def _empty_network(self, spec: ImageSpec) -> PixelLinearNetwork:
        grid = pixel_grid(spec.height, spec.width, spec.channels)
        return PixelLinearNetwork(spec.height, spec.width, spec.channels, grid)

    def features(self, pilot: PilotImages) -> NDArray[np.float64]:
        network = self._empty_network(pilot.spec)
        with torch.inference_mode():
            return network.features(pilot.standardised()).double().numpy()

    def network(self, pilot: PilotImages, model: LogisticModel) -> nn.Module:
        network = self._empty_network(pilot.spec)
        weights, bias = model.raw_weights()
        network.set_weights(torch.from_numpy(weights), bias)
        return network


def pooled_token_features(backbone: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """What an :class:`afno.AFNONet`'s head reads: its token grid pooled as the model pools
    (``config["global_pool"]``: max or mean), ``(N, D)``."""
    tokens: torch.Tensor = backbone.forward_features(images)  # type: ignore[operator]
    pool = getattr(backbone, "config", {}).get("global_pool", "mean")
    return tokens.amax(dim=(1, 2)) if pool == "max" else tokens.mean(dim=(1, 2))


class LinearProbe(_LogisticCandidate):
    """Logistic regression on a frozen backbone's pooled features (``"afno_linear_probe"``).

    Args:
        backbone: an :class:`afno.AFNONet` with one output (its head is replaced
            by the fitted one in the final network; the backbone is not changed).
        penalties: the λ grid.
    """

    name = "afno_linear_probe"

    def __init__(self, backbone: nn.Module, penalties: Sequence[float] = PENALTIES) -> None:
        super().__init__(penalties)
        self.backbone = backbone

    def features(self, pilot: PilotImages) -> NDArray[np.float64]:
        images = pilot.standardised()
        was_training = self.backbone.training
        self.backbone.eval()
        chunks = []
        try:
            with torch.inference_mode():
                for start in range(0, images.shape[0], _SCORE_BATCH):
                    batch = images[start : start + _SCORE_BATCH]
                    chunks.append(pooled_token_features(self.backbone, batch))
        finally:
            self.backbone.train(was_training)
        return torch.cat(chunks).double().numpy()

    def network(self, pilot: PilotImages, model: LogisticModel) -> nn.Module:
        network = copy.deepcopy(self.backbone)
        weights, bias = model.raw_weights()
        head: nn.Linear = network.head  # type: ignore[assignment]
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(weights).reshape(1, -1))
            head.bias.fill_(bias)
        return network


CandidateFactory = Callable[[], Candidate]
