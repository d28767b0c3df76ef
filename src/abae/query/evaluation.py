"""Compute :mod:`abae.query.values` over a batch of records, in NumPy.

Inputs are arrays over the batch: each oracle output the value reads, with a
mask of the records that have a label, and each cheap value. The result is the
value per record and whether it is *known* (every label it needs is there).

Arrays hold numbers and booleans as float64 (TRUE = 1.0, FALSE = 0.0, NULL =
NaN) and text as object arrays (NULL = ``None``). The rules follow DuckDB's:
arithmetic is real arithmetic (``x / 0`` is infinite, ``x % 0`` is NULL),
``greatest``/``least`` skip NULLs, and a comparison, ``IN`` or ``BETWEEN``
with a NULL operand is false.

Example:
    >>> import numpy as np
    >>> from abae.query.plan import OracleCall
    >>> from abae.query.values import Comparison, Constant, OracleOutput
    >>> cars = OracleOutput(OracleCall("count_cars", ("image",)), "statistic")
    >>> outputs = {cars: (np.array([1.0, 3.0, 5.0]), np.array([True, True, False]))}
    >>> value, known = evaluate(Comparison(">", cars, Constant(2.0)), outputs, {}, 3)
    >>> value.tolist(), known.tolist()
    ([0.0, 1.0, 1.0], [True, True, False])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.query.values import (
    Arithmetic,
    Between,
    CheapValue,
    Comparison,
    Constant,
    Function,
    Membership,
    Negative,
    OracleOutput,
    Value,
)

Array = NDArray[Any]
Outputs = Mapping[OracleOutput, tuple[Array, NDArray[np.bool_]]]
"""Oracle output → (values ``(n,)``, known ``(n,)`` bool)."""

_ORDER: dict[str, Callable[[Array, Array], Array]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}
_UNARY: dict[str, Callable[[Array], Array]] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "ln": np.log,
    "exp": np.exp,
}


def evaluate(
    value: Value, outputs: Outputs, cheap: Mapping[int, Array], n: int
) -> tuple[Array, NDArray[np.bool_]]:
    """``value`` for each of ``n`` records, and whether it is known.

    Args:
        value: the compiled value.
        outputs: every oracle output the value reads (see :data:`Outputs`).
        cheap: :attr:`CheapValue.index` → its values ``(n,)``.
        n: records in the batch.

    Returns:
        ``(values, known)``: float64 (numbers, booleans) or object (text) ``(n,)``,
        and bool ``(n,)``. Where ``known`` is false the value is meaningless.
    """
    with np.errstate(all="ignore"):
        return _evaluate(value, outputs, cheap, n)


def _evaluate(
    value: Value, outputs: Outputs, cheap: Mapping[int, Array], n: int
) -> tuple[Array, NDArray[np.bool_]]:
    if isinstance(value, OracleOutput):
        values, known = outputs[value]
        return values, known
    everywhere = np.ones(n, dtype=np.bool_)
    if isinstance(value, CheapValue):
        return cheap[value.index], everywhere
    if isinstance(value, Constant):
        return _constant(value, n), everywhere
    if isinstance(value, Negative):
        operand, known = _evaluate(value.operand, outputs, cheap, n)
        return -_numbers(operand), known
    if isinstance(value, Arithmetic):
        left, left_known = _evaluate(value.left, outputs, cheap, n)
        right, right_known = _evaluate(value.right, outputs, cheap, n)
        return _arithmetic(
            value.operator, _numbers(left), _numbers(right)
        ), left_known & right_known
    if isinstance(value, Function):
        parts = [_evaluate(o, outputs, cheap, n) for o in value.operands]
        known = np.logical_and.reduce([k for _, k in parts]) if parts else everywhere
        numbers = [_numbers(v) for v, _ in parts]
        if value.name in _UNARY:
            return _UNARY[value.name](numbers[0]), known
        combine = np.fmax if value.name == "greatest" else np.fmin
        return combine.reduce(np.stack(numbers), axis=0), known
    if isinstance(value, Comparison):
        left, left_known = _evaluate(value.left, outputs, cheap, n)
        right, right_known = _evaluate(value.right, outputs, cheap, n)
        return _truth(_compare(value.operator, left, right)), left_known & right_known
    if isinstance(value, Membership):
        subject, known = _evaluate(value.value, outputs, cheap, n)
        hits = np.zeros(n, dtype=np.bool_)
        for option in value.options:
            hits |= _compare("=", subject, _constant(option, n))
        return _truth(hits), known
    assert isinstance(value, Between)
    subject, known = _evaluate(value.value, outputs, cheap, n)
    low, low_known = _evaluate(value.low, outputs, cheap, n)
    high, high_known = _evaluate(value.high, outputs, cheap, n)
    inside = _compare(">=", subject, low) & _compare("<=", subject, high)
    return _truth(inside), known & low_known & high_known


def _constant(constant: Constant, n: int) -> Array:
    if isinstance(constant.value, str):
        out = np.empty(n, dtype=object)
        out[:] = constant.value
        return out
    if constant.value is None:
        return np.full(n, np.nan)
    return np.full(n, float(constant.value))


def _numbers(values: Array) -> NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


def _arithmetic(operator: str, left: NDArray[np.float64], right: NDArray[np.float64]) -> Array:
    if operator == "+":
        return left + right
    if operator == "-":
        return left - right
    if operator == "*":
        return left * right
    if operator == "/":
        return left / right
    return np.where(right == 0, np.nan, np.fmod(left, np.where(right == 0, 1.0, right)))


def _compare(operator: str, left: Array, right: Array) -> NDArray[np.bool_]:
    """Element-wise comparison; false wherever an operand is NULL."""
    if left.dtype == object or right.dtype == object:
        present = np.fromiter(
            (a is not None and b is not None for a, b in zip(left, right, strict=True)),
            dtype=np.bool_,
            count=left.shape[0],
        )
        equal = np.fromiter(
            (a == b for a, b in zip(left, right, strict=True)), dtype=np.bool_, count=left.shape[0]
        )
        if operator == "=":
            return present & equal
        if operator == "<>":
            return present & ~equal
        raise ValueError(f"text values do not compare with {operator}")
    a = _numbers(left)
    b = _numbers(right)
    present = ~np.isnan(a) & ~np.isnan(b)
    if operator == "=":
        return present & np.equal(a, b)
    if operator == "<>":
        return present & np.not_equal(a, b)
    ordered: NDArray[np.bool_] = _ORDER[operator](a, b)
    return present & ordered


def _truth(flags: NDArray[np.bool_]) -> NDArray[np.float64]:
    return flags.astype(np.float64)
