"""Turn whitelisted sqlglot expressions over columns into parameterised DuckDB SQL.

Only plain column references (validated against the collection), literals (sent
as parameters), arithmetic, comparisons, boolean logic, ``IN`` lists,
``BETWEEN``, ``LIKE``, ``IS [NOT] NULL`` and a few pure numeric functions are
accepted; anything else is a :class:`QueryCompileError` at its position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlglot import exp

from abae.query.errors import QueryCompileError
from abae.query.plan import SqlFragment

_BINARY: dict[type[exp.Expr], str] = {
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.Mod: "%",
    exp.And: "AND",
    exp.Or: "OR",
    exp.Like: "LIKE",
    exp.ILike: "ILIKE",
}
_FUNCTIONS: dict[type[exp.Expr], str] = {
    exp.Abs: "abs",
    exp.Sqrt: "sqrt",
    exp.Ln: "ln",
    exp.Exp: "exp",
}
_VARIADIC: dict[type[exp.Expr], str] = {exp.Greatest: "greatest", exp.Least: "least"}


def position_of(node: exp.Expr) -> tuple[int, int]:
    """(line, column) of a node, from its first positioned descendant; (0, 0) if unknown."""
    for candidate in node.walk():
        meta = candidate.meta if isinstance(candidate, exp.Expr) else {}
        if "line" in meta:
            return int(meta["line"]), int(meta["col"]) - len(candidate.name) + 1
        if isinstance(candidate, exp.Column | exp.Identifier):
            inner = candidate.this if isinstance(candidate, exp.Column) else None
            if isinstance(inner, exp.Expr) and "line" in inner.meta:
                return int(inner.meta["line"]), int(inner.meta["col"]) - len(inner.name) + 1
    return 0, 0


def fail(node: exp.Expr, message: str) -> QueryCompileError:
    """A compile error located at ``node``."""
    line, column = position_of(node)
    return QueryCompileError(message, line, column)


class SqlEmitter:
    """Emits SQL for cheap expressions of one collection.

    Args:
        table: the collection name (a column may be qualified by it).
        columns: column name (lower case) → (stored name, DuckDB type).
        logic: how AND/OR/NOT combine operands: ``"boolean"`` (SQL logic) or
            ``"probability"`` (product for AND, ``1 - Π(1 - s)`` for OR, ``1 - s``
            for NOT; used for proxy scores).
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

    def emit(self, node: exp.Expr) -> SqlFragment:
        params: list[object] = []
        sql = self._emit(node, params)
        return SqlFragment(sql, tuple(params))

    def column_name(self, node: exp.Column) -> str:
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

    def _emit(self, node: exp.Expr, params: list[object]) -> str:
        if isinstance(node, exp.Paren):
            return self._emit(node.this, params)
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                raise fail(node, "'*' is only allowed in COUNT(*)")
            return f'"{self.column_name(node)}"'
        if isinstance(node, exp.Literal):
            params.append(_literal_value(node))
            return "?"
        if isinstance(node, exp.Boolean):
            return "TRUE" if node.this else "FALSE"
        if isinstance(node, exp.Null):
            return "NULL"
        if self.logic == "probability" and isinstance(node, exp.And | exp.Or | exp.Not):
            return self._emit_probability(node, params)
        if isinstance(node, exp.Not):
            return f"(NOT {self._emit(node.this, params)})"
        if isinstance(node, exp.Neg):
            return f"(-{self._emit(node.this, params)})"
        if isinstance(node, exp.Is):
            right = node.expression
            if not isinstance(right, exp.Null | exp.Boolean):
                raise fail(node, "expected NULL, TRUE or FALSE after IS")
            return f"({self._emit(node.this, params)} IS {self._emit(right, params)})"
        if isinstance(node, exp.In):
            if node.args.get("query") is not None or node.args.get("unnest") is not None:
                raise fail(node, "IN takes a list of literal values, not a subquery")
            values = node.expressions
            if not values or not all(isinstance(v, exp.Literal | exp.Neg) for v in values):
                raise fail(node, "IN takes a non-empty list of literal values, e.g. IN ('a', 'b')")
            left = self._emit(node.this, params)
            items = ", ".join(self._emit(v, params) for v in values)
            return f"({left} IN ({items}))"
        if isinstance(node, exp.Between):
            value = self._emit(node.this, params)
            low = self._emit(node.args["low"], params)
            high = self._emit(node.args["high"], params)
            return f"({value} BETWEEN {low} AND {high})"
        for kind, operator in _BINARY.items():
            if type(node) is kind:
                left = self._emit(node.this, params)
                right = self._emit(node.expression, params)
                return f"({left} {operator} {right})"
        for function_kind, function in _FUNCTIONS.items():
            if type(node) is function_kind:
                return f"{function}({self._emit(node.this, params)})"
        for variadic_kind, function in _VARIADIC.items():
            if type(node) is variadic_kind:
                operands = [node.this, *node.expressions]
                return f"{function}({', '.join(self._emit(o, params) for o in operands)})"
        raise fail(node, f"unsupported expression {node.sql()!r} here; {self._allowed()}")

    def _emit_probability(self, node: exp.Expr, params: list[object]) -> str:
        if isinstance(node, exp.Not):
            return f"(1.0 - {self._emit(node.this, params)})"
        left = self._emit(node.this, params)
        right = self._emit(node.expression, params)
        if isinstance(node, exp.And):
            return f"({left} * {right})"
        return f"(1.0 - (1.0 - {left}) * (1.0 - {right}))"

    def _allowed(self) -> str:
        return (
            "expected columns, literals, arithmetic, comparisons, AND/OR/NOT, IN (...), "
            "BETWEEN, LIKE, IS NULL, abs/sqrt/ln/exp/greatest/least"
        )


def _literal_value(node: exp.Literal) -> object:
    if node.is_string:
        return str(node.this)
    text = str(node.this)
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise fail(node, f"malformed number {text!r}") from None
