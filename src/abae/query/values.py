"""Per-record values over oracle outputs: the compiled form of ``count_cars(image) * 1.5 > price``.

A :data:`Value` is a small expression tree. Its leaves are an oracle's output
for the record (:class:`OracleOutput`), a cheap expression over the record's
columns evaluated in DuckDB (:class:`CheapValue`) and literals
(:class:`Constant`); its inner nodes are arithmetic, the numeric functions,
comparisons, ``IN`` and ``BETWEEN``. The compiler builds it (and checks its
types); :mod:`abae.query.evaluation` computes it over a batch of records.

Every value has a :data:`ValueKind`: ``"number"``, ``"boolean"`` or ``"text"``
(an oracle's category, or a text column).

Example:
    >>> from abae.query.plan import OracleCall
    >>> cars = OracleOutput(OracleCall("count_cars", ("image",)), "statistic")
    >>> value = Comparison(">", Arithmetic("*", cars, Constant(1.5)), Constant(2))
    >>> str(value)
    '((count_cars(image) * 1.5) > 2)'
    >>> [str(call) for call in oracle_calls(value)]
    ['count_cars(image)']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from abae.query.plan import OracleCall, SqlFragment

ValueKind = Literal["number", "boolean", "text"]
"""What a per-record value is: a real number, true/false, or text (a category)."""

LabelPart = Literal["predicate", "statistic", "category"]
"""Which part of an oracle's label a value reads: its yes/no answer, its number or its category."""

_KIND_OF_PART: dict[LabelPart, ValueKind] = {
    "predicate": "boolean",
    "statistic": "number",
    "category": "text",
}
ARITHMETIC_OPERATORS = ("+", "-", "*", "/", "%")
COMPARISON_OPERATORS = ("=", "<>", "<", "<=", ">", ">=")
FUNCTIONS = ("abs", "sqrt", "ln", "exp", "greatest", "least")


@dataclass(frozen=True)
class OracleOutput:
    """One part of an oracle's label for the record (the oracle is called at most once per record)."""

    call: OracleCall
    part: LabelPart

    @property
    def kind(self) -> ValueKind:
        """What the part holds: TRUE/FALSE, a number or text."""
        return _KIND_OF_PART[self.part]

    def __str__(self) -> str:
        return str(self.call)


@dataclass(frozen=True)
class CheapValue:
    """A cheap expression over the record's columns, read from DuckDB as ``abae_value_<index>``.

    Attributes:
        index: its position in :attr:`QueryPlan.cheap_values`.
        fragment: the DuckDB expression (numbers cast to DOUBLE, booleans to 1.0/0.0).
        kind: what it is.
        text: the expression as written.
    """

    index: int
    fragment: SqlFragment
    kind: ValueKind
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Constant:
    """A literal: a number, a text, TRUE/FALSE, or NULL (``None``)."""

    value: float | str | bool | None

    def __str__(self) -> str:
        if self.value is None:
            return "NULL"
        if isinstance(self.value, bool):
            return "TRUE" if self.value else "FALSE"
        if isinstance(self.value, str):
            return "'" + self.value.replace("'", "''") + "'"
        return repr(self.value) if not float(self.value).is_integer() else str(int(self.value))


@dataclass(frozen=True)
class Arithmetic:
    """``left operator right`` with ``operator`` in :data:`ARITHMETIC_OPERATORS` (real division)."""

    operator: str
    left: Value
    right: Value

    def __str__(self) -> str:
        return f"({self.left} {self.operator} {self.right})"


@dataclass(frozen=True)
class Negative:
    """``-operand``."""

    operand: Value

    def __str__(self) -> str:
        return f"(-{self.operand})"


@dataclass(frozen=True)
class Function:
    """``name(operand, ...)`` with ``name`` in :data:`FUNCTIONS` (numbers only)."""

    name: str
    operands: tuple[Value, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(str(o) for o in self.operands)})"


@dataclass(frozen=True)
class Comparison:
    """``left operator right`` with ``operator`` in :data:`COMPARISON_OPERATORS`; a boolean."""

    operator: str
    left: Value
    right: Value

    def __str__(self) -> str:
        return f"({self.left} {self.operator} {self.right})"


@dataclass(frozen=True)
class Membership:
    """``value IN (option, ...)``; a boolean."""

    value: Value
    options: tuple[Constant, ...]

    def __str__(self) -> str:
        return f"({self.value} IN ({', '.join(str(o) for o in self.options)}))"


@dataclass(frozen=True)
class Between:
    """``value BETWEEN low AND high`` (both ends included); a boolean."""

    value: Value
    low: Value
    high: Value

    def __str__(self) -> str:
        return f"({self.value} BETWEEN {self.low} AND {self.high})"


Value = (
    OracleOutput
    | CheapValue
    | Constant
    | Arithmetic
    | Negative
    | Function
    | Comparison
    | Membership
    | Between
)


def children(value: Value) -> tuple[Value, ...]:
    """The direct operands of ``value`` (none for a leaf)."""
    if isinstance(value, Arithmetic | Comparison):
        return (value.left, value.right)
    if isinstance(value, Negative):
        return (value.operand,)
    if isinstance(value, Function):
        return value.operands
    if isinstance(value, Membership):
        return (value.value, *value.options)
    if isinstance(value, Between):
        return (value.value, value.low, value.high)
    return ()


def oracle_outputs(value: Value) -> tuple[OracleOutput, ...]:
    """The oracle outputs ``value`` reads, each once, in reading order (left to right)."""
    found: dict[OracleOutput, None] = {}
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, OracleOutput):
            found[node] = None
        stack.extend(reversed(children(node)))
    return tuple(found)


def oracle_calls(value: Value) -> tuple[OracleCall, ...]:
    """The oracle calls ``value`` needs, each once, left to right."""
    return tuple(dict.fromkeys(output.call for output in oracle_outputs(value)))


def cheap_values(value: Value) -> tuple[CheapValue, ...]:
    """The cheap values ``value`` reads, each once, left to right."""
    found: dict[CheapValue, None] = {}
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, CheapValue):
            found[node] = None
        stack.extend(reversed(children(node)))
    return tuple(found)
