"""A trained proxy: network, image spec and the map from raw outputs to scores.

A classifier proxy scores an image with the calibrated probability that the
predicate holds (:class:`~abae.proxy.calibration.PlattCalibration` of the
network's logit); a regressor proxy predicts the statistic in its own units
(the network predicts a standardised value, see :class:`TargetScale`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from torch import nn

from abae.proxy.calibration import PlattCalibration
from abae.proxy.image_spec import ImageSpec
from abae.proxy.scoring import ImageSource, score_batch, score_in_batches

ProxyTask = Literal["classify", "regress"]
PROXY_TASKS: tuple[ProxyTask, ...] = ("classify", "regress")


@dataclass(frozen=True)
class TargetScale:
    """A regressor's targets were trained as ``(y - mean) / std``; this undoes it."""

    mean: float
    std: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.mean) and np.isfinite(self.std) and self.std > 0):
            raise ValueError(f"target scale needs a finite mean and a positive std, got {self}")

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetScale:
        return cls(float(data["mean"]), float(data["std"]))


class Proxy:
    """A proxy model ready to score images.

    Args:
        network: the trained network (an ``afno`` model with one output), put in eval mode.
        spec: the images it reads.
        task: ``"classify"`` (scores are calibrated probabilities in (0, 1)) or
            ``"regress"`` (scores are predicted statistics).
        calibration: required for a classifier.
        target_scale: required for a regressor.
        name: a name for messages and for the score column, e.g. ``"afno_proxy"``.
        metadata: plain data about how it was trained (held-out AUC, epochs, ...).
    """

    def __init__(
        self,
        network: nn.Module,
        spec: ImageSpec,
        *,
        task: ProxyTask,
        calibration: PlattCalibration | None = None,
        target_scale: TargetScale | None = None,
        name: str = "proxy",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if task not in PROXY_TASKS:
            raise ValueError(f"task must be one of {PROXY_TASKS}, got {task!r}")
        if task == "classify" and calibration is None:
            raise ValueError("a classifier proxy needs a calibration")
        if task == "regress" and target_scale is None:
            raise ValueError("a regressor proxy needs a target scale")
        self.network = network.eval()
        self.spec = spec
        self.task: ProxyTask = task
        self.calibration = calibration
        self.target_scale = target_scale
        self.name = name
        self.metadata = dict(metadata or {})

    def __repr__(self) -> str:
        return f"Proxy(name={self.name!r}, task={self.task!r}, images={self.spec.describe()!r})"

    def scores_from_outputs(self, outputs: NDArray[Any]) -> NDArray[np.float64]:
        """Map raw network outputs (N,) to scores (N,): calibrated or unscaled."""
        raw = np.asarray(outputs, dtype=np.float64)
        if self.calibration is not None:
            return self.calibration(raw)
        assert self.target_scale is not None
        return raw * self.target_scale.std + self.target_scale.mean

    def raw_outputs(self, images: NDArray[Any]) -> NDArray[np.float64]:
        """Uncalibrated network outputs float64 (N,) for a uint8 batch (logits for a classifier)."""
        return score_batch(self.network, self.spec.to_tensor(images)).numpy().astype(np.float64)

    def score_batch(self, images: NDArray[Any]) -> NDArray[np.float64]:
        """Scores float64 (N,) for one uint8 batch ``(N, H, W)`` or ``(N, H, W, C)``.

        Raises:
            abae.proxy.image_spec.ImageInputError: images of another size, mode or dtype.
        """
        return self.scores_from_outputs(self.raw_outputs(images))

    def score(
        self, images: ImageSource, *, batch_size: int = 1024, progress: bool = True
    ) -> NDArray[np.float64]:
        """Scores float64 (N,) for any number of images, in batches with a progress bar."""
        return score_in_batches(
            images,
            self.score_batch,
            batch_size=batch_size,
            progress=progress,
            description=f"{self.name} scores",
        )
