"""GROUP BY a cheap column: cells of group × proxy stratum, minimax budget across groups."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from abae.sampling.allocation import (
    allocate_stage2,
    capped_water_fill,
    shrunk_variances,
    stage2_draws,
    stage2_weights,
)
from abae.sampling.error_target import PrecisionTarget, planned_labels
from abae.sampling.group_allocation import (
    MIN_POSITIVES_FOR_COST,
    domain_variances,
    group_cost,
    group_scale,
)
from abae.sampling.group_calibration import calibrate, planned_rates
from abae.sampling.group_cells import GroupCells, plan_cells
from abae.sampling.group_estimates import GroupEstimates, estimate_group
from abae.sampling.group_sampling import CellLabels, CellSampler
from abae.sampling.group_target import column_totals, target_note, target_pilot
from abae.sampling.labelling import LabelRecorder, Oracle
from abae.sampling.precision import neyman_shares
from abae.sampling.progress import ProgressCallback
from abae.sampling.result import Estimate
from abae.sampling.stratum_stats import StratumStats, stratum_stats
from abae.sampling.validation import (
    AGGREGATES,
    ALLOCATIONS,
    INTERVALS,
    RandomState,
    check_budget,
    check_choice,
    check_confidence,
    check_positive_int,
    check_rng,
    check_scores,
    check_share,
)


def check_group_codes(group_codes: Any, n_records: int) -> tuple[npt.NDArray[np.integer], int]:
    """Return ``group_codes`` as an integer array ``(N,)`` and the number of groups ``G``.

    Raises:
        ValueError: not integers, not one code per record, a negative code, or
            a code in ``0 .. G-1`` that no record has.
    """
    codes = np.asarray(group_codes)
    if codes.dtype == np.bool_ or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(
            f"group_codes must be integers 0..G-1 (one group id per record), got dtype "
            f"{codes.dtype}; map the column's values with "
            "codes = numpy.unique(values, return_inverse=True)[1]"
        )
    if codes.shape != (n_records,):
        raise ValueError(
            f"group_codes must have one code per record, shape ({n_records},), got shape "
            f"{codes.shape}"
        )
    low = int(codes.min())
    if low < 0:
        raise ValueError(f"group_codes must be non-negative group ids, got {low}")
    counts = np.bincount(codes)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(
            f"groups {empty[:10].tolist()} have no record (codes run 0..{counts.size - 1}); "
            "number the groups that occur 0..G-1, e.g. with "
            "codes = numpy.unique(values, return_inverse=True)[1]"
        )
    return codes, int(counts.size)


def estimate_by_group(
    proxy_scores: npt.ArrayLike,
    group_codes: npt.ArrayLike,
    oracle: Oracle,
    budget: int,
    *,
    aggregate: str = "avg",
    strata: int = 5,
    stage1_share: float = 0.5,
    allocation: str = "robust",
    confidence: float = 0.95,
    ci: str = "studentized",
    rng: RandomState = None,
    bootstrap_replicates: int = 1000,
    on_progress: ProgressCallback | None = None,
    target: PrecisionTarget | None = None,
) -> GroupEstimates:
    """Estimate an aggregate for every group of a cheap column (GROUP BY), with ABae.

    The groups are known before any oracle call, so each group is stratified
    on its own: its records are cut into ``K_g`` equal-size proxy strata
    (cells; ``K_g = min(K, N_g, floor(pilot_g / 2))``, see
    :func:`~abae.sampling.group_cells.strata_per_group`).

    - Stage 1 splits ``max(G, floor(C·budget))`` labels equally among groups
      (capped at their size) and, inside a group, equally among its cells.
    - Stage 2: each group's error constant ``c_g`` sets its total labels
      ``n_g ∝ c_g`` (water-filling: stage-1 labels count, a group already
      past its share gets nothing), which minimises the worst group's error
      ``max_g c_g / n_g``. A group whose pilot holds fewer than 2 positives
      gets the largest constant of any group. Inside a group, stage 2 is
      placed over cells as :func:`abae.estimate` places it over strata; with
      ``"robust"`` (the default) each cell's planning rate comes from the
      group's proxy calibrated on the group's whole pilot
      (:mod:`~abae.sampling.group_calibration`) rather than from the cell's
      own pilot, which would bias a rare group's COUNT.
    - Each group is estimated from its own cells with their exact sizes;
      intervals come from the same machinery as :func:`abae.estimate` (a
      COUNT interval never goes below the positives already seen).

    With a ``target`` (``ERROR WITHIN``), ``budget`` is a cap and the target
    holds for every group: stage 1 is a small pilot
    (:func:`~abae.sampling.group_target.target_pilot`), from which each group's
    labels ``n_g`` are planned once
    (:func:`~abae.sampling.error_target.planned_labels`, with an upper bound of
    the pilot's variance); stage 2 gives each group its ``n_g`` (shares
    ``∝ n_g`` under the cap), and the intervals come from all labels as for a
    fixed budget. ``warnings`` say how many labels were planned and whether the
    cap cut them. ``target.extra`` is called with the stage-1 labelled
    indices, their cells, the cell sizes and the planned share of each cell.

    The oracle is called once per stage with all that stage's records; it
    never sees an index twice, and never more than ``budget`` in all.

    Args:
        proxy_scores: finite proxy score per record, shape ``(N,)``.
        group_codes: group id of each record, ints ``0 .. G-1`` ``(N,)``, every
            id used (e.g. ``numpy.unique(column, return_inverse=True)[1]``).
        oracle: ``oracle(indices) -> (predicate, statistic)`` as for
            :func:`abae.estimate`.
        budget: oracle calls allowed, at least ``G``.
        aggregate, strata, stage1_share, allocation, confidence, ci,
        bootstrap_replicates: as for :func:`abae.estimate` (``strata`` is
            ``K``, per group).
        rng: an int seed, a ``numpy.random.Generator`` or ``None`` (fresh).
        on_progress: called after each oracle call (``running_estimate`` is NaN).
        target: the half-width every group's interval should reach
            (``ERROR WITHIN``), or ``None`` to spend the whole budget.

    Returns:
        The :class:`GroupEstimates`, keyed by group code ``0 .. G-1``.

    Raises:
        ValueError: a bad argument or a malformed oracle answer.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> scores = rng.random(30_000)
        >>> codes = rng.integers(0, 3, 30_000)
        >>> positive = rng.random(30_000) < scores
        >>> value = codes + rng.normal(10.0, 1.0, 30_000)
        >>> result = estimate_by_group(scores, codes, lambda i: (positive[i], value[i]), 900,
        ...                            rng=0)
        >>> result.oracle_calls, sorted(result.estimates)
        (900, [0, 1, 2])
        >>> [round(result[g].estimate) for g in range(3)]
        [10, 11, 12]
    """
    scores = check_scores(proxy_scores)
    codes, n_groups = check_group_codes(group_codes, scores.shape[0])
    k = check_positive_int(strata, "strata")
    budget = check_budget(budget, n_groups, f"one label for each of the {n_groups} groups")
    aggregate = check_choice(aggregate, "aggregate", AGGREGATES)
    allocation = check_choice(allocation, "allocation", ALLOCATIONS)
    ci = check_choice(ci, "ci", INTERVALS)
    share = check_share(stage1_share)
    confidence = check_confidence(confidence)
    replicates = check_positive_int(bootstrap_replicates, "bootstrap_replicates")
    generator = check_rng(rng)

    n_records = scores.shape[0]
    notes: list[str] = []
    if budget > n_records and target is None:
        notes.append(
            f"budget {budget} exceeds the {n_records} records: every record was labelled once"
        )
    spend = min(budget, n_records)
    pilot_total = None if target is None else target_pilot(spend, share, k * n_groups, n_groups)
    plan = plan_cells(scores, codes, n_groups, spend, k, share, generator, pilot_total)
    cells, pilot = plan.cells, plan.pilot
    group_sizes = cells.group_sizes
    sampler = CellSampler(cells, LabelRecorder(oracle, n_records, budget), generator)
    sampler.draw(plan.stage1, 1, on_progress)

    pilot_labels = sampler.labels()
    plans = [
        _plan_group(pilot_labels, cells, g, scores, aggregate, allocation) for g in range(n_groups)
    ]
    costs = np.array([cost for _, cost in plans])
    warnings, costs_used = _fill_unknown_costs(costs)
    if target is not None:
        spend, costs_used, note = _spend_for_target(
            target, pilot_labels, cells, plans, pilot, spend, aggregate, allocation, confidence,
            costs_used,
        )  # fmt: skip
        warnings.append(note)
    stage2_total = spend - int(pilot.sum())
    group_room = group_sizes - pilot
    stage2_groups = allocate_stage2(
        capped_water_fill(costs_used, pilot, group_sizes, stage2_total), group_room, stage2_total
    )
    stage2 = np.zeros(len(cells), dtype=np.int64)
    for g in range(n_groups):
        mine = cells.cells_of(g)
        stage2[mine] = stage2_draws(
            plans[g][0],
            cells.sizes[mine],
            sampler.labelled[mine],
            int(stage2_groups[g]),
            allocation,
        )
    sampler.draw(stage2, 2, on_progress)

    labels = sampler.labels()
    group_of_label = cells.group[labels.cell]
    estimates: dict[Any, Estimate] = {}
    for g in range(n_groups):
        mine = cells.cells_of(g)
        estimates[g] = estimate_group(
            labels.sample(cells.sizes[mine], keep=group_of_label == g, first_cell=mine.start),
            aggregate=aggregate,
            allocation=allocation,
            budget=budget,
            confidence=confidence,
            ci=ci,
            rng=generator,
            bootstrap_replicates=replicates,
            notes=notes,
        )
    shares = stage2_groups / max(stage2_total, 1)
    return GroupEstimates(
        estimates=estimates,
        shares={g: float(shares[g]) for g in range(n_groups)},
        costs={g: float(costs[g]) for g in range(n_groups)},
        oracle_calls=int(labels.indices.size),
        budget=budget,
        warnings=warnings,
    )


def _group_stats(labels: CellLabels, cells: GroupCells, group: int) -> StratumStats:
    """Statistics ``(K_g,)`` of the labels in ``group``'s cells."""
    mine = cells.cells_of(group)
    keep = cells.group[labels.cell] == group
    return stratum_stats(
        labels.cell[keep] - mine.start,
        labels.predicate[keep],
        labels.statistic[keep],
        mine.stop - mine.start,
        labels.missing[keep],
    )


def _fill_unknown_costs(
    costs: npt.NDArray[np.float64],
) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Unknown costs (NaN) become the largest known one (1 when none is known)."""
    unknown = ~np.isfinite(costs)
    if not unknown.any():
        return [], costs
    largest = float(costs[~unknown].max(initial=0.0))
    filled = np.where(unknown, largest if largest > 0 else 1.0, costs)
    warning = (
        f"groups {np.flatnonzero(unknown).tolist()} had fewer than 2 positives in their pilot: "
        "their error could not be estimated, so each gets the largest share of any group"
    )
    return [warning], filled


def _spend_for_target(
    target: PrecisionTarget,
    labels: CellLabels,
    cells: GroupCells,
    plans: list[tuple[npt.NDArray[np.float64], float]],
    pilot: npt.NDArray[np.int64],
    cap: int,
    aggregate: str,
    allocation: str,
    confidence: float,
    costs: npt.NDArray[np.float64],
) -> tuple[int, npt.NDArray[np.float64], str]:
    """Labels to spend for every group's ``target``, the groups' stage-2 weights, and the note.

    Group ``g`` needs ``n_g`` labels over its cells
    (:func:`~abae.sampling.error_target.planned_labels`, with the planning
    variances of its stage-2 rule and its within-group shares); each group gets
    ``n_g`` (at least its pilot), so the water-filling weights become ``n_g``.
    When some group cannot tell, or the cap cuts the plan, the whole cap is
    spent (shares ``∝ n_g`` when every group can tell, else the usual costs).
    """
    n_groups = cells.n_groups
    needed = np.empty(n_groups)
    shares: list[npt.NDArray[np.float64]] = []
    for g in range(n_groups):
        mine = cells.cells_of(g)
        sizes = cells.sizes[mine]
        stats = _group_stats(labels, cells, g)
        if allocation == "robust":
            variances = (plans[g][0] / sizes) ** 2
        else:
            variances = shrunk_variances(stats, sizes, aggregate)
        within = (
            neyman_shares(sizes, variances) if allocation != "proportional" else sizes / sizes.sum()
        )
        shares.append(within)
        needed[g] = planned_labels(stats, sizes, variances, within, aggregate, target, confidence)
    unknown = np.flatnonzero(~np.isfinite(needed)).tolist()
    if unknown:
        spend, note = target_note(math.inf, int(pilot.sum()), cap, unknown)
        return spend, costs, note
    totals = column_totals(needed, pilot, cells.group_sizes)
    wanted = float(totals.sum())
    if target.extra is not None:
        cell_shares = np.concatenate([totals[g] * shares[g] for g in range(n_groups)]) / wanted
        wanted = max(wanted, target.extra(labels.indices, labels.cell, cells.sizes, cell_shares))
    spend, note = target_note(wanted, int(pilot.sum()), cap, [])
    return spend, totals.astype(np.float64), note


def _plan_group(
    labels: CellLabels,
    cells: GroupCells,
    group: int,
    scores: npt.NDArray[np.float64],
    aggregate: str,
    allocation: str,
) -> tuple[npt.NDArray[np.float64], float]:
    """A group's stage-2 weights per cell ``(K_g,)`` and its error constant ``c_g``.

    ``"robust"``: Neyman weights ``N_c S̃_c`` with the cell's rate planned from
    the group's calibrated proxy (:mod:`~abae.sampling.group_calibration`) and
    its mean and spread shrunk towards the group's
    (:func:`~abae.sampling.group_allocation.domain_variances`), so a cell's
    own pilot steers its stage 2 only through numbers shared by every cell;
    ``c_g = (Σ_c N_c S̃_c)² / scale²``. Other rules: the single-aggregate
    stage-2 weights and :func:`~abae.sampling.group_allocation.group_cost`.
    ``c_g`` is NaN when the group's pilot holds fewer than 2 positives.
    """
    mine = cells.cells_of(group)
    sizes = cells.sizes[mine]
    stats = _group_stats(labels, cells, group)
    if allocation != "robust":
        return stage2_weights(stats, sizes, aggregate, allocation), group_cost(
            stats, sizes, aggregate, allocation
        )
    in_group = (cells.group[labels.cell] == group) & ~labels.missing
    fit = calibrate(scores, labels.indices[in_group], labels.predicate[in_group])
    rates = planned_rates(fit, scores, cells, mine)
    weights = sizes * np.sqrt(domain_variances(stats, sizes, aggregate, rates))
    scale = group_scale(stats, sizes, aggregate)
    known = int(stats.positives.sum()) >= MIN_POSITIVES_FOR_COST and np.isfinite(scale)
    cost = float(weights.sum() / scale) ** 2 if known else float("nan")
    return np.asarray(weights, dtype=np.float64), cost
