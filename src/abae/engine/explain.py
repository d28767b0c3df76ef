"""``EXPLAIN`` for ABae queries: the plan, the strata, the allocation and a predicted error.

Explain uses what ``query`` uses: the same compiled plan, the same population
(one scan), the same census of the proxy's pilot, the same strata over the
rest. It calls no oracle: its predictions come from labels already in the
ledger (earlier queries, the pilot), read through the query's own labeller so
the WHERE condition and the aggregate mean what they mean in the query.

The prediction is the standard error of the first aggregate, on its own scale,
for the labels the query may still buy, with each stratum's residual variance
estimated from the ledger's labels and shrunk towards the pooled one (the
robust allocation's estimate), and the labels allocated by Neyman. With
``ERROR WITHIN`` it also predicts the labels the target needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from abae.engine.census import census_of, records_charged_among
from abae.engine.labeller import RecordLabeller
from abae.engine.population import load_population
from abae.engine.query_identity import query_identity
from abae.oracles.registry import OracleRegistry
from abae.query.dialect import parse_query
from abae.query.plan import QueryPlan, predicate_calls
from abae.sampling import (
    combine_strata,
    make_strata,
    shrunk_variances,
    stage1_sizes,
    stratum_stats,
)
from abae.sampling.precision import labels_for_half_width, neyman_shares, stratified_variance
from abae.store.ledger import Label, LabelLedger
from abae.store.pilot_records import pilot_records
from abae.store.records import RecordCollection

if TYPE_CHECKING:
    from abae.engine.engine import Engine

MIN_LABELS_PER_STRATUM = 2
"""Ledger labels a stratum needs before explain predicts from it."""


@dataclass(frozen=True)
class Explanation:
    """What a query would do, without calling any oracle.

    Attributes:
        query_id: the query's id (the same as ``abae query`` gives it).
        plan: readable plan lines (scan, prefilter, condition, aggregates, proxy, limits).
        population: records passing the cheap prefilter.
        census: pilot records inside the population (a census stratum; labelled already).
        budget: ``ORACLE LIMIT`` (or the default cap).
        sampling_budget: records the stratified sample may still label: the limit
            less what this query has charged for its pilot and census.
        strata: per stratum: size, proxy score range, stage-1 labels, ledger labels.
        already_spent: records already charged to this query (earlier runs).
        predicted_error: predicted standard error of the first aggregate, on its
            own scale, with ``sampling_budget`` labels; ``None`` with ``prediction_note``.
        labels_for_target: with ``ERROR WITHIN``: the labels the target needs
            (predicted), else ``None``.
    """

    query_id: str
    plan: list[str]
    population: int
    census: int
    budget: int
    sampling_budget: int
    strata: list[dict[str, Any]]
    already_spent: int
    predicted_error: float | None
    prediction_note: str
    labels_for_target: int | None = None

    @property
    def stage2_budget(self) -> int:
        """Labels left for stage 2 after the stage-1 labels of :attr:`strata`."""
        return self.sampling_budget - sum(int(row["stage1_labels"]) for row in self.strata)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "plan": self.plan,
            "population": self.population,
            "census": self.census,
            "budget": self.budget,
            "sampling_budget": self.sampling_budget,
            "stage2_budget": self.stage2_budget,
            "strata": self.strata,
            "already_spent": self.already_spent,
            "predicted_error": self.predicted_error,
            "prediction_note": self.prediction_note,
            "labels_for_target": self.labels_for_target,
        }


class _LedgerOnlyRuntime:
    """The part of the oracle runtime the labeller uses, answering from the ledger only."""

    def __init__(self, ledger: LabelLedger, registry: OracleRegistry) -> None:
        self.ledger = ledger
        self.registry = registry

    def labels(
        self, oracle: str, record_ids: Sequence[int], args: Mapping[int, tuple[Any, ...]]
    ) -> dict[int, Label]:
        del args  # nothing is called
        return self.ledger.lookup(self.registry.get(oracle).key, record_ids)


def explain_query(engine: Engine, sql: str, *, seed: int = 0) -> Explanation:
    """Compile ``sql``, scan the population and describe the sampling plan (no oracle call)."""
    tree = parse_query(sql)
    plan = engine.compile(sql, tree)
    query_id, sampling_seed = query_identity(tree, seed)
    population = load_population(engine.store, plan)
    census = census_of(engine.store, plan, population)
    ledger = LabelLedger(engine.store, plan.collection)
    pilot = pilot_records(engine.store, plan.collection, plan.proxy_columns)
    charged = records_charged_among(engine.store, plan.collection, query_id, pilot)
    sampling_budget = max(plan.budget - charged, 0)
    keep = np.ones(len(population), dtype=np.bool_)
    if census is not None:
        keep[census.positions] = False
    frame = np.flatnonzero(keep).astype(np.int64)
    k = max(1, min(engine.strata, frame.size, max(sampling_budget, 1)))
    layout = make_strata(population.proxy[frame], k, np.random.default_rng(sampling_seed))
    spend = min(sampling_budget, int(frame.size))
    stage1 = stage1_sizes(max(spend, k), engine.stage1_share, layout.sizes)
    labeller = RecordLabeller(
        plan,
        population,
        RecordCollection(engine.store, plan.collection),
        _LedgerOnlyRuntime(ledger, engine.oracles),  # type: ignore[arg-type]
        with_groups=plan.group_oracle is not None,
    )
    labelled = _label_from_ledger(plan, population.ids, frame, ledger, engine.oracles, labeller)
    strata = []
    for j in range(k):
        members = frame[layout.members[j]]
        scores = population.proxy[members]
        in_ledger = int(np.count_nonzero(np.isfinite(labeller.outcome[members])))
        strata.append(
            {
                "stratum": j,
                "size": int(layout.sizes[j]),
                "proxy_min": float(scores.min()),
                "proxy_max": float(scores.max()),
                "stage1_labels": int(stage1[j]),
                "ledger_labels": in_ledger,
            }
        )
    predicted, needed, note = _predict(plan, labeller, layout, frame, labelled, sampling_budget)
    return Explanation(
        query_id=query_id,
        plan=_plan_lines(plan, len(population), census is not None and len(census), k, stage1),
        population=len(population),
        census=0 if census is None else len(census),
        budget=plan.budget,
        sampling_budget=sampling_budget,
        strata=strata,
        already_spent=ledger.spent(query_id),
        predicted_error=predicted,
        prediction_note=note,
        labels_for_target=needed,
    )


def _label_from_ledger(
    plan: QueryPlan,
    ids: NDArray[np.int64],
    frame: NDArray[np.int64],
    ledger: LabelLedger,
    oracles: OracleRegistry,
    labeller: RecordLabeller,
) -> int:
    """Run the labeller over the frame's records that the ledger knows; returns how many."""
    calls = predicate_calls(plan.predicate)
    if not calls:
        calls = tuple(c for a in plan.aggregates for c in a.calls)
    if not calls:
        return 0
    first = calls[0]
    known = ledger.lookup(oracles.get(first.name).key, ids[frame].tolist())
    if not known:
        return 0
    positions = frame[np.isin(ids[frame], np.fromiter(known, dtype=np.int64))]
    labeller(positions)
    return int(positions.size)


def _predict(
    plan: QueryPlan,
    labeller: RecordLabeller,
    layout: Any,
    frame: NDArray[np.int64],
    labelled: int,
    budget: int,
) -> tuple[float | None, int | None, str]:
    """(standard error, labels for the target, note) from the ledger's labels."""
    if labelled == 0:
        return None, None, "no ledger labels for this query's oracles yet: run a pilot first"
    k = len(layout)
    stratum = layout.stratum_of()
    outcome = labeller.outcome[frame]
    seen = np.isfinite(outcome)
    counts = np.bincount(stratum[seen], minlength=k)
    if (counts < MIN_LABELS_PER_STRATUM).any():
        short = np.flatnonzero(counts < MIN_LABELS_PER_STRATUM).tolist()
        return (
            None,
            None,
            (
                f"strata {short} have fewer than {MIN_LABELS_PER_STRATUM} ledger labels; "
                "too few to predict"
            ),
        )
    aggregate = plan.aggregates[0].kind
    stats = stratum_stats(
        stratum[seen],
        outcome[seen] == 1.0,
        labeller.statistics[0, frame][seen],
        k,
    )
    sizes = layout.sizes
    variances = shrunk_variances(stats, sizes, aggregate)
    denominator = 1.0
    if aggregate == "avg":
        denominator = float(np.dot(sizes, np.nan_to_num(stats.p)))
        if denominator <= 0:
            return None, None, "no positive among the ledger labels: the AVG cannot be predicted"
    shares = neyman_shares(sizes, variances)
    if budget <= 0:
        return None, None, "no budget left to sample"
    variance = stratified_variance(sizes, variances, budget * shares, denominator)
    note = (
        f"from {labelled} ledger labels over {k} strata, Neyman allocation of {budget} "
        f"labels; on the scale of {plan.aggregates[0].kind.upper()}"
    )
    needed = None
    target = plan.error_target
    if target is not None:
        half = target.half_width
        if target.relative:
            point = _point(stats, sizes, aggregate)
            half = half * abs(point) if math.isfinite(point) else math.nan
        if math.isfinite(half) and half > 0:
            labels = labels_for_half_width(
                sizes, variances, shares, half, plan.probability, denominator
            )
            needed = None if not math.isfinite(labels) else math.ceil(labels)
    return math.sqrt(variance), needed, note


def _point(stats: Any, sizes: NDArray[np.int64], aggregate: str) -> float:
    p = np.nan_to_num(stats.p)
    return float(combine_strata(aggregate, sizes, p, np.nan_to_num(stats.mean_of_product)))


def _plan_lines(
    plan: QueryPlan, population: int, census: int, k: int, stage1: NDArray[np.int64]
) -> list[str]:
    limit = f"ORACLE LIMIT {plan.budget}" + (" (default cap)" if plan.budget_defaulted else "")
    lines = [
        f"scan {plan.collection!r}: {population} records"
        + (f" where {plan.prefilter.sql} {list(plan.prefilter.params)}" if plan.prefilter else ""),
        f"oracle condition: {plan.predicate if plan.predicate is not None else 'none'}",
        "aggregates: " + ", ".join(f"{a.kind.upper()} AS {a.name}" for a in plan.aggregates),
        f"proxy (ranking): {plan.proxy_text}",
        f"census: {census} pilot records of the proxy, labelled already (exact, no variance)",
        f"budget: {limit}; {k} strata; stage 1 {int(stage1.sum())} labels; confidence "
        f"{plan.probability}",
    ]
    if plan.error_target is not None:
        lines.append(f"target: {plan.error_target}")
    if plan.cost_limit is not None:
        lines.append(f"money: COST LIMIT {plan.cost_limit:g}")
    if plan.group_by:
        lines.append("group by: " + ", ".join(name for name, _ in plan.group_by))
    if plan.group_oracle is not None:
        lines.append(f"group by oracle output: {plan.group_oracle.name}")
    return lines
