"""Compile expressions over oracle outputs (``count_cars(image) * 1.5 > price``) into checked values.

Each oracle call becomes an :class:`~abae.query.values.OracleOutput` that reads
one part of the oracle's label: its yes/no answer, its number or its category.
Which part follows from what the oracle declares it returns
(:class:`~abae.query.oracle_calls.OracleSignature`) and, for ``"pair"`` and
``"any"`` oracles, from where it is used (compared with a number: its number;
with text: its category; as a condition: its yes/no answer).

Maximal sub-expressions without an oracle call stay DuckDB SQL
(:class:`~abae.query.values.CheapValue`), literals become constants. Type
mismatches are positioned errors: a yes/no oracle compared with a number, a
category compared with a number or with a name it does not declare, arithmetic
on a yes/no answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from abae.query.oracle_calls import OracleResolver, OracleSignature
from abae.query.plan import OracleCall, SqlFragment
from abae.query.sql_emitter import (
    ARITHMETIC,
    COMPARISONS,
    NUMERIC_FUNCTIONS,
    VARIADIC_FUNCTIONS,
    SqlEmitter,
    fail,
    shown,
    text_of,
)
from abae.query.sql_types import describe, number_value
from abae.query.values import (
    Arithmetic,
    Between,
    CheapValue,
    Comparison,
    Constant,
    Function,
    LabelPart,
    Membership,
    Negative,
    OracleOutput,
    Value,
    ValueKind,
)

_PART_OF_KIND: dict[ValueKind, LabelPart] = {
    "boolean": "predicate",
    "number": "statistic",
    "text": "category",
}
_KIND_WORDS: dict[ValueKind, str] = {"boolean": "TRUE/FALSE", "number": "a number", "text": "text"}
_KINDS_OF_RETURNS: dict[str, tuple[ValueKind, ...]] = {
    "bool": ("boolean",),
    "number": ("number",),
    "category": ("text",),
    "pair": ("boolean", "number"),
    "any": ("boolean", "number", "text"),
}


@dataclass(frozen=True)
class _Typed:
    """A compiled operand: a value of one kind, or an oracle output still open to several."""

    node: exp.Expr
    value: Value | None
    kinds: tuple[ValueKind, ...]
    signature: OracleSignature | None = None
    call: OracleCall | None = None
    is_null: bool = False

    @property
    def open(self) -> bool:
        return self.value is None


class ValueCompiler:
    """Builds :data:`~abae.query.values.Value` trees for the expressions of one query.

    Args:
        emitter: emits the cheap sub-expressions.
        resolver: resolves oracle calls.
    """

    def __init__(self, emitter: SqlEmitter, resolver: OracleResolver) -> None:
        self.emitter = emitter
        self.resolver = resolver
        self.cheap: dict[tuple[str, tuple[object, ...]], CheapValue] = {}

    @property
    def cheap_values(self) -> tuple[CheapValue, ...]:
        """The cheap values built so far, by index."""
        return tuple(self.cheap.values())

    def condition(self, node: exp.Expr) -> Value:
        """A condition on oracle outputs (comparison, ``IN`` or ``BETWEEN``) as a boolean value.

        Raises:
            QueryCompileError: not a condition, or a type mismatch.
        """
        typed = self._typed(node)
        return self._resolve(typed, "boolean", "a condition (TRUE/FALSE)")

    def number(self, node: exp.Expr, context: str) -> Value:
        """A numeric value (e.g. an aggregate's statistic); ``context`` names where, for messages."""
        return self._resolve(self._typed(node), "number", f"a number in {context}")

    # --- typing -----------------------------------------------------------------------

    def _typed(self, node: exp.Expr) -> _Typed:
        if isinstance(node, exp.Paren):
            return self._typed(node.this)
        if self.resolver.is_call(node):
            return self._oracle(node)
        if not self.resolver.has_call(node):
            return self._cheap(node)
        if isinstance(node, exp.Neg):
            operand = self._resolve(self._typed(node.this), "number", "a number after '-'")
            return _Typed(node, Negative(operand), ("number",))
        kind = type(node)
        if kind in ARITHMETIC:
            operator = ARITHMETIC[kind]
            left = self._resolve(self._typed(node.this), "number", f"numbers around {operator}")
            right = self._resolve(
                self._typed(node.expression), "number", f"numbers around {operator}"
            )
            return _Typed(node, Arithmetic(operator, left, right), ("number",))
        if kind in NUMERIC_FUNCTIONS or kind in VARIADIC_FUNCTIONS:
            name = NUMERIC_FUNCTIONS.get(kind) or VARIADIC_FUNCTIONS[kind]
            operands = [node.this, *node.expressions]
            values = tuple(
                self._resolve(self._typed(o), "number", f"numbers in {name}(...)")
                for o in operands
                if o is not None
            )
            return _Typed(node, Function(name, values), ("number",))
        if kind in COMPARISONS:
            return self._comparison(node, COMPARISONS[kind])
        if isinstance(node, exp.In):
            return self._membership(node)
        if isinstance(node, exp.Between):
            return self._between(node)
        if isinstance(node, exp.Is):
            raise fail(
                node,
                f"IS does not apply to oracle outputs in {shown(node)}; an oracle's answer is "
                "never NULL (records without an answer are left out). Compare it instead, e.g. "
                "has_car(image) = TRUE",
            )
        if isinstance(node, exp.And | exp.Or | exp.Not):
            raise fail(
                node,
                f"{shown(node)}: AND, OR and NOT of oracle conditions belong directly in WHERE, "
                "not inside a comparison or an aggregate",
            )
        raise fail(
            node,
            f"unsupported expression {shown(node)!r} over oracle outputs; expected arithmetic "
            "(+ - * / %), abs/sqrt/ln/exp/greatest/least, comparisons, IN (...) or BETWEEN",
        )

    def _oracle(self, node: exp.Expr) -> _Typed:
        call, signature = self.resolver.resolve(node)
        kinds = _KINDS_OF_RETURNS[signature.returns]
        if len(kinds) == 1:
            output = OracleOutput(call, _PART_OF_KIND[kinds[0]])
            return _Typed(node, output, kinds, signature, call)
        return _Typed(node, None, kinds, signature, call)

    def _cheap(self, node: exp.Expr) -> _Typed:
        if isinstance(node, exp.Null):
            return _Typed(node, Constant(None), ("boolean", "number", "text"), is_null=True)
        if isinstance(node, exp.Boolean):
            return _Typed(node, Constant(bool(node.this)), ("boolean",))
        if isinstance(node, exp.Literal):
            if node.is_string:
                return _Typed(node, Constant(str(node.this)), ("text",))
            try:
                number = number_value(str(node.this))
            except ValueError as error:
                raise fail(node, str(error)) from None
            return _Typed(node, Constant(float(number)), ("number",))
        if (
            isinstance(node, exp.Neg)
            and isinstance(node.this, exp.Literal)
            and not node.this.is_string
        ):
            inner = self._cheap(node.this)
            assert isinstance(inner.value, Constant)
            assert isinstance(inner.value.value, float)
            return _Typed(node, Constant(-inner.value.value), ("number",))
        emitted = self.emitter.typed(node)
        if emitted.kind not in ("number", "boolean", "text", "null"):
            raise fail(
                node,
                f"{shown(node)} is {describe(emitted.kind)}; oracle outputs combine with "
                "numbers, TRUE/FALSE and text only",
            )
        if emitted.kind == "null":
            return _Typed(node, Constant(None), ("boolean", "number", "text"), is_null=True)
        kind: ValueKind = emitted.kind
        sql = emitted.sql if kind == "text" else f"CAST({emitted.sql} AS DOUBLE)"
        key = (sql, emitted.params)
        if key not in self.cheap:
            self.cheap[key] = CheapValue(
                len(self.cheap), SqlFragment(sql, emitted.params), kind, text_of(node)
            )
        return _Typed(node, self.cheap[key], (kind,))

    def _resolve(self, typed: _Typed, kind: ValueKind, wanted: str) -> Value:
        """The operand as a value of ``kind``, or a positioned error saying what was expected."""
        if kind not in typed.kinds:
            raise fail(typed.node, self._mismatch(typed, wanted))
        if typed.value is not None:
            return typed.value
        assert typed.call is not None
        return OracleOutput(typed.call, _PART_OF_KIND[kind])

    def _mismatch(self, typed: _Typed, wanted: str) -> str:
        return f"expected {wanted}, got {_got(typed)}"

    # --- conditions -------------------------------------------------------------------

    def _common_kind(self, node: exp.Expr, operands: list[_Typed]) -> ValueKind:
        """The one kind every operand can take: that of the first operand with a fixed kind."""
        anchor = next((o for o in operands if not o.open and not o.is_null), None)
        if anchor is not None:
            kind = anchor.kinds[0]
            for operand in operands:
                if kind not in operand.kinds:
                    raise fail(
                        operand.node,
                        f"expected {_KIND_WORDS[kind]} to compare with {shown(anchor.node)}, "
                        f"got {_got(operand)}",
                    )
            return kind
        candidates: tuple[ValueKind, ...] = ("boolean", "number", "text")
        for operand in operands:
            candidates = tuple(k for k in candidates if k in operand.kinds)
        if len(candidates) == 1:
            return candidates[0]
        names = ", ".join(text_of(o.node) for o in operands if o.open)
        raise fail(
            node,
            f"cannot tell whether {names} should be compared as numbers, TRUE/FALSE or text: "
            "declare what the oracle returns, e.g. @abae.oracle('count_cars', returns='number')",
        )

    def _comparison(self, node: exp.Expr, operator: str) -> _Typed:
        left = self._typed(node.this)
        right = self._typed(node.expression)
        if left.is_null or right.is_null:
            raise fail(
                node,
                f"{shown(node)} compares with NULL, which is never true; an oracle's answer is "
                "never NULL",
            )
        kind = self._common_kind(node, [left, right])
        if operator not in ("=", "<>") and kind != "number":
            raise fail(
                node,
                f"{operator} needs numbers in {shown(node)}; {_KIND_WORDS[kind]} values compare "
                "with = or <> (or IN)",
            )
        values = [self._resolve(o, kind, _KIND_WORDS[kind]) for o in (left, right)]
        self._check_categories([left, right])
        return _Typed(node, Comparison(operator, values[0], values[1]), ("boolean",))

    def _membership(self, node: exp.Expr) -> _Typed:
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            raise fail(node, "IN takes a list of literal values, not a subquery")
        options = [self._typed(o) for o in node.expressions]
        if not options or not all(isinstance(o.value, Constant) and not o.is_null for o in options):
            raise fail(node, "IN takes a non-empty list of literal values, e.g. IN ('car', 'bus')")
        value = self._typed(node.this)
        kind = self._common_kind(node, [value, *options])
        resolved = self._resolve(value, kind, _KIND_WORDS[kind])
        self._check_categories([value, *options])
        constants = tuple(o.value for o in options if isinstance(o.value, Constant))
        return _Typed(node, Membership(resolved, constants), ("boolean",))

    def _between(self, node: exp.Expr) -> _Typed:
        operands = [self._typed(n) for n in (node.this, node.args["low"], node.args["high"])]
        values = [self._resolve(o, "number", "numbers in BETWEEN") for o in operands]
        return _Typed(node, Between(values[0], values[1], values[2]), ("boolean",))

    def _check_categories(self, operands: list[_Typed]) -> None:
        """A text literal compared with a category oracle must be one of its categories."""
        declared = [o.signature for o in operands if o.signature and o.signature.categories]
        for signature in declared:
            assert signature is not None
            for operand in operands:
                value = operand.value
                if (
                    isinstance(value, Constant)
                    and isinstance(value.value, str)
                    and value.value not in signature.categories
                ):
                    listed = ", ".join(repr(c) for c in signature.categories)
                    raise fail(
                        operand.node,
                        f"{value.value!r} is not a category of oracle {signature.name!r}; "
                        f"expected one of {listed}",
                    )


def _got(typed: _Typed) -> str:
    """What an operand is, for messages: ``oracle 'f' returns TRUE/FALSE: f(x)`` or ``text: 'a'``."""
    if typed.signature is not None:
        return (
            f"oracle {typed.signature.name!r}, which returns {typed.signature.describe()}: "
            f"{shown(typed.node)}"
        )
    return " or ".join(_KIND_WORDS[k] for k in typed.kinds) + f": {shown(typed.node)}"
