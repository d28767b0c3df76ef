"""How many records each stratum gets: stage-1 split and stage-2 allocation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abae.sampling.stratum_stats import StratumStats


def stage1_sizes(budget: int, share: float, sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Stage-1 draws per stratum: ``N1 = max(1, floor(share·budget/K))``, capped at size.

    Whatever the floor or the cap leaves over goes to stage 2. Requires
    ``budget >= K`` so every stratum gets at least one pilot label.

    Args:
        budget: oracle calls available, at least ``K``.
        share: stage-1 share ``C`` of the budget, in (0, 1].
        sizes: stratum sizes, shape ``(K,)``.

    Returns:
        int64 array ``(K,)``.
    """
    k = sizes.shape[0]
    per_stratum = max(1, int(np.floor(share * budget / k + 1e-9)))
    return np.minimum(sizes, per_stratum).astype(np.int64)


def stage2_weights(
    stats: StratumStats,
    sizes: npt.NDArray[np.int64],
    aggregate: str,
    allocation: str,
) -> npt.NDArray[np.float64]:
    """Stage-2 allocation weights from the stage-1 (pilot) statistics, shape ``(K,)``.

    - ``"abae"``: the paper's ``N_k √p_k σ_k``.
    - ``"variance"``: Neyman allocation ``N_k S_k`` for the chosen aggregate,
      where ``S_k²`` is the within-stratum variance of the estimator's
      linearised residual: AVG ``p σ² + p(1−p)(m−μ)²`` (μ the pilot AVG),
      SUM ``p σ² + p(1−p) m²``, COUNT ``p(1−p)``.
    - ``"proportional"``: ``N_k`` (plain stratified sampling).

    Undefined pilot quantities (no positive, one positive) count as 0. All-zero
    weights are handled by :func:`allocate_stage2` (proportional fallback).
    """
    n = sizes.astype(np.float64)
    if allocation == "proportional":
        return n
    p = np.nan_to_num(stats.p)
    sigma = np.nan_to_num(stats.std)
    if allocation == "abae":
        return n * np.sqrt(p) * sigma
    mean = np.nan_to_num(stats.mean)
    if aggregate == "count":
        variance = p * (1.0 - p)
    elif aggregate == "sum":
        variance = p * sigma**2 + p * (1.0 - p) * mean**2
    else:
        positives = float(np.dot(n, p))
        mu = float(np.dot(n, p * mean)) / positives if positives > 0 else 0.0
        variance = p * sigma**2 + p * (1.0 - p) * (mean - mu) ** 2
    return n * np.sqrt(np.maximum(variance, 0.0))


def allocate_stage2(
    weights: npt.ArrayLike, capacity: npt.ArrayLike, total: int
) -> npt.NDArray[np.int64]:
    """Split ``total`` draws among strata in proportion to ``weights``, capped.

    Integer shares come from the largest-remainder rule (ties to the lower
    stratum). A stratum never gets more than its ``capacity`` (records still
    unlabelled); what a cap cuts off is shared out again among the other strata
    in proportion to their weights. Strata with zero weight get draws only when
    every stratum with positive weight is full; then (or when all weights are
    zero) the rest is shared in proportion to remaining capacity.

    Args:
        weights: non-negative finite weights, shape ``(K,)``.
        capacity: non-negative ints, shape ``(K,)``.
        total: draws to allocate, ``>= 0``.

    Returns:
        int64 ``(K,)`` summing to ``min(total, capacity.sum())``, each ``<= capacity``.

    Raises:
        ValueError: mismatched shapes, negative or non-finite weights, negative
            capacity or total.

    Example:
        >>> allocate_stage2([1.0, 1.0, 2.0], [10, 1, 10], 8).tolist()
        [2, 1, 5]
    """
    w = np.asarray(weights, dtype=np.float64)
    cap = np.asarray(capacity, dtype=np.int64)
    if w.ndim != 1 or w.shape != cap.shape:
        raise ValueError(
            f"weights and capacity must be 1-D of the same length, got shapes {w.shape} "
            f"and {cap.shape}"
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights must be finite and non-negative, got {w.tolist()}")
    if (cap < 0).any():
        raise ValueError(f"capacity must be non-negative, got {cap.tolist()}")
    if total < 0:
        raise ValueError(f"total must be non-negative, got {total}")
    left = cap.copy()
    allocation = np.zeros_like(cap)
    remaining = int(min(total, int(cap.sum())))
    while remaining > 0:
        open_ = left > 0
        share = np.where(open_, w, 0.0)
        if share.sum() <= 0.0:
            share = left.astype(np.float64)
        give = _largest_remainder(share, remaining)
        give = np.minimum(give, left)
        if give.sum() == 0:  # rounding sent everything to full strata
            give[np.flatnonzero(left > 0)[0]] = 1
        allocation += give
        left -= give
        remaining -= int(give.sum())
    return allocation


def _largest_remainder(share: npt.NDArray[np.float64], total: int) -> npt.NDArray[np.int64]:
    """Integers proportional to ``share`` summing to ``total`` (``share.sum() > 0``)."""
    ideal = total * share / share.sum()
    whole: npt.NDArray[np.int64] = np.floor(ideal).astype(np.int64)
    short = total - int(whole.sum())
    if short > 0:
        fraction = np.where(share > 0, ideal - whole, -1.0)
        order = np.argsort(-fraction, kind="stable")
        whole[order[:short]] += 1
    return whole


def top_up_weights(
    weights: npt.ArrayLike, already: npt.ArrayLike, total: int
) -> npt.NDArray[np.float64]:
    """Stage-2 weights that make the *whole* sample Neyman-allocated (water-filling).

    Minimising ``Σ_k W_k² / (a_k + n_k)`` (the stratified variance with Neyman
    weights ``W_k = N_k S_k``) over stage-2 draws ``n_k >= 0`` with
    ``Σ n_k = total``, given ``a_k`` labels already drawn, gives totals
    ``a_k + n_k = λ W_k`` wherever ``λ W_k > a_k`` and ``n_k = 0`` elsewhere.
    This returns the continuous ``n_k`` (they sum to ``total``); feed them to
    :func:`allocate_stage2` for integers and caps. Stage-1 labels in a stratum
    thus count towards its share instead of being ignored, as plain
    proportional stage-2 weights would do.

    Args:
        weights: Neyman weights ``W_k >= 0``, shape ``(K,)``.
        already: labels already drawn per stratum, shape ``(K,)``.
        total: stage-2 draws to place.

    Returns:
        float64 ``(K,)``; all zero when ``weights`` are all zero or ``total`` is 0.

    Example:
        >>> top_up_weights([1.0, 1.0], [6, 0], 4).tolist()
        [0.0, 4.0]
        >>> top_up_weights([1.0, 1.0], [2, 0], 6).tolist()
        [2.0, 4.0]
    """
    w = np.asarray(weights, dtype=np.float64)
    a = np.asarray(already, dtype=np.float64)
    if w.shape != a.shape or w.ndim != 1:
        raise ValueError(
            f"weights and already must be 1-D of one length, got {w.shape} and {a.shape}"
        )
    if total <= 0 or not (w > 0).any():
        return np.zeros_like(w)
    positive = w > 0
    low, high = 0.0, float((total + a[positive].sum()) / w[positive].min())
    for _ in range(200):
        middle = 0.5 * (low + high)
        if np.maximum(middle * w - a, 0.0).sum() < total:
            low = middle
        else:
            high = middle
    deficits = np.maximum(high * w - a, 0.0)
    return np.asarray(deficits * (total / deficits.sum()), dtype=np.float64)
