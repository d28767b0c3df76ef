"""The ABae query language: a sqlglot dialect and its compiler to parameterised DuckDB SQL."""

from __future__ import annotations

from abae.query.compiler import CollectionInfo, compile_query
from abae.query.dialect import AbaeSQL, parse_query
from abae.query.errors import QueryCompileError, QueryError, QueryParseError
from abae.query.limits import DEFAULT_ORACLE_LIMIT, DEFAULT_PROBABILITY, MAX_ORACLE_LIMIT
from abae.query.plan import (
    Aggregate,
    AllOf,
    AnyOf,
    CheapTest,
    ErrorTarget,
    NoneOf,
    OracleCall,
    OracleCondition,
    OracleGroups,
    OracleTest,
    Predicate,
    QueryPlan,
    SqlFragment,
    first_oracle_test,
    predicate_calls,
)
from abae.query.proxies import missing_proxies

__all__ = [
    "DEFAULT_ORACLE_LIMIT",
    "DEFAULT_PROBABILITY",
    "MAX_ORACLE_LIMIT",
    "AbaeSQL",
    "Aggregate",
    "AllOf",
    "AnyOf",
    "CheapTest",
    "CollectionInfo",
    "ErrorTarget",
    "NoneOf",
    "OracleCall",
    "OracleCondition",
    "OracleGroups",
    "OracleTest",
    "Predicate",
    "QueryCompileError",
    "QueryError",
    "QueryParseError",
    "QueryPlan",
    "SqlFragment",
    "compile_query",
    "first_oracle_test",
    "missing_proxies",
    "parse_query",
    "predicate_calls",
]
