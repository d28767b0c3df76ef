"""A compiled query: what to read from the store, what to ask the oracles, how to aggregate.

Cheap parts (column predicates, group keys, column statistics, the proxy) are
parameterised DuckDB SQL fragments over validated, double-quoted column names;
literals travel as parameters. Oracle parts are calls to registered oracles
with column arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SqlFragment:
    """A DuckDB expression with ``?`` placeholders and their parameters, in order."""

    sql: str
    params: tuple[object, ...] = ()


@dataclass(frozen=True)
class OracleCall:
    """``name(arg, ...)``: a registered oracle applied to a record's columns."""

    name: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(self.args)})"


@dataclass(frozen=True)
class CheapTest:
    """A predicate over columns, evaluated in DuckDB; ``index`` names its result column."""

    index: int
    fragment: SqlFragment
    text: str


@dataclass(frozen=True)
class OracleTest:
    """A predicate answered by an oracle."""

    call: OracleCall


@dataclass(frozen=True)
class AllOf:
    """Conjunction (evaluated left to right, stopping at the first false)."""

    parts: tuple[Predicate, ...]


@dataclass(frozen=True)
class AnyOf:
    """Disjunction (evaluated left to right, stopping at the first true)."""

    parts: tuple[Predicate, ...]


@dataclass(frozen=True)
class NoneOf:
    """Negation of one predicate."""

    part: Predicate


Predicate = CheapTest | OracleTest | AllOf | AnyOf | NoneOf


@dataclass(frozen=True)
class Aggregate:
    """One output aggregate.

    Attributes:
        kind: ``"avg"``, ``"sum"`` or ``"count"``.
        name: the output name (alias, or the expression text).
        oracle: the oracle giving the statistic (``None`` for COUNT or a column statistic).
        column: a column statistic as SQL (``None`` for COUNT or an oracle statistic);
            its value is read as ``abae_stat_<position>``.
    """

    kind: str
    name: str
    oracle: OracleCall | None = None
    column: SqlFragment | None = None


@dataclass(frozen=True)
class QueryPlan:
    """Everything the engine needs to run one approximate query.

    Attributes:
        sql: the query text as given.
        collection: the records table.
        aggregates: the SELECT aggregates, in order (at least one).
        predicate: the WHERE condition still to evaluate per sampled record
            (``None`` = every record is a match).
        prefilter: cheap conjuncts of WHERE pushed into the record scan (no oracle
            budget is spent on records they exclude), or ``None``.
        cheap_tests: the cheap predicates inside ``predicate``, by index.
        group_by: group key columns (SQL), with their names.
        proxy: the ranking score (SQL over proxy/cheap columns).
        proxy_text: the proxy as written (or derived), for display.
        budget: ``ORACLE LIMIT`` (records the oracles may label).
        probability: the interval's confidence (``WITH PROBABILITY``, default 0.95).
    """

    sql: str
    collection: str
    aggregates: tuple[Aggregate, ...]
    predicate: Predicate | None
    prefilter: SqlFragment | None
    cheap_tests: tuple[CheapTest, ...]
    group_by: tuple[tuple[str, SqlFragment], ...]
    proxy: SqlFragment
    proxy_text: str
    budget: int
    probability: float
    oracles: tuple[str, ...] = field(default=())

    def scan_sql(self) -> SqlFragment:
        """``SELECT id, proxy, cheap tests, group keys, column statistics FROM collection WHERE prefilter``.

        Result columns: ``id``, ``abae_proxy``, ``abae_test_<i>``, ``abae_group_<j>``,
        ``abae_stat_<k>``, in that order.
        """
        parts = ["id", f"CAST(({self.proxy.sql}) AS DOUBLE) AS abae_proxy"]
        params: list[object] = list(self.proxy.params)
        for test in self.cheap_tests:
            parts.append(f"coalesce(({test.fragment.sql}), FALSE) AS abae_test_{test.index}")
            params.extend(test.fragment.params)
        for j, (_, key) in enumerate(self.group_by):
            parts.append(f"({key.sql}) AS abae_group_{j}")
            params.extend(key.params)
        for k, aggregate in enumerate(self.aggregates):
            if aggregate.column is not None:
                parts.append(f"CAST(({aggregate.column.sql}) AS DOUBLE) AS abae_stat_{k}")
                params.extend(aggregate.column.params)
        where = ""
        if self.prefilter is not None:
            where = f" WHERE coalesce(({self.prefilter.sql}), FALSE)"
            params.extend(self.prefilter.params)
        table = f'"{self.collection}"'
        return SqlFragment(
            f"SELECT {', '.join(parts)} FROM {table}{where} ORDER BY id", tuple(params)
        )
