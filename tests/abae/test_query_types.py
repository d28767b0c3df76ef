"""Type checks of cheap expressions: what DuckDB would refuse at run time is refused at compile time.

Issue 13, defect 1: ``speed = 'fast'``, ``camera = 1``, ``SUM(camera)``,
``score IN ('x')`` and ``ORACLE LIMIT 1e23`` used to escape as DuckDB
tracebacks. Each is now a positioned :class:`QueryCompileError`, and every
cheap expression that compiles runs in DuckDB (property test below).
"""

from __future__ import annotations

import datetime
import functools
import os

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abae.query import CollectionInfo, QueryCompileError, QueryError, compile_query
from abae.query.sql_types import kind_of_type

COLUMNS = {
    "id": "BIGINT",
    "image": "VARCHAR",
    "image_blob": "BLOB",
    "camera": "VARCHAR",
    "n": "BIGINT",
    "speed": "DOUBLE",
    "flag": "BOOLEAN",
    "ts": "TIMESTAMP",
    "day": "DATE",
    "tags": "VARCHAR[]",
    "p": "DOUBLE",
}
CATALOG = {"frames": CollectionInfo(COLUMNS, ["p"])}
ORACLES = ["has_car"]


def where(condition: str) -> str:
    return (
        f"SELECT COUNT(*) FROM frames WHERE {condition} AND has_car(image) ORACLE LIMIT 5 USING p"
    )


# (query, line, column, words in the message)
ERRORS = [
    (where("speed = 'fast'"), 1, 43, "cannot compare speed (a number) with 'fast' (text)"),
    (where("camera = 1"), 1, 44, "cannot compare camera (text) with 1 (a number)"),
    (where("n IN ('x', 2)"), 1, 41, "cannot compare n (a number) with 'x' (text)"),
    (where("speed > TRUE"), 1, 43, "cannot compare speed (a number) with TRUE (TRUE/FALSE)"),
    (where("flag > FALSE"), 1, 35, "TRUE/FALSE values compare with = or <> only"),
    (where("speed"), 1, 35, "expected a condition (TRUE/FALSE) in WHERE, got a number"),
    (where("camera LIKE 3"), 1, 47, "LIKE needs text"),
    (where("speed LIKE 'a%'"), 1, 35, "LIKE needs text"),
    (where("camera + 1 > 2"), 1, 35, "+ needs a number; camera is text"),
    (where("NOT speed"), 1, 39, "NOT needs TRUE/FALSE"),
    (where("ts > 'yesterday'"), 1, 40, "expected a timestamp like"),
    (where("ts > 3"), 1, 40, "cannot compare ts (a timestamp) with 3 (a number)"),
    (where("day BETWEEN '2024-01-01' AND 'soon'"), 1, 64, "expected a date like"),
    (where("image_blob = 'x'"), 1, 35, "can only be tested with IS NULL"),
    (where("tags = 'x'"), 1, 35, "can only be tested with IS NULL"),
    (where("greatest(speed, camera) > 1"), 1, 35, "needs values of one ordered kind"),
    (where("speed IS TRUE"), 1, 35, "IS TRUE needs TRUE/FALSE"),
    (where("speed > 1e400"), 1, 43, "too large"),
    (
        "SELECT SUM(camera) FROM frames WHERE has_car(image) ORACLE LIMIT 5 USING p",
        1,
        12,
        "expected a number in SUM(...), got text: camera",
    ),
    (
        "SELECT AVG(flag) FROM frames WHERE has_car(image) ORACLE LIMIT 5 USING p",
        1,
        12,
        "expected a number in AVG(...), got TRUE/FALSE",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 5 USING camera",
        1,
        71,
        "USING needs numeric proxy columns; 'camera' is VARCHAR",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 1e23 USING p",
        1,
        63,
        "ORACLE LIMIT needs a whole number of oracle calls from 1 to 1,000,000,000, got 1e23",
    ),
    (
        "SELECT COUNT(*) FROM frames GROUP BY image_blob ORACLE LIMIT 5 USING p",
        1,
        38,
        "cannot group by column 'image_blob'",
    ),
]


@pytest.mark.parametrize(("sql", "line", "column", "words"), ERRORS)
def test_cheap_type_errors_are_positioned(sql: str, line: int, column: int, words: str) -> None:
    with pytest.raises(QueryCompileError) as caught:
        compile_query(sql, CATALOG, ORACLES)
    assert words in str(caught.value)
    assert (caught.value.line, caught.value.column) == (line, column)


def test_text_compared_with_a_timestamp_becomes_a_timestamp_parameter() -> None:
    plan = compile_query(
        where("ts >= '2024-01-31 12:00' AND day < '2024-02-01' AND ts IN ('2024-01-01')"),
        CATALOG,
        ORACLES,
    )
    assert plan.prefilter is not None
    assert plan.prefilter.params == (
        datetime.datetime(2024, 1, 31, 12, 0),
        datetime.date(2024, 2, 1),
        datetime.datetime(2024, 1, 1),
    )


def test_arithmetic_is_done_in_double_so_it_cannot_overflow() -> None:
    plan = compile_query(where("n * 9223372036854775807 > 0 AND n % 0 IS NULL"), CATALOG, ORACLES)
    assert plan.prefilter is not None
    con = _table()
    rows = con.execute(
        f"SELECT count(*) FROM frames WHERE {plan.prefilter.sql}", list(plan.prefilter.params)
    ).fetchone()
    assert rows is not None
    assert rows[0] == 3  # n > 0 in 3 of the 6 rows; x % 0 is NULL


@pytest.mark.parametrize(
    ("duckdb_type", "kind"),
    [
        ("BIGINT", "number"),
        ("DECIMAL(10,2)", "number"),
        ("UBIGINT", "number"),
        ("VARCHAR", "text"),
        ("BOOLEAN", "boolean"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp"),
        ("DATE", "date"),
        ("TIME", "time"),
        ("BLOB", "blob"),
        ("INTEGER[]", "other"),
        ("STRUCT(a INTEGER)", "other"),
        ("INTERVAL", "other"),
    ],
)
def test_kinds_of_duckdb_types(duckdb_type: str, kind: str) -> None:
    assert kind_of_type(duckdb_type) == kind


# --- every cheap expression that compiles runs in DuckDB --------------------------------

_NUMBERS = ["n", "speed", "id", "p", "0", "1", "-3", "2.5", "1e300", "9223372036854775807",
            "99999999999999999999999", "NULL"]  # fmt: skip
_TEXTS = ["camera", "image", "'north'", "''", "'it''s'", "'%'", "NULL"]
_TIMES = ["ts", "day", "'2024-01-02'", "'2024-01-02 10:00:00'", "'garbage'", "NULL"]
_ANY = [*_NUMBERS, *_TEXTS, *_TIMES, "flag", "TRUE", "FALSE", "image_blob", "tags"]


def _numbers() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda e: f"(-{e})"),
            st.tuples(st.sampled_from(["abs", "sqrt", "ln", "exp"]), inner).map(
                lambda t: f"{t[0]}({t[1]})"
            ),
            st.tuples(st.sampled_from(["greatest", "least"]), inner, inner).map(
                lambda t: f"{t[0]}({t[1]}, {t[2]})"
            ),
        )

    return st.recursive(st.sampled_from(_NUMBERS), extend, max_leaves=5)


def _conditions() -> st.SearchStrategy[str]:
    """Conditions over typed operands; a small share of operands of any kind (type errors)."""
    noise = st.sampled_from(_ANY)
    numbers = st.one_of(_numbers(), noise)
    texts = st.one_of(st.sampled_from(_TEXTS), noise)
    times = st.one_of(st.sampled_from(_TIMES), noise)
    compare = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])
    leaves = st.one_of(
        st.tuples(numbers, compare, numbers).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(texts, compare, texts).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(times, compare, times).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(texts, texts).map(lambda t: f"({t[0]} LIKE {t[1]})"),
        st.tuples(numbers, numbers, numbers).map(lambda t: f"({t[0]} BETWEEN {t[1]} AND {t[2]})"),
        st.tuples(times, times, times).map(lambda t: f"({t[0]} BETWEEN {t[1]} AND {t[2]})"),
        st.tuples(
            st.sampled_from(_ANY), st.lists(st.sampled_from(_ANY), min_size=1, max_size=3)
        ).map(lambda t: f"({t[0]} IN ({', '.join(t[1])}))"),
        st.sampled_from(_ANY).map(lambda e: f"({e} IS NOT NULL)"),
        st.sampled_from(["flag", "(flag = TRUE)", "(flag IS FALSE)", "TRUE", "NULL"]),
        noise,
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda e: f"(NOT {e})"),
        )

    return st.recursive(leaves, extend, max_leaves=4)


def _table() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE frames (id BIGINT, image VARCHAR, image_blob BLOB, camera VARCHAR, "
        "n BIGINT, speed DOUBLE, flag BOOLEAN, ts TIMESTAMP, day DATE, tags VARCHAR[], p DOUBLE)"
    )
    con.execute(
        "INSERT INTO frames VALUES "
        "(0, 'a', NULL, 'north', 0, 0.0, TRUE, '2024-01-01', '2024-01-01', ['x'], 0.1), "
        "(1, 'b', 'b'::BLOB, 'south', 9223372036854775807, 1e308, FALSE, '2024-01-02 10:00', "
        "'2024-01-02', [], 0.2), "
        "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0.3), "
        "(3, 'c', NULL, '', -9223372036854775808, -1e308, TRUE, '1970-01-01', '1970-01-01', "
        "NULL, 0.4), "
        "(4, 'd', NULL, 'it''s', 7, 'nan'::DOUBLE, FALSE, '2100-12-31', '2100-12-31', [], 0.5), "
        "(5, 'e', NULL, '%', 3, 2.5, TRUE, '2024-06-01', '2024-06-01', ['y'], 0.6)"
    )
    return con


@functools.cache
def _shared_table() -> duckdb.DuckDBPyConnection:
    return _table()


@settings(
    max_examples=int(os.environ.get("ABAE_TYPE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.one_of(
        st.tuples(st.just("where"), _conditions()),
        st.tuples(st.just("sum"), _numbers()),
        st.tuples(st.just("using"), _numbers()),
    )
)
def test_cheap_expressions_that_compile_run_in_duckdb(case: tuple[str, str]) -> None:
    use, expression = case
    if use == "where":
        sql = where(expression)
    elif use == "sum":
        sql = f"SELECT SUM({expression}) FROM frames WHERE has_car(image) ORACLE LIMIT 5 USING p"
    else:
        sql = f"SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 5 USING p + {expression}"
    try:
        plan = compile_query(sql, CATALOG, ORACLES)
    except QueryError as error:
        if error.line < 1:
            pytest.fail(f"{sql}: {error} has no position")
        return
    scan = plan.scan_sql()
    con = _shared_table()
    try:
        con.execute(scan.sql, list(scan.params)).fetchall()
    except duckdb.Error as error:  # pragma: no cover - the assertion below reports it
        pytest.fail(f"{sql!r} compiled but DuckDB refused it: {error}")
