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
