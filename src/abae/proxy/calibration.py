"""Calibrate a classifier's logits into probabilities: Platt scaling.

Why Platt scaling (a fitted sigmoid ``p = σ(a·z + b)`` of the logit ``z``) and
not isotonic regression:

- ABae stratifies by score *rank*, so calibration must keep the ranking. Platt
  scaling is strictly increasing (``a > 0``); isotonic regression is a step
  function that merges neighbouring scores into ties, which destroys the
  ranking that stratification needs (and that the proxy's AUC measures).
- The calibration set is a held-out slice of a small pilot (a few hundred
  labels). Two parameters are estimated stably from that; isotonic regression
  needs far more labels before its steps stop overfitting.
- Calibrated probabilities are what combining proxies needs (the product of two
  predicates' scores for a conjunction) and what users read in reports.

The fit minimises log loss with Platt's smoothed targets (``(n₊+1)/(n₊+2)`` for
positives, ``1/(n₋+2)`` for negatives), which keeps the fit finite when the
held-out set is perfectly separated, by Newton's method on the two parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

UNINFORMATIVE_SLOPE = 1e-6
"""Slope (per standard deviation of the logits) used when the fit finds no positive link."""
_MAX_ITERATIONS = 100
_TOLERANCE = 1e-10


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    # Numerically stable for large |z|.
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    exp_z = np.exp(z[~positive])
    out[~positive] = exp_z / (1.0 + exp_z)
    return out


def _log_loss(z: NDArray[np.float64], target: NDArray[np.float64]) -> float:
    """Mean cross-entropy of σ(z) against soft targets, computed from logits."""
    return float(np.mean(np.logaddexp(0.0, z) - target * z))


@dataclass(frozen=True)
class PlattCalibration:
    """``probability = σ(slope · logit + intercept)``; the identity map on σ is (1, 0)."""

    slope: float = 1.0
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.slope) and np.isfinite(self.intercept)):
            raise ValueError(f"calibration parameters must be finite, got {self}")

    def __call__(self, logits: ArrayLike) -> NDArray[np.float64]:
        """Probabilities float64 (N,) for logits (N,)."""
        z = np.asarray(logits, dtype=np.float64)
        return _sigmoid(self.slope * z + self.intercept)

    def to_dict(self) -> dict[str, Any]:
        return {"method": "platt", "slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlattCalibration:
        if data.get("method") != "platt":
            raise ValueError(f"not a Platt calibration: {data}")
        return cls(float(data["slope"]), float(data["intercept"]))

    @classmethod
    def fit(cls, logits: ArrayLike, labels: ArrayLike) -> PlattCalibration:
        """Fit slope and intercept on held-out logits (N,) and 0/1 labels (N,).

        The slope is kept positive so the ranking of scores is unchanged. When the
        best fit has a slope <= 0 (the proxy ranks the held-out labels no better
        than chance), the result maps every logit to about the base rate with a
        tiny positive slope and :attr:`informative` is False.

        Raises:
            ValueError: mismatched or empty inputs, non-finite logits, or labels
                that are not all 0/1.
        """
        z = np.asarray(logits, dtype=np.float64)
        y = np.asarray(labels)
        if z.ndim != 1 or y.shape != z.shape:
            raise ValueError(
                f"calibration needs 1-D logits and labels of one length, got shapes "
                f"{z.shape} and {y.shape}"
            )
        if z.size == 0:
            raise ValueError("calibration needs at least one held-out label, got none")
        if not np.all(np.isfinite(z)):
            raise ValueError("calibration logits hold NaN or infinite values")
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("calibration labels must be 0/1 (or bool)")
        positive = y.astype(bool)
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        target = np.where(positive, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

        a, b = 1.0, float(np.log((n_pos + 1.0) / (n_neg + 1.0)))
        loss = _log_loss(a * z + b, target)
        for _ in range(_MAX_ITERATIONS):
            p = _sigmoid(a * z + b)
            residual = p - target
            weight = np.maximum(p * (1.0 - p), 1e-12)
            gradient = np.array([residual @ z, residual.sum()])
            hessian = np.array([[weight @ (z * z), weight @ z], [weight @ z, weight.sum()]])
            step = np.linalg.solve(hessian + 1e-9 * np.eye(2), gradient)
            # Newton step with backtracking: the loss is convex, halve until it drops.
            shrink = 1.0
            while shrink > 1e-8:
                new_loss = _log_loss((a - shrink * step[0]) * z + (b - shrink * step[1]), target)
                if new_loss <= loss:
                    break
                shrink /= 2
            a, b, loss = a - shrink * step[0], b - shrink * step[1], new_loss
            if shrink * np.max(np.abs(step)) < _TOLERANCE:
                break
        if not a > 0:
            # No evidence on held-out data that higher logits mean more positives:
            # score everything near the base rate, but keep the ranking (a tiny
            # positive slope) so stratification still has an order to work with.
            spread = float(np.std(z)) or 1.0
            return cls(UNINFORMATIVE_SLOPE / spread, float(np.log((n_pos + 1.0) / (n_neg + 1.0))))
        return cls(float(a), float(b))

    @property
    def informative(self) -> bool:
        """False when the fit found no positive link between logits and labels."""
        return self.slope > UNINFORMATIVE_SLOPE * 1e3
