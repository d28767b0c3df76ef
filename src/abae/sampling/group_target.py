"""``ERROR WITHIN`` for GROUP BY: the labels every group's estimate needs for the target.

The design is the staged one of :func:`abae.estimate` (see
:mod:`abae.sampling.error_target`): a small pilot
(:data:`~abae.sampling.error_target.TARGET_PILOT_PER_STRATUM` labels per
cell, at most the usual stage-1 share of the cap), a plan made once from it
with an upper confidence bound of its variance, then a stage 2 that spends
the plan, capped by the budget. The target holds for each reported group:

- **Cheap column** (each group owns its cells): group ``g`` needs ``n_g``
  labels over its cells (:func:`~abae.sampling.error_target.planned_labels`
  with its within-group shares). Its variance relative to its target is about
  ``n_g / m_g`` with ``m_g`` labels, so the allocation that makes the worst
  group meet its target with the fewest labels gives each group ``n_g``
  (minimax shares ``∝ n_g``), ``Σ_g n_g`` in all (:func:`column_totals`).
  Under the cap the groups keep shares ``∝ n_g``.
- **Oracle output** (every group shares every cell): group ``g`` meets its
  target when ``Σ_c B_gc (1/m_c − 1/N_c) <= 1`` with ``B_gc = N_c² S_gc² / Q_g``
  (``Q_g`` the variance its target allows,
  :func:`~abae.sampling.error_target.allowed_variance`). The minimax
  allocation over these normalised weights is the one that meets every
  target with the fewest labels; the total is the smallest spend at which it
  does (:func:`smallest_total`, by bisection).

A group whose pilot cannot tell what it needs (too few of its positives) makes
the whole cap spent, as for :func:`abae.estimate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import numpy.typing as npt

from abae.sampling.allocation import shrunk_variances
from abae.sampling.error_target import (
    TARGET_PILOT_PER_STRATUM,
    PrecisionTarget,
    planned_labels,
)
from abae.sampling.group_allocation import cell_variances
from abae.sampling.stratum_stats import stratum_stats


def target_pilot(cap: int, share: float, cells: int, blocks: int) -> int:
    """Stage-1 labels under a target: :data:`TARGET_PILOT_PER_STRATUM` per cell, at most
    the usual stage-1 share of the cap, at least one per group (or block).

    Example:
        >>> target_pilot(100_000, 0.5, 15, 3), target_pilot(300, 0.5, 15, 3)
        (600, 150)
    """
    return max(blocks, min(int(share * cap), TARGET_PILOT_PER_STRATUM * cells))


def column_totals(
    needed: npt.ArrayLike, pilot: npt.ArrayLike, group_sizes: npt.ArrayLike
) -> npt.NDArray[np.int64]:
    """Labels per group for the target: ``clip(ceil(n_g), pilot_g, N_g)``, int64 ``(G,)``.

    Args:
        needed: labels each group needs, float ``(G,)``, all finite.
        pilot: stage-1 labels per group, ``(G,)``.
        group_sizes: records per group ``N_g``, ``(G,)``.

    Example:
        >>> column_totals([120.2, 10.0, 5000.0], [40, 40, 40], [1000, 1000, 800]).tolist()
        [121, 40, 800]
    """
    need = np.ceil(np.asarray(needed, dtype=np.float64) - 1e-9)
    low = np.asarray(pilot, dtype=np.int64)
    high = np.asarray(group_sizes, dtype=np.int64)
    return np.clip(need, low, high).astype(np.int64)


def smallest_total(
    variance_weights: npt.NDArray[np.float64],
    labelled: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    draws_for: Callable[[int], npt.NDArray[np.float64]],
    high: int,
) -> int:
    """The smallest spend whose allocation brings every group's planned variance to at most 1.

    Group ``g``'s planned variance is ``Σ_c B_gc (1/(a_c + d_c) − 1/N_c)`` with the
    stage-2 draws ``d = draws_for(spend − Σ a)``; it does not grow with the spend,
    so a bisection over ``[Σ a, high]`` finds the smallest spend that meets every
    target (``high`` when none below does: labelling every record does).

    Args:
        variance_weights: ``B_gc = N_c² S_gc² / Q_g``, float ``(G, C)``.
        labelled: stage-1 labels per cell ``a_c``, ``(C,)``.
        sizes: cell sizes ``N_c``, ``(C,)``.
        draws_for: stage-2 total to continuous draws per cell ``(C,)``.
        high: the largest spend to consider (every record, for a plan that may
            exceed the cap).

    Example:
        >>> weights = np.array([[4000.0, 0.0], [0.0, 1000.0]])
        >>> even = lambda total: np.full(2, total / 2)
        >>> smallest_total(weights, np.array([10, 10]), np.array([10**6, 10**6]), even, 10**6)
        7969
    """
    low = int(np.sum(labelled))

    def worst(spend: int) -> float:
        counts = np.maximum(labelled + draws_for(spend - low), 1e-12)
        return float(cell_variances(variance_weights, counts, sizes).max(initial=0.0))

    if worst(low) <= 1.0:
        return low
    if worst(high) > 1.0:
        return high
    lo, hi = low, high  # worst(lo) > 1 >= worst(hi)
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if worst(middle) <= 1.0:
            hi = middle
        else:
            lo = middle
    return hi


def target_note(
    needed: float, pilot: int, cap: int, unknown: Sequence[Hashable]
) -> tuple[int, str]:
    """The labels to spend for a plan of ``needed`` labels under ``cap``, and the note saying so.

    Args:
        needed: labels the plan asks for (stage 1 included); ``inf`` when the
            pilot could not tell.
        pilot: the stage-1 labels already spent.
        cap: the budget.
        unknown: the groups whose pilot could not tell (for the note).
    """
    if not math.isfinite(needed):
        which = f" (groups {list(unknown)})" if unknown else ""
        return cap, (
            f"error target: the {pilot}-label pilot cannot tell how many labels every group "
            f"needs (too few positives{which}); the whole cap of {cap} was spent"
        )
    wanted = max(pilot, math.ceil(needed - 1e-9))
    if wanted > cap:
        return cap, (
            f"error target: about {wanted} labels needed for every group to meet the target, "
            f"but the cap is {cap}; raise ORACLE LIMIT to reach it"
        )
    return wanted, (
        f"error target: {wanted} labels planned from a {pilot}-label pilot so that every group "
        f"meets the target (cap {cap})"
    )


def domain_planned_labels(
    cell: npt.NDArray[np.int64],
    positive_by_group: npt.NDArray[np.bool_],
    statistic: npt.NDArray[np.float64],
    missing: npt.NDArray[np.bool_],
    sizes: npt.NDArray[np.int64],
    shares: npt.NDArray[np.float64],
    aggregate: str,
    target: PrecisionTarget,
    confidence: float,
    cells_by_group: npt.NDArray[np.bool_] | None = None,
) -> float:
    """Labels a GROUP BY needs for every group's ``aggregate`` to meet ``target`` (the largest
    over groups), from stage-1 labels and planned shares of the cells.

    For a caller's :data:`~abae.sampling.error_target.ExtraPlanner` under GROUP
    BY (e.g. the other aggregates of a query): group ``g``'s estimate is the
    domain estimate with predicate ``positive_by_group[g]`` over its cells, planned
    with :func:`~abae.sampling.allocation.shrunk_variances` (cells not in
    increasing proxy order) and :func:`~abae.sampling.error_target.planned_labels`.

    Args:
        cell: the cell of each stage-1 label, int64 ``(n,)``.
        positive_by_group: whether each label is a positive of each group, bool ``(G, n)``.
        statistic: each label's statistic for ``aggregate``, float ``(n,)``.
        missing: labels whose predicate is missing, bool ``(n,)``.
        sizes: cell sizes ``N_c``, ``(C,)``.
        shares: the planned shares of the labels per cell, ``(C,)``.
        aggregate: ``"avg"``, ``"sum"`` or ``"count"``.
        target: the target (its ``extra`` is ignored).
        confidence: the interval's coverage.
        cells_by_group: the cells each group's estimate covers, bool ``(G, C)``
            (a cheap column: the group's own cells); ``None``: every cell.

    Returns:
        The labels (``inf`` when some group's pilot cannot tell).
    """
    needed = 0.0
    n_cells = sizes.shape[0]
    for g in range(positive_by_group.shape[0]):
        mine = np.ones(n_cells, np.bool_) if cells_by_group is None else cells_by_group[g]
        rows = mine[cell]
        renumber = np.cumsum(mine) - 1
        stats = stratum_stats(
            renumber[cell[rows]],
            positive_by_group[g][rows],
            statistic[rows],
            int(mine.sum()),
            missing[rows],
        )
        own_sizes = sizes[mine]
        variances = shrunk_variances(stats, own_sizes, aggregate, increasing=False)
        own_shares = shares[mine]
        total = float(own_shares.sum())
        if total <= 0:
            return math.inf
        labels = planned_labels(
            stats, own_sizes, variances, own_shares / total, aggregate, target, confidence
        )
        needed = max(needed, labels / total)
    return needed
