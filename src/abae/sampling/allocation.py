"""How many records each stratum gets: stage-1 split and stage-2 allocation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abae.sampling.estimators import residual_moments
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

    - ``"robust"``: Neyman weights ``N_k S̃_k`` from pilot quantities each
      shrunk towards the pooled one by how much the pilot shows the strata
      to differ (:func:`shrunk_variances`): proportional allocation when the
      proxy carries no information, Neyman's when the pilot is clear.
    - ``"variance"``: Neyman allocation ``N_k S_k`` for the chosen aggregate,
      where ``S_k²`` is the within-stratum variance of the estimator's
      linearised residual: AVG ``p σ² + p(1−p)(m−μ)²`` (μ the pilot AVG),
      SUM ``p σ² + p(1−p) m²``, COUNT ``p(1−p)``.
    - ``"abae"``: the paper's ``N_k √p_k σ_k``.
    - ``"proportional"``: ``N_k`` (plain stratified sampling).

    Undefined pilot quantities (no positive, one positive) count as 0 except
    in ``"robust"``. All-zero weights are handled by :func:`allocate_stage2`
    (proportional fallback).
    """
    n = sizes.astype(np.float64)
    if allocation == "proportional":
        return n
    if allocation == "robust":
        return n * np.sqrt(shrunk_variances(stats, sizes, aggregate))
    p = np.nan_to_num(stats.p)
    sigma = np.nan_to_num(stats.std)
    if allocation == "abae":
        return n * np.sqrt(p) * sigma
    return n * np.sqrt(np.maximum(_residual_variance(stats, sizes, aggregate, p)[0], 0.0))


def _residual_variance(
    stats: StratumStats,
    sizes: npt.NDArray[np.int64],
    aggregate: str,
    rate: npt.NDArray[np.float64],
    shaped: bool = False,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(μ2, μ4)`` per stratum: the linearised residual's variance and fourth moment.

    ``rate`` is the positive rate to use; ``shaped`` takes the statistic's third
    and fourth moments from the data (otherwise a normal shape).
    """
    k = sizes.shape[0]
    if aggregate == "count":
        zeros = np.zeros(k)
        mu2, _, mu4 = residual_moments(rate, np.ones(k), zeros, zeros, zeros)
        return mu2, mu4
    p = np.nan_to_num(stats.p)
    mean = stats.mean
    weight = np.where(np.isfinite(mean), sizes * p, 0.0)
    pooled = float(np.dot(weight, np.nan_to_num(mean)) / weight.sum()) if weight.sum() else 0.0
    mean = np.where(np.isfinite(mean), mean, pooled)
    v2, v3, v4 = stats.central_moments()
    if not shaped:
        v2 = np.where(stats.measured_positives > 1, v2, 0.0)
        v3, v4 = np.zeros(k), 3.0 * v2**2
    offset = mean - pooled if aggregate == "avg" else mean
    mu2, _, mu4 = residual_moments(rate, offset, v2, v3, v4)
    return mu2, mu4


RATE_PSEUDO_COUNT = 0.1
"""Positives and negatives added to each stratum's (monotone) pilot rate by the robust rule."""


def increasing_fit(values: npt.ArrayLike, weights: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The weighted least-squares non-decreasing fit of ``values`` (pool adjacent violators).

    Args:
        values: shape ``(K,)``.
        weights: non-negative, shape ``(K,)``; a block of zero total weight keeps
            the plain mean of its values.

    Returns:
        float64 ``(K,)``, non-decreasing.

    Example:
        >>> increasing_fit([0.1, 0.3, 0.2, 0.5], [1, 1, 1, 1]).tolist()
        [0.1, 0.25, 0.25, 0.5]
    """
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    blocks: list[tuple[float, float, float, int]] = []  # weighted sum, weight, plain sum, count
    for value, weight in zip(v.tolist(), w.tolist(), strict=True):
        blocks.append((value * weight, weight, value, 1))
        while len(blocks) > 1 and _block_mean(blocks[-2]) > _block_mean(blocks[-1]):
            later, earlier = blocks.pop(), blocks.pop()
            blocks.append(
                (
                    earlier[0] + later[0],
                    earlier[1] + later[1],
                    earlier[2] + later[2],
                    earlier[3] + later[3],
                )
            )
    fitted: list[float] = []
    for block in blocks:
        fitted += [_block_mean(block)] * block[3]
    return np.array(fitted, dtype=np.float64)


def _block_mean(block: tuple[float, float, float, int]) -> float:
    weighted, weight, plain, count = block
    return weighted / weight if weight > 0 else plain / count


def _james_stein(statistic: float, df: int) -> float:
    """``max(0, 1 − df/X²)``: the share of a spread ``X²`` (``~ χ²_df`` without one) that is real."""
    return max(0.0, 1.0 - df / statistic) if statistic > 0 and df > 0 else 0.0


def shrunk_variances(
    stats: StratumStats,
    sizes: npt.NDArray[np.int64],
    aggregate: str,
    *,
    rate_pseudo: float = RATE_PSEUDO_COUNT,
    increasing: bool = True,
) -> npt.NDArray[np.float64]:
    """Planning variances ``S̃_k²`` of the robust allocation, shape ``(K,)``.

    Each pilot quantity is regularised on its own, by what the pilot shows:

    - rate: the non-decreasing fit of ``p̂_k`` (weights ``n_k``; strata are in
      increasing proxy order, so a useful proxy's rates increase and noise that
      breaks the order is pooled), then ``p̃_k = (n_k p_k + h)/(n_k + 2h)``
      with ``h = rate_pseudo``, so that no rate is exactly 0 or 1;
    - spread: ``σ̃_k² = λ_σ σ̂_k² + (1 − λ_σ) σ̄²`` towards the pooled
      within-stratum variance ``σ̄²``, with ``λ_σ = max(0, 1 − (K' − 1)/B)``
      the James-Stein factor of Bartlett's statistic ``B`` over the ``K'``
      strata with at least two measured positives (``σ̄²`` in the others);
    - mean: ``m̃_k = λ_m m̂_k + (1 − λ_m) m̄`` with ``λ_m`` the James-Stein
      factor of the between-strata statistic ``Σ b_k (m̂_k − m̄)² / σ̃_k²``;

    then ``S̃_k² = p̃σ̃² + p̃(1 − p̃)(m̃ − c)²`` (``c`` the pilot AVG for AVG,
    0 for SUM) or ``p̃(1 − p̃)`` for COUNT. When the proxy carries no
    information every factor is near 0 and the allocation near proportional;
    when the pilot is clear it is Neyman's. A stratum whose pilot saw no or
    one positive is neither starved nor trusted.

    Args:
        stats: the pilot's statistics by stratum.
        sizes: stratum sizes ``N_k``.
        aggregate: ``"avg"``, ``"sum"`` or ``"count"``.
        rate_pseudo: ``h`` above.
        increasing: fit the rates non-decreasing (False when the strata are not
            in increasing proxy order).
    """
    n = stats.labelled.astype(np.float64)
    a = stats.positives.astype(np.float64)
    raw = np.where(n > 0, a / np.maximum(n, 1.0), 0.0)
    fitted = increasing_fit(raw, n) if increasing else raw
    rate = (n * fitted + rate_pseudo) / (n + 2.0 * rate_pseudo)
    if aggregate == "count":
        return np.asarray(rate * (1.0 - rate), dtype=np.float64)
    spread, centre = _shrunk_spread_and_mean(stats)
    if aggregate == "avg":
        weight = sizes * rate
        offset = centre - float(np.dot(weight, centre) / weight.sum())
    else:
        offset = centre
    return np.asarray(rate * spread + rate * (1.0 - rate) * offset**2, dtype=np.float64)


def _shrunk_spread_and_mean(
    stats: StratumStats,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-stratum spread ``σ̃²`` and mean ``m̃`` of :func:`shrunk_variances`."""
    b = stats.measured_positives.astype(np.float64)
    mean = np.nan_to_num(stats.mean)
    variance = np.nan_to_num(stats.std) ** 2
    total = float(b.sum())
    pooled_mean = float(stats.sum_f.sum() / total) if total else 0.0
    df = np.maximum(b - 1.0, 0.0)
    usable = (b >= 2) & (variance > 0)
    if usable.any():
        pooled_variance = float(np.dot(df[usable], variance[usable]) / df[usable].sum())
    elif total > 1:
        centred = stats.sum_f2.sum() - total * pooled_mean**2
        pooled_variance = float(max(centred, 0.0) / (total - 1.0))
    else:
        pooled_variance = 0.0
    counted = int(usable.sum())
    spread_factor = 0.0
    if counted >= 2 and pooled_variance > 0:
        nu = df[usable]
        correction = 1.0 + (np.sum(1.0 / nu) - 1.0 / nu.sum()) / (3.0 * (counted - 1))
        logs = nu.sum() * np.log(pooled_variance) - np.dot(nu, np.log(variance[usable]))
        spread_factor = _james_stein(float(logs / correction), counted - 1)
    spread = np.where(
        usable, spread_factor * variance + (1.0 - spread_factor) * pooled_variance, pooled_variance
    )
    seen = b >= 1
    mean_factor = 0.0
    if seen.sum() >= 2 and pooled_variance > 0:
        grand = float(np.dot(b[seen], mean[seen]) / b[seen].sum())
        between = float(np.sum(b[seen] * (mean[seen] - grand) ** 2 / spread[seen]))
        mean_factor = _james_stein(between, int(seen.sum()) - 1)
    centre = np.where(seen, mean_factor * mean + (1.0 - mean_factor) * pooled_mean, pooled_mean)
    return spread, centre


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
    # Σ max(λ w_k − a_k, 0) is piecewise linear in λ with breakpoints a_k / w_k:
    # walk them in order until the strata opened so far absorb ``total``.
    positive = np.flatnonzero(w > 0)
    order = positive[np.argsort(a[positive] / w[positive], kind="stable")]
    level = 0.0
    for count in range(1, order.size + 1):
        opened = order[:count]
        level = (total + float(a[opened].sum())) / float(w[opened].sum())
        if count == order.size or level <= a[order[count]] / w[order[count]]:
            break
    deficits = np.maximum(level * w - a, 0.0)
    return np.asarray(deficits * (total / deficits.sum()), dtype=np.float64)


def capped_water_fill(
    weights: npt.ArrayLike, already: npt.ArrayLike, sizes: npt.ArrayLike, total: float
) -> npt.NDArray[np.float64]:
    """Continuous draws ``n_c`` minimising ``Σ_c w_c² / (a_c + n_c)``, capped at ``N_c``.

    The optimum fills each cell up to ``a_c + n_c = clip(τ w_c, a_c, N_c)``
    for the level ``τ`` that spends ``total`` (exact, one sort). Cells with
    zero weight get draws only when every cell with weight is full, then in
    proportion to their room. Labels already drawn count: a cell that already
    holds its share gets nothing.

    Args:
        weights: ``w_c >= 0``, shape ``(C,)``.
        already: labels already drawn ``a_c``, shape ``(C,)``.
        sizes: cell sizes ``N_c >= a_c``, shape ``(C,)``.
        total: draws to place, ``>= 0``.

    Returns:
        float64 ``(C,)``, each in ``[0, N_c - a_c]``, summing to
        ``min(total, Σ (N_c - a_c))``; feed it to
        :func:`~abae.sampling.allocation.allocate_stage2` for integers.

    Example:
        >>> capped_water_fill([1.0, 1.0, 2.0], [4, 0, 0], [10, 10, 3], 9).tolist()
        [1.0, 5.0, 3.0]
    """
    w = np.asarray(weights, dtype=np.float64)
    a = np.asarray(already, dtype=np.float64)
    room = np.asarray(sizes, dtype=np.float64) - a
    out = np.zeros_like(w)
    if total <= 0:
        return out
    if total >= room.sum():
        return np.maximum(room, 0.0)
    active = (w > 0) & (room > 0)
    if room[active].sum() <= total:
        out[active] = room[active]
        others = ~active & (room > 0)
        out[others] = (total - room[active].sum()) * room[others] / room[others].sum()
        return out
    out[active] = _fill_to_level(w[active], a[active], room[active], total)
    return out


def _fill_to_level(
    w: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    room: npt.NDArray[np.float64],
    total: float,
) -> npt.NDArray[np.float64]:
    """``clip(τ w − a, 0, room)`` for the level ``τ`` where it sums to ``total`` (exact).

    The sum is piecewise linear in ``τ``: cell ``c`` starts filling at
    ``a_c / w_c`` and is full at ``(a_c + room_c) / w_c``. A binary search over
    those breakpoints, summing the clipped draws at each probe, brackets ``τ``
    between two neighbours, where the sum is linear. Summing at the probes
    (rather than accumulating slope changes) keeps it exact when the weights
    span many orders of magnitude: a running sum of slopes loses the small
    weights to rounding and can even turn negative.
    Requires ``w > 0``, ``room > 0`` and ``0 < total < Σ room``.
    """
    starts = a / w
    points = np.unique(np.concatenate([starts, (a + room) / w]))

    def filled(level: float) -> float:
        return float(np.clip(level * w - a, 0.0, room).sum())

    low, high = 0, points.size - 1  # filled(points[0]) = 0 < total < filled(points[-1])
    while high - low > 1:
        middle = (low + high) // 2
        if filled(points[middle]) < total:
            low = middle
        else:
            high = middle
    below, above = filled(points[low]), filled(points[high])
    step = points[high] - points[low]
    level = (
        points[low] + (total - below) * step / (above - below) if above > below else points[high]
    )
    draws = np.clip(level * w - a, 0.0, room)
    if draws.sum() <= 0.0:  # a total too small to move the level off the first breakpoint
        draws = np.where(starts == starts.min(), w, 0.0)
    return np.asarray(draws * (total / draws.sum()), dtype=np.float64)


TOP_UP_RULES = ("variance", "robust")
"""Rules whose weights are Neyman weights for the whole sample: stage-1 labels count towards them."""


def stage2_draws(
    weights: npt.ArrayLike,
    sizes: npt.ArrayLike,
    labelled: npt.ArrayLike,
    total: int,
    allocation: str,
) -> npt.NDArray[np.int64]:
    """Stage-2 draws per stratum: the one rule :func:`abae.estimate` and GROUP BY share.

    With ``"variance"`` and ``"robust"`` the weights are Neyman weights for the
    whole sample, so stage 2 tops each stratum up towards its share of it, the
    labels already drawn counting, by water-filling with the caps
    (:func:`capped_water_fill`: a stratum that fills up passes the rest on at
    the same level, so none is topped up past another that has room); with
    ``"abae"`` and ``"proportional"`` stage 2 alone is split by the weights.
    Either way the integer draws come from :func:`allocate_stage2`, capped at
    the records left unlabelled in each stratum.

    Args:
        weights: the rule's stage-2 weights (e.g. :func:`stage2_weights`),
            non-negative, shape ``(K,)``.
        sizes: stratum sizes ``N_k``, shape ``(K,)``.
        labelled: records already drawn per stratum (stage 1), shape ``(K,)``,
            each at most its size.
        total: stage-2 draws to place, ``>= 0``.
        allocation: ``"robust"``, ``"variance"``, ``"abae"`` or ``"proportional"``.

    Returns:
        int64 ``(K,)`` summing to ``min(total, Σ (N_k − labelled_k))``.

    Example:
        >>> stage2_draws([1.0, 1.0], [100, 100], [30, 0], 30, "robust").tolist()
        [0, 30]
        >>> stage2_draws([1.0, 1.0], [100, 100], [30, 0], 30, "abae").tolist()
        [15, 15]
    """
    already = np.asarray(labelled, dtype=np.int64)
    share = np.asarray(weights, dtype=np.float64)
    if allocation in TOP_UP_RULES:
        share = capped_water_fill(share, already, sizes, total)
    return allocate_stage2(share, np.asarray(sizes, dtype=np.int64) - already, total)
