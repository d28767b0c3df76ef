"""``EXPLAIN`` for ABae queries: the plan, the strata, the allocation and a predicted error."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from abae.engine.population import load_population
from abae.engine.query_identity import query_identity
from abae.query.dialect import parse_query
from abae.query.plan import AllOf, AnyOf, CheapTest, NoneOf, OracleTest, Predicate
from abae.sampling import equal_stratum_sizes, oracle_allocation_constant, stage1_sizes
from abae.store.ledger import LabelLedger

if TYPE_CHECKING:
    from abae.engine.engine import Engine


@dataclass(frozen=True)
class Explanation:
    """What a query would do, without calling any oracle.

    Attributes:
        plan: readable plan lines (scan, prefilter, predicate, aggregates, proxy).
        population: records passing the cheap prefilter.
        strata: per stratum: size, proxy score range, stage-1 labels.
        stage2_budget: labels left for stage 2 (allocated after the pilot).
        already_spent: records already charged to this query (earlier runs).
        predicted_error: predicted standard error of the first aggregate from
            labels already in the ledger, or ``None`` (with ``prediction_note``).
    """

    query_id: str
    plan: list[str]
    population: int
    budget: int
    strata: list[dict[str, Any]]
    stage2_budget: int
    already_spent: int
    predicted_error: float | None
    prediction_note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "plan": self.plan,
            "population": self.population,
            "budget": self.budget,
            "strata": self.strata,
            "stage2_budget": self.stage2_budget,
            "already_spent": self.already_spent,
            "predicted_error": self.predicted_error,
            "prediction_note": self.prediction_note,
        }


def explain_query(engine: Engine, sql: str, *, seed: int = 0) -> Explanation:
    """Compile ``sql``, scan the population and describe the sampling plan."""
    plan = engine.compile(sql)
    query_id, _ = query_identity(parse_query(sql), seed)
    population = load_population(engine.store, plan)
    n = len(population)
    k = min(engine.strata, n)
    sizes = equal_stratum_sizes(n, k)
    spend = min(plan.budget, n)
    stage1 = stage1_sizes(spend, engine.stage1_share, sizes)
    order = np.argsort(population.proxy, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    strata = []
    for j in range(k):
        chunk = population.proxy[order[bounds[j] : bounds[j + 1]]]
        strata.append(
            {
                "stratum": j,
                "size": int(sizes[j]),
                "proxy_min": float(chunk.min()),
                "proxy_max": float(chunk.max()),
                "stage1_labels": int(stage1[j]),
            }
        )
    lines = [
        f"scan {plan.collection!r}: {n} records"
        + (f" where {plan.prefilter.sql} {list(plan.prefilter.params)}" if plan.prefilter else ""),
        f"oracle condition: {_describe(plan.predicate)}",
        "aggregates: "
        + ", ".join(
            f"{a.kind.upper()}({a.oracle or (a.column.sql if a.column else '*')}) AS {a.name}"
            for a in plan.aggregates
        ),
        f"proxy (ranking): {plan.proxy_text}",
        f"budget: ORACLE LIMIT {plan.budget}; stage 1 {int(stage1.sum())}, "
        f"stage 2 {spend - int(stage1.sum())}; {k} strata; confidence {plan.probability}",
    ]
    if plan.group_by:
        lines.append("group by: " + ", ".join(name for name, _ in plan.group_by))
    ledger = LabelLedger(engine.store, plan.collection)
    predicted, note = _predict(
        plan.predicate, population, order, bounds, ledger, spend - int(stage1.sum())
    )
    return Explanation(
        query_id=query_id,
        plan=lines,
        population=n,
        budget=plan.budget,
        strata=strata,
        stage2_budget=spend - int(stage1.sum()),
        already_spent=ledger.spent(query_id),
        predicted_error=predicted,
        prediction_note=note,
    )


def _describe(node: Predicate | None) -> str:
    if node is None:
        return "none (every scanned record matches)"
    if isinstance(node, CheapTest):
        return f"[{node.text}]"
    if isinstance(node, OracleTest):
        return str(node.call)
    if isinstance(node, NoneOf):
        return f"NOT {_describe(node.part)}"
    joiner = " AND " if isinstance(node, AllOf) else " OR "
    assert isinstance(node, AllOf | AnyOf)
    return "(" + joiner.join(_describe(p) for p in node.parts) + ")"


def _predict(
    predicate: Predicate | None,
    population: Any,
    order: np.ndarray[Any, Any],
    bounds: np.ndarray[Any, Any],
    ledger: LabelLedger,
    stage2: int,
) -> tuple[float | None, str]:
    if not isinstance(predicate, OracleTest):
        return None, "a prediction needs a single oracle condition"
    labels = ledger.lookup(predicate.call.name, population.ids.tolist())
    if not labels:
        return None, "no labels of this oracle in the ledger yet: run the query (or a pilot) first"
    p = []
    for j in range(bounds.size - 1):
        ids = population.ids[order[bounds[j] : bounds[j + 1]]].tolist()
        known = [bool(labels[i].predicate) for i in ids if i in labels]
        if len(known) < 2:
            return None, f"stratum {j} has fewer than 2 ledger labels; too few to predict"
        p.append(float(np.mean(known)))
    sigma = [math.sqrt(max(q * (1 - q), 0.0)) for q in p]
    constant = oracle_allocation_constant(np.asarray(p), np.asarray(sigma))
    if not math.isfinite(constant) or stage2 <= 0:
        return None, "no positives among the ledger labels; the error cannot be predicted"
    return (
        math.sqrt(constant / stage2),
        f"from {len(labels)} ledger labels: error constant {constant:.4g} / stage-2 budget "
        "(the positive-rate's error scale)",
    )
