"""GROUP BY: one ABae sample per group, stage-2 budget shared out minimax."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

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
from abae.sampling.strata import Strata, make_strata
from abae.sampling.stratified_sample import SampleBuilder
from abae.sampling.stratum_stats import StratumStats
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


def group_cost(
    stats: StratumStats, sizes: npt.NDArray[np.int64], aggregate: str, allocation: str
) -> float:
    """A group's error constant ``c_g`` from its pilot statistics.

    ``(Σ_k N_k S_k)² / (Σ_k N_k p_k)²`` for AVG and ``(Σ_k N_k S_k)²`` for SUM
    and COUNT, where ``N_k S_k`` are the stage-2 weights of ``allocation``
    (``"proportional"`` uses the ``"variance"`` weights). With ``"abae"`` and
    equal strata this is ``(Σ√p_kσ_k)²/(Σp_k)²``. NaN when AVG has no positive.
    """
    rule = "variance" if allocation == "proportional" else allocation
    spread = float(stage2_weights(stats, sizes, aggregate, rule).sum()) ** 2
    if aggregate != "avg":
        return spread
    positives = float(np.dot(sizes, np.nan_to_num(stats.p)))
    return spread / positives**2 if positives > 0 else float("nan")


@dataclass(frozen=True, eq=False)
class GroupEstimates:
    """Per-group estimates of a GROUP BY query.

    Attributes:
        estimates: group key to its :class:`Estimate`. Each group's
            ``oracle_calls`` counts the labels its estimate uses, some of which
            may have been labelled for another group (answered from memory).
        shares: group key to its stage-2 budget share (minimax).
        costs: group key to its pilot error constant (NaN where undefined).
        oracle_calls: distinct records labelled by the oracle, ``<= budget``.
        budget: the oracle budget.
        warnings: notes about the run as a whole.
    """

    estimates: dict[Hashable, Estimate]
    shares: dict[Hashable, float]
    costs: dict[Hashable, float]
    oracle_calls: int
    budget: int
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, group: Hashable) -> Estimate:
        return self.estimates[group]

    def __len__(self) -> int:
        return len(self.estimates)


class _GroupSampler:
    """Draws, labels and collects one group's stratified sample."""

    def __init__(self, key: Hashable, layout: Strata, aggregate: str) -> None:
        self.key = key
        self.layout = layout
        self.builder = SampleBuilder(layout.sizes, aggregate)
        self.drawn: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(len(layout))]

    def capacity(self) -> npt.NDArray[np.int64]:
        counts = [sum(part.size for part in parts) for parts in self.drawn]
        return self.layout.sizes - np.asarray(counts, dtype=np.int64)

    def draw(
        self,
        stratum: int,
        n: int,
        stage: int,
        recorder: LabelRecorder,
        rng: np.random.Generator,
        on_progress: ProgressCallback | None,
    ) -> None:
        if n == 0:
            return
        taken = (
            np.concatenate(self.drawn[stratum]) if self.drawn[stratum] else np.empty(0, np.int64)
        )
        positions = draw_fresh(int(self.layout.sizes[stratum]), taken, n, rng)
        self.drawn[stratum].append(positions)
        indices = self.layout.members[stratum][positions]
        predicate, statistic, groups = recorder.label(indices)
        assert groups is not None
        mine = np.fromiter((g == self.key for g in groups.tolist()), np.bool_, groups.size)
        self.builder.add(indices, predicate & mine, statistic, stratum, stage)
        recorder.report(stage, self.builder.running_estimate(), on_progress)


def estimate_groups(
    group_scores: Mapping[Hashable, npt.ArrayLike],
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
) -> GroupEstimates:
    """Estimate an aggregate per group (GROUP BY) with one ABae sample per group.

    Group ``g`` is the set of records where the predicate holds and the oracle
    puts the record in ``g``; ``group_scores[g]`` ranks the records by how
    likely they are to be in it. Each group gets its own strata and stage-1
    pilot (``max(1, floor(C·budget/(G·K)))`` per stratum). From the pilots,
    each group's error constant ``c_g`` (:func:`group_cost`) gives its
    stage-2 share ``x_g ∝ c_g`` (:func:`minimax_shares`), which the group
    spends across its strata by ``allocation``.

    A record drawn by several groups is labelled once: later draws are
    answered from memory without an oracle call. The budget freed that way is
    shared out again, in rounds, until it is spent or every group has drawn
    every record. Never more than ``budget`` oracle calls, never an index twice.

    Args:
        group_scores: group key to proxy scores ``(N,)``; all the same length.
        oracle: ``oracle(indices) -> (predicate, statistic, group)``, arrays of
            ``len(indices)``; ``group`` holds each record's group key (compared
            with ``==`` to the keys of ``group_scores``; anything else, e.g.
            ``None``, for records in no group).
        budget: oracle calls allowed, at least ``G·K``.
        aggregate, strata, stage1_share, allocation, confidence, ci, rng,
        bootstrap_replicates: as for :func:`abae.estimate`.
        on_progress: called after every oracle batch; the running estimate is
            that of the group being sampled.

    Returns:
        The :class:`GroupEstimates`.

    Raises:
        ValueError: a bad argument or a malformed oracle answer.
    """
    if not group_scores:
        raise ValueError("group_scores is empty: give one proxy score array per group")
    scores = {key: check_scores(s, f"group_scores[{key!r}]") for key, s in group_scores.items()}
    lengths = {key: s.shape[0] for key, s in scores.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every group needs one score per record; the lengths differ: {lengths}")
    n_records = next(iter(lengths.values()))
    k = check_strata_count(strata, n_records)
    n_groups = len(scores)
    budget = check_budget(
        budget, n_groups * k, f"one pilot label per stratum for {n_groups} groups × {k} strata"
    )
    aggregate = check_choice(aggregate, "aggregate", AGGREGATES)
    allocation = check_choice(allocation, "allocation", ALLOCATIONS)
    ci = check_choice(ci, "ci", INTERVALS)
    share = check_share(stage1_share)
    confidence = check_confidence(confidence)
    replicates = check_positive_int(bootstrap_replicates, "bootstrap_replicates")
    rng = np.random.default_rng() if rng is None else rng

    recorder = LabelRecorder(oracle, n_records, budget, with_groups=True, reuse=True)
    samplers = [_GroupSampler(key, make_strata(s, k, rng), aggregate) for key, s in scores.items()]
    per_group_stage1 = max(1, min(budget, n_records) // n_groups)
    for sampler in samplers:
        stage1 = stage1_sizes(per_group_stage1, share, sampler.layout.sizes)
        for j in range(k):
            sampler.draw(j, int(stage1[j]), 1, recorder, rng, on_progress)

    weights = [
        stage2_weights(s.builder.stats(), s.layout.sizes, aggregate, allocation) for s in samplers
    ]
    costs = np.array(
        [group_cost(s.builder.stats(), s.layout.sizes, aggregate, allocation) for s in samplers]
    )
    warnings: list[str] = []
    undefined = ~np.isfinite(costs)
    if undefined.any():
        names = [samplers[i].key for i in np.flatnonzero(undefined).tolist()]
        warnings.append(
            f"groups {names} had no positive in their pilot: they get the largest share of any "
            "group for stage 2"
        )
        costs_used = np.where(undefined, costs[~undefined].max(initial=1.0), costs)
    else:
        costs_used = costs
    shares = minimax_shares(costs_used)

    while recorder.remaining > 0:
        capacity = [s.capacity() for s in samplers]
        group_capacity = np.array([int(c.sum()) for c in capacity])
        if group_capacity.sum() == 0:
            break
        group_budget = allocate_stage2(shares, group_capacity, recorder.remaining)
        for sampler, w, cap, n_g in zip(samplers, weights, capacity, group_budget, strict=True):
            if allocation == "variance":
                w = top_up_weights(w, sampler.layout.sizes - cap, int(n_g))
            for j, n in enumerate(allocate_stage2(w, cap, int(n_g)).tolist()):
                sampler.draw(j, n, 2, recorder, rng, on_progress)

    estimates: dict[Hashable, Estimate] = {}
    for sampler in samplers:
        sample = sampler.builder.sample()
        estimates[sampler.key] = estimate_from_labels(
            sample,
            aggregate=aggregate,
            allocation=allocation,
            budget=budget,
            oracle_calls=int(sample.indices.size),
            confidence=confidence,
            ci=ci,
            rng=rng,
            bootstrap_replicates=replicates,
        )
    keys = [s.key for s in samplers]
    return GroupEstimates(
        estimates=estimates,
        shares=dict(zip(keys, shares.tolist(), strict=True)),
        costs=dict(zip(keys, costs.tolist(), strict=True)),
        oracle_calls=recorder.calls,
        budget=budget,
        warnings=warnings,
    )
