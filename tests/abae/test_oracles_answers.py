"""Strict text answers and the adaptive concurrency limit: properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abae.oracles import AdaptiveLimit, UnusableAnswerError, parse_text_answer

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(finite, st.sampled_from(["", " ", "\n"]), st.sampled_from(["", ".", "!"]))
def test_a_number_reads_back_exactly(value: float, space: str, end: str) -> None:
    assert parse_text_answer(f"{space}{value!r}{end}{space}", "number") == value


@given(st.integers(-(10**12), 10**12))
def test_whole_numbers(value: int) -> None:
    assert parse_text_answer(str(value), "int") == value
    assert parse_text_answer(f"{value}.0", "int") == value
    with pytest.raises(UnusableAnswerError, match="is not a whole number"):
        parse_text_answer(f"{value}.5", "int")


@given(
    st.lists(
        st.text(alphabet="abcdefgh", min_size=1, max_size=6),
        min_size=1,
        max_size=5,
        unique_by=str.lower,
    ),
    st.data(),
)
def test_categories_match_exactly_ignoring_case(names: list[str], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(names))
    assert parse_text_answer(f" {name.upper()}. ", "category", tuple(names)) == name
    with pytest.raises(UnusableAnswerError) as raised:
        parse_text_answer(f"{name} or maybe not", "category", tuple(names))
    assert raised.value.raw_answer == f"{name} or maybe not"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Yes", True), ("no.", False), ("**TRUE**", True), ("'false'", False)],
)
def test_yes_no(text: str, expected: bool) -> None:
    assert parse_text_answer(text, "bool") is expected


@pytest.mark.parametrize("text", ["Yes, there is a dog", "maybe", "", "1", "nope"])
def test_anything_else_is_not_a_yes_no(text: str) -> None:
    with pytest.raises(UnusableAnswerError, match="is not yes or no"):
        parse_text_answer(text, "bool")


@pytest.mark.parametrize("text", ["about 3", "3 cars", "1,000", "nan", "inf", "0x10"])
def test_anything_else_is_not_a_number(text: str) -> None:
    with pytest.raises(UnusableAnswerError, match="is not a number"):
        parse_text_answer(text, "number")


@given(
    st.integers(1, 64),
    st.lists(
        st.tuples(st.booleans(), st.floats(0.0, 0.5), st.none() | st.floats(0, 3)), max_size=200
    ),
)
def test_the_limit_stays_within_bounds_and_decreases_once_per_quiet_period(
    maximum: int, events: list[tuple[bool, float, float | None]]
) -> None:
    limit = AdaptiveLimit(maximum)
    now = 0.0
    last_decrease = -math.inf
    quiet_until = -math.inf
    for rate_limited, step, retry_after in events:
        now += step
        before = limit.decreases
        if rate_limited:
            limit.on_rate_limited(now, retry_after)
        else:
            limit.on_success()
        assert 1 <= limit.limit <= maximum
        if limit.decreases > before:
            assert now >= quiet_until  # not twice within one quiet period
            last_decrease = now
            quiet_until = now + max(1.0, retry_after or 0.0)
    assert last_decrease <= now


def test_the_decrease_follows_the_share_of_rate_limited_calls() -> None:
    limit = AdaptiveLimit(16)
    limit.on_rate_limited(0.0, 1.0)  # one 429 among fewer calls than the limit: 1/16
    assert limit.limit == 15
    limit.on_rate_limited(0.5, 1.0)  # within the quiet period: counted, no decrease
    assert limit.limit == 15
    for _ in range(14):
        limit.on_rate_limited(0.9)
    limit.on_rate_limited(1.5)  # 16 of 16 calls refused since the last decrease: halve
    assert limit.limit == 7
    for _ in range(7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15):
        limit.on_success()
    assert limit.limit == 16
