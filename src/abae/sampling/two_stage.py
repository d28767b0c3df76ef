"""ABae: stratified two-stage sampling driven by a proxy score."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abae.sampling.allocation import (
    allocate_stage2,
    stage1_sizes,
    stage2_weights,
    top_up_weights,
)
from abae.sampling.fresh_draws import draw_fresh
from abae.sampling.from_labels import estimate_from_labels
from abae.sampling.labelling import LabelRecorder, Oracle
from abae.sampling.progress import ProgressCallback
from abae.sampling.result import Estimate
from abae.sampling.strata import make_strata
from abae.sampling.stratified_sample import SampleBuilder
from abae.sampling.validation import (
    AGGREGATES,
    ALLOCATIONS,
    INTERVALS,
    check_budget,
    check_choice,
    check_confidence,
    check_positive_int,
    check_scores,
    check_share,
    check_strata_count,
)


def estimate(
    proxy_scores: npt.ArrayLike,
    oracle: Oracle,
    budget: int,
    *,
    aggregate: str = "avg",
    strata: int = 5,
    stage1_share: float = 0.5,
    allocation: str = "variance",
    confidence: float = 0.95,
    ci: str = "bootstrap",
    rng: np.random.Generator | None = None,
    bootstrap_replicates: int = 1000,
    on_progress: ProgressCallback | None = None,
) -> Estimate:
    """Estimate an aggregate over the records where a predicate holds, with ABae.

    Records are ranked by ``proxy_scores`` and cut into ``strata`` equal-size
    strata (ties split at random). Stage 1 labels ``max(1, floor(C·budget/K))``
    records per stratum uniformly at random (``C = stage1_share``); stage 2
    spends the rest of the budget across strata by ``allocation``, on records
    not labelled in stage 1. All labels feed the estimate.

    The oracle is called once per stratum per stage (at most ``2K`` calls),
    each time with the int64 indices of the records to label; it never sees an
    index twice, and the total number of indices never exceeds ``budget``. The
    budget is spent in full unless every record gets labelled (then the answer
    is exact and its interval has zero width).

    Args:
        proxy_scores: one finite score per record, shape ``(N,)``; higher means
            "more likely positive" (only the ranking matters).
        oracle: ``oracle(indices) -> (predicate, statistic)``, arrays of
            ``len(indices)``: bool (or 0/1) and real numbers (finite where the
            predicate is true).
        budget: oracle calls allowed (records to label), ``>= strata``.
        aggregate: ``"avg"`` (mean statistic over positives), ``"sum"``
            (sum of the statistic over positives) or ``"count"`` (positives).
        strata: number of strata ``K``.
        stage1_share: share ``C`` of the budget spent in stage 1, in (0, 1].
        allocation: stage-2 rule: ``"variance"`` (the default: Neyman
            allocation for the chosen aggregate, applied to the whole sample,
            i.e. stage 2 tops strata up towards their Neyman share of the full
            budget, see :func:`~abae.sampling.allocation.top_up_weights`),
            ``"abae"`` (the paper's ``n_k ∝ √p_k σ_k`` for stage 2) or
            ``"proportional"``.
        confidence: the interval's coverage probability, in (0, 1).
        ci: ``"bootstrap"`` (percentile bootstrap within strata), ``"bca"``
            (bias-corrected accelerated bootstrap) or ``"normal"``
            (linearised variance).
        rng: the source of every random choice; ``None`` takes a fresh
            ``numpy.random.default_rng()`` (not reproducible).
        bootstrap_replicates: replicates for the bootstrap intervals.
        on_progress: called with a :class:`~abae.sampling.progress.Progress`
            after every oracle batch.

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
        ...                   aggregate="count", rng=rng)
        >>> result.oracle_calls
        500
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
    rng = np.random.default_rng() if rng is None else rng

    n_records = scores.shape[0]
    notes: list[str] = []
    if budget > n_records:
        notes.append(
            f"budget {budget} exceeds the {n_records} records: every record was labelled once"
        )
    spend = min(budget, n_records)
    layout = make_strata(scores, k, rng)
    recorder = LabelRecorder(oracle, n_records, budget)
    running = SampleBuilder(layout.sizes, aggregate)

    drawn: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(k)]
    stage1 = stage1_sizes(spend, share, layout.sizes)
    for j in range(k):
        positions = draw_fresh(int(layout.sizes[j]), np.empty(0, np.int64), int(stage1[j]), rng)
        _label_batch(recorder, running, layout.members[j], positions, j, 1, drawn, on_progress)

    pilot = running.stats()
    weights = stage2_weights(pilot, layout.sizes, aggregate, allocation)
    if allocation != "proportional" and not weights.any():
        notes.append(
            "stage 1 found no spread to allocate by (no positives, or no variation): stage 2 "
            "was allocated in proportion to the records left in each stratum"
        )
    stage2_total = spend - int(stage1.sum())
    if allocation == "variance":
        weights = top_up_weights(weights, stage1, stage2_total)
    stage2 = allocate_stage2(weights, layout.sizes - stage1, stage2_total)
    for j in range(k):
        taken = np.concatenate(drawn[j])
        positions = draw_fresh(int(layout.sizes[j]), taken, int(stage2[j]), rng)
        _label_batch(recorder, running, layout.members[j], positions, j, 2, drawn, on_progress)

    sample = running.sample()
    return estimate_from_labels(
        sample,
        aggregate=aggregate,
        allocation=allocation,
        budget=budget,
        oracle_calls=recorder.calls,
        confidence=confidence,
        ci=ci,
        rng=rng,
        bootstrap_replicates=replicates,
        notes=notes,
    )


def _label_batch(
    recorder: LabelRecorder,
    running: SampleBuilder,
    members: npt.NDArray[np.int64],
    positions: npt.NDArray[np.int64],
    stratum: int,
    stage: int,
    drawn: list[list[npt.NDArray[np.int64]]],
    on_progress: ProgressCallback | None,
) -> None:
    drawn[stratum].append(positions)
    if positions.size == 0:
        return
    indices = members[positions]
    predicate, statistic, _ = recorder.label(indices)
    running.add(indices, predicate, statistic, stratum, stage)
    recorder.report(stage, running.running_estimate(), on_progress)
