"""Oracle answers: what an oracle may return, strict parsing of text answers, and labels.

A Python oracle returns a plain value (``True``/``False``, a number, a
``(bool, number)`` pair, or one of its declared category names). An oracle that
pays per token returns a :class:`MeteredAnswer` per record: the parsed value,
or the parse error, plus the tokens and money the answer cost and the model's
raw text. :func:`label_from_output` turns either into a :class:`Label`, checking
it against what the oracle declared (``returns``); anything else fails the
record with a message that says what was expected.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from abae.oracles.errors import UnusableAnswerError
from abae.store.ledger import Label

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_YES = frozenset({"yes", "true"})
_NO = frozenset({"no", "false"})
_TRAILING = " \t\r\n.!\"'`*"


@dataclass(frozen=True)
class MeteredAnswer:
    """One record's answer from an oracle that pays per token.

    Attributes:
        value: the parsed answer (``None`` when ``error`` is set).
        cost: money the call cost (from the response's token usage and the prices).
        input_tokens: prompt tokens the response reported.
        output_tokens: completion tokens the response reported.
        raw_answer: the model's raw text (kept in the ledger).
        error: why the text could not be parsed; the record fails, the money stays spent.
    """

    value: Any = None
    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    raw_answer: str | None = None
    error: str | None = None


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real | np.integer | np.floating) and not _is_bool(value)


def _finite(oracle: str, record_id: int, value: Any) -> float:
    try:
        number = float(value)
    except OverflowError:
        raise UnusableAnswerError(
            f"oracle {oracle!r} returned a number too large for a float for record {record_id}"
        ) from None
    if not math.isfinite(number):
        raise UnusableAnswerError(
            f"oracle {oracle!r} returned {number} for record {record_id}; numbers must be finite"
        )
    return number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_EXPECTED = {
    "any": "True/False, a number, or a (True/False, number) pair",
    "bool": "True/False",
    "number": "a number",
    "pair": "a (True/False, number) pair",
}


def label_from_output(
    oracle: str,
    record_id: int,
    output: Any,
    cost: float,
    query_id: str,
    *,
    returns: str = "any",
    categories: tuple[str, ...] = (),
    version: str = "",
) -> Label:
    """Turn an oracle's answer into a :class:`Label`.

    Args:
        output: a plain answer, or a :class:`MeteredAnswer`.
        cost: the money of a plain answer (a metered answer carries its own).
        returns: what the oracle declared (``"any"``, ``"bool"``, ``"number"``,
            ``"pair"``, ``"category"``).
        categories: the declared names of a category oracle.

    Raises:
        UnusableAnswerError: the answer is not what the oracle declared (the
            message says what was expected; a metered answer's raw text is attached).
    """
    raw: str | None = None
    input_tokens = output_tokens = 0
    if isinstance(output, MeteredAnswer):
        raw, cost = output.raw_answer, output.cost
        input_tokens, output_tokens = output.input_tokens, output.output_tokens
        if output.error is not None:
            raise UnusableAnswerError(output.error, raw)
        output = output.value
    try:
        predicate, statistic, category = _parse(
            oracle, record_id, output, returns, tuple(categories)
        )
    except UnusableAnswerError as error:
        raise UnusableAnswerError(str(error), raw) from None
    return Label(
        record_id,
        oracle,
        predicate,
        statistic,
        float(cost),
        query_id,
        category=category,
        input_tokens=int(input_tokens),
        output_tokens=int(output_tokens),
        version=version,
        raw_answer=raw,
    )


def _parse(
    oracle: str, record_id: int, output: Any, returns: str, categories: tuple[str, ...]
) -> tuple[bool | None, float | None, str | None]:
    if returns == "category":
        if isinstance(output, str) and output in categories:
            return None, None, output
        expected = f"one of {list(categories)}" if categories else "a declared category"
        raise UnusableAnswerError(
            f"oracle {oracle!r} returned {_short(output)} for record {record_id}; expected "
            f"{expected}"
        )
    if _is_bool(output) and returns in ("any", "bool"):
        return bool(output), None, None
    if _is_number(output) and returns in ("any", "number"):
        return None, _finite(oracle, record_id, output), None
    if (
        isinstance(output, tuple | list)
        and len(output) == 2
        and _is_bool(output[0])
        and (output[1] is None or _is_number(output[1]))
        and returns in ("any", "pair")
    ):
        statistic = None if output[1] is None else _finite(oracle, record_id, output[1])
        return bool(output[0]), statistic, None
    declared = "" if returns == "any" else f" (declared returns={returns!r})"
    if isinstance(output, str) and returns == "any":
        declared = "; to answer with category names, declare them with returns=[...]"
    raise UnusableAnswerError(
        f"oracle {oracle!r} returned {_short(output)} for record {record_id}; expected "
        f"{_EXPECTED.get(returns, returns)}{declared}"
    )


def parse_text_answer(text: str, returns: str, categories: tuple[str, ...] = ()) -> Any:
    """Parse a model's text answer strictly.

    - ``"bool"``: ``yes``/``no`` (or ``true``/``false``), any case;
    - ``"number"``: one decimal number (``3``, ``-0.5``, ``1e3``); ``"int"``: a whole number;
    - ``"category"``: exactly one of ``categories`` (case-insensitive), returned as declared.

    Surrounding whitespace, quotes, ``*`` and trailing ``.``/``!`` are ignored;
    nothing else is (no "Yes, there is a dog", no "about 3").

    Raises:
        UnusableAnswerError: the text is not such an answer (the message says what was expected).
    """
    cleaned = text.strip(_TRAILING).strip()
    folded = cleaned.lower()
    if returns == "bool":
        if folded in _YES:
            return True
        if folded in _NO:
            return False
        expected = "yes or no"
    elif returns in ("number", "int"):
        if _NUMBER.match(cleaned):
            value = float(cleaned)
            if math.isfinite(value) and (returns == "number" or value.is_integer()):
                return int(value) if returns == "int" else value
        expected = "a whole number" if returns == "int" else "a number"
    elif returns == "category":
        for category in categories:
            if folded == category.lower():
                return category
        expected = f"one of {', '.join(categories)}"
    else:
        raise ValueError(f"cannot parse text answers for returns={returns!r}")
    raise UnusableAnswerError(f"answer {_short(text)} is not {expected}", text)
