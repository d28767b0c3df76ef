"""The ABae SQL dialect: clauses, located error messages, fuzzing, injection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from abae.query import AbaeSQL, QueryParseError, parse_query
from abae.query.dialect import MAX_NESTING, ErrorBound, GroupProxyMap

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


def test_error_target_confidence_and_cost_clauses() -> None:
    tree = parse_query(
        "SELECT COUNT(*) FROM t WHERE a(x)\nERROR WITHIN 0.02 RELATIVE AT CONFIDENCE 0.9 "
        "COST LIMIT 12.5"
    )
    target = tree.args["error_target"]
    assert isinstance(target, ErrorBound)
    assert target.this.name == "0.02"
    assert target.args["relative"] is True
    assert float(tree.args["probability"].name) == 0.9
    assert float(tree.args["cost_limit"].name) == 12.5
    assert tree.args.get("oracle_limit") is None
    absolute = parse_query("SELECT COUNT(*) FROM t WHERE a(x) ERROR WITHIN 5 ORACLE LIMIT 9")
    assert absolute.args["error_target"].args["relative"] is False
    assert absolute.args["error_target"].sql(dialect=AbaeSQL) == "ERROR WITHIN 5"


def test_clauses_after_the_table_are_not_aliases() -> None:
    for clause in ("ERROR WITHIN 5", "AT CONFIDENCE 0.9", "COST LIMIT 3"):
        tree = parse_query(f"SELECT COUNT(*) FROM frames {clause}")
        assert tree.args["from_"].this.args.get("alias") is None
        assert isinstance(tree.args["from_"].this, exp.Table)


def test_at_confidence_and_with_probability_are_one_clause() -> None:
    at = parse_query("SELECT COUNT(*) FROM t AT CONFIDENCE 0.8")
    with_ = parse_query("SELECT COUNT(*) FROM t WITH PROBABILITY 0.8")
    assert at.args["probability"] == with_.args["probability"]


def test_per_group_proxy_map() -> None:
    tree = parse_query(
        "SELECT kind(x), COUNT(*) FROM t GROUP BY kind(x) ORACLE LIMIT 9 "
        "USING (car: p_car, 'pick-up': sqrt(p_a * p_b))"
    )
    proxies = tree.args["proxy"]
    assert isinstance(proxies, GroupProxyMap)
    keys = [entry.this for entry in proxies.expressions]
    assert [k.name for k in keys] == ["car", "pick-up"]
    assert isinstance(keys[1], exp.Literal)
    assert proxies.expressions[1].expression.sql() == "SQRT(p_a * p_b)"
    assert proxies.sql(dialect=AbaeSQL) == "(car: p_car, 'pick-up': SQRT(p_a * p_b))"
    assert not isinstance(
        parse_query("SELECT COUNT(*) FROM t USING (p)").args["proxy"], GroupProxyMap
    )


def test_group_by_an_oracle_call_parses_as_a_function() -> None:
    tree = parse_query("SELECT kind(x), COUNT(*) FROM t GROUP BY kind(x) ORACLE LIMIT 5")
    assert isinstance(tree.args["group"].expressions[0], exp.Anonymous)


def test_deep_nesting_is_a_parse_error_not_a_recursion_error() -> None:
    chain = " AND ".join(f"a = {i}" for i in range(MAX_NESTING + 5))
    with pytest.raises(QueryParseError, match="nests expressions too deeply"):
        parse_query(f"SELECT COUNT(*) FROM t WHERE {chain} ORACLE LIMIT 5")
    with pytest.raises(QueryParseError, match="too deeply"):
        parse_query("SELECT COUNT(*) FROM t WHERE " + "(" * 400 + "a" + ")" * 400)
    short = " AND ".join(f"a = {i}" for i in range(MAX_NESTING // 2))
    assert parse_query(f"SELECT COUNT(*) FROM t WHERE {short}").args["where"] is not None


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
    ("SELECT AVG(x) FROM t ERROR 5", 1, 28, "expected WITHIN after ERROR"),
    ("SELECT AVG(x) FROM t ERROR WITHIN", 1, 28, "ERROR WITHIN needs"),
    ("SELECT AVG(x) FROM t ERROR WITHIN 'a'", 1, 35, "ERROR WITHIN needs"),
    ("SELECT AVG(x) FROM t AT 0.9", 1, 25, "expected CONFIDENCE after AT"),
    ("SELECT AVG(x) FROM t AT CONFIDENCE", 1, 25, "AT CONFIDENCE needs"),
    ("SELECT AVG(x) FROM t COST 3", 1, 27, "expected LIMIT after COST"),
    ("SELECT AVG(x) FROM t COST LIMIT x", 1, 33, "COST LIMIT needs"),
    (
        "SELECT AVG(x) FROM t AT CONFIDENCE 0.9\nWITH PROBABILITY 0.9",
        2,
        1,
        "say the same thing",
    ),
    ("SELECT AVG(x) FROM t ERROR WITHIN 1 ERROR WITHIN 2", 1, 37, "appears twice"),
    ("SELECT AVG(x) FROM t COST LIMIT 1 COST LIMIT 2", 1, 35, "appears twice"),
    ("SELECT AVG(x) FROM t USING (car: )", 1, 34, "expected a proxy column"),
    ("SELECT AVG(x) FROM t USING (car: p, bus q)", 1, 41, "expected ':' after"),
    ("SELECT AVG(x) FROM t USING (car: p bus: q)", 1, 36, "expected ',' or ')'"),
    ("SELECT AVG(x) FROM t USING (car: p, 3: q)", 1, 37, "expected a category name"),
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
    "WITH", "PROBABILITY", ";", "DROP", "TABLE", "\n", "--", '"', "'", "+", "-", "ERROR",
    "WITHIN", "RELATIVE", "AT", "CONFIDENCE", "COST", ":", "1e23", "IN", "BETWEEN",
]  # fmt: skip


def _check_outcome(sql: str) -> None:
    """Either a SELECT tree, or a located QueryParseError that points inside the text."""
    error: QueryParseError | None = None
    try:
        tree = parse_query(sql)
    except QueryParseError as caught:
        error = caught
    if error is not None:
        assert error.description
        if error.line:
            assert 1 <= error.line <= len(sql.splitlines()) + 1
            assert error.column >= 1
            assert str(error).startswith(f"line {error.line}, column {error.column}: ")
        return
    assert isinstance(tree, exp.Select)
    for key in ("oracle_limit", "probability", "cost_limit", "error_target", "proxy"):
        assert tree.args.get(key) is None or isinstance(tree.args[key], exp.Expr)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(KEYWORDS), max_size=25))
def test_fuzz_tokens_give_a_tree_or_a_located_parse_error(words: list[str]) -> None:
    _check_outcome(" ".join(words))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_text_gives_a_tree_or_a_located_parse_error(text: str) -> None:
    for sql in (text, f"SELECT COUNT(*) FROM t WHERE {text} ORACLE LIMIT 3"):
        _check_outcome(sql)
