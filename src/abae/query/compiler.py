"""Compile a parsed ABae query against a store's catalog into a :class:`QueryPlan`.

The compiler decides which parts are cheap (DuckDB SQL over columns) and which
need an oracle, checks every name (table, columns, proxies, oracles) and every
type (columns against literals, oracle outputs against what they are compared
with), and rejects anything outside the read-only subset, each time with the
line and column of the offending node and what was expected.

Example:
    >>> catalog = {"frames": CollectionInfo({"id": "BIGINT", "image": "VARCHAR",
    ...                                       "speed": "DOUBLE", "p": "DOUBLE"}, ["p"])}
    >>> plan = compile_query(
    ...     "SELECT AVG(count_cars(image) * 1.5) FROM frames "
    ...     "WHERE count_cars(image) > 2 AND speed < 30 ERROR WITHIN 0.05 RELATIVE USING p",
    ...     catalog, ["count_cars"])
    >>> plan.prefilter.sql, plan.prefilter.params
    ('(("speed" < ?))', (30,))
    >>> str(plan.predicate), plan.budget, plan.budget_defaulted, plan.proxy_columns
    ('count_cars(image) > 2', 10000, True, ('p',))
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlglot import exp

from abae.query.dialect import GroupProxyMap, parse_query
from abae.query.errors import QueryCompileError
from abae.query.limits import DEFAULT_ORACLE_LIMIT, DEFAULT_PROBABILITY, query_limits
from abae.query.oracle_calls import OracleDeclarations, OracleResolver, signatures
from abae.query.plan import (
    Aggregate,
    AllOf,
    AnyOf,
    CheapTest,
    NoneOf,
    OracleCall,
    OracleCondition,
    OracleGroups,
    OracleTest,
    Predicate,
    QueryPlan,
    SqlFragment,
)
from abae.query.proxies import ProxyPlanner
from abae.query.sql_emitter import SqlEmitter, fail, shown, text_of
from abae.query.sql_types import kind_of_type
from abae.query.value_compiler import ValueCompiler

__all__ = ["DEFAULT_ORACLE_LIMIT", "DEFAULT_PROBABILITY", "CollectionInfo", "compile_query"]

_ALLOWED_ARGS = {
    "expressions",
    "from_",
    "where",
    "group",
    "oracle_limit",
    "proxy",
    "probability",
    "error_target",
    "cost_limit",
}
_CONDITIONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In, exp.Between, exp.Is)


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
    sql: str,
    collections: Mapping[str, CollectionInfo],
    oracles: OracleDeclarations,
    *,
    tree: exp.Select | None = None,
) -> QueryPlan:
    """Parse (unless ``tree`` is given) and compile ``sql``.

    Args:
        sql: the query text (kept in the plan, and used to parse when ``tree`` is ``None``).
        collections: the store's collections by name.
        oracles: the registered oracles: an :class:`~abae.oracles.OracleRegistry`, a
            mapping of name to :class:`~abae.oracles.OracleSpec` (their ``returns``
            and ``categories`` are type-checked), or a collection of names (what
            they return is then unknown: checked per answer at run time).
        tree: ``parse_query(sql)`` when the caller already parsed it (parse once per
            run); it is not modified.

    Raises:
        QueryParseError: the text is not valid in the dialect.
        QueryCompileError: unknown names, type mismatches or unsupported constructs.
    """
    parsed = parse_query(sql) if tree is None else tree
    return _Compiler(sql, parsed, collections, oracles).compile()


@dataclass(frozen=True)
class _GroupOracle:
    """``GROUP BY`` an oracle call, before its proxies are chosen."""

    node: exp.Expr
    name: str
    call: OracleCall
    categories: tuple[str, ...]


class _Compiler:
    def __init__(
        self,
        sql: str,
        tree: exp.Select,
        collections: Mapping[str, CollectionInfo],
        oracles: OracleDeclarations,
    ) -> None:
        self.sql = sql
        self.tree = tree
        self.collections = collections
        self.signatures = signatures(oracles)
        self.tests: list[CheapTest] = []

    def compile(self) -> QueryPlan:
        self._reject_unsupported()
        self.table, self.info = self._table()
        self.columns = {
            name.lower(): (name, sql_type) for name, sql_type in self.info.columns.items()
        }
        self.emitter = SqlEmitter(self.table, self.columns)
        self.resolver = OracleResolver(self.signatures, self.emitter)
        self.values = ValueCompiler(self.emitter, self.resolver)
        limits = query_limits(self.tree, self.sql)
        group_by, group_oracle = self._group_by()
        aggregates = self._aggregates({name.lower() for name, _ in group_by}, group_oracle)
        prefilter, predicate = self._where()
        planner = ProxyPlanner(self.table, self.columns, self.info.proxies)
        proxy, proxy_text, groups = self._proxies(planner, predicate, aggregates, group_oracle)
        if not self.resolver.used:
            known = ", ".join(sorted(s.name for s in self.signatures.values()))
            raise QueryCompileError(
                "the query calls no oracle function; an approximate query needs an oracle in "
                f"WHERE, in an aggregate or in GROUP BY (registered: {known or 'none'})",
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
            budget=limits.budget,
            probability=limits.probability,
            oracles=tuple(self.resolver.used),
            budget_defaulted=limits.budget_defaulted,
            error_target=limits.error_target,
            cost_limit=limits.cost_limit,
            proxy_columns=planner.proxy_columns,
            group_oracle=groups,
            cheap_values=self.values.cheap_values,
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
        extra = [k for k, v in table.args.items() if k != "this" and v not in (None, False, [])]
        if extra:
            raise fail(table, f"expected a plain collection name after FROM, got {table.sql()!r}")
        name = table.name
        matches = {k.lower(): k for k in self.collections}
        if name.lower() not in matches:
            known = ", ".join(sorted(self.collections)) or "none (run `abae import` first)"
            raise fail(table, f"unknown collection {name!r}; expected one of: {known}")
        stored = matches[name.lower()]
        return stored, self.collections[stored]

    def _select_aliases(self) -> dict[str, exp.Expr]:
        return {
            item.alias.lower(): item.this
            for item in self.tree.expressions
            if isinstance(item, exp.Alias) and item.alias
        }

    def _group_by(self) -> tuple[list[tuple[str, SqlFragment]], _GroupOracle | None]:
        group = self.tree.args.get("group")
        if group is None:
            return [], None
        for key, value in group.args.items():
            if key != "expressions" and value not in (None, False, []):
                node = value[0] if isinstance(value, list) else value
                where = node if isinstance(node, exp.Expr) else group
                raise fail(where, f"GROUP BY {key.upper()} is not supported")
        aliases = self._select_aliases()
        keys: list[tuple[str, SqlFragment]] = []
        oracle: _GroupOracle | None = None
        for node in group.expressions:
            target, name = node, text_of(node)
            if (
                isinstance(node, exp.Column)
                and not node.table
                and node.name.lower() not in self.columns
                and self.resolver.is_call(aliases.get(node.name.lower(), node))
            ):
                target, name = aliases[node.name.lower()], node.name
            if self.resolver.is_call(target):
                if oracle is not None:
                    raise fail(node, "GROUP BY takes at most one oracle output")
                oracle = self._group_oracle(target, name)
                continue
            if not isinstance(node, exp.Column):
                raise fail(
                    node,
                    "GROUP BY takes column names, or one oracle call that returns a category",
                )
            column = self.emitter.column_name(node)
            if kind_of_type(self.columns[column.lower()][1]) in ("blob", "other"):
                raise fail(
                    node,
                    f"cannot group by column {column!r} of type {self.columns[column.lower()][1]}",
                )
            keys.append((column, SqlFragment(f'"{column}"')))
        if oracle is not None and keys:
            raise fail(
                oracle.node,
                "GROUP BY an oracle output together with columns is not supported; group by the "
                "oracle output alone and restrict the columns in WHERE",
            )
        return keys, oracle

    def _group_oracle(self, node: exp.Expr, name: str) -> _GroupOracle:
        call, signature = self.resolver.resolve(node)
        if signature.returns != "category":
            if signature.returns == "any":
                hint = (
                    f"declare its categories: @abae.oracle({signature.name!r}, "
                    "returns=['car', 'bus', ...])"
                )
            else:
                hint = f"it returns {signature.describe()}"
            raise fail(
                node,
                f"GROUP BY an oracle output needs an oracle that returns a category; {hint}",
            )
        return _GroupOracle(node, name, call, signature.categories)

    def _aggregates(self, group_names: set[str], group: _GroupOracle | None) -> list[Aggregate]:
        aggregates: list[Aggregate] = []
        for item in self.tree.expressions:
            alias = item.alias if isinstance(item, exp.Alias) else ""
            node = item.this if isinstance(item, exp.Alias) else item
            if isinstance(node, exp.Column) and node.name.lower() in group_names:
                continue
            if group is not None and (node == group.node or (alias and alias == group.name)):
                continue
            if isinstance(node, exp.Count):
                if not isinstance(node.this, exp.Star) or node.args.get("distinct"):
                    raise fail(node, "expected COUNT(*): counts are of records matching WHERE")
                aggregates.append(Aggregate("count", alias or "count"))
                continue
            if isinstance(node, exp.Avg | exp.Sum):
                aggregates.append(self._statistic(node, alias))
                continue
            if isinstance(node, exp.Column):
                raise fail(
                    node,
                    f"column {node.name!r} in SELECT must be in GROUP BY; "
                    "expected AVG(...), SUM(...), COUNT(*) or a GROUP BY column",
                )
            if self.resolver.is_call(node):
                raise fail(
                    node,
                    f"{shown(node)} in SELECT must be in GROUP BY; expected AVG(...), SUM(...), "
                    "COUNT(*) or the GROUP BY oracle output",
                )
            raise fail(node, f"expected AVG(...), SUM(...) or COUNT(*), got {shown(node)!r}")
        if not aggregates:
            raise QueryCompileError(
                "expected at least one aggregate in SELECT: AVG(...), SUM(...) or COUNT(*)", 1, 1
            )
        return aggregates

    def _statistic(self, node: exp.Expr, alias: str) -> Aggregate:
        kind = "avg" if isinstance(node, exp.Avg) else "sum"
        inner = node.this
        if isinstance(inner, exp.Distinct):
            raise fail(node, f"{kind.upper()}(DISTINCT ...) is not supported")
        if node.expressions:
            raise fail(node.expressions[0], f"{kind.upper()}(...) takes one argument")
        for nested in inner.walk():
            if isinstance(nested, exp.AggFunc):
                raise fail(nested, f"nested aggregate in {kind.upper()}(...)")
        context = f"{kind.upper()}(...)"
        if self.resolver.is_call(inner):
            call, signature = self.resolver.resolve(inner)
            if signature.returns in ("bool", "category"):
                hint = (
                    "count its positives with COUNT(*) ... WHERE " + str(call)
                    if signature.returns == "bool"
                    else "group by it instead: GROUP BY " + str(call)
                )
                raise fail(
                    inner,
                    f"expected a number in {context}, but oracle {signature.name!r} returns "
                    f"{signature.describe()}; {hint}",
                )
            return Aggregate(kind, alias or f"{kind}({call})", oracle=call)
        if self.resolver.has_call(inner):
            value = self.values.number(inner, context)
            return Aggregate(kind, alias or f"{kind}({text_of(inner)})", expression=value)
        column = self.emitter.emit(inner, expect="number", context=context)
        return Aggregate(kind, alias or f"{kind}({text_of(inner)})", column=column)

    def _where(self) -> tuple[SqlFragment | None, Predicate | None]:
        where = self.tree.args.get("where")
        if where is None:
            return None, None
        conjuncts = _flatten(where.this, exp.And)
        cheap = [c for c in conjuncts if not self.resolver.has_call(c)]
        costly = [c for c in conjuncts if self.resolver.has_call(c)]
        prefilter = None
        if cheap:
            fragments = [self.emitter.emit(c, expect="boolean", context="WHERE") for c in cheap]
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
        if not self.resolver.has_call(node):
            fragment = self.emitter.emit(node, expect="boolean", context="WHERE")
            test = CheapTest(len(self.tests), fragment, text_of(node))
            self.tests.append(test)
            return test
        if isinstance(node, exp.And):
            return AllOf(tuple(self._predicate(p) for p in _flatten(node, exp.And)))
        if isinstance(node, exp.Or):
            return AnyOf(tuple(self._predicate(p) for p in _flatten(node, exp.Or)))
        if isinstance(node, exp.Not):
            return NoneOf(self._predicate(node.this))
        if self.resolver.is_call(node):
            return self._oracle_test(node)
        if isinstance(node, _CONDITIONS):
            return OracleCondition(self.values.condition(node), text_of(node))
        raise fail(
            node,
            f"expected a condition in WHERE, got {shown(node)!r}: use an oracle predicate "
            "(has_red_light(image)), a comparison (count_cars(image) > 2), IN, BETWEEN, or "
            "AND/OR/NOT of conditions",
        )

    def _oracle_test(self, node: exp.Expr) -> OracleTest:
        call, signature = self.resolver.resolve(node)
        if signature.returns == "number":
            raise fail(
                node,
                f"expected a condition in WHERE, but oracle {signature.name!r} returns a number; "
                f"compare it, e.g. {call} > 2",
            )
        if signature.returns == "category":
            example = signature.categories[0] if signature.categories else "car"
            raise fail(
                node,
                f"expected a condition in WHERE, but oracle {signature.name!r} returns "
                f"{signature.describe()}; compare it, e.g. {call} = '{example}'",
            )
        return OracleTest(call)

    def _proxies(
        self,
        planner: ProxyPlanner,
        predicate: Predicate | None,
        aggregates: list[Aggregate],
        group: _GroupOracle | None,
    ) -> tuple[SqlFragment, str, OracleGroups | None]:
        """The plan's ranking, and the per-group rankings of an oracle GROUP BY."""
        node = self.tree.args.get("proxy")
        if group is None:
            if node is not None:
                proxy, text = planner.using(node)
            else:
                proxy, text = self._derived(planner, predicate, aggregates, None)
            return proxy, text, None
        per_group: list[tuple[SqlFragment, str]] | None = None
        if isinstance(node, GroupProxyMap):
            per_group = planner.group_map(node, group.call.name, group.categories)
        elif isinstance(node, exp.Column) and not node.table:
            per_group = planner.group_columns(node.name, group.categories)
        elif node is None:
            per_group = planner.group_columns(group.call.name, group.categories)
        if per_group is None:
            if node is not None:
                proxy, text = planner.using(node)
            else:
                proxy, text = self._derived(planner, predicate, aggregates, group)
            shared = [(proxy, text)] * len(group.categories)
            return proxy, text, self._groups(group, shared, per_group=False)
        if isinstance(node, exp.Column) and node.name.lower() in self.columns:
            proxy, text = planner.using(node)
        else:
            proxy, text = planner.greatest(per_group)
        return proxy, text, self._groups(group, per_group, per_group=True)

    def _derived(
        self,
        planner: ProxyPlanner,
        predicate: Predicate | None,
        aggregates: list[Aggregate],
        group: _GroupOracle | None,
    ) -> tuple[SqlFragment, str]:
        if predicate is not None:
            return planner.derived(predicate)
        oracles = [call.name for a in aggregates for call in a.calls]
        if group is not None:
            oracles.append(group.call.name)
        return planner.for_oracles(oracles)

    @staticmethod
    def _groups(
        group: _GroupOracle, scores: list[tuple[SqlFragment, str]], *, per_group: bool
    ) -> OracleGroups:
        return OracleGroups(
            name=group.name,
            call=group.call,
            categories=group.categories,
            proxies=tuple(f for f, _ in scores),
            proxy_texts=tuple(t for _, t in scores),
            per_group=per_group,
        )


def _flatten(node: exp.Expr, kind: type[exp.Expr]) -> list[exp.Expr]:
    """The operands of a chain of ``kind`` (AND or OR), left to right, looking through parentheses."""
    found: list[exp.Expr] = []
    stack = [node]
    while stack:
        current = stack.pop()
        while isinstance(current, exp.Paren) and isinstance(current.this, kind):
            current = current.this
        if isinstance(current, kind):
            stack.extend((current.expression, current.this))
        else:
            found.append(current)
    return found
