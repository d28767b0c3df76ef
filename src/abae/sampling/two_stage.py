"""ABae: stratified two-stage sampling driven by a proxy score."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from abae.sampling.allocation import (
    shrunk_variances,
    stage1_sizes,
    stage2_draws,
    stage2_weights,
)
from abae.sampling.error_target import TARGET_PILOT_PER_STRATUM, PrecisionTarget, planned_labels
from abae.sampling.fresh_draws import draw_fresh
from abae.sampling.from_labels import estimate_from_labels
from abae.sampling.known_labels import KnownLabels
from abae.sampling.known_planning import KnownPlan, plan_known
from abae.sampling.labelling import LabelRecorder, Oracle
from abae.sampling.precision import neyman_shares
from abae.sampling.progress import ProgressCallback
from abae.sampling.result import Estimate
from abae.sampling.strata import Strata
from abae.sampling.stratified_sample import SampleBuilder
from abae.sampling.stratum_stats import StratumStats
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
    check_strata_count,
)

MIN_FRESH_STAGE1 = 2
"""Fresh stage-1 draws kept in every stratum however many known labels fall in it,
so that each stratum's variance is estimated from its own sample."""


def estimate(
    proxy_scores: npt.ArrayLike,
    oracle: Oracle,
    budget: int,
    *,
    aggregate: str = "avg",
    strata: int = 5,
    stage1_share: float = 0.4,
    allocation: str = "robust",
    confidence: float = 0.95,
    ci: str = "studentized",
    rng: RandomState = None,
    bootstrap_replicates: int = 1000,
    on_progress: ProgressCallback | None = None,
    known: KnownLabels | None = None,
    target: PrecisionTarget | None = None,
) -> Estimate:
    """Estimate an aggregate over the records where a predicate holds, with ABae.

    Records are ranked by ``proxy_scores`` and cut into ``strata`` equal-size
    strata (ties split at random). Stage 1 labels ``max(1, floor(C·budget/K))``
    records per stratum uniformly at random (``C = stage1_share``); stage 2
    spends the rest of the budget across strata by ``allocation``, on records
    not labelled in stage 1. All labels feed the estimate.

    With ``known`` labels (e.g. the pilot that trained the proxy, a uniform
    random sample), their records form a census stratum: left out of the proxy
    strata, never drawn again, their exact total added to the estimate. Placed
    in the strata by their cross-fitted ``scores``, they are free planning
    information: a stratum's stage-1 draws are reduced by the known labels in
    it (keeping at least two fresh draws), and they inform the stage-2
    allocation. Only fresh draws estimate a stratum, so the estimate stays
    unbiased given the allocation.

    With a ``target`` (``ERROR WITHIN``), ``budget`` is a cap: stage 1 is a
    small pilot (:data:`~abae.sampling.error_target.TARGET_PILOT_PER_STRATUM`
    per stratum, at most the usual share of the cap), from which the labels the
    target needs are planned once (:func:`~abae.sampling.error_target.planned_labels`,
    with an upper bound of the pilot's variance); stage 2 spends them, and the
    interval comes from all labels as for a fixed budget. The result's notes
    say how many labels were planned, and whether the cap cut them.

    The oracle is called once per stage (at most twice), each time with the
    int64 indices of every record to label in that stage; it never sees an
    index twice, and the total number of indices never exceeds ``budget``. The
    budget is spent in full unless every record gets labelled (then the answer
    is exact and its interval has zero width). A label may come back missing
    (a NaN predicate, or a NaN statistic on a positive): it is paid for, never
    redrawn, and treated as missing at random within its stratum.

    Args:
        proxy_scores: one finite score per record, shape ``(N,)``; higher means
            "more likely positive" (only the ranking matters).
        oracle: ``oracle(indices) -> (predicate, statistic)``, arrays of
            ``len(indices)``: bool (or 0/1, or 0/1/NaN floats with NaN for a
            missing label) and real numbers (NaN where the predicate is false or
            a positive's statistic is missing).
        budget: fresh oracle calls allowed (records to label), ``>= strata``;
            known labels do not count.
        aggregate: ``"avg"`` (mean statistic over positives), ``"sum"``
            (sum of the statistic over positives) or ``"count"`` (positives).
        strata: number of strata ``K`` (at most the records not known).
        stage1_share: share ``C`` of the budget spent in stage 1, in (0, 1]
            (the paper uses 0.5; 0.4 wastes less on strata without positives
            while still finding rare ones, see ``docs/statistics.md``).
        allocation: stage-2 rule: ``"robust"`` (the default: Neyman allocation
            for the chosen aggregate with each stratum's pilot variance shrunk
            towards the pooled one by its uncertainty, applied to the whole
            sample, see :func:`~abae.sampling.allocation.shrunk_variances`),
            ``"variance"`` (the same without shrinkage), ``"abae"`` (the paper's
            ``n_k ∝ √p_k σ_k`` for stage 2) or ``"proportional"``.
        confidence: the interval's coverage probability, in (0, 1).
        ci: ``"studentized"`` (the default: t quantiles at Satterthwaite degrees
            of freedom with a skewness correction), ``"bootstrap"`` (percentile
            bootstrap within strata), ``"bca"`` (bias-corrected accelerated
            bootstrap) or ``"normal"`` (linearised variance).
        rng: the source of every random choice: an int seed, a
            ``numpy.random.Generator``, or ``None`` for fresh entropy (not
            reproducible).
        bootstrap_replicates: replicates for the bootstrap intervals.
        on_progress: called with a :class:`~abae.sampling.progress.Progress`
            after every oracle batch.
        known: labels bought before sampling (see
            :class:`~abae.sampling.known_labels.KnownLabels`), or ``None``.
        target: the half-width to reach (``ERROR WITHIN``), or ``None`` to
            spend the whole budget.

    Returns:
        The :class:`~abae.sampling.result.Estimate`.

    Raises:
        ValueError: a bad argument or a malformed oracle answer; the message
            names the problem.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> scores = rng.random(10_000)
        >>> truth = rng.random(10_000) < scores
        >>> result = estimate(scores, lambda i: (truth[i], np.ones(len(i))), 500,
        ...                   aggregate="count", rng=1)
        >>> result.oracle_calls, bool(result.ci_low <= truth.sum() <= result.ci_high)
        (500, True)
    """
    scores = check_scores(proxy_scores)
    k = check_strata_count(strata, scores.shape[0])
    budget = check_budget(budget, k, f"one pilot label for each of the {k} strata")
    aggregate = check_choice(aggregate, "aggregate", AGGREGATES)
    allocation = check_choice(allocation, "allocation", ALLOCATIONS)
    ci = check_choice(ci, "ci", INTERVALS)
    share = check_share(stage1_share)
    confidence = check_confidence(confidence)
    replicates = check_positive_int(bootstrap_replicates, "bootstrap_replicates")
    generator = check_rng(rng)

    n_records = scores.shape[0]
    plan = plan_known(scores, known, k, generator)
    layout = plan.strata
    notes = list(plan.notes)
    free = layout.n_records
    if budget > free and target is None:
        notes.append(
            f"budget {budget} exceeds the {free} records left to label: every one was labelled once"
        )
    spend = min(budget, free)
    recorder = LabelRecorder(oracle, n_records, budget)
    running = SampleBuilder(layout.sizes, aggregate, plan.census)
    if len(layout):
        stages = _TwoStages(layout, recorder, running, generator, on_progress)
        pilot_budget = spend if target is None else _target_pilot(spend, share, len(layout))
        stage1 = _stage1_draws(pilot_budget, share if target is None else 1.0, layout, plan)
        stages.draw(stage1, 1)
        pilot = running.stats() if plan.placed is None else running.stats().plus(plan.placed)
        weights = stage2_weights(pilot, layout.sizes, aggregate, allocation)
        if allocation != "proportional" and not weights.any():
            notes.append(
                "stage 1 found no spread to allocate by (no positives, or no variation): "
                "stage 2 was allocated in proportion to the records left in each stratum"
            )
        if target is not None:
            spend = _spend_for_target(
                target, pilot, layout.sizes, weights, aggregate, allocation, confidence,
                plan, stages, stage1, spend, notes,
            )  # fmt: skip
        stage2_total = max(spend - int(stage1.sum()), 0)
        stages.draw(stage2_draws(weights, layout.sizes, stage1, stage2_total, allocation), 2)

    return estimate_from_labels(
        running.sample(),
        aggregate=aggregate,
        allocation=allocation,
        budget=budget,
        oracle_calls=recorder.calls,
        confidence=confidence,
        ci=ci,
        rng=generator,
        bootstrap_replicates=replicates,
        notes=notes,
        known=plan.known,
        known_placement=plan.placement,
    )


def _target_pilot(cap: int, share: float, k: int) -> int:
    """Stage-1 labels under a target: a small pilot, at most the usual share of the cap."""
    return max(k, min(int(share * cap), TARGET_PILOT_PER_STRATUM * k))


def _spend_for_target(
    target: PrecisionTarget,
    pilot: StratumStats,
    sizes: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64],
    aggregate: str,
    allocation: str,
    confidence: float,
    plan: KnownPlan,
    stages: _TwoStages,
    stage1: npt.NDArray[np.int64],
    cap: int,
    notes: list[str],
) -> int:
    """Total fresh labels to spend for ``target``, planned once from the pilot, capped."""
    variances = shrunk_variances(pilot, sizes, aggregate)
    shares = (
        neyman_shares(sizes, variances) if allocation != "proportional" else sizes / sizes.sum()
    )
    census = None if plan.census is None else plan.census[0]
    needed = planned_labels(pilot, sizes, variances, shares, aggregate, target, confidence, census)
    if target.extra is not None:
        indices, strata = stages.labelled()
        needed = max(needed, target.extra(indices, strata, sizes, shares))
    spent = int(stage1.sum())
    if not math.isfinite(needed):
        notes.append(
            f"error target: the {spent}-label pilot cannot tell how many labels the target "
            f"needs (too few positives); the whole cap of {cap} was spent"
        )
        return cap
    wanted = max(spent, math.ceil(needed))
    if wanted > cap:
        notes.append(
            f"error target: about {wanted} labels needed, but the cap is {cap}; raise ORACLE "
            "LIMIT to reach the target"
        )
        return cap
    notes.append(f"error target: {wanted} labels planned from a {spent}-label pilot (cap {cap})")
    return wanted


def _stage1_draws(
    spend: int, share: float, layout: Strata, plan: KnownPlan
) -> npt.NDArray[np.int64]:
    """Stage-1 draws per stratum: the usual pilot less the known labels placed in it.

    Every stratum keeps ``min(pilot, MIN_FRESH_STAGE1)`` fresh draws.
    """
    target = stage1_sizes(spend, share, layout.sizes)
    floor = np.minimum(target, MIN_FRESH_STAGE1)
    draws: npt.NDArray[np.int64] = np.minimum(
        np.maximum(target - plan.per_stratum, floor), layout.sizes
    ).astype(np.int64)
    return draws


class _TwoStages:
    """Draws fresh records stratum by stratum, labels them and keeps what was drawn."""

    def __init__(
        self,
        layout: Strata,
        recorder: LabelRecorder,
        running: SampleBuilder,
        rng: np.random.Generator,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.layout = layout
        self.recorder = recorder
        self.running = running
        self.rng = rng
        self.on_progress = on_progress
        self.drawn: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(len(layout))]
        self.labelled_parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []

    def draw(self, counts: npt.NDArray[np.int64], stage: int) -> None:
        """Draw ``counts[j]`` fresh records in each stratum ``j``, all labelled in one call."""
        chosen: list[npt.NDArray[np.int64]] = []
        for j, count in enumerate(counts.tolist()):
            parts = self.drawn[j]
            taken = np.concatenate(parts) if parts else np.empty(0, np.int64)
            positions = draw_fresh(int(self.layout.sizes[j]), taken, int(count), self.rng)
            parts.append(positions)
            chosen.append(self.layout.members[j][positions])
        indices = np.concatenate(chosen) if chosen else np.empty(0, np.int64)
        if indices.size == 0:
            return
        labels = self.recorder.label_records(indices)
        start = 0
        for j, part in enumerate(chosen):
            stop = start + part.size
            if part.size:
                self.running.add(
                    part,
                    labels.predicate[start:stop],
                    labels.statistic[start:stop],
                    j,
                    stage,
                    labels.missing[start:stop],
                )
            start = stop
        self.labelled_parts.append(
            (indices, np.repeat(np.arange(len(chosen)), [c.size for c in chosen]))
        )
        if self.on_progress is not None:
            self.recorder.report(stage, self.running.running_estimate(), self.on_progress)

    def labelled(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Every record drawn so far and its stratum, in drawing order."""
        if not self.labelled_parts:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return (
            np.concatenate([p[0] for p in self.labelled_parts]),
            np.concatenate([p[1] for p in self.labelled_parts]).astype(np.int64),
        )
