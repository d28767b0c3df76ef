"""The estimate step: every aggregate of the query (× group) from one sample's labels.

The core drew its sample for the first aggregate; every other aggregate reuses
those labels with its own statistic (the labeller computed them all, each
oracle asked once per record), through
:func:`abae.sampling.estimate_from_labels`. The census (the proxy's pilot)
enters every estimate as known labels: exact, no variance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.engine.census import Census
from abae.engine.labeller import RecordLabeller
from abae.engine.population import Population
from abae.engine.result import AggregateResult
from abae.engine.sampling_step import DrawnSample
from abae.query.plan import QueryPlan
from abae.sampling import Estimate, KnownLabels, StratifiedSample, estimate_from_labels

GroupFilter = Callable[[NDArray[np.int64], Any], NDArray[np.bool_]]
"""``in_group(positions, key) -> bool mask``: which population positions belong to a group."""


def estimate_aggregates(
    plan: QueryPlan,
    population: Population,
    drawn: DrawnSample,
    labeller: RecordLabeller,
    census: Census | None,
    rng: np.random.Generator,
) -> tuple[list[AggregateResult], dict[tuple[Any, int], Estimate]]:
    """Every aggregate for every group, in SELECT order within each group.

    Returns:
        The results, and the full :class:`~abae.sampling.Estimate` behind each
        (keyed by ``(group, aggregate position)``) for tables and reports.
    """
    in_group = _group_filter(plan, population, labeller)
    results: list[AggregateResult] = []
    estimates: dict[tuple[Any, int], Estimate] = {}
    for group, primary in drawn.estimates.items():
        for k, aggregate in enumerate(plan.aggregates):
            if k == 0 and (drawn.known_in_core or census is None):
                final = primary
            else:
                final = _reestimate(plan, drawn, primary, k, group, labeller, census, in_group, rng)
            estimates[(group, k)] = final
            results.append(
                AggregateResult(
                    name=aggregate.name,
                    kind=aggregate.kind,
                    group=group,
                    estimate=final.estimate,
                    ci_low=final.ci_low,
                    ci_high=final.ci_high,
                    labels_used=int(final.labelled_indices.size)
                    - final.missing_labels
                    + final.known_labels,
                )
            )
    return results, estimates


def _reestimate(
    plan: QueryPlan,
    drawn: DrawnSample,
    primary: Estimate,
    k: int,
    group: Any,
    labeller: RecordLabeller,
    census: Census | None,
    in_group: GroupFilter,
    rng: np.random.Generator,
) -> Estimate:
    positions = drawn.positions(primary)
    predicate, missing = _outcome(labeller, positions, group, in_group)
    sample = StratifiedSample(
        sizes=primary.strata.size,
        indices=primary.labelled_indices,
        predicate=predicate,
        statistic=np.where(predicate, labeller.statistics[k, positions], np.nan),
        stratum=primary.labelled_stratum,
        stage=primary.labelled_stage,
        missing=missing,
    )
    return estimate_from_labels(
        sample,
        aggregate=plan.aggregates[k].kind,
        allocation=primary.allocation,
        budget=primary.budget,
        oracle_calls=primary.oracle_calls,
        confidence=primary.confidence,
        ci=primary.ci_method,
        rng=rng,
        known=census_labels(census, labeller, k, group, in_group),
    )


def census_labels(
    census: Census | None,
    labeller: RecordLabeller,
    k: int,
    group: Any,
    in_group: GroupFilter,
) -> KnownLabels | None:
    """The census stratum's labels for aggregate ``k`` within ``group`` (``None``: no census)."""
    if census is None:
        return None
    positions = census.positions[in_group(census.positions, group)]
    scores = census.planning_scores[in_group(census.positions, group)]
    predicate, missing = _outcome(labeller, positions, group, in_group)
    return KnownLabels(
        indices=positions,
        predicate=predicate,
        statistic=np.where(predicate, labeller.statistics[k, positions], np.nan),
        scores=scores,
        missing=missing,
    )


def _outcome(
    labeller: RecordLabeller, positions: NDArray[np.int64], group: Any, in_group: GroupFilter
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(predicate, missing) of labelled records for one group's estimate."""
    outcome = labeller.outcome[positions]
    missing = np.isnan(outcome)
    predicate = (outcome == 1.0) & in_group(positions, group)
    return predicate, missing


def _group_filter(plan: QueryPlan, population: Population, labeller: RecordLabeller) -> GroupFilter:
    if plan.group_oracle is not None:
        return lambda positions, key: np.asarray(labeller.groups[positions] == key, np.bool_)
    if plan.group_by:
        assert population.group_codes is not None
        codes = population.group_codes
        code_of = {key: code for code, key in enumerate(population.group_keys)}
        return lambda positions, key: codes[positions] == code_of[key]
    return lambda positions, key: np.ones(positions.size, dtype=np.bool_)
