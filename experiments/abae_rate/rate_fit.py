"""Fitting the seed's rate ``MSE ≈ a/N1 + b/N2 + c·N1^½·N2^−³ᐟ²`` and log–log slopes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import nnls

RATE_TERMS = ("a/N1", "b/N2", "c*N1^0.5*N2^-1.5")
"""The three terms of the seed's bound, in coefficient order ``(a, b, c)``."""


def rate_design(n1: npt.ArrayLike, n2: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The regressors ``[1/N1, 1/N2, N1^½ N2^−³ᐟ²]``, shape ``(P, 3)``.

    Args:
        n1: stage-1 labels per stratum, shape ``(P,)``, positive.
        n2: stage-2 labels in all, shape ``(P,)``, positive.
    """
    x1 = np.asarray(n1, dtype=np.float64)
    x2 = np.asarray(n2, dtype=np.float64)
    if x1.shape != x2.shape or x1.ndim != 1:
        raise ValueError(f"n1 and n2 must be 1-D of one length, got {x1.shape} and {x2.shape}")
    if (x1 <= 0).any() or (x2 <= 0).any():
        raise ValueError("n1 and n2 must be positive")
    return np.stack([1.0 / x1, 1.0 / x2, np.sqrt(x1) * x2**-1.5], axis=1)


@dataclass(frozen=True, eq=False)
class RateFit:
    """A non-negative fit of measured MSEs to (a subset of) the rate's terms.

    Attributes:
        terms: indices into :data:`RATE_TERMS` that the fit used.
        coefficients: ``(a, b, c)``, 0 for terms left out.
        fitted: the fitted MSE per point, shape ``(P,)``.
        r2: coefficient of determination on the MSE scale.
        r2_log: coefficient of determination on the log-MSE scale.
        relative_residuals: ``fitted / measured − 1`` per point.
    """

    terms: tuple[int, ...]
    coefficients: npt.NDArray[np.float64]
    fitted: npt.NDArray[np.float64]
    r2: float
    r2_log: float
    relative_residuals: npt.NDArray[np.float64]

    @property
    def rms_relative_residual(self) -> float:
        """Root mean square of :attr:`relative_residuals`."""
        return float(np.sqrt(np.mean(self.relative_residuals**2)))

    @property
    def max_relative_residual(self) -> float:
        """Largest ``|relative residual|``."""
        return float(np.max(np.abs(self.relative_residuals)))


def fit_coefficients(
    design: npt.NDArray[np.float64], mse: npt.NDArray[np.float64], terms: tuple[int, ...]
) -> npt.NDArray[np.float64]:
    """Non-negative ``(a, b, c)`` minimising ``Σ_i (fitted_i / mse_i − 1)²``.

    Relative (not absolute) residuals, so the large MSEs at small budgets do
    not decide the fit alone. Terms not in ``terms`` get 0.
    """
    if (mse <= 0).any() or not np.isfinite(mse).all():
        raise ValueError("every measured MSE must be positive and finite to fit the rate")
    columns = list(terms)
    weighted = design[:, columns] / mse[:, None]
    solution, _ = nnls(weighted, np.ones(mse.shape[0]))
    coefficients = np.zeros(design.shape[1])
    coefficients[columns] = solution
    return coefficients


def fit_rate(
    n1: npt.ArrayLike,
    n2: npt.ArrayLike,
    mse: npt.ArrayLike,
    terms: tuple[int, ...] = (0, 1, 2),
) -> RateFit:
    """Fit ``MSE ≈ a/N1 + b/N2 + c·N1^½·N2^−³ᐟ²`` by non-negative least squares.

    Args:
        n1, n2: see :func:`rate_design`.
        mse: measured MSE per point, shape ``(P,)``, positive.
        terms: which of the three terms to use (a reduced model leaves some out).

    Returns:
        The :class:`RateFit`.

    Example:
        >>> n1, n2 = np.array([10.0, 40, 10, 40]), np.array([100.0, 100, 400, 400])
        >>> fit = fit_rate(n1, n2, 2 / n1 + 30 / n2)
        >>> np.round(fit.coefficients, 6).tolist()
        [2.0, 30.0, 0.0]
    """
    design = rate_design(n1, n2)
    measured = np.asarray(mse, dtype=np.float64)
    if measured.shape != (design.shape[0],):
        raise ValueError(f"mse must have shape ({design.shape[0]},), got {measured.shape}")
    if not terms or any(t not in (0, 1, 2) for t in terms):
        raise ValueError(f"terms must be a non-empty subset of (0, 1, 2), got {terms}")
    coefficients = fit_coefficients(design, measured, terms)
    fitted = design @ coefficients
    quality = PredictionQuality.of(measured, fitted)
    return RateFit(
        terms=tuple(terms),
        coefficients=coefficients,
        fitted=fitted,
        r2=quality.r2,
        r2_log=quality.r2_log,
        relative_residuals=quality.relative_residuals,
    )


@dataclass(frozen=True, eq=False)
class PredictionQuality:
    """How well predicted MSEs match measured ones (arrays ``(P,)``).

    Attributes:
        r2: coefficient of determination on the MSE scale.
        r2_log: coefficient of determination on the log-MSE scale.
        relative_residuals: ``predicted / measured − 1``.
    """

    r2: float
    r2_log: float
    relative_residuals: npt.NDArray[np.float64]

    @property
    def rms_relative_residual(self) -> float:
        """Root mean square of :attr:`relative_residuals`."""
        return float(np.sqrt(np.mean(self.relative_residuals**2)))

    @property
    def max_relative_residual(self) -> float:
        """Largest ``|relative residual|``."""
        return float(np.max(np.abs(self.relative_residuals)))

    @classmethod
    def of(
        cls, measured: npt.NDArray[np.float64], predicted: npt.NDArray[np.float64]
    ) -> PredictionQuality:
        """Compare ``predicted`` with ``measured`` (both positive, shape ``(P,)``)."""
        spread = np.sum((measured - measured.mean()) ** 2)
        r2 = 1.0 - np.sum((measured - predicted) ** 2) / spread
        log_m = np.log(measured)
        with np.errstate(divide="ignore"):
            log_p = np.log(predicted)
        r2_log = 1.0 - np.sum((log_m - log_p) ** 2) / np.sum((log_m - log_m.mean()) ** 2)
        return cls(float(r2), float(r2_log), predicted / measured - 1.0)


def bootstrap_coefficients(
    n1: npt.ArrayLike,
    n2: npt.ArrayLike,
    mse_replicates: npt.NDArray[np.float64],
    terms: tuple[int, ...] = (0, 1, 2),
) -> npt.NDArray[np.float64]:
    """Refit on every bootstrap replicate of the MSEs, shape ``(B, P)`` -> ``(B, 3)``."""
    design = rate_design(n1, n2)
    return np.stack([fit_coefficients(design, row, terms) for row in mse_replicates])


def loglog_slopes(budgets: npt.ArrayLike, mse: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Least-squares slope of ``log MSE`` against ``log N``.

    Args:
        budgets: ``N`` per point, shape ``(P,)``, at least two distinct values.
        mse: shape ``(P,)`` or ``(B, P)`` (e.g. bootstrap replicates), positive.

    Returns:
        The slope (a 0-d array) or one slope per row, shape ``(B,)``.

    Example:
        >>> float(loglog_slopes([100, 1000], np.array([0.1, 0.01])))
        -1.0
    """
    x = np.log(np.asarray(budgets, dtype=np.float64))
    y = np.log(np.asarray(mse, dtype=np.float64))
    if x.ndim != 1 or y.shape[-1] != x.shape[0] or np.ptp(x) == 0:
        raise ValueError(
            f"need budgets (P,) with at least two values and mse (..., P), got {x.shape}, {y.shape}"
        )
    centred = x - x.mean()
    return np.asarray((y - y.mean(axis=-1, keepdims=True)) @ centred / np.dot(centred, centred))
