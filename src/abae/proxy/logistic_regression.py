"""L2-regularised logistic regression in NumPy: the cheap proxies' classifier.

Features are standardised (per feature, on the training rows), then

    minimise  mean_i log(1 + exp(-s_i (w·x_i + b)))  +  (λ / 2) ‖w‖²

(``s_i = ±1``; the intercept is not penalised) is solved by Newton's method
with a backtracking line search on the convex objective. Features are few (a
downsampled image, or a network's pooled embedding: at most a few hundred), so
each Newton step is one small linear solve. :func:`fit_logistic_path` fits a
decreasing sequence of λ, each warm-started from the last.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 3))
    >>> y = x[:, 0] - x[:, 1] > 0
    >>> model = fit_logistic(x, y, penalty=1e-3)
    >>> float(np.mean((model.logits(x) > 0) == y)) > 0.95
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

_MAX_NEWTON_STEPS = 50
_TOLERANCE = 1e-8


@dataclass(frozen=True)
class LogisticModel:
    """A fitted model: ``logit(x) = ((x - mean) / scale) · weights + intercept``.

    Attributes:
        mean, scale: float64 ``(d,)`` feature standardisation (scale > 0).
        weights: float64 ``(d,)`` on the standardised features.
        intercept: the bias.
        penalty: the λ it was fitted with.
    """

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    weights: NDArray[np.float64]
    intercept: float
    penalty: float

    def logits(self, features: ArrayLike) -> NDArray[np.float64]:
        """float64 ``(n,)`` logits for features ``(n, d)``."""
        x = np.asarray(features, dtype=np.float64)
        return ((x - self.mean) / self.scale) @ self.weights + self.intercept

    def raw_weights(self) -> tuple[NDArray[np.float64], float]:
        """``(w, b)`` acting on unstandardised features: ``logit = x · w + b``."""
        weights = self.weights / self.scale
        return weights, float(self.intercept - self.mean @ weights)


def _log_loss(margin: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(1 + exp(-margin))``, stable for any margin."""
    return np.logaddexp(0.0, -margin)


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.exp(-np.logaddexp(0.0, -z))


def _objective(
    x: NDArray[np.float64], sign: NDArray[np.float64], w: NDArray[np.float64], b: float, lam: float
) -> float:
    return float(np.mean(_log_loss(sign * (x @ w + b))) + 0.5 * lam * (w @ w))


def _newton(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    lam: float,
    w: NDArray[np.float64],
    b: float,
) -> tuple[NDArray[np.float64], float]:
    n, d = x.shape
    sign = 2.0 * y - 1.0
    loss = _objective(x, sign, w, b, lam)
    for _ in range(_MAX_NEWTON_STEPS):
        p = _sigmoid(x @ w + b)
        residual = p - y
        curvature = np.maximum(p * (1.0 - p), 1e-12)
        gradient = np.empty(d + 1)
        gradient[:d] = x.T @ residual / n + lam * w
        gradient[d] = residual.mean()
        hessian = np.empty((d + 1, d + 1))
        weighted = x * curvature[:, None]
        hessian[:d, :d] = x.T @ weighted / n
        hessian[:d, :d][np.diag_indices(d)] += lam
        hessian[:d, d] = hessian[d, :d] = weighted.sum(axis=0) / n
        hessian[d, d] = curvature.mean() + 1e-12
        step = np.linalg.solve(hessian, gradient)
        shrink = 1.0
        while True:
            new_w, new_b = w - shrink * step[:d], b - shrink * float(step[d])
            new_loss = _objective(x, sign, new_w, new_b, lam)
            if new_loss <= loss or shrink < 1e-6:
                break
            shrink /= 2.0
        w, b = new_w, new_b
        converged = loss - new_loss < _TOLERANCE * max(1.0, abs(loss))
        loss = new_loss
        if converged or shrink * float(np.max(np.abs(step))) < _TOLERANCE:
            break
    return w, b


def _checked(
    features: ArrayLike, labels: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(
            f"logistic regression needs features (n, d) and labels (n,), got {x.shape} and {y.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("logistic regression features hold NaN or infinite values")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("logistic regression labels must be bool or 0/1")
    positives = int(y.sum())
    if positives in (0, y.size):
        raise ValueError(f"logistic regression needs both classes, got {positives} of {y.size}")
    return x, y.astype(np.float64)


def fit_logistic_path(
    features: ArrayLike, labels: ArrayLike, penalties: Sequence[float]
) -> list[LogisticModel]:
    """One :class:`LogisticModel` per λ in ``penalties``, fitted from the largest λ down.

    Args:
        features: float ``(n, d)``.
        labels: bool or 0/1 ``(n,)`` with both classes.
        penalties: the λ values (> 0), any order; the result follows this order.

    Raises:
        ValueError: mismatched shapes, non-finite features, labels of one class,
            or a penalty that is not positive.
    """
    x, y = _checked(features, labels)
    if not penalties or min(penalties) <= 0:
        raise ValueError(f"penalties must be positive, got {list(penalties)}")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    standardised = (x - mean) / scale
    rate = y.mean()
    w, b = np.zeros(x.shape[1]), float(np.log(rate / (1.0 - rate)))
    fitted: dict[float, LogisticModel] = {}
    for lam in sorted(set(penalties), reverse=True):
        w, b = _newton(standardised, y, float(lam), w, b)
        fitted[lam] = LogisticModel(mean, scale, w.copy(), b, float(lam))
    return [fitted[lam] for lam in penalties]


def fit_logistic(features: ArrayLike, labels: ArrayLike, *, penalty: float) -> LogisticModel:
    """A :class:`LogisticModel` for one λ (see :func:`fit_logistic_path`)."""
    return fit_logistic_path(features, labels, [penalty])[0]
