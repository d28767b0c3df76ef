"""The numbers that bound a query: ``ORACLE LIMIT``, ``ERROR WITHIN``, ``AT CONFIDENCE``, ``COST LIMIT``.

Each is checked at compile time, with the position of the offending number:

- ``ORACLE LIMIT n``: an integer in ``[1, MAX_ORACLE_LIMIT]``; optional when
  ``ERROR WITHIN`` is given, then :data:`DEFAULT_ORACLE_LIMIT` applies (and the
  plan says it was defaulted, so the engine prints it);
- ``ERROR WITHIN e``: ``e > 0``; with ``RELATIVE``, a fraction ``0 < e < 1``
  of the estimate (0.01 = 1%);
- ``AT CONFIDENCE p`` (or its synonym ``WITH PROBABILITY p``): ``0 < p < 1``,
  default :data:`DEFAULT_PROBABILITY`;
- ``COST LIMIT x``: a finite ``x >= 0`` in the oracles' cost unit.

Example:
    >>> from abae.query.dialect import parse_query
    >>> tree = parse_query("SELECT COUNT(*) FROM t WHERE f(x) ERROR WITHIN 0.02 RELATIVE")
    >>> limits = query_limits(tree, "")
    >>> limits.budget, limits.budget_defaulted, limits.error_target
    (10000, True, ErrorTarget(half_width=0.02, relative=True))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlglot import exp

from abae.query.errors import QueryCompileError
from abae.query.plan import ErrorTarget
from abae.query.sql_emitter import fail

DEFAULT_PROBABILITY = 0.95
DEFAULT_ORACLE_LIMIT = 10_000
"""Oracle calls a query with ``ERROR WITHIN`` and no ``ORACLE LIMIT`` may spend at most."""
MAX_ORACLE_LIMIT = 1_000_000_000
"""The largest ``ORACLE LIMIT`` accepted (a guard against typos such as ``1e23``)."""


@dataclass(frozen=True)
class QueryLimits:
    """The checked clause values (see the module docstring for each rule)."""

    budget: int
    budget_defaulted: bool
    probability: float
    error_target: ErrorTarget | None
    cost_limit: float | None


def query_limits(tree: exp.Select, sql: str) -> QueryLimits:
    """Check and read the limits of a parsed query.

    Args:
        tree: the parsed query.
        sql: its text (to locate the end of the query for a missing clause).

    Raises:
        QueryCompileError: a number out of range, or neither ``ORACLE LIMIT`` nor ``ERROR WITHIN``.
    """
    target = _error_target(tree)
    budget_node = tree.args.get("oracle_limit")
    if budget_node is None:
        if target is None:
            lines = sql.rstrip().rstrip(";").splitlines() or [""]
            raise QueryCompileError(
                "expected ORACLE LIMIT <calls> (or ERROR WITHIN <error>) at the end of the "
                "query: the oracle budget",
                len(lines),
                len(lines[-1]) + 1,
            )
        budget, defaulted = DEFAULT_ORACLE_LIMIT, True
    else:
        budget, defaulted = _budget(budget_node), False
    return QueryLimits(
        budget=budget,
        budget_defaulted=defaulted,
        probability=_probability(tree),
        error_target=target,
        cost_limit=_cost_limit(tree),
    )


def _number(node: exp.Expr, clause: str, expected: str) -> Decimal:
    negative = isinstance(node, exp.Neg)
    literal = node.this if negative else node
    if not isinstance(literal, exp.Literal) or literal.is_string:
        raise fail(node, f"{clause} needs {expected}, got {node.sql()}")
    try:
        value = Decimal(str(literal.this))
    except InvalidOperation:
        raise fail(node, f"{clause} needs {expected}, got {node.sql()}") from None
    if not value.is_finite():
        raise fail(node, f"{clause} needs {expected}, got {node.sql()}")
    return -value if negative else value


def _budget(node: exp.Expr) -> int:
    expected = f"a whole number of oracle calls from 1 to {MAX_ORACLE_LIMIT:,}"
    value = _number(node, "ORACLE LIMIT", expected)
    if value != value.to_integral_value() or not 1 <= value <= MAX_ORACLE_LIMIT:
        raise fail(node, f"ORACLE LIMIT needs {expected}, got {node.sql()}")
    return int(value)


def _probability(tree: exp.Select) -> float:
    node = tree.args.get("probability")
    if node is None:
        return DEFAULT_PROBABILITY
    clause = str(node.meta.get("abae_clause", "AT CONFIDENCE"))
    expected = "a probability in (0, 1), e.g. 0.95"
    value = float(_number(node, clause, expected))
    if not 0.0 < value < 1.0:
        raise fail(node, f"{clause} needs {expected}, got {node.sql()}")
    return value


def _error_target(tree: exp.Select) -> ErrorTarget | None:
    node = tree.args.get("error_target")
    if node is None:
        return None
    relative = bool(node.args.get("relative"))
    number = node.this
    expected = (
        "a fraction of the estimate between 0 and 1, e.g. ERROR WITHIN 0.01 RELATIVE for 1%"
        if relative
        else "a positive half-width in the aggregate's unit, e.g. ERROR WITHIN 5"
    )
    value = float(_number(number, "ERROR WITHIN", expected))
    if not math.isfinite(value) or value <= 0 or (relative and value >= 1):
        raise fail(number, f"ERROR WITHIN needs {expected}, got {number.sql()}")
    return ErrorTarget(value, relative)


def _cost_limit(tree: exp.Select) -> float | None:
    node = tree.args.get("cost_limit")
    if node is None:
        return None
    expected = "a cost of zero or more in the oracles' cost unit, e.g. COST LIMIT 25"
    value = float(_number(node, "COST LIMIT", expected))
    if not math.isfinite(value) or value < 0:
        raise fail(node, f"COST LIMIT needs {expected}, got {node.sql()}")
    return value
