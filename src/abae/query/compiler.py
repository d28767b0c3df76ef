"""Compile a parsed ABae query against a store's catalog into a :class:`QueryPlan`.

The compiler decides which parts are cheap (DuckDB SQL over columns) and which
need an oracle, checks every name (table, columns, proxies, oracles) and
rejects anything outside the read-only subset, each time with the line and
column of the offending node and what was expected.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlglot import exp

from abae.query.dialect import parse_query
from abae.query.errors import QueryCompileError
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
from abae.query.sql_emitter import SqlEmitter, fail
from abae.store.identifiers import validate_identifier

DEFAULT_PROBABILITY = 0.95
_ALLOWED_ARGS = {"expressions", "from_", "where", "group", "oracle_limit", "proxy", "probability"}
_NUMERIC_TYPES = ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "NUMERIC", "BOOLEAN")
_COMPARISONS = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}


@dataclass(frozen=True)
class CollectionInfo:
    """What the compiler needs to know about one collection.

    Attributes:
        columns: every column name → DuckDB type (base, user and proxy columns).
        proxies: names of the proxy score columns.
    """

    columns: Mapping[str, str]
    proxies: Collection[str]


def compile_query(
    sql: str, collections: Mapping[str, CollectionInfo], oracles: Collection[str]
) -> QueryPlan:
    """Parse and compile ``sql``.

    Args:
        collections: the store's collections by name.
        oracles: names of the registered oracles.

    Raises:
        QueryParseError: the text is not valid in the dialect.
        QueryCompileError: unknown names or unsupported constructs.
    """
    tree = parse_query(sql)
    return _Compiler(sql, tree, collections, {o.lower(): o for o in oracles}).compile()


class _Compiler:
    def __init__(
        self,
        sql: str,
        tree: exp.Select,
        collections: Mapping[str, CollectionInfo],
        oracles: Mapping[str, str],
    ) -> None:
        self.sql = sql
        self.tree = tree
        self.collections = collections
        self.oracles = oracles
        self.tests: list[CheapTest] = []
        self.used_oracles: dict[str, None] = {}

    def compile(self) -> QueryPlan:
        self._reject_unsupported()
        self.table, info = self._table()
        self.info = info
        self.columns = {name.lower(): (name, sql_type) for name, sql_type in info.columns.items()}
        self.emitter = SqlEmitter(self.table, self.columns)
        group_by = self._group_by()
        aggregates = self._aggregates({name.lower() for name, _ in group_by})
        prefilter, predicate = self._where()
        budget = self._budget()
        probability = self._probability()
        proxy, proxy_text = self._proxy(predicate, aggregates)
        if not self.used_oracles:
            raise QueryCompileError(
                "the query calls no oracle function; an approximate query needs an oracle in "
                f"WHERE or in an aggregate (registered: {', '.join(self.oracles.values()) or 'none'})",
                1,
                1,
            )
        return QueryPlan(
            sql=self.sql,
            collection=self.table,
            aggregates=tuple(aggregates),
            predicate=predicate,
            prefilter=prefilter,
            cheap_tests=tuple(self.tests),
            group_by=tuple(group_by),
            proxy=proxy,
            proxy_text=proxy_text,
            budget=budget,
            probability=probability,
            oracles=tuple(self.used_oracles),
        )

    # --- clauses -----------------------------------------------------------------

    def _reject_unsupported(self) -> None:
        for key, value in self.tree.args.items():
            if key in _ALLOWED_ARGS or value is None or value is False or value == []:
                continue
            node = value[0] if isinstance(value, list) else value
            label = key.rstrip("_").replace("_", " ").upper()
            if isinstance(node, exp.Expr):
                raise fail(node, f"{label} is not supported in approximate queries")
            raise QueryCompileError(f"{label} is not supported in approximate queries", 1, 1)
        for node in self.tree.walk():
            if isinstance(node, exp.Select | exp.Subquery) and node is not self.tree:
                raise fail(node, "subqueries are not supported; expected one SELECT over one table")

    def _table(self) -> tuple[str, CollectionInfo]:
        source = self.tree.args.get("from_")
        if source is None:
            raise QueryCompileError("expected FROM <collection> after the SELECT list", 1, 1)
        table = source.this
        if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
            raise fail(table, "expected a collection name after FROM")
        if table.args.get("db") or table.args.get("catalog"):
            raise fail(table, "expected a plain collection name after FROM, not a qualified one")
        if table.args.get("alias") is not None:
            raise fail(table.args["alias"], "table aliases are not supported")
        name = table.name
        matches = {k.lower(): k for k in self.collections}
        if name.lower() not in matches:
            known = ", ".join(sorted(self.collections)) or "none (run `abae import` first)"
            raise fail(table, f"unknown collection {name!r}; expected one of: {known}")
        stored = matches[name.lower()]
        return stored, self.collections[stored]

    def _group_by(self) -> list[tuple[str, SqlFragment]]:
        group = self.tree.args.get("group")
        if group is None:
            return []
        keys = []
        for node in group.expressions:
            if not isinstance(node, exp.Column):
                raise fail(node, "GROUP BY takes column names only")
            name = self.emitter.column_name(node)
            keys.append((name, SqlFragment(f'"{name}"')))
        return keys

    def _aggregates(self, group_names: set[str]) -> list[Aggregate]:
        aggregates: list[Aggregate] = []
        for item in self.tree.expressions:
            alias = item.alias if isinstance(item, exp.Alias) else ""
            node = item.this if isinstance(item, exp.Alias) else item
            if isinstance(node, exp.Column) and node.name.lower() in group_names:
                continue
            if isinstance(node, exp.Count):
                if not isinstance(node.this, exp.Star) or node.args.get("distinct"):
                    raise fail(node, "expected COUNT(*): counts are of records matching WHERE")
                aggregates.append(Aggregate("count", alias or "count"))
                continue
            if isinstance(node, exp.Avg | exp.Sum):
                kind = "avg" if isinstance(node, exp.Avg) else "sum"
                inner = node.this
                if isinstance(inner, exp.Distinct):
                    raise fail(node, f"{kind.upper()}(DISTINCT ...) is not supported")
                if self._is_oracle_call(inner):
                    call = self._oracle_call(inner)
                    name = alias or f"{kind}({call})"
                    aggregates.append(Aggregate(kind, name, oracle=call))
                else:
                    name = alias or f"{kind}({inner.sql()})"
                    self._check_cheap(inner, f"{kind.upper()}(...)")
                    aggregates.append(Aggregate(kind, name, column=self.emitter.emit(inner)))
                continue
            if isinstance(node, exp.Column):
                raise fail(
                    node,
                    f"column {node.name!r} in SELECT must be in GROUP BY; "
                    "expected AVG(...), SUM(...), COUNT(*) or a GROUP BY column",
                )
            raise fail(node, f"expected AVG(...), SUM(...) or COUNT(*), got {node.sql()!r}")
        if not aggregates:
            raise QueryCompileError(
                "expected at least one aggregate in SELECT: AVG(...), SUM(...) or COUNT(*)", 1, 1
            )
        return aggregates

    def _where(self) -> tuple[SqlFragment | None, Predicate | None]:
        where = self.tree.args.get("where")
        if where is None:
            return None, None
        conjuncts = _flatten(where.this, exp.And)
        cheap = [c for c in conjuncts if not self._has_oracle(c)]
        costly = [c for c in conjuncts if self._has_oracle(c)]
        prefilter = None
        if cheap:
            fragments = [self.emitter.emit(c) for c in cheap]
            prefilter = SqlFragment(
                " AND ".join(f"({f.sql})" for f in fragments),
                tuple(p for f in fragments for p in f.params),
            )
        if not costly:
            return prefilter, None
        parts = tuple(self._predicate(c) for c in costly)
        return prefilter, parts[0] if len(parts) == 1 else AllOf(parts)

    def _predicate(self, node: exp.Expr) -> Predicate:
        if isinstance(node, exp.Paren):
            return self._predicate(node.this)
        if not self._has_oracle(node):
            test = CheapTest(len(self.tests), self.emitter.emit(node), node.sql())
            self.tests.append(test)
            return test
        if isinstance(node, exp.And):
            return AllOf(tuple(self._predicate(p) for p in _flatten(node, exp.And)))
        if isinstance(node, exp.Or):
            return AnyOf(tuple(self._predicate(p) for p in _flatten(node, exp.Or)))
        if isinstance(node, exp.Not):
            return NoneOf(self._predicate(node.this))
        if self._is_oracle_call(node):
            return OracleTest(self._oracle_call(node))
        if type(node) in _COMPARISONS:
            raise fail(
                node,
                "comparisons on oracle outputs are not supported; expected a predicate oracle "
                "(returning True/False), e.g. WHERE has_red_light(image)",
            )
        raise fail(node, f"unsupported condition {node.sql()!r}; expected AND/OR/NOT of predicates")

    def _budget(self) -> int:
        node = self.tree.args.get("oracle_limit")
        if node is None:
            lines = self.sql.rstrip().rstrip(";").splitlines() or [""]
            raise QueryCompileError(
                "expected ORACLE LIMIT <calls> at the end of the query: the oracle budget",
                len(lines),
                len(lines[-1]) + 1,
            )
        if not isinstance(node, exp.Literal) or not node.name.isdigit() or int(node.name) < 1:
            raise fail(node, f"ORACLE LIMIT needs a positive integer, got {node.sql()}")
        return int(node.name)

    def _probability(self) -> float:
        node = self.tree.args.get("probability")
        if node is None:
            return DEFAULT_PROBABILITY
        try:
            value = float(node.name) if isinstance(node, exp.Literal) else -1.0
        except ValueError:
            value = -1.0
        if not 0.0 < value < 1.0:
            raise fail(node, f"WITH PROBABILITY needs a number in (0, 1), got {node.sql()}")
        return value

    def _proxy(
        self, predicate: Predicate | None, aggregates: list[Aggregate]
    ) -> tuple[SqlFragment, str]:
        node = self.tree.args.get("proxy")
        if node is not None:
            if self._has_oracle(node):
                raise fail(node, "USING takes proxy columns, not oracle calls")

            def numeric_only(column: exp.Column, name: str) -> None:
                sql_type = self.columns[name.lower()][1].upper()
                if not any(t in sql_type for t in _NUMERIC_TYPES):
                    raise fail(column, f"USING needs numeric proxy columns; {name!r} is {sql_type}")

            emitter = SqlEmitter(
                self.table, self.columns, logic="probability", on_column=numeric_only
            )
            return emitter.emit(node), node.sql()
        if predicate is not None:
            return self._derived_proxy(predicate)
        for aggregate in aggregates:
            if aggregate.oracle is not None:
                column = self._proxy_for(aggregate.oracle.name)
                if column is not None:
                    return SqlFragment(f'"{column}"'), column
        raise QueryCompileError(
            "expected USING <proxy>: no proxy score column matches the query's oracles "
            f"(proxies in {self.table!r}: {', '.join(sorted(self.info.proxies)) or 'none'})",
            1,
            1,
        )

    def _derived_proxy(self, predicate: Predicate) -> tuple[SqlFragment, str]:
        if isinstance(predicate, CheapTest):
            return (
                SqlFragment(
                    f"CAST(coalesce(({predicate.fragment.sql}), FALSE) AS DOUBLE)",
                    predicate.fragment.params,
                ),
                f"[{predicate.text}]",
            )
        if isinstance(predicate, OracleTest):
            column = self._proxy_for(predicate.call.name)
            if column is None:
                raise QueryCompileError(
                    f"expected USING <proxy>: no proxy score column for oracle "
                    f"{predicate.call.name!r} (proxies in {self.table!r}: "
                    f"{', '.join(sorted(self.info.proxies)) or 'none'})",
                    1,
                    1,
                )
            return SqlFragment(f'"{column}"'), column
        if isinstance(predicate, NoneOf):
            inner, text = self._derived_proxy(predicate.part)
            return SqlFragment(f"(1.0 - {inner.sql})", inner.params), f"NOT {text}"
        pieces = [self._derived_proxy(p) for p in predicate.parts]
        params = tuple(p for fragment, _ in pieces for p in fragment.params)
        if isinstance(predicate, AllOf):
            sql = " * ".join(f.sql for f, _ in pieces)
            return SqlFragment(f"({sql})", params), " AND ".join(t for _, t in pieces)
        sql = " * ".join(f"(1.0 - {f.sql})" for f, _ in pieces)
        return SqlFragment(f"(1.0 - {sql})", params), " OR ".join(t for _, t in pieces)

    def _proxy_for(self, oracle: str) -> str | None:
        proxies = {p.lower(): p for p in self.info.proxies}
        for candidate in (oracle, f"{oracle}_proxy", f"proxy_{oracle}"):
            if candidate.lower() in proxies:
                return proxies[candidate.lower()]
        return None

    # --- oracle calls ------------------------------------------------------------

    def _is_oracle_call(self, node: exp.Expr) -> bool:
        return isinstance(node, exp.Anonymous)

    def _has_oracle(self, node: exp.Expr) -> bool:
        return any(isinstance(n, exp.Anonymous) for n in node.walk())

    def _oracle_call(self, node: exp.Expr) -> OracleCall:
        assert isinstance(node, exp.Anonymous)
        name = str(node.this)
        stored = self.oracles.get(name.lower())
        if stored is None:
            known = ", ".join(sorted(self.oracles.values())) or "none (pass --oracles FILE.py)"
            raise fail(node, f"unknown function {name!r}; expected a registered oracle: {known}")
        args = []
        for arg in node.expressions:
            if not isinstance(arg, exp.Column) or isinstance(arg.this, exp.Star):
                raise fail(
                    arg, f"oracle {name!r} takes column names as arguments, got {arg.sql()!r}"
                )
            args.append(self.emitter.column_name(arg))
        self.used_oracles[stored] = None
        validate_identifier(stored, what="oracle name")
        return OracleCall(stored, tuple(args))

    def _check_cheap(self, node: exp.Expr, where: str) -> None:
        for inner in node.walk():
            if isinstance(inner, exp.Anonymous):
                raise fail(
                    inner,
                    f"an oracle call inside an expression is not supported in {where}; "
                    "expected the oracle call alone, e.g. AVG(count_cars(image))",
                )
            if isinstance(inner, exp.AggFunc):
                raise fail(inner, f"nested aggregate in {where}")


def _flatten(node: exp.Expr, kind: type[exp.Expr]) -> list[exp.Expr]:
    while isinstance(node, exp.Paren) and isinstance(node.this, kind):
        node = node.this
    if isinstance(node, kind):
        return _flatten(node.this, kind) + _flatten(node.expression, kind)
    return [node]
