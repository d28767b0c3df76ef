"""The query engine: the Python API that every ``abae`` command is a thin layer over."""

from __future__ import annotations

from abae.engine.engine import Engine, PreparedQuery
from abae.engine.explain import Explanation, explain_query
from abae.engine.progress import QueryProgress
from abae.engine.result import AggregateResult, QueryResult, TargetOutcome

__all__ = [
    "AggregateResult",
    "Engine",
    "Explanation",
    "PreparedQuery",
    "QueryProgress",
    "QueryResult",
    "TargetOutcome",
    "explain_query",
]
