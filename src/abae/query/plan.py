"""A compiled query: what to read from the store, what to ask the oracles, how to aggregate.

Cheap parts (column predicates, group keys, column statistics, the proxy) are
parameterised DuckDB SQL fragments over validated, double-quoted column names;
literals travel as parameters. Oracle parts are calls to registered oracles
with column arguments, and per-record values over their outputs
(:mod:`abae.query.values`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from abae.query.values import CheapValue, Value, oracle_calls


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

    def __str__(self) -> str:
        return f"[{self.text}]"


@dataclass(frozen=True)
class OracleTest:
    """A predicate answered by an oracle: its yes/no answer."""

    call: OracleCall

    def __str__(self) -> str:
        return str(self.call)


@dataclass(frozen=True)
class OracleCondition:
    """A condition on oracle outputs, e.g. ``count_cars(image) > 2``.

    Attributes:
        condition: a boolean :data:`~abae.query.values.Value` (a comparison,
            ``IN`` or ``BETWEEN``); a comparison with NULL is false.
        text: the condition as written.
    """

    condition: Value
    text: str

    @property
    def calls(self) -> tuple[OracleCall, ...]:
        """The oracle calls the condition needs (each once)."""
        return oracle_calls(self.condition)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class AllOf:
    """Conjunction (evaluated left to right, stopping at the first false)."""

    parts: tuple[Predicate, ...]

    def __str__(self) -> str:
        return "(" + " AND ".join(str(p) for p in self.parts) + ")"


@dataclass(frozen=True)
class AnyOf:
    """Disjunction (evaluated left to right, stopping at the first true)."""

    parts: tuple[Predicate, ...]

    def __str__(self) -> str:
        return "(" + " OR ".join(str(p) for p in self.parts) + ")"


@dataclass(frozen=True)
class NoneOf:
    """Negation of one predicate."""

    part: Predicate

    def __str__(self) -> str:
        return f"NOT {self.part}"


Predicate = CheapTest | OracleTest | OracleCondition | AllOf | AnyOf | NoneOf


def predicate_calls(node: Predicate | None) -> tuple[OracleCall, ...]:
    """Every oracle call a predicate may need, each once, left to right."""
    if node is None or isinstance(node, CheapTest):
        return ()
    if isinstance(node, OracleTest):
        return (node.call,)
    if isinstance(node, OracleCondition):
        return node.calls
    if isinstance(node, NoneOf):
        return predicate_calls(node.part)
    return tuple(dict.fromkeys(c for part in node.parts for c in predicate_calls(part)))


def first_oracle_test(node: Predicate | None) -> OracleCall | None:
    """The first oracle whose yes/no answer the predicate reads (a proxy can learn it), or ``None``.

    Conditions on an oracle's output (``count_cars(image) > 2``) are skipped:
    their oracle's yes/no answer is not the condition.
    """
    if node is None or isinstance(node, CheapTest | OracleCondition):
        return None
    if isinstance(node, OracleTest):
        return node.call
    if isinstance(node, NoneOf):
        return first_oracle_test(node.part)
    for part in node.parts:
        found = first_oracle_test(part)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Aggregate:
    """One output aggregate.

    For AVG and SUM exactly one of ``oracle``, ``column`` and ``expression``
    says where the statistic comes from; COUNT has none.

    Attributes:
        kind: ``"avg"``, ``"sum"`` or ``"count"``.
        name: the output name (alias, or the expression text).
        oracle: the oracle whose number is the statistic (``AVG(count_cars(image))``).
        column: a cheap statistic as SQL over columns (``SUM(speed * 2)``); its
            value is read as ``abae_stat_<position>``.
        expression: a numeric value over oracle outputs and columns
            (``AVG(count_cars(image) * 1.5)``, ``SUM(count_cars(image) + price)``).
    """

    kind: str
    name: str
    oracle: OracleCall | None = None
    column: SqlFragment | None = None
    expression: Value | None = None

    @property
    def calls(self) -> tuple[OracleCall, ...]:
        """The oracle calls the statistic needs (each once)."""
        if self.oracle is not None:
            return (self.oracle,)
        if self.expression is not None:
            return oracle_calls(self.expression)
        return ()


@dataclass(frozen=True)
class ErrorTarget:
    """``ERROR WITHIN half_width [RELATIVE]``: stop once each interval is this narrow.

    Attributes:
        half_width: the interval half-width to reach, in the aggregate's unit
            (or a fraction of the estimate when ``relative``: 0.01 = 1%).
        relative: whether ``half_width`` is relative to the estimate.
    """

    half_width: float
    relative: bool

    def __str__(self) -> str:
        return f"ERROR WITHIN {self.half_width:g}" + (" RELATIVE" if self.relative else "")


@dataclass(frozen=True)
class OracleGroups:
    """``GROUP BY vehicle_type(image)``: groups are the categories an oracle returns.

    The group of a record is known only once it is labelled, so one sample
    serves every group. Each group ranks the records by its own proxy.

    Attributes:
        name: the output column name (the call as written, or its SELECT alias).
        call: the category oracle.
        categories: its declared categories: the groups, in declaration order.
        proxies: per category (aligned with ``categories``), the score ranking the
            records for that group (SQL over proxy columns); read from the scan as
            ``abae_group_proxy_<j>``.
        proxy_texts: the per-group proxies for display.
        per_group: whether the groups have their own proxies; ``False`` means every
            group uses the plan's proxy (then ``proxies`` repeats it and the scan
            has no per-group columns).
    """

    name: str
    call: OracleCall
    categories: tuple[str, ...]
    proxies: tuple[SqlFragment, ...]
    proxy_texts: tuple[str, ...]
    per_group: bool


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
        budget: ``ORACLE LIMIT`` (records the oracles may label), or the default cap
            :data:`abae.query.limits.DEFAULT_ORACLE_LIMIT` when the query gives
            ``ERROR WITHIN`` without a limit (then ``budget_defaulted``).
        probability: the interval's confidence (``AT CONFIDENCE`` or its synonym
            ``WITH PROBABILITY``; default 0.95).
        oracles: every oracle the query may call, in first-use order.
        budget_defaulted: ``budget`` is the default cap, not a limit the query gave
            (print it: the user did not choose it).
        error_target: ``ERROR WITHIN e [RELATIVE]``, or ``None``.
        cost_limit: ``COST LIMIT x``: the most the oracles may cost this query, in
            their cost unit (:attr:`abae.oracles.OracleSpec.cost`), or ``None``.
        proxy_columns: the registered proxy score columns the ranking reads (USING,
            the derived proxy and per-group proxies), in first-use order.
        group_oracle: ``GROUP BY`` an oracle's category, or ``None``.
        cheap_values: cheap expressions that oracle values read per record
            (:class:`~abae.query.values.CheapValue`, by index); fetch them with
            :meth:`cheap_values_sql` for the records being labelled.
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
    budget_defaulted: bool = False
    error_target: ErrorTarget | None = None
    cost_limit: float | None = None
    proxy_columns: tuple[str, ...] = ()
    group_oracle: OracleGroups | None = None
    cheap_values: tuple[CheapValue, ...] = ()

    def scan_sql(self) -> SqlFragment:
        """``SELECT id, proxy, cheap tests, group keys, column statistics FROM collection WHERE prefilter``.

        Rows come in the table's order (records are stored in id order); the
        scan does not sort them, so a caller that needs id order checks it.

        Result columns: ``id``, ``abae_proxy``, ``abae_test_<i>``, ``abae_group_<j>``,
        ``abae_stat_<k>``, then ``abae_group_proxy_<j>`` (one per category, only
        when :attr:`group_oracle` has per-group proxies), in that order.
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
        if self.group_oracle is not None and self.group_oracle.per_group:
            for j, score in enumerate(self.group_oracle.proxies):
                parts.append(f"CAST(({score.sql}) AS DOUBLE) AS abae_group_proxy_{j}")
                params.extend(score.params)
        where = ""
        if self.prefilter is not None:
            where = f" WHERE coalesce(({self.prefilter.sql}), FALSE)"
            params.extend(self.prefilter.params)
        table = f'"{self.collection}"'
        return SqlFragment(f"SELECT {', '.join(parts)} FROM {table}{where}", tuple(params))

    def cheap_values_sql(self) -> SqlFragment:
        """``SELECT id, abae_value_0, ... FROM collection WHERE id IN (SELECT id FROM abae_wanted_ids)``.

        The records are those of a registered relation ``abae_wanted_ids(id)``;
        numbers come as DOUBLE, booleans as 1.0/0.0, text as VARCHAR (NULL stays NULL).
        """
        parts = ["id"]
        params: list[object] = []
        for value in self.cheap_values:
            parts.append(f"({value.fragment.sql}) AS abae_value_{value.index}")
            params.extend(value.fragment.params)
        table = f'"{self.collection}"'
        return SqlFragment(
            f"SELECT {', '.join(parts)} FROM {table} WHERE id IN (SELECT id FROM abae_wanted_ids)",
            tuple(params),
        )
