"""The ABae query language: a sqlglot dialect and its compiler to parameterised DuckDB SQL."""

from __future__ import annotations

from abae.query.compiler import CollectionInfo, compile_query
from abae.query.dialect import AbaeSQL, parse_query
from abae.query.errors import QueryCompileError, QueryError, QueryParseError
from abae.query.plan import (
    Aggregate,
    AllOf,
    AnyOf,
    CheapTest,
    NoneOf,
    OracleCall,
    OracleTest,
    Predicate,
    QueryPlan,
    SqlFragment,
)

__all__ = [
    "AbaeSQL",
    "Aggregate",
    "AllOf",
    "AnyOf",
    "CheapTest",
    "CollectionInfo",
    "NoneOf",
    "OracleCall",
    "OracleTest",
    "Predicate",
    "QueryCompileError",
    "QueryError",
    "QueryParseError",
    "QueryPlan",
    "SqlFragment",
    "compile_query",
    "parse_query",
]
