"""The sample step of a query: which sampling-core design runs, on which records.

Three designs, all from :mod:`abae.sampling`:

- no GROUP BY: :func:`abae.sampling.estimate` over the whole population, with
  the census (the proxy's pilot) as known labels that also plan the allocation;
- GROUP BY cheap columns: :func:`abae.sampling.estimate_by_group`, strata within
  each group, stage 2 shared out to minimise the worst group's error;
- GROUP BY an oracle output: :func:`abae.sampling.estimate_groups`, one sample
  serving every category, each with its own proxy where the query gives one.

Under GROUP BY the census records are taken out of the frame the core samples
(they are labelled already) and enter each group's estimate as known labels in
:mod:`abae.engine.aggregates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.engine.labeller import RecordLabeller
from abae.engine.population import Population
from abae.engine.progress import ProgressTracker
from abae.errors import AbaeError
from abae.query.plan import QueryPlan
from abae.sampling import (
    Estimate,
    KnownLabels,
    estimate,
    estimate_by_group,
    estimate_groups,
    shrunk_variances,
    stratum_stats,
)
from abae.sampling.error_target import PrecisionTarget, planned_labels


@dataclass(frozen=True)
class SamplingSettings:
    """How the core samples: strata per group, stage-1 share, allocation, interval method."""

    strata: int
    stage1_share: float
    allocation: str
    ci: str


@dataclass(frozen=True)
class DrawnSample:
    """What the core drew for the query's first aggregate.

    Attributes:
        estimates: group key (``None`` without GROUP BY) → the first aggregate's
            :class:`~abae.sampling.Estimate`, in group order.
        frame: the population positions the core sampled from, int64 (its
            indices index this array); ``None`` when it sampled the whole population.
        known_in_core: whether the census entered the core's estimate already
            (no GROUP BY) rather than being added per group afterwards.
        oracle_calls: records the core had labelled (bought or reused).
        warnings: notes about the design as a whole.
    """

    estimates: dict[Any, Estimate]
    frame: NDArray[np.int64] | None
    known_in_core: bool
    oracle_calls: int
    warnings: list[str]

    def positions(self, estimate_: Estimate) -> NDArray[np.int64]:
        """Population positions of the records ``estimate_`` labelled."""
        if self.frame is None:
            return estimate_.labelled_indices
        return self.frame[estimate_.labelled_indices]


class _FrameLabeller:
    """The labeller seen through a frame: the core's indices are frame positions."""

    def __init__(self, labeller: RecordLabeller, frame: NDArray[np.int64]) -> None:
        self.labeller = labeller
        self.frame = frame

    def __call__(self, indices: NDArray[np.int64]) -> tuple[Any, ...]:
        return self.labeller(self.frame[np.asarray(indices, dtype=np.int64)])


def draw_sample(
    plan: QueryPlan,
    population: Population,
    labeller: RecordLabeller,
    budget: int,
    known: KnownLabels | None,
    settings: SamplingSettings,
    rng: np.random.Generator,
    tracker: ProgressTracker,
) -> DrawnSample:
    """Run the core design that fits ``plan`` with ``budget`` fresh records to label.

    Args:
        known: the census labels for the first aggregate (population positions).

    Raises:
        AbaeError: the budget cannot give every stratum (or group) a label.
    """
    primary = plan.aggregates[0].kind
    common: dict[str, Any] = {
        "aggregate": primary,
        "stage1_share": settings.stage1_share,
        "allocation": settings.allocation,
        "confidence": plan.probability,
        "ci": settings.ci,
        "rng": rng,
        "on_progress": tracker.sampler_update,
    }
    frame = _frame_without(len(population), None if known is None else known.indices)
    size = len(population) if frame is None else int(frame.size)
    if size == 0:
        raise AbaeError(
            "every record of the query is in the proxy's pilot and already labelled; the "
            "answer is exact: query without USING, or with a proxy trained on a smaller pilot"
        )
    if not plan.group_by and plan.group_oracle is None:
        strata = _strata_for(settings.strata, size, budget, groups=1)
        target = None
        if plan.error_target is not None:
            others = _OtherAggregates(plan, labeller, known) if len(plan.aggregates) > 1 else None
            target = PrecisionTarget(
                plan.error_target.half_width, plan.error_target.relative, extra=others
            )
        result = estimate(
            population.proxy, labeller, budget, strata=strata, known=known, target=target, **common
        )
        return DrawnSample({None: result}, None, True, result.oracle_calls, [])
    core_labeller = labeller if frame is None else _FrameLabeller(labeller, frame)
    scores = population.proxy if frame is None else population.proxy[frame]
    if plan.error_target is not None:
        # Every group's first aggregate meets the target; the others share its sample.
        common["target"] = PrecisionTarget(plan.error_target.half_width, plan.error_target.relative)
    if plan.group_by:
        assert population.group_codes is not None
        codes = population.group_codes if frame is None else population.group_codes[frame]
        present, dense = np.unique(codes, return_inverse=True)
        strata = _strata_for(settings.strata, size, budget, groups=int(present.size))
        groups = estimate_by_group(scores, dense, core_labeller, budget, strata=strata, **common)
        estimates = {
            population.group_keys[int(present[code])]: groups.estimates[code]
            for code in range(int(present.size))
            if code in groups.estimates
        }
        return DrawnSample(estimates, frame, False, groups.oracle_calls, groups.warnings)
    assert plan.group_oracle is not None
    categories = list(plan.group_oracle.categories)
    strata = _strata_for(settings.strata, size, budget, groups=len(categories))
    if population.group_proxies is not None:
        per_group = {
            c: (p if frame is None else p[frame])
            for c, p in zip(categories, population.group_proxies, strict=True)
        }
        oracle_groups = estimate_groups(per_group, core_labeller, budget, strata=strata, **common)
    else:
        oracle_groups = estimate_groups(
            scores, core_labeller, budget, groups=categories, strata=strata, **common
        )
    estimates = {c: oracle_groups.estimates[c] for c in categories if c in oracle_groups.estimates}
    return DrawnSample(estimates, frame, False, oracle_groups.oracle_calls, oracle_groups.warnings)


class _OtherAggregates:
    """Plans the labels the query's other aggregates need for the error target, from the
    stage-1 labels the labeller holds (every aggregate's statistic is computed per record)."""

    def __init__(
        self, plan: QueryPlan, labeller: RecordLabeller, known: KnownLabels | None
    ) -> None:
        self.plan = plan
        self.labeller = labeller
        self.known = known

    def __call__(
        self,
        indices: NDArray[np.int64],
        strata: NDArray[np.int64],
        sizes: NDArray[np.int64],
        shares: NDArray[np.float64],
    ) -> float:
        assert self.plan.error_target is not None
        outcome = self.labeller.outcome[indices]
        missing = np.isnan(outcome)
        needed = 0.0
        for k, aggregate in enumerate(self.plan.aggregates[1:], start=1):
            predicate = outcome == 1.0
            statistic = np.where(predicate, self.labeller.statistics[k, indices], np.nan)
            stats = stratum_stats(strata, predicate, statistic, sizes.size, missing)
            census = None
            if self.known is not None and len(self.known):
                rows = self.known.indices
                census_outcome = self.labeller.outcome[rows]
                census_predicate = census_outcome == 1.0
                census = stratum_stats(
                    np.zeros(rows.size, dtype=np.int64),
                    census_predicate,
                    np.where(census_predicate, self.labeller.statistics[k, rows], np.nan),
                    1,
                    np.isnan(census_outcome),
                )
            variances = shrunk_variances(stats, sizes, aggregate.kind)
            target = PrecisionTarget(
                self.plan.error_target.half_width, self.plan.error_target.relative
            )
            needed = max(
                needed,
                planned_labels(
                    stats, sizes, variances, shares, aggregate.kind, target,
                    self.plan.probability, census,
                ),
            )  # fmt: skip
        return needed


def _frame_without(n: int, known: NDArray[np.int64] | None) -> NDArray[np.int64] | None:
    """Positions ``0..n-1`` minus ``known`` (``None``: nothing to take out)."""
    if known is None or known.size == 0:
        return None
    keep = np.ones(n, dtype=np.bool_)
    keep[known] = False
    return np.flatnonzero(keep).astype(np.int64)


def _strata_for(strata: int, records: int, budget: int, *, groups: int) -> int:
    """The strata per group the budget can pay a first label for, at most ``strata``.

    Raises:
        AbaeError: not even one label per group fits in the budget.
    """
    if budget < 1:
        raise AbaeError(
            "ORACLE LIMIT leaves no record to sample once the proxy's pilot and its census "
            "labels are paid for; raise ORACLE LIMIT"
        )
    if budget < groups:
        raise AbaeError(
            f"ORACLE LIMIT leaves {budget} records to sample, fewer than the {groups} groups "
            "of the query (each needs at least one label); raise ORACLE LIMIT"
        )
    return max(1, min(strata, records, budget // groups))
