"""How precise a stratified estimate will be, and how many labels a precision needs.

For a stratified estimate ``Σ_k N_k t̂_k`` with ``n_k`` labels drawn without
replacement in stratum ``k`` of size ``N_k``, whose linearised residual has
within-stratum variance ``S_k²``, the variance is

    V = Σ_k N_k² S_k² (1/n_k − 1/N_k)          (divided by P² for AVG, P = Σ_k N_k p_k)

and, with ``n_k = n·w_k`` for allocation shares ``w_k`` summing to 1, the
smallest ``n`` that brings the interval's half-width ``z·√V`` down to ``h`` is

    n = Σ_k N_k² S_k² / w_k  /  ((h/z)²·D² + Σ_k N_k S_k²)         (D = P for AVG, else 1).

These are the formulas ``ERROR WITHIN`` plans with and ``abae explain`` predicts with.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt


def stratified_variance(
    sizes: npt.ArrayLike,
    variances: npt.ArrayLike,
    labels: npt.ArrayLike,
    denominator: float = 1.0,
) -> float:
    """``Σ_k N_k² S_k² (1/n_k − 1/N_k) / D²``; ``inf`` where a stratum with spread has no label.

    Args:
        sizes: stratum sizes ``N_k``, shape ``(K,)``.
        variances: residual variances ``S_k² >= 0``, shape ``(K,)``.
        labels: labels per stratum ``n_k`` (may be fractional when planning), ``(K,)``.
        denominator: ``D`` (``Σ N_k p_k`` for AVG, 1 for SUM and COUNT).

    Example:
        >>> stratified_variance([100, 100], [1.0, 4.0], [10, 20])
        2500.0
    """
    n = np.asarray(sizes, dtype=np.float64)
    s2 = np.asarray(variances, dtype=np.float64)
    m = np.asarray(labels, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(s2 > 0, n**2 * s2 * (1.0 / m - 1.0 / n), 0.0)
    terms = np.where((s2 > 0) & (m <= 0), np.inf, np.maximum(terms, 0.0))
    return float(terms.sum()) / denominator**2


def labels_for_half_width(
    sizes: npt.ArrayLike,
    variances: npt.ArrayLike,
    shares: npt.ArrayLike,
    half_width: float,
    confidence: float,
    denominator: float = 1.0,
) -> float:
    """Labels ``n`` whose allocation ``n·w_k`` gives a ``confidence`` interval of ``half_width``.

    Capped at the records available (labelling every record gives an exact answer).
    ``inf`` when a stratum with spread gets no share.

    Args:
        sizes, variances, denominator: as for :func:`stratified_variance`.
        shares: the allocation shares ``w_k >= 0`` of the labels, shape ``(K,)``.
        half_width: the target half-width ``h > 0``, in the aggregate's unit.
        confidence: the interval's coverage, in (0, 1).

    Example:
        >>> round(labels_for_half_width([1000, 1000], [1.0, 1.0], [0.5, 0.5], 10.0, 0.95), 1)
        1974.3
    """
    n = np.asarray(sizes, dtype=np.float64)
    s2 = np.asarray(variances, dtype=np.float64)
    w = np.asarray(shares, dtype=np.float64)
    w = w / w.sum() if w.sum() > 0 else np.full(w.shape, 1.0 / w.size)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    spread = s2 > 0
    if not spread.any():
        return 0.0
    if (w[spread] <= 0).any():
        return math.inf
    needed = float(np.sum(n[spread] ** 2 * s2[spread] / w[spread]))
    room = (half_width / z) ** 2 * denominator**2 + float(np.sum(n * s2))
    return min(needed / room, float(n.sum()))


def neyman_shares(sizes: npt.ArrayLike, variances: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Neyman allocation shares ``N_k S_k / Σ N_j S_j`` (proportional when no stratum has spread).

    Example:
        >>> neyman_shares([100, 300], [4.0, 1.0]).tolist()
        [0.4, 0.6]
    """
    n = np.asarray(sizes, dtype=np.float64)
    weights = n * np.sqrt(np.maximum(np.asarray(variances, dtype=np.float64), 0.0))
    if weights.sum() <= 0:
        return np.asarray(n / n.sum(), dtype=np.float64)
    return np.asarray(weights / weights.sum(), dtype=np.float64)
