"""ORACLE LIMIT, ERROR WITHIN, AT CONFIDENCE / WITH PROBABILITY and COST LIMIT: values, defaults, errors."""

from __future__ import annotations

import pytest

from abae.query import (
    DEFAULT_ORACLE_LIMIT,
    DEFAULT_PROBABILITY,
    MAX_ORACLE_LIMIT,
    CollectionInfo,
    ErrorTarget,
    QueryCompileError,
    QueryError,
    compile_query,
)

CATALOG = {"frames": CollectionInfo({"id": "BIGINT", "image": "VARCHAR", "p": "DOUBLE"}, ["p"])}
BASE = "SELECT COUNT(*) FROM frames WHERE has_car(image) USING p "


def plan_of(clauses: str):  # type: ignore[no-untyped-def]
    return compile_query(BASE + clauses, CATALOG, ["has_car"])


def test_error_within_without_a_limit_takes_the_default_cap() -> None:
    plan = plan_of("ERROR WITHIN 0.01 RELATIVE")
    assert plan.error_target == ErrorTarget(0.01, relative=True)
    assert plan.budget == DEFAULT_ORACLE_LIMIT == 10_000
    assert plan.budget_defaulted
    assert plan.probability == DEFAULT_PROBABILITY
    assert str(plan.error_target) == "ERROR WITHIN 0.01 RELATIVE"


def test_error_within_with_a_limit_keeps_the_limit() -> None:
    plan = plan_of("ERROR WITHIN 25 ORACLE LIMIT 400 AT CONFIDENCE 0.9 COST LIMIT 3.5")
    assert plan.error_target == ErrorTarget(25.0, relative=False)
    assert plan.budget == 400
    assert not plan.budget_defaulted
    assert plan.probability == 0.9
    assert plan.cost_limit == 3.5


def test_without_error_target_nothing_is_defaulted() -> None:
    plan = plan_of("ORACLE LIMIT 7 WITH PROBABILITY 0.8")
    assert (plan.budget, plan.budget_defaulted, plan.error_target, plan.cost_limit) == (
        7,
        False,
        None,
        None,
    )
    assert plan.probability == 0.8


@pytest.mark.parametrize(
    ("clause", "budget"),
    [
        ("ORACLE LIMIT 1e3", 1000),
        ("ORACLE LIMIT 2000.0", 2000),
        (f"ORACLE LIMIT {MAX_ORACLE_LIMIT}", MAX_ORACLE_LIMIT),
    ],
)
def test_integral_limits_in_any_notation(clause: str, budget: int) -> None:
    assert plan_of(clause).budget == budget


def test_cost_limit_zero_is_allowed() -> None:
    assert plan_of("ORACLE LIMIT 5 COST LIMIT 0").cost_limit == 0.0


# (clauses, the text the error must point at, words)
ERRORS = [
    ("ORACLE LIMIT 1e23", "1e23", "whole number of oracle calls from 1 to 1,000,000,000, got 1e23"),
    ("ORACLE LIMIT 0", "0", "got 0"),
    ("ORACLE LIMIT -5", "5", "got -5"),
    ("ORACLE LIMIT 2.5", "2.5", "got 2.5"),
    (f"ORACLE LIMIT {MAX_ORACLE_LIMIT + 1}", "1000000001", "whole number"),
    ("ERROR WITHIN 0", "0", "ERROR WITHIN needs a positive half-width"),
    ("ERROR WITHIN -1", "1", "ERROR WITHIN needs a positive half-width"),
    ("ERROR WITHIN 1e400", "1e400", "ERROR WITHIN needs"),
    ("ERROR WITHIN 5 RELATIVE", "5", "a fraction of the estimate between 0 and 1"),
    ("ERROR WITHIN 0 RELATIVE", "0", "a fraction of the estimate"),
    ("ORACLE LIMIT 5 AT CONFIDENCE 1", "1", "AT CONFIDENCE needs a probability in (0, 1)"),
    ("ORACLE LIMIT 5 AT CONFIDENCE 0", "0", "AT CONFIDENCE needs"),
    ("ORACLE LIMIT 5 WITH PROBABILITY 95", "95", "WITH PROBABILITY needs a probability in (0, 1)"),
    ("ORACLE LIMIT 5 COST LIMIT -1", "1", "COST LIMIT needs a cost of zero or more"),
    ("ORACLE LIMIT 5 COST LIMIT 1e400", "1e400", "COST LIMIT needs"),
]


@pytest.mark.parametrize(("clauses", "at", "words"), ERRORS)
def test_numbers_are_checked_at_compile_time(clauses: str, at: str, words: str) -> None:
    with pytest.raises(QueryCompileError) as caught:
        plan_of(clauses)
    assert words in str(caught.value)
    sql = BASE + clauses
    assert (caught.value.line, caught.value.column) == (1, sql.rindex(at) + 1)


def test_neither_limit_nor_error_target_points_at_the_end() -> None:
    with pytest.raises(QueryCompileError) as caught:
        plan_of("")
    assert "expected ORACLE LIMIT <calls> (or ERROR WITHIN <error>)" in str(caught.value)
    assert caught.value.line == 1


def test_both_confidence_clauses_are_refused() -> None:
    with pytest.raises(QueryError, match="say the same thing"):
        plan_of("ORACLE LIMIT 5 AT CONFIDENCE 0.9 WITH PROBABILITY 0.9")
