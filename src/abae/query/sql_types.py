"""The kinds of values a query computes with, and how literals become typed parameters.

DuckDB reports a column's type as text (``BIGINT``, ``VARCHAR``,
``TIMESTAMP WITH TIME ZONE``, ``DECIMAL(10,2)``, ``INTEGER[]``, ...). The
compiler only needs to know what kind of value it holds (:data:`SqlKind`) to
refuse, at compile time and with a position, what DuckDB would refuse at run
time (``speed = 'fast'``, ``SUM(camera)``).

Example:
    >>> kind_of_type("DECIMAL(10,2)"), kind_of_type("VARCHAR"), kind_of_type("INTEGER[]")
    ('number', 'text', 'other')
    >>> temporal_value("2024-01-31 12:00", "timestamp")
    datetime.datetime(2024, 1, 31, 12, 0)
    >>> number_value("1e400")
    Traceback (most recent call last):
    ...
    ValueError: the number 1e400 is too large
"""

from __future__ import annotations

import datetime
import math
from typing import Literal

SqlKind = Literal["number", "text", "boolean", "timestamp", "date", "time", "blob", "null", "other"]
"""What a cheap expression holds. ``"null"`` is the NULL literal (fits anywhere);
``"other"`` covers lists, structs, intervals and the like (only ``IS NULL`` applies)."""

TEMPORAL_KINDS = ("timestamp", "date", "time")
ORDERED_KINDS = ("number", "text", "timestamp", "date", "time")
"""Kinds that ``<``, ``<=``, ``>``, ``>=`` and ``BETWEEN`` apply to."""

_NUMBER_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL", "NUMERIC",
    "INT1", "INT2", "INT4", "INT8", "FLOAT4", "FLOAT8",
)  # fmt: skip
_TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR")
_INT64 = 2**63

_DESCRIPTIONS = {
    "number": "a number",
    "text": "text",
    "boolean": "TRUE/FALSE",
    "timestamp": "a timestamp",
    "date": "a date",
    "time": "a time of day",
    "blob": "bytes (BLOB)",
    "null": "NULL",
    "other": "a composite value",
}


def kind_of_type(duckdb_type: str) -> SqlKind:
    """The kind of a DuckDB column type name (case and parameters ignored)."""
    name = duckdb_type.strip().upper()
    if name.endswith("]") or name.startswith(("STRUCT", "MAP", "UNION")):
        return "other"
    base = name.split("(")[0].strip()
    if base in _NUMBER_TYPES:
        return "number"
    if base in _TEXT_TYPES:
        return "text"
    if base in ("BOOLEAN", "BOOL", "LOGICAL"):
        return "boolean"
    if base.startswith("TIMESTAMP") or base == "DATETIME":
        return "timestamp"
    if base == "DATE":
        return "date"
    if base.startswith("TIME"):
        return "time"
    if base in ("BLOB", "BYTEA", "BINARY", "VARBINARY"):
        return "blob"
    return "other"


def describe(kind: SqlKind) -> str:
    """``"a number"``, ``"text"``, ... for messages."""
    return _DESCRIPTIONS[kind]


def comparable(left: SqlKind, right: SqlKind) -> bool:
    """Whether ``=`` and ``<>`` apply between the two kinds (NULL compares with anything)."""
    if "null" in (left, right):
        return left not in ("blob", "other") and right not in ("blob", "other")
    if left == right:
        return left not in ("blob", "other")
    return {left, right} == {"timestamp", "date"}


def number_value(text: str) -> int | float:
    """A numeric literal as a parameter: an int when it fits int64, else a float.

    Raises:
        ValueError: malformed, or too large to be a finite double.
    """
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"malformed number {text!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"the number {text} is too large") from None
        return number
    if -_INT64 <= value < _INT64:
        return value
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"the number {text} is too large")
    return number


def temporal_value(text: str, kind: SqlKind) -> datetime.datetime | datetime.date | datetime.time:
    """A text literal compared with a timestamp, date or time column, as a Python value.

    Raises:
        ValueError: the text is not in ISO form (e.g. ``'2024-01-31'``,
            ``'2024-01-31 12:00:00'``, ``'12:00'``).
    """
    value = text.strip()
    try:
        if kind == "time":
            return datetime.time.fromisoformat(value)
        if kind == "date" and len(value) <= 10:
            return datetime.date.fromisoformat(value)
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        example = {"time": "'12:00:00'", "date": "'2024-01-31'"}.get(
            kind, "'2024-01-31' or '2024-01-31 12:00:00'"
        )
        raise ValueError(f"expected {describe(kind)} like {example}, got {text!r}") from None
