"""The query engine: the Python API that every ``abae`` command is a thin layer over."""

from __future__ import annotations

from abae.engine.engine import Engine
from abae.engine.explain import Explanation, explain_query
from abae.engine.result import AggregateResult, QueryProgress, QueryResult

__all__ = [
    "AggregateResult",
    "Engine",
    "Explanation",
    "QueryProgress",
    "QueryResult",
    "explain_query",
]
