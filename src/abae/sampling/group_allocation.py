"""GROUP BY allocation: share the budget so that the worst group's error is smallest.

A group's estimate has variance ``V_g = Σ_c A_gc (1/n_c − 1/N_c)`` when ``n_c``
of cell ``c``'s ``N_c`` records are labelled, where ``A_gc = W_gc²`` and
``W_gc`` is the cell's Neyman weight for that group (``N_c S_gc``, divided by
the group's scale: ``Σ_c N_c p_gc`` for AVG, the group's estimated total for
SUM and COUNT, so that those balance relative errors).

- Groups of a cheap column own disjoint cells, and with Neyman allocation
  inside a group ``V_g ≈ c_g / n_g`` with ``c_g = (Σ_c W_gc)²``
  (:func:`group_cost`). The worst group's error ``max_g c_g / n_g`` is
  smallest when ``n_g ∝ c_g`` (:func:`minimax_shares`); labels already drawn
  count towards ``n_g`` (water-filling, :func:`capped_water_fill`).
- Groups of an oracle output share every cell. :func:`minimax_cell_allocation`
  solves ``min_n max_g V_g(n)`` through its dual: for group weights ``λ`` the
  best ``n`` is Neyman allocation for ``Σ_g λ_g A_gc``; ``λ`` is found by
  exponentiated-gradient ascent.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abae.sampling.allocation import capped_water_fill, stage2_weights
from abae.sampling.stratum_stats import StratumStats

MIN_POSITIVES_FOR_COST = 2
"""A group whose pilot holds fewer positives has an unknown error constant."""


def minimax_shares(costs: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Budget shares ``x_g`` minimising ``max_g c_g / x_g`` subject to ``Σ x_g = 1``.

    The worst group's error ``c_g / x_g`` is smallest when all are equal, so
    ``x_g = c_g / Σ c`` (closed form). All-zero costs give equal shares.

    Args:
        costs: non-negative finite costs, shape ``(G,)``.

    Returns:
        float64 ``(G,)`` summing to 1.

    Example:
        >>> minimax_shares([1.0, 3.0]).tolist()
        [0.25, 0.75]
    """
    c = np.asarray(costs, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"costs must be a non-empty 1-D array, got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError(f"costs must be finite and non-negative, got {c.tolist()}")
    total = float(c.sum())
    if total == 0.0:
        return np.full(c.size, 1.0 / c.size)
    return c / total


def group_scale(stats: StratumStats, sizes: npt.NDArray[np.int64], aggregate: str) -> float:
    """What a group's standard error is measured against (NaN when unknown).

    AVG: the estimated number of positives ``Σ_c N_c p_c`` (the ratio
    estimator's linearisation divides by it), so AVG errors stay absolute.
    SUM and COUNT: the absolute estimated total, so groups with small totals
    are not drowned by large ones: their relative errors are balanced.
    """
    n = sizes.astype(np.float64)
    if aggregate == "sum":
        total = abs(float(np.dot(n, np.nan_to_num(stats.mean_of_product))))
    else:
        total = float(np.dot(n, np.nan_to_num(stats.p)))
    return total if total > 0 and int(stats.positives.sum()) > 0 else float("nan")


def group_weights(
    stats: StratumStats, sizes: npt.NDArray[np.int64], aggregate: str, allocation: str
) -> npt.NDArray[np.float64]:
    """A group's per-cell weights ``W_gc``, float64 ``(C,)``; NaN where unknown.

    The stage-2 weights of the rule :func:`abae.estimate` uses (Neyman
    ``N_c S_c`` for ``"variance"``, regularised for ``"robust"`` and
    ``"proportional"``, the paper's ``N_c √p_c σ_c`` for ``"abae"``), divided
    by :func:`group_scale`. All NaN when the pilot holds fewer than
    :data:`MIN_POSITIVES_FOR_COST` positives of the group.
    """
    rule = "robust" if allocation == "proportional" else allocation
    scale = group_scale(stats, sizes, aggregate)
    if int(stats.positives.sum()) < MIN_POSITIVES_FOR_COST or not np.isfinite(scale):
        return np.full(sizes.shape[0], np.nan)
    return stage2_weights(stats, sizes, aggregate, rule) / scale


def domain_variances(
    stats: StratumStats,
    sizes: npt.NDArray[np.int64],
    aggregate: str,
    rates: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Planning variances ``S̃_c²`` of a group's linearised residual per cell, shape ``(C,)``.

    The group's rate in each cell is the planned ``rates`` (e.g. from its
    calibrated proxy, :mod:`~abae.sampling.group_calibration`); its mean is
    shrunk towards the group's pooled mean by one positive and its spread
    towards the pooled spread by two degrees of freedom (as in
    :func:`~abae.sampling.allocation.shrunk_variances`). Then
    ``S̃² = p̃σ̃² + p̃(1 − p̃)(m̃ − c)²`` (``c``: the group's AVG for AVG, 0 for
    SUM) and ``p̃(1 − p̃)`` for COUNT.
    """
    rate = np.clip(rates, 0.0, 1.0)
    if aggregate == "count":
        return np.asarray(rate * (1.0 - rate), dtype=np.float64)
    b = stats.measured_positives.astype(np.float64)
    total = float(b.sum())
    pooled_mean = float(stats.sum_f.sum() / total) if total else 0.0
    pooled_var = (
        float(max(stats.sum_f2.sum() - total * pooled_mean**2, 0.0) / (total - 1.0))
        if total > 1
        else 0.0
    )
    variance = np.nan_to_num(stats.std) ** 2
    df = np.maximum(b - 1.0, 0.0)
    spread = (df * variance + 2.0 * pooled_var) / (df + 2.0)
    centre = (b * np.nan_to_num(stats.mean) + pooled_mean) / (b + 1.0)
    if aggregate == "avg":
        weight = sizes * rate
        centre = centre - float(np.dot(weight, centre) / weight.sum())
    return np.asarray(rate * spread + rate * (1.0 - rate) * centre**2, dtype=np.float64)


def group_cost(
    stats: StratumStats, sizes: npt.NDArray[np.int64], aggregate: str, allocation: str
) -> float:
    """A group's error constant ``c_g`` from its pilot: variance ≈ ``c_g / n_g``.

    ``(Σ_c W_gc)²`` with the weights of :func:`group_weights` (Neyman inside
    the group), or ``N_g Σ_c W_gc² / N_c`` for ``"proportional"``. With
    ``"abae"`` and equal strata, for AVG, this is the paper's
    ``(Σ√p_kσ_k)²/(Σp_k)²``. NaN when unknown (see :func:`group_weights`).
    """
    weights = group_weights(stats, sizes, aggregate, allocation)
    if allocation == "proportional":
        return float(sizes.sum() * np.sum(weights**2 / sizes))
    return float(weights.sum() ** 2)


def cell_variances(
    variance_weights: npt.NDArray[np.float64],
    labelled: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Each group's variance ``Σ_c A_gc (1/n_c − 1/N_c)``, float64 ``(G,)``.

    Args:
        variance_weights: ``A_gc = W_gc²``, shape ``(G, C)``.
        labelled: labels per cell ``n_c > 0``, shape ``(C,)`` (may be fractional).
        sizes: cell sizes ``N_c``, shape ``(C,)``.
    """
    inverse = np.maximum(1.0 / labelled - 1.0 / sizes, 0.0)
    return np.asarray(variance_weights @ inverse, dtype=np.float64)


def minimax_cell_allocation(
    variance_weights: npt.ArrayLike,
    already: npt.ArrayLike,
    sizes: npt.ArrayLike,
    total: int,
    iterations: int = 500,
    tolerance: float = 1e-3,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Draws per cell minimising the worst group's variance, when groups share cells.

    Minimises ``max_g Σ_c A_gc (1/(a_c + n_c) − 1/N_c)`` over ``n_c >= 0``,
    ``a_c + n_c <= N_c``, ``Σ n_c = total``. For a mixture ``λ`` of groups,
    the best ``n`` is Neyman allocation (:func:`capped_water_fill`) with
    weights ``√(Σ_g λ_g A_gc)``; ``λ`` maximises the resulting (concave) dual
    and is found by exponentiated-gradient ascent (step ``2/√t`` on the
    variances relative to the largest), which moves weight to the groups
    whose variance is largest. Candidates are each best response and their
    running average (which converges to the minimax draws, ``V`` being
    convex); it stops when the best candidate's worst-group variance is
    within ``tolerance`` (relative) of the dual's lower bound, and returns
    that candidate. With one group this is plain Neyman allocation.

    Args:
        variance_weights: ``A_gc >= 0``, shape ``(G, C)``.
        already: labels already drawn ``a_c``, shape ``(C,)``, each at least 1
            where ``A_gc > 0`` for some group.
        sizes: cell sizes ``N_c``, shape ``(C,)``.
        total: draws to place.
        iterations: at most this many ascent steps.
        tolerance: relative gap between the worst variance and the dual bound
            at which to stop.

    Returns:
        ``(draws, group_weights)``: continuous draws float64 ``(C,)`` summing
        to ``min(total, Σ(N_c − a_c))``, and the mixture ``λ`` float64 ``(G,)``
        summing to 1 (the weight each group had in the allocation).

    Example:
        >>> draws, mix = minimax_cell_allocation([[1.0, 0.0], [0.0, 4.0]], [1, 1], [100, 100], 8)
        >>> np.round(draws, 1).tolist(), np.round(mix, 1).tolist()
        ([1.1, 6.9], [0.2, 0.8])
    """
    a_matrix = np.atleast_2d(np.asarray(variance_weights, dtype=np.float64))
    a = np.asarray(already, dtype=np.float64)
    n_cells = np.asarray(sizes, dtype=np.int64)
    n_groups = a_matrix.shape[0]
    mix = np.full(n_groups, 1.0 / n_groups)
    if not (a_matrix > 0).any() or total <= 0:
        neutral = capped_water_fill(np.zeros(a.shape[0]), a, n_cells, total)
        return neutral, mix
    best_draws = np.zeros(a.shape[0])
    best_worst, best_dual = np.inf, 0.0
    best_mix = mix
    running = np.zeros(a.shape[0])
    for step in range(1, iterations + 1):
        draws = capped_water_fill(np.sqrt(mix @ a_matrix), a, n_cells, total)
        variances = cell_variances(a_matrix, np.maximum(a + draws, 1e-12), n_cells)
        # weak duality: Σ λ_g V_g at the best response is a lower bound of the optimum
        best_dual = max(best_dual, float(mix @ variances))
        # the average of the best responses converges to the minimax draws (V is convex)
        running += draws
        for candidate in (draws, running / step):
            worst = float(cell_variances(a_matrix, np.maximum(a + candidate, 1e-12), n_cells).max())
            if worst < best_worst:
                best_draws, best_worst, best_mix = candidate, worst, mix
        if best_worst <= 0.0 or best_worst - best_dual <= tolerance * best_worst:
            break
        top = float(variances.max())
        mix = mix * np.exp(2.0 / np.sqrt(step) * (variances / top - 1.0))
        mix /= mix.sum()
    return best_draws, best_mix
