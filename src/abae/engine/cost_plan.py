"""``COST LIMIT``: plan the sample for the records the money can pay for.

Every sampled record costs at least its first predicate oracle's call (the
predicate is evaluated left to right and stops early), so ``COST LIMIT x`` with
a worst-case price ``p`` per call pays for at most ``⌊x / p⌋`` records. Planning
the stratified sample for ``min(ORACLE LIMIT, ⌊x / p⌋)`` records keeps every
stratum's share instead of leaving the last planned records unlabelled when the
money runs out. Other oracles (the statistic, later predicates) may still
stop a sample early; those records are reported as left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from abae.oracles.registry import OracleRegistry
from abae.query.plan import QueryPlan, predicate_calls


@dataclass(frozen=True)
class CostPlan:
    """The records to sample once ``COST LIMIT`` is taken into account.

    Attributes:
        budget: records the sample is planned for.
        note: why it is smaller than the records ``ORACLE LIMIT`` left (``None``: it is not).
    """

    budget: int
    note: str | None = None


def first_call_price(plan: QueryPlan, oracles: OracleRegistry) -> tuple[str, float] | None:
    """(name, worst-case price per call) of the oracle every sampled record pays, or ``None``."""
    calls = predicate_calls(plan.predicate)
    if not calls or calls[0].name not in oracles:
        return None
    return calls[0].name, oracles.get(calls[0].name).worst_case_cost


def plan_for_cost(
    cost_limit: float | None,
    first_call: tuple[str, float] | None,
    budget: int,
    charged_before: int,
) -> CostPlan:
    """The sampling budget under ``COST LIMIT``.

    Args:
        cost_limit: the query's ``COST LIMIT`` (``None``: none).
        first_call: :func:`first_call_price` of the query.
        budget: records ``ORACLE LIMIT`` leaves for sampling.
        charged_before: records already charged to the query before sampling (the
            census's), counted against the money as if they had paid the same price.

    Example:
        >>> plan_for_cost(1.5, ("has_car", 0.01), 400, 0)
        CostPlan(budget=150, note='COST LIMIT 1.5 pays for at most 150 records at 0.01 per has_car call: the sample was planned for 150 records, not the 400 ORACLE LIMIT leaves')
        >>> plan_for_cost(None, ("has_car", 0.01), 400, 0).budget
        400
    """
    if cost_limit is None or first_call is None or first_call[1] <= 0:
        return CostPlan(budget)
    name, price = first_call
    affordable = max(math.floor(cost_limit / price + 1e-9) - charged_before, 0)
    if affordable >= budget:
        return CostPlan(budget)
    return CostPlan(
        affordable,
        f"COST LIMIT {cost_limit:g} pays for at most {affordable + charged_before} records at "
        f"{price:g} per {name} call: the sample was planned for {affordable} records, not "
        f"the {budget} ORACLE LIMIT leaves",
    )
