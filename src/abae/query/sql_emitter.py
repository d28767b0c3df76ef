"""Turn whitelisted, type-checked sqlglot expressions over columns into parameterised DuckDB SQL.

Only plain column references (validated against the collection), literals (sent
as parameters), arithmetic, comparisons, boolean logic, ``IN`` lists,
``BETWEEN``, ``LIKE``, ``IS [NOT] NULL`` and a few pure numeric functions are
accepted; anything else is a :class:`QueryCompileError` at its position.

Every expression is type-checked against the column types
(:mod:`abae.query.sql_types`) so that DuckDB never meets a query it would
refuse at run time. Arithmetic is done in DOUBLE (no integer overflow) and
``x % 0`` is NULL, as ``x / 0`` is infinite in DuckDB; a text literal compared
with a timestamp, date or time column is parsed at compile time.

Example:
    >>> from sqlglot import exp
    >>> from abae.query.dialect import parse_query
    >>> emitter = SqlEmitter("frames", {"speed": ("speed", "DOUBLE")})
    >>> where = parse_query("SELECT COUNT(*) FROM frames WHERE speed * 2 > 30").args["where"]
    >>> emitter.emit(where.this, expect="boolean", context="WHERE")
    SqlFragment(sql='((CAST("speed" AS DOUBLE) * CAST(? AS DOUBLE)) > ?)', params=(2, 30))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlglot import exp

from abae.query.errors import QueryCompileError
from abae.query.plan import SqlFragment
from abae.query.sql_types import (
    ORDERED_KINDS,
    TEMPORAL_KINDS,
    SqlKind,
    comparable,
    describe,
    kind_of_type,
    number_value,
    temporal_value,
)

COMPARISONS: dict[type[exp.Expr], str] = {
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
}
ARITHMETIC: dict[type[exp.Expr], str] = {
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.Mod: "%",
}
NUMERIC_FUNCTIONS: dict[type[exp.Expr], str] = {
    exp.Abs: "abs",
    exp.Sqrt: "sqrt",
    exp.Ln: "ln",
    exp.Exp: "exp",
}
VARIADIC_FUNCTIONS: dict[type[exp.Expr], str] = {exp.Greatest: "greatest", exp.Least: "least"}
_LOGIC: dict[type[exp.Expr], str] = {exp.And: "AND", exp.Or: "OR"}
_PATTERNS: dict[type[exp.Expr], str] = {exp.Like: "LIKE", exp.ILike: "ILIKE"}


def position_of(node: exp.Expr) -> tuple[int, int]:
    """(line, column) where ``node`` starts: its leftmost positioned token; (0, 0) if unknown."""
    best: tuple[int, int] | None = None
    for candidate in node.walk():
        meta = candidate.meta if isinstance(candidate, exp.Expr) else {}
        if "line" not in meta:
            continue
        column = int(meta["col"])
        if "start" in meta and "end" in meta:
            column -= int(meta["end"]) - int(meta["start"])
        else:
            column -= len(candidate.name) - 1
        here = (int(meta["line"]), max(column, 1))
        if best is None or here < best:
            best = here
    return best if best is not None else (0, 0)


def fail(node: exp.Expr, message: str) -> QueryCompileError:
    """A compile error located at ``node`` (or at the nearest enclosing node with a position)."""
    here: exp.Expr | None = node
    line, column = 0, 0
    while here is not None and (line, column) == (0, 0):
        line, column = position_of(here)
        here = here.parent
    return QueryCompileError(message, line, column)


def text_of(node: exp.Expr) -> str:
    """The node as SQL text, with function names as the user spelled them."""
    return node.sql(normalize_functions=False)


def shown(node: exp.Expr) -> str:
    """The node as the user wrote it (roughly, at most 60 characters), for messages."""
    text = text_of(node)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Emitted:
    """DuckDB SQL for one expression, its parameters in order, and what it holds."""

    sql: str
    params: tuple[object, ...]
    kind: SqlKind

    def fragment(self) -> SqlFragment:
        return SqlFragment(self.sql, self.params)


class SqlEmitter:
    """Emits type-checked SQL for cheap expressions of one collection.

    Args:
        table: the collection name (a column may be qualified by it).
        columns: column name (lower case) → (stored name, DuckDB type).
        logic: how AND/OR/NOT combine operands: ``"boolean"`` (SQL logic) or
            ``"probability"`` (product for AND, ``1 - Π(1 - s)`` for OR, ``1 - s``
            for NOT, over numbers; used for proxy scores).
        on_column: called with each column used (e.g. to check it is a proxy).
    """

    def __init__(
        self,
        table: str,
        columns: Mapping[str, tuple[str, str]],
        *,
        logic: str = "boolean",
        on_column: Callable[[exp.Column, str], None] | None = None,
    ) -> None:
        self.table = table
        self.columns = columns
        self.logic = logic
        self.on_column = on_column

    def emit(
        self, node: exp.Expr, *, expect: SqlKind | None = None, context: str = ""
    ) -> SqlFragment:
        """SQL for ``node``; with ``expect``, refuse anything of another kind (NULL passes).

        Raises:
            QueryCompileError: unknown column, unsupported construct or type mismatch.
        """
        emitted = self.typed(node)
        if expect is not None and emitted.kind not in (expect, "null"):
            wanted = "a condition (TRUE/FALSE)" if expect == "boolean" else describe(expect)
            where = f" in {context}" if context else ""
            raise fail(
                node, f"expected {wanted}{where}, got {describe(emitted.kind)}: {shown(node)}"
            )
        return emitted.fragment()

    def typed(self, node: exp.Expr) -> Emitted:
        """SQL, parameters and kind of ``node``."""
        return self._emit(node)

    def column_name(self, node: exp.Column) -> str:
        """The stored name of a column reference (checked against the collection)."""
        if node.table and node.table.lower() != self.table.lower():
            raise fail(
                node,
                f"column {node.sql()!r} refers to table {node.table!r}; only {self.table!r} "
                "is in this query",
            )
        name = node.name
        entry = self.columns.get(name.lower())
        if entry is None:
            known = ", ".join(sorted(stored for stored, _ in self.columns.values()))
            raise fail(node, f"unknown column {name!r} in {self.table!r}; expected one of: {known}")
        if self.on_column is not None:
            self.on_column(node, entry[0])
        return entry[0]

    def column_kind(self, node: exp.Column) -> SqlKind:
        """The kind of a (known) column."""
        return kind_of_type(self.columns[node.name.lower()][1])

    # --- the cases ----------------------------------------------------------------

    def _emit(self, node: exp.Expr) -> Emitted:
        if isinstance(node, exp.Paren):
            return self._emit(node.this)
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                raise fail(node, "'*' is only allowed in COUNT(*)")
            name = self.column_name(node)
            return Emitted(f'"{name}"', (), self.column_kind(node))
        if isinstance(node, exp.Literal):
            return self._literal(node, None)
        if isinstance(node, exp.Boolean):
            return Emitted("TRUE" if node.this else "FALSE", (), "boolean")
        if isinstance(node, exp.Null):
            return Emitted("NULL", (), "null")
        if self.logic == "probability" and isinstance(node, exp.And | exp.Or | exp.Not):
            return self._probability(node)
        if isinstance(node, exp.Not):
            inner = self._operand(node.this, ("boolean",), "NOT")
            return Emitted(f"(NOT {inner.sql})", inner.params, "boolean")
        if isinstance(node, exp.Neg):
            inner = self._number(node.this, "-")
            return Emitted(f"(-{inner.sql})", inner.params, "number")
        if isinstance(node, exp.Is):
            return self._is(node)
        if isinstance(node, exp.In):
            return self._in(node)
        if isinstance(node, exp.Between):
            return self._between(node)
        kind = type(node)
        if kind in COMPARISONS:
            return self._comparison(node, COMPARISONS[kind])
        if kind in ARITHMETIC:
            return self._arithmetic(node, ARITHMETIC[kind])
        if kind in _LOGIC:
            left = self._operand(node.this, ("boolean",), _LOGIC[kind])
            right = self._operand(node.expression, ("boolean",), _LOGIC[kind])
            return Emitted(
                f"({left.sql} {_LOGIC[kind]} {right.sql})", left.params + right.params, "boolean"
            )
        if kind in _PATTERNS:
            left = self._operand(node.this, ("text",), _PATTERNS[kind])
            right = self._operand(node.expression, ("text",), _PATTERNS[kind])
            return Emitted(
                f"({left.sql} {_PATTERNS[kind]} {right.sql})",
                left.params + right.params,
                "boolean",
            )
        if kind in NUMERIC_FUNCTIONS:
            inner = self._number(node.this, NUMERIC_FUNCTIONS[kind])
            return Emitted(f"{NUMERIC_FUNCTIONS[kind]}({inner.sql})", inner.params, "number")
        if kind in VARIADIC_FUNCTIONS:
            return self._variadic(node, VARIADIC_FUNCTIONS[kind])
        raise fail(node, f"unsupported expression {shown(node)!r} here; {self._allowed()}")

    def _literal(self, node: exp.Literal, want: SqlKind | None) -> Emitted:
        if node.is_string:
            text = str(node.this)
            if want in TEMPORAL_KINDS:
                assert want is not None
                try:
                    return Emitted("?", (temporal_value(text, want),), want)
                except ValueError as error:
                    raise fail(node, str(error)) from None
            return Emitted("?", (text,), "text")
        try:
            return Emitted("?", (number_value(str(node.this)),), "number")
        except ValueError as error:
            raise fail(node, str(error)) from None

    def _operand(self, node: exp.Expr, kinds: tuple[SqlKind, ...], operator: str) -> Emitted:
        emitted = self._emit(node)
        if emitted.kind not in (*kinds, "null"):
            wanted = " or ".join(describe(k) for k in kinds)
            raise fail(
                node,
                f"{operator} needs {wanted}; {shown(node)} is {describe(emitted.kind)}",
            )
        return emitted

    def _number(self, node: exp.Expr, operator: str) -> Emitted:
        """A numeric operand, cast to DOUBLE (so arithmetic never overflows)."""
        emitted = self._operand(node, ("number",), operator)
        if emitted.sql == "NULL":
            return Emitted("CAST(NULL AS DOUBLE)", (), "number")
        return Emitted(f"CAST({emitted.sql} AS DOUBLE)", emitted.params, "number")

    def _coerced(self, nodes: list[exp.Expr]) -> list[Emitted]:
        """Operands compared with each other; text literals become timestamps (dates, times)
        when one of the operands is one."""
        emitted = [self._emit(n) for n in nodes]
        temporal = next((e.kind for e in emitted if e.kind in TEMPORAL_KINDS), None)
        if temporal is None:
            return emitted
        return [
            self._literal(n, temporal) if isinstance(n, exp.Literal) and n.is_string else e
            for n, e in zip(nodes, emitted, strict=True)
        ]

    def _pair(self, left_node: exp.Expr, right_node: exp.Expr) -> tuple[Emitted, Emitted]:
        """Both sides of a comparison (see :meth:`_coerced`)."""
        left, right = self._coerced([left_node, right_node])
        return left, right

    def _check_comparable(
        self,
        node: exp.Expr,
        left: Emitted,
        right: Emitted,
        operator: str,
        right_node: exp.Expr,
        left_node: exp.Expr | None = None,
    ) -> None:
        if not comparable(left.kind, right.kind):
            if left.kind in ("blob", "other") or right.kind in ("blob", "other"):
                raise fail(
                    node,
                    f"{shown(node)}: values of this column can only be tested with IS NULL "
                    "or IS NOT NULL",
                )
            subject = shown(node.this if left_node is None else left_node)
            raise fail(
                right_node,
                f"cannot compare {subject} ({describe(left.kind)}) with {shown(right_node)} "
                f"({describe(right.kind)}) in {operator}; expected {describe(left.kind)}",
            )
        ordering = operator not in ("=", "<>")
        for side in (left.kind, right.kind):
            if ordering and side not in (*ORDERED_KINDS, "null"):
                raise fail(
                    node,
                    f"{operator} does not apply to {describe(side)} in {shown(node)}; "
                    "TRUE/FALSE values compare with = or <> only",
                )

    def _comparison(self, node: exp.Expr, operator: str) -> Emitted:
        left, right = self._pair(node.this, node.expression)
        self._check_comparable(node, left, right, operator, node.expression)
        return Emitted(
            f"({left.sql} {operator} {right.sql})", left.params + right.params, "boolean"
        )

    def _between(self, node: exp.Expr) -> Emitted:
        nodes = [node.this, node.args["low"], node.args["high"]]
        value, low, high = self._coerced(nodes)
        self._check_comparable(node, value, low, "BETWEEN", nodes[1], nodes[0])
        self._check_comparable(node, value, high, "BETWEEN", nodes[2], nodes[0])
        self._check_comparable(node, low, high, "BETWEEN", nodes[2], nodes[1])
        return Emitted(
            f"({value.sql} BETWEEN {low.sql} AND {high.sql})",
            value.params + low.params + high.params,
            "boolean",
        )

    def _in(self, node: exp.Expr) -> Emitted:
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            raise fail(node, "IN takes a list of literal values, not a subquery")
        options = node.expressions
        if not options or not all(_is_literal(v) for v in options):
            raise fail(node, "IN takes a non-empty list of literal values, e.g. IN ('a', 'b')")
        nodes = [node.this, *options]
        value, *items = self._coerced(nodes)
        for position, (item, option) in enumerate(zip(items, options, strict=True)):
            self._check_comparable(node, value, item, "IN", option, node.this)
            for earlier, earlier_node in zip(items[:position], options[:position], strict=True):
                self._check_comparable(node, earlier, item, "IN", option, earlier_node)
        sql = ", ".join(i.sql for i in items)
        params = value.params + tuple(p for i in items for p in i.params)
        return Emitted(f"({value.sql} IN ({sql}))", params, "boolean")

    def _is(self, node: exp.Expr) -> Emitted:
        right = node.expression
        if not isinstance(right, exp.Null | exp.Boolean):
            raise fail(node, "expected NULL, TRUE or FALSE after IS")
        if isinstance(right, exp.Null):
            left = self._emit(node.this)
        else:
            left = self._operand(node.this, ("boolean",), f"IS {right.sql()}")
        return Emitted(f"({left.sql} IS {self._emit(right).sql})", left.params, "boolean")

    def _arithmetic(self, node: exp.Expr, operator: str) -> Emitted:
        left = self._number(node.this, operator)
        right = self._number(node.expression, operator)
        params = left.params + right.params
        if operator == "%":
            return Emitted(f"({left.sql} % nullif({right.sql}, 0))", params, "number")
        return Emitted(f"({left.sql} {operator} {right.sql})", params, "number")

    def _variadic(self, node: exp.Expr, function: str) -> Emitted:
        operands = [self._emit(o) for o in (node.this, *node.expressions)]
        kinds = {o.kind for o in operands} - {"null"}
        if len(kinds) > 1 or not kinds <= set(ORDERED_KINDS):
            found = ", ".join(sorted(describe(k) for k in kinds))
            raise fail(node, f"{function}(...) needs values of one ordered kind, got {found}")
        kind = kinds.pop() if kinds else "null"
        if kind == "number":
            operands = [Emitted(f"CAST({o.sql} AS DOUBLE)", o.params, "number") for o in operands]
        return Emitted(
            f"{function}({', '.join(o.sql for o in operands)})",
            tuple(p for o in operands for p in o.params),
            kind,
        )

    def _probability(self, node: exp.Expr) -> Emitted:
        """AND, OR, NOT between proxy scores: product, 1 - Π(1 - s), 1 - s."""
        word = type(node).__name__.upper()
        if isinstance(node, exp.Not):
            inner = self._score(node.this, word)
            return Emitted(f"(1.0 - {inner.sql})", inner.params, "number")
        left = self._score(node.this, word)
        right = self._score(node.expression, word)
        params = left.params + right.params
        if isinstance(node, exp.And):
            return Emitted(f"({left.sql} * {right.sql})", params, "number")
        return Emitted(f"(1.0 - (1.0 - {left.sql}) * (1.0 - {right.sql}))", params, "number")

    def _score(self, node: exp.Expr, operator: str) -> Emitted:
        emitted = self._operand(node, ("number", "boolean"), operator)
        return Emitted(f"CAST({emitted.sql} AS DOUBLE)", emitted.params, "number")

    def _allowed(self) -> str:
        return (
            "expected columns, literals, arithmetic, comparisons, AND/OR/NOT, IN (...), "
            "BETWEEN, LIKE, IS NULL, abs/sqrt/ln/exp/greatest/least"
        )


def _is_literal(node: exp.Expr) -> bool:
    if isinstance(node, exp.Literal | exp.Boolean):
        return True
    return (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string
    )
