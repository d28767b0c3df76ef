"""Point estimators of AVG, SUM and COUNT from per-stratum rates and means.

All functions broadcast over leading axes, so the bootstrap evaluates every
replicate at once: inputs of shape ``(..., K)`` give an output of shape ``(...)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def combine_strata(
    aggregate: str,
    sizes: npt.NDArray[np.int64] | npt.NDArray[np.float64],
    p: npt.NDArray[np.float64],
    mean_of_product: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """The stratified estimate of ``aggregate``.

    With stratum sizes ``N_k``, positive rates ``p_k`` and means ``t_k = p_k m_k``
    of ``O·f`` (statistic times predicate):

    - ``"avg"``:   ``Σ N_k t_k / Σ N_k p_k`` (NaN when the denominator is 0),
    - ``"sum"``:   ``Σ N_k t_k``,
    - ``"count"``: ``Σ N_k p_k``.

    Using ``t_k`` instead of ``p_k m_k`` keeps strata without positives
    well defined (they contribute 0 instead of ``0 × NaN``).

    Args:
        aggregate: ``"avg"``, ``"sum"`` or ``"count"``.
        sizes: stratum sizes, shape ``(K,)``.
        p: positive rates, shape ``(..., K)``.
        mean_of_product: means of ``O·f``, shape ``(..., K)``.

    Returns:
        The estimate(s), shape ``(...)``.
    """
    weights = np.asarray(sizes, dtype=np.float64)
    if aggregate == "count":
        return np.asarray(p @ weights, dtype=np.float64)
    total = np.asarray(mean_of_product @ weights, dtype=np.float64)
    if aggregate == "sum":
        return total
    if aggregate == "avg":
        positives = np.asarray(p @ weights, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(positives > 0, total / positives, np.nan)
    raise ValueError(f"aggregate must be 'avg', 'sum' or 'count', got {aggregate!r}")


def linearised_residuals(
    aggregate: str,
    predicate: npt.NDArray[np.bool_],
    statistic: npt.NDArray[np.float64],
    avg: float,
) -> npt.NDArray[np.float64]:
    """Per-record values whose stratified mean has the estimator's variance.

    ``O(f - μ)`` for AVG (to be divided by ``Σ N_k p_k``), ``O f`` for SUM and
    ``O`` for COUNT. Shape ``(n,)`` like the inputs.
    """
    f = np.where(predicate, statistic, 0.0)
    if aggregate == "avg":
        return np.where(predicate, f - avg, 0.0)
    if aggregate == "sum":
        return f
    return predicate.astype(np.float64)


def residual_moments(
    rate: npt.NDArray[np.float64],
    offset: npt.NDArray[np.float64],
    v2: npt.NDArray[np.float64],
    v3: npt.NDArray[np.float64],
    v4: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Central moments ``(μ2, μ3, μ4)`` of a linearised residual ``r = O·g`` per stratum.

    ``O`` is Bernoulli(``rate``) and, given ``O = 1``, ``g`` has mean ``offset``
    and central moments ``v2, v3, v4`` (for COUNT: ``offset = 1``, ``v = 0``;
    for AVG, ``g = f − μ``; for SUM, ``g = f``). All arrays ``(K,)``.

    Example:
        >>> mu2, mu3, mu4 = residual_moments(*(np.array([x]) for x in (0.5, 1.0, 0.0, 0.0, 0.0)))
        >>> mu2.tolist(), mu3.tolist(), mu4.tolist()
        ([0.25], [0.0], [0.0625])
    """
    d = offset
    g2 = v2 + d**2
    g3 = v3 + 3.0 * d * v2 + d**3
    g4 = v4 + 4.0 * d * v3 + 6.0 * d**2 * v2 + d**4
    e1, e2, e3, e4 = rate * d, rate * g2, rate * g3, rate * g4
    mu2 = np.maximum(e2 - e1**2, 0.0)
    mu3 = e3 - 3.0 * e1 * e2 + 2.0 * e1**3
    mu4 = np.maximum(e4 - 4.0 * e1 * e3 + 6.0 * e1**2 * e2 - 3.0 * e1**4, 0.0)
    return mu2, mu3, mu4
