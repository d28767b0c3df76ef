"""GROUP BY an oracle output: one stratified sample serves every group (domain estimates)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from abae.sampling.allocation import allocate_stage2
from abae.sampling.error_target import PrecisionTarget, allowed_variance
from abae.sampling.group_allocation import (
    MIN_POSITIVES_FOR_COST,
    cell_variances,
    domain_variances,
    group_scale,
    group_weights,
    minimax_cell_allocation,
)
from abae.sampling.group_calibration import calibrate, planned_rates
from abae.sampling.group_cells import GroupCells, plan_cells
from abae.sampling.group_estimates import GroupEstimates, estimate_group
from abae.sampling.group_sampling import CellLabels, CellSampler
from abae.sampling.group_target import smallest_total, target_note, target_pilot
from abae.sampling.labelling import LabelRecorder, Oracle
from abae.sampling.progress import ProgressCallback
from abae.sampling.result import Estimate
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

__all__ = ["GroupEstimates", "estimate_groups", "predicted_blocks"]

TIE_BREAK = 1e-9
"""Weight of the summed group scores in a record's rank score (breaks ties of its highest)."""


def predicted_blocks(
    scores: Sequence[npt.NDArray[np.float64]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int]:
    """Blocks of records by the group they most likely belong to, and a rank score.

    A record's block is the group whose proxy scores it highest (ties to the
    first group); blocks that hold no record are dropped and the rest numbered
    ``0 .. B-1`` in group order. Inside its block a record is ranked by that
    highest score, the block's own proxy, as one group's ABae would; records
    whose highest score ties are ranked by the sum of all the group scores
    (with calibrated scores: the chance of being in any group), which enters
    the rank score scaled by :data:`TIE_BREAK`, far below any score difference
    that matters. With a single score array there is one block, ranked by it.

    Args:
        scores: one finite score array ``(N,)`` per group, on a common scale.

    Returns:
        ``(block, rank_score, B)``: int64 ``(N,)`` block ids, float64 ``(N,)``
        and the number of blocks.

    Example:
        >>> block, rank, n = predicted_blocks([np.array([0.9, 0.1, 0.5]), np.array([0.2, 0.3, 0.5])])
        >>> block.tolist(), np.round(rank, 6).tolist(), n
        ([0, 1, 0], [0.9, 0.3, 0.5], 2)
    """
    best = scores[0].copy()
    block = np.zeros(best.shape[0], dtype=np.int64)
    if len(scores) == 1:
        return block, best, 1
    total = scores[0].copy()
    for g, s in enumerate(scores[1:], start=1):
        higher = s > best
        best[higher] = s[higher]
        block[higher] = g
        total += s
    span = float(np.abs(total).max()) or 1.0
    present = np.bincount(block) > 0
    renumber = np.cumsum(present) - 1
    return renumber[block].astype(np.int64), best + TIE_BREAK * total / span, int(present.sum())


def estimate_groups(
    group_scores: Mapping[Any, npt.ArrayLike] | npt.ArrayLike,
    oracle: Oracle,
    budget: int,
    *,
    groups: Sequence[Hashable] | None = None,
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
    """Estimate an aggregate per group when the oracle tells the group (GROUP BY an oracle output).

    Group ``g`` is the set of records where the predicate holds and the
    oracle puts the record in ``g`` (e.g. ``GROUP BY vehicle_type(image)``).
    One stratified sample serves every group: every label counts for every
    group, as a domain estimate over all cells.

    - Cells: with one proxy per group, records go to the block of the group
      that scores them highest, and each block is cut into ``K_b`` strata by
      that group's score (:func:`predicted_blocks`); with one shared score
      array, the cells are its ``K`` strata.
    - Stage 1 splits ``max(B, floor(C·budget))`` labels equally among the
      ``B`` blocks and, inside a block, among its cells.
    - Stage 2 minimises the worst group's variance
      ``max_g Σ_c A_gc (1/n_c − 1/N_c)`` over the draws per cell
      (:func:`~abae.sampling.group_allocation.minimax_cell_allocation`), with
      ``A_gc = W_gc²`` from the pilot. ``"robust"`` (the default): the cell's
      rate of the group is planned from the group's proxy calibrated on the
      whole pilot (:mod:`~abae.sampling.group_calibration`), so that no cell's
      own pilot steers its stage 2 (which biases the estimate); its mean and
      spread are shrunk towards the group's
      (:func:`~abae.sampling.group_allocation.domain_variances`).
      ``"variance"``/``"abae"``: the cells' own pilot Neyman or paper weights.
      A group with fewer than 2 pilot positives is treated as uniform across
      cells and as hard as the hardest known group. ``"proportional"``
      allocates in proportion to size.
    - Group ``g`` is estimated from all labels with the predicate ``O·1[g]``:
      per cell ``p_gc`` and ``t_gc`` (means of ``O·1[g]`` and ``O·1[g]·f``), so
      COUNT ``= Σ N_c p_gc``, SUM ``= Σ N_c t_gc``, AVG = SUM / COUNT. The
      intervals come from the same machinery as :func:`abae.estimate`.

    With a ``target`` (``ERROR WITHIN``), ``budget`` is a cap and the target
    holds for every group seen in the pilot (or listed): stage 1 is a small
    pilot (:func:`~abae.sampling.group_target.target_pilot`); from it, each
    group's planned variance per cell is normalised by what its target allows
    (:func:`~abae.sampling.error_target.allowed_variance`, with an upper bound
    of the pilot's variance), stage 2 is the minimax allocation over those
    normalised weights, and the spend is the smallest at which it meets every
    group's target (:func:`~abae.sampling.group_target.smallest_total`), capped.
    ``warnings`` say how many labels were planned and whether the cap cut
    them. ``target.extra`` is called with the stage-1 labelled indices, their
    cells, the cell sizes and the planned share of each cell.

    The oracle is called once per stage, never sees an index twice and never
    more than ``budget`` indices in all.

    Args:
        group_scores: group key to that group's proxy scores ``(N,)`` (all the
            same length, on a common scale such as calibrated probabilities),
            or one shared score array ``(N,)``.
        oracle: ``oracle(indices) -> (predicate, statistic, group)``, arrays of
            ``len(indices)``; ``group`` holds each record's group key (compared
            with ``==``; ``None`` for records in no group).
        budget: oracle calls allowed, at least the number of blocks.
        groups: with one shared score array, the groups to report (default:
            every group the oracle returns for a positive). Not allowed with a
            mapping (its keys are the groups). A group the oracle returns
            that is not listed is still estimated, with a warning.
        aggregate, strata, stage1_share, allocation, confidence, ci,
        bootstrap_replicates: as for :func:`abae.estimate`.
        rng: an int seed, a ``numpy.random.Generator`` or ``None`` (fresh).
        on_progress: called after each oracle call (``running_estimate`` is NaN).
        target: the half-width every group's interval should reach
            (``ERROR WITHIN``), or ``None`` to spend the whole budget.

    Returns:
        The :class:`GroupEstimates`.

    Raises:
        ValueError: a bad argument or a malformed oracle answer.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> colour = rng.choice(np.array(["red", "blue", "none"], dtype=object), 20_000,
        ...                     p=[0.1, 0.2, 0.7])
        >>> red, blue = rng.random((2, 20_000))
        >>> red[colour == "red"] += 1.0
        >>> blue[colour == "blue"] += 1.0
        >>> value = rng.normal(np.where(colour == "red", 3.0, 8.0), 1.0)
        >>> oracle = lambda i: (colour[i] != "none", value[i], colour[i])
        >>> result = estimate_groups({"red": red, "blue": blue}, oracle, 1000, rng=0)
        >>> result.oracle_calls, round(result["red"].estimate), round(result["blue"].estimate)
        (1000, 3, 8)
    """
    keys, arrays = _check_group_scores(group_scores, groups)
    n_records = arrays[0].shape[0]
    k = check_positive_int(strata, "strata")
    aggregate = check_choice(aggregate, "aggregate", AGGREGATES)
    allocation = check_choice(allocation, "allocation", ALLOCATIONS)
    ci = check_choice(ci, "ci", INTERVALS)
    share = check_share(stage1_share)
    confidence = check_confidence(confidence)
    replicates = check_positive_int(bootstrap_replicates, "bootstrap_replicates")
    generator = check_rng(rng)

    block, rank_score, n_blocks = predicted_blocks(arrays)
    budget = check_budget(budget, n_blocks, f"one label for each of the {n_blocks} score blocks")
    notes: list[str] = []
    if budget > n_records and target is None:
        notes.append(
            f"budget {budget} exceeds the {n_records} records: every record was labelled once"
        )
    spend = min(budget, n_records)
    pilot_total = None if target is None else target_pilot(spend, share, k * n_blocks, n_blocks)
    plan = plan_cells(rank_score, block, n_blocks, spend, k, share, generator, pilot_total)
    cells = plan.cells
    recorder = LabelRecorder(oracle, n_records, budget, with_groups=True)
    sampler = CellSampler(cells, recorder, generator)
    sampler.draw(plan.stage1, 1, on_progress)

    labels = sampler.labels()
    known = list(keys) if keys is not None else _discover(labels, [])
    in_group = _group_positions(labels, known)
    weights = _pilot_weights(labels, in_group, len(known), cells, arrays, aggregate, allocation)
    costs = weights.sum(axis=1) ** 2 if known else np.empty(0)
    variance_weights = weights**2
    target_notes: list[str] = []
    if target is not None:
        shared = _SharedTarget(labels, in_group, known, cells, arrays, aggregate, allocation)
        spend, variance_weights, note = shared.spend(
            target, confidence, variance_weights, sampler.labelled, spend, n_records
        )
        target_notes.append(note)
    stage2_total = spend - int(plan.stage1.sum())
    draws, mix = _stage2_draws(variance_weights, sampler.labelled, cells, stage2_total, allocation)
    sampler.draw(allocate_stage2(draws, sampler.room, stage2_total), 2, on_progress)

    labels = sampler.labels()
    reported = _discover(labels, known)
    in_group = _group_positions(labels, reported)
    warnings = _pilot_warnings(known, costs) + target_notes
    if keys is not None and len(reported) > len(known):
        warnings.append(
            f"the oracle returned groups {reported[len(known) :]} that have no proxy score; "
            "they are estimated from the same sample all the same"
        )
    estimates: dict[Hashable, Estimate] = {}
    for g, key in enumerate(reported):
        positive = labels.predicate & (in_group == g)
        scores = _scores_of(arrays, g)
        estimates[key] = estimate_group(
            labels.sample(cells.sizes, positive=positive),
            aggregate=aggregate,
            allocation=allocation,
            budget=budget,
            confidence=confidence,
            ci=ci,
            rng=generator,
            bootstrap_replicates=replicates,
            notes=notes,
            unseen_rates=None
            if scores is None
            else _calibrated_rates(labels, positive, cells, scores),
        )
    return GroupEstimates(
        estimates=estimates,
        shares={key: float(mix[g]) if g < len(known) else 0.0 for g, key in enumerate(reported)},
        costs={
            key: float(costs[g]) if g < len(known) else np.nan for g, key in enumerate(reported)
        },
        oracle_calls=recorder.calls,
        budget=budget,
        warnings=warnings,
    )


def _stage2_draws(
    variance_weights: npt.NDArray[np.float64],
    labelled: npt.NDArray[np.int64],
    cells: GroupCells,
    total: int,
    allocation: str,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Continuous stage-2 draws per cell ``(C,)`` and the groups' weights ``λ`` ``(G,)``.

    The minimax allocation over ``A_gc = variance_weights`` (stage-1 labels
    count), or, for ``"proportional"`` or without any group, draws in
    proportion to the cell sizes and equal weights.
    """
    n_groups = variance_weights.shape[0]
    if allocation == "proportional" or n_groups == 0:
        even = np.full(max(n_groups, 1), 1.0 / max(n_groups, 1))
        return np.asarray(cells.sizes, dtype=np.float64), even
    return minimax_cell_allocation(variance_weights, labelled, cells.sizes, total)


class _SharedTarget:
    """Plans an error target over cells every group shares (see :mod:`~abae.sampling.group_target`)."""

    def __init__(
        self,
        labels: CellLabels,
        in_group: npt.NDArray[np.int64],
        known: list[Hashable],
        cells: GroupCells,
        arrays: list[npt.NDArray[np.float64]],
        aggregate: str,
        allocation: str,
    ) -> None:
        self.labels = labels
        self.in_group = in_group
        self.known = known
        self.cells = cells
        self.arrays = arrays
        self.aggregate = aggregate
        self.allocation = allocation

    def spend(
        self,
        target: PrecisionTarget,
        confidence: float,
        variance_weights: npt.NDArray[np.float64],
        labelled: npt.NDArray[np.int64],
        cap: int,
        n_records: int,
    ) -> tuple[int, npt.NDArray[np.float64], str]:
        """Labels to spend, the stage-2 variance weights to allocate by, and the note.

        Group ``g``'s planned variance weights are ``B_gc = N_c² S̃_gc² / Q_g``
        (robust planning variances ``S̃``; ``Q_g`` the variance its target
        allows). Stage 2 allocates by ``B`` (``"robust"``) or by the rule's own
        weights normalised by ``Q_g``; the spend is the smallest at which that
        allocation brings every ``Σ_c B_gc (1/m_c − 1/N_c)`` to 1 or below.
        """
        cells, pilot = self.cells, int(labelled.sum())
        sizes = cells.sizes.astype(np.float64)
        planned = np.empty((len(self.known), len(cells)))
        allowed = np.empty(len(self.known))
        rescale = np.empty(len(self.known))
        for g in range(len(self.known)):
            positive = self.labels.predicate & (self.in_group == g)
            stats = self.labels.cell_stats(len(cells), positive)
            scores = _scores_of(self.arrays, g)
            assert scores is not None  # every planned group has a proxy
            variances = domain_variances(
                stats, cells.sizes, self.aggregate, _calibrated_rates(
                    self.labels, positive, cells, scores
                )
            )  # fmt: skip
            allowed[g] = allowed_variance(stats, cells.sizes, self.aggregate, target, confidence)
            planned[g] = sizes**2 * variances / allowed[g]
            rescale[g] = group_scale(stats, cells.sizes, self.aggregate) ** 2 / allowed[g]
        unknown = [key for key, q in zip(self.known, allowed.tolist(), strict=True) if not q > 0]
        if unknown or not self.known:
            spend, note = target_note(math.inf, pilot, cap, unknown)
            return spend, variance_weights, note
        if self.allocation == "robust":
            allocate_by = planned
        else:
            allocate_by = variance_weights * rescale[:, None]

        def draws_for(total: int) -> npt.NDArray[np.float64]:
            draws, _ = _stage2_draws(allocate_by, labelled, cells, total, self.allocation)
            if self.allocation == "proportional":  # stage 2 alone in proportion, capped
                room = (cells.sizes - labelled).astype(np.float64)
                return np.asarray(np.minimum(draws / draws.sum() * total, room), np.float64)
            return draws

        wanted = float(smallest_total(planned, labelled, cells.sizes, draws_for, n_records))
        if target.extra is not None:
            counts = labelled + draws_for(int(wanted) - pilot)
            shares = counts / counts.sum()
            wanted = max(
                wanted, target.extra(self.labels.indices, self.labels.cell, cells.sizes, shares)
            )
        spend, note = target_note(wanted, pilot, cap, [])
        return spend, allocate_by, note


def _check_group_scores(
    group_scores: Any, groups: Sequence[Hashable] | None
) -> tuple[list[Hashable] | None, list[npt.NDArray[np.float64]]]:
    """The group keys (``None``: to be discovered) and the score arrays."""
    if isinstance(group_scores, Mapping):
        if groups is not None:
            raise ValueError(
                "groups is only for one shared score array; with a mapping of scores its keys "
                "are the groups"
            )
        if not group_scores:
            raise ValueError("group_scores is empty: give one proxy score array per group")
        keys = list(group_scores)
        arrays = [check_scores(s, f"group_scores[{key!r}]") for key, s in group_scores.items()]
        lengths = {key: a.shape[0] for key, a in zip(keys, arrays, strict=True)}
        if len(set(lengths.values())) != 1:
            raise ValueError(
                f"every group needs one score per record; the lengths differ: {lengths}"
            )
        return keys, arrays
    arrays = [check_scores(group_scores, "group_scores")]
    if groups is None:
        return None, arrays
    keys = list(groups)
    if len(set(keys)) != len(keys):
        raise ValueError(f"groups repeats a key: {keys}")
    return keys, arrays


def _hashable_groups(labels: CellLabels) -> list[Hashable]:
    assert labels.groups is not None
    values = labels.groups.tolist()
    for value in values:
        try:
            hash(value)
        except TypeError:
            raise ValueError(
                f"the oracle returned the group {value!r} ({type(value).__name__}), which "
                "cannot be a group key; return strings, numbers or tuples"
            ) from None
    return values  # type: ignore[no-any-return]


def _discover(labels: CellLabels, known: list[Hashable]) -> list[Hashable]:
    """``known`` followed by the other groups the oracle returned for positives."""
    values = _hashable_groups(labels)
    seen = set(known)
    fresh = {
        value
        for value, positive in zip(values, labels.predicate.tolist(), strict=True)
        if positive and value is not None and value not in seen
    }
    try:
        extra = sorted(fresh)  # type: ignore[type-var]
    except TypeError:
        extra = sorted(fresh, key=repr)
    return [*known, *extra]


def _group_positions(labels: CellLabels, keys: list[Hashable]) -> npt.NDArray[np.int64]:
    """The position in ``keys`` of each label's group, -1 for none of them."""
    index = {key: g for g, key in enumerate(keys)}
    values = _hashable_groups(labels)
    return np.fromiter((index.get(v, -1) for v in values), np.int64, len(values))


def _pilot_weights(
    labels: CellLabels,
    in_group: npt.NDArray[np.int64],
    n_groups: int,
    cells: GroupCells,
    arrays: list[npt.NDArray[np.float64]],
    aggregate: str,
    allocation: str,
) -> npt.NDArray[np.float64]:
    """Per-group cell weights ``W_gc``, float64 ``(G, C)``, from the pilot.

    ``"robust"``: ``N_c S̃_gc`` over the group's scale, with the cell's rate
    planned from the group's calibrated proxy
    (:mod:`~abae.sampling.group_calibration`) and its mean and spread shrunk
    towards the group's (:func:`~abae.sampling.group_allocation.domain_variances`).
    ``"variance"`` and ``"abae"``: the cell pilots' own Neyman or paper
    weights (:func:`~abae.sampling.group_allocation.group_weights`).

    A group without a usable pilot gets proportional weights, scaled so that
    its variance under proportional allocation equals the largest of the
    known groups' (1 when none is known).
    """
    weights = np.empty((n_groups, len(cells)))
    for g in range(n_groups):
        scores = arrays[g] if len(arrays) > 1 else arrays[0]
        weights[g] = _one_group_weights(labels, in_group == g, cells, scores, aggregate, allocation)
    return _fill_unknown_weights(weights, cells, labels.indices.size)


def _one_group_weights(
    labels: CellLabels,
    mine: npt.NDArray[np.bool_],
    cells: GroupCells,
    scores: npt.NDArray[np.float64],
    aggregate: str,
    allocation: str,
) -> npt.NDArray[np.float64]:
    """One group's ``W_gc`` ``(C,)`` (NaN when its pilot is too thin)."""
    positive = labels.predicate & mine
    stats = labels.cell_stats(len(cells), positive)
    if allocation != "robust":
        return group_weights(stats, cells.sizes, aggregate, allocation)
    scale = group_scale(stats, cells.sizes, aggregate)
    if int(stats.positives.sum()) < MIN_POSITIVES_FOR_COST or not np.isfinite(scale):
        return np.full(len(cells), np.nan)
    usable = ~labels.missing
    fit = calibrate(scores, labels.indices[usable], positive[usable])
    rates = planned_rates(fit, scores, cells, slice(0, len(cells)))
    variances = domain_variances(stats, cells.sizes, aggregate, rates)
    return np.asarray(cells.sizes * np.sqrt(variances) / scale, dtype=np.float64)


def _fill_unknown_weights(
    weights: npt.NDArray[np.float64], cells: GroupCells, pilot_size: int
) -> npt.NDArray[np.float64]:
    unknown = ~np.isfinite(weights).all(axis=1)
    if not unknown.any():
        return weights
    sizes = cells.sizes.astype(np.float64)
    proportional = sizes / sizes.sum() * max(pilot_size, 1)
    known = cell_variances(weights[~unknown] ** 2, proportional, cells.sizes)
    target = float(known.max(initial=0.0))
    plain = float(cell_variances((sizes**2)[None, :], proportional, cells.sizes)[0])
    scale = np.sqrt(target / plain) if target > 0 and plain > 0 else 1.0
    filled = weights.copy()
    filled[unknown] = sizes * scale
    return filled


def _scores_of(arrays: list[npt.NDArray[np.float64]], group: int) -> npt.NDArray[np.float64] | None:
    """Group ``group``'s proxy scores: the shared array, its own, or ``None`` (it has none)."""
    if len(arrays) == 1:
        return arrays[0]
    return arrays[group] if group < len(arrays) else None


def _calibrated_rates(
    labels: CellLabels,
    positive: npt.NDArray[np.bool_],
    cells: GroupCells,
    scores: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """The group's rate in each cell from its proxy calibrated on every label, ``(C,)``.

    The interval's floor for a cell without a positive of the group: the
    group's calibrated chance averaged over the cell's records
    (:mod:`~abae.sampling.group_calibration`), instead of a pseudo-count that
    is several times the domain's variance where the group is rare.
    """
    usable = ~labels.missing
    fit = calibrate(scores, labels.indices[usable], positive[usable])
    return planned_rates(fit, scores, cells, slice(0, len(cells)))


def _pilot_warnings(keys: list[Hashable], costs: npt.NDArray[np.float64]) -> list[str]:
    unknown = [key for key, cost in zip(keys, costs.tolist(), strict=True) if not np.isfinite(cost)]
    if not unknown:
        return []
    return [
        f"groups {unknown} had fewer than 2 positives in the pilot: their error could not be "
        "estimated, so the allocation treats them as the hardest group"
    ]
