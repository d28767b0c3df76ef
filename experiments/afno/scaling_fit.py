"""Fit cost = a + b·N + c·N² (a, b, c ≥ 0) to measurements, and extrapolate it.

Used for self-attention, whose time grows as N² in the number of tokens N:
measured where it fits, extrapolated where it does not. Non-negative least
squares keeps the fitted curve increasing. Each measurement is weighted by
``1 / value`` so the fit is relative (small and large sizes count alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls


@dataclass(frozen=True)
class QuadraticFit:
    """``cost(N) = constant + linear·N + quadratic·N²``; ``max_relative_error`` on the fitted points."""

    constant: float
    linear: float
    quadratic: float
    max_relative_error: float

    def __call__(self, tokens: float) -> float:
        return self.constant + self.linear * tokens + self.quadratic * tokens**2


def fit_quadratic(tokens: Sequence[float], costs: Sequence[float]) -> QuadraticFit:
    """Fit ``costs`` (e.g. seconds, positive) against ``tokens``; needs 3 or more distinct sizes.

    Raises:
        ValueError: for fewer than 3 distinct token counts, mismatched lengths or
            non-positive costs.
    """
    n = np.asarray(tokens, dtype=np.float64)
    y = np.asarray(costs, dtype=np.float64)
    if n.shape != y.shape or np.unique(n).size < 3:
        raise ValueError(
            f"need 3 or more distinct token counts with one cost each, got tokens {n.tolist()} "
            f"and costs {y.tolist()}"
        )
    if np.any(y <= 0):
        raise ValueError(f"costs must be positive to fit in relative terms, got {y.tolist()}")
    scale = n.max()
    design = np.stack([np.ones_like(n), n / scale, (n / scale) ** 2], axis=1) / y[:, None]
    coefficients, _ = nnls(design, np.ones_like(y))
    constant, linear, quadratic = coefficients / np.array([1.0, scale, scale**2])
    fitted = constant + linear * n + quadratic * n**2
    return QuadraticFit(
        float(constant),
        float(linear),
        float(quadratic),
        float(np.max(np.abs(fitted - y) / y)),
    )
