"""The ABae SQL dialect: clauses, located error messages, fuzzing, injection."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from abae.query import AbaeSQL, QueryParseError, parse_query

EXAMPLE = """SELECT AVG(count_cars(frame)) FROM frames
WHERE has_red_light(frame)
ORACLE LIMIT 2000 USING proxy_red_light
WITH PROBABILITY 0.95"""


def test_dialect_is_a_sqlglot_dialect() -> None:
    assert issubclass(AbaeSQL, Dialect)
    assert AbaeSQL.parser_class.__name__ == "Parser"


def test_parses_the_architecture_example() -> None:
    tree = parse_query(EXAMPLE)
    assert int(tree.args["oracle_limit"].name) == 2000
    assert tree.args["proxy"].sql() == "proxy_red_light"
    assert float(tree.args["probability"].name) == 0.95
    assert isinstance(tree.expressions[0], exp.Avg)


def test_clauses_in_any_order_and_expressions() -> None:
    tree = parse_query(
        "SELECT COUNT(*) FROM t WHERE a(x) WITH PROBABILITY 0.9 USING p1 * p2 ORACLE LIMIT 5;"
    )
    assert tree.args["proxy"].sql() == "p1 * p2"
    assert int(tree.args["oracle_limit"].name) == 5


# (query, line, column, words the message must contain)
MALFORMED = [
    ("", 0, 0, "empty"),
    ("   \n  ", 0, 0, "empty"),
    ("SELEC x FROM t", 1, 1, "expected SELECT"),
    ("DROP TABLE frames", 1, 1, "expected SELECT"),
    ("DELETE FROM frames", 1, 1, "expected SELECT"),
    ("INSERT INTO t VALUES (1)", 1, 1, "expected SELECT"),
    ("UPDATE t SET a = 1", 1, 1, "expected SELECT"),
    ("SELECT AVG(x FROM t ORACLE LIMIT 5", 1, 14, "expected ')'"),
    ("SELECT AVG(x) FROM", 1, 15, "expected a table name"),
    ("SELECT AVG(x) FROM t WHERE", 1, 22, "expected a condition after WHERE"),
    ("SELECT AVG(x) FROM t\nORACLE LIMIT", 2, 8, "ORACLE LIMIT needs an integer"),
    ("SELECT AVG(x) FROM t ORACLE LIMIT 'a lot'", 1, 35, "ORACLE LIMIT needs an integer"),
    ("SELECT AVG(x) FROM t ORACLE 5", 1, 29, "expected LIMIT after ORACLE"),
    ("SELECT AVG(x) FROM t ORACLE LIMIT 5 ORACLE LIMIT 6", 1, 37, "appears twice"),
    ("SELECT AVG(x) FROM t ORACLE LIMIT 5 USING", 1, 37, "after USING"),
    ("SELECT AVG(x) FROM t ORACLE LIMIT 5 WITH PROBABILITY", 1, 42, "WITH PROBABILITY needs"),
    ("SELECT AVG(x) FROM t ORACLE LIMIT 5 WITH 0.9", 1, 42, "expected PROBABILITY"),
    ("SELECT AVG(x) FROM t GROUP x ORACLE LIMIT 5", 1, 28, "expected BY after GROUP"),
    ("SELECT AVG(x) FROM t\n  WHERE a = 'open", 2, 13, "expected a closing '"),
    ("SELECT AVG(x) FROM t ORACLE LIMIT 5 trailing", 1, 37, "unexpected token"),
    ("SELECT AVG(x) FROM t; DROP TABLE t", 1, 23, "only one statement"),
    ("SELECT AVG(x) FROM t ORACLE LIMIT 5; SELECT 1", 1, 38, "only one statement"),
    ("SELECT AVG(x) FROM t WHERE a ==== b ORACLE LIMIT 5", 1, 32, "missing"),
    ("SELECT AVG(x) FROM t WHERE (a = 1 ORACLE LIMIT 5", 1, 42, "expected ')'"),
    (")", 1, 1, "expected SELECT"),
]


@pytest.mark.parametrize(("sql", "line", "column", "words"), MALFORMED)
def test_malformed_queries_get_located_messages(
    sql: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(QueryParseError) as caught:
        parse_query(sql)
    error = caught.value
    assert words in str(error)
    assert (error.line, error.column) == (line, column)
    if line:
        assert str(error).startswith(f"line {line}, column {column}: ")


def test_at_least_twenty_malformed_cases() -> None:
    assert len(MALFORMED) >= 20


INJECTIONS = [
    "SELECT COUNT(*) FROM t WHERE o(x) ORACLE LIMIT 5; DROP TABLE t",
    "SELECT COUNT(*) FROM t WHERE o(x) ORACLE LIMIT 5; DELETE FROM abae_labels",
    "SELECT COUNT(*) FROM t WHERE o(x) ORACLE LIMIT 5;ATTACH 'x.db'",
    "DROP TABLE abae_labels",
    "COPY t TO '/tmp/x.csv'",
    "PRAGMA database_list",
    "WITH x AS (SELECT 1) DELETE FROM t",
]


@pytest.mark.parametrize("sql", INJECTIONS)
def test_injected_statements_are_rejected(sql: str) -> None:
    with pytest.raises(QueryParseError):
        parse_query(sql)


KEYWORDS = [
    "SELECT", "AVG", "SUM", "COUNT", "(", ")", "*", ",", "FROM", "frames", "WHERE", "AND", "OR",
    "NOT", "o(x)", "x", "=", "'a'", "1", "0.5", "GROUP", "BY", "ORACLE", "LIMIT", "USING",
    "WITH", "PROBABILITY", ";", "DROP", "TABLE", "\n", "--", '"', "'", "+", "-",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(KEYWORDS), max_size=25))
def test_fuzz_tokens_only_parse_errors_escape(words: list[str]) -> None:
    with contextlib.suppress(QueryParseError):
        parse_query(" ".join(words))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_text_only_parse_errors_escape(text: str) -> None:
    for sql in (text, f"SELECT COUNT(*) FROM t WHERE {text} ORACLE LIMIT 3"):
        with contextlib.suppress(QueryParseError):
            parse_query(sql)
