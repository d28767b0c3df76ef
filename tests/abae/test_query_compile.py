"""Compiling queries against a catalog: cheap vs oracle parts, proxies, parameters, errors."""

from __future__ import annotations

import duckdb
import pytest

from abae.query import (
    AllOf,
    AnyOf,
    CheapTest,
    CollectionInfo,
    OracleTest,
    QueryCompileError,
    compile_query,
)

CATALOG = {
    "frames": CollectionInfo(
        columns={
            "id": "BIGINT",
            "image": "VARCHAR",
            "image_blob": "BLOB",
            "camera": "VARCHAR",
            "speed": "DOUBLE",
            "p_red": "DOUBLE",
            "p_car": "DOUBLE",
        },
        proxies=["p_red", "p_car", "has_red_light"],
    )
}
ORACLES = ["has_red_light", "has_car", "count_cars"]


def compile_(sql: str):  # type: ignore[no-untyped-def]
    return compile_query(sql, CATALOG, ORACLES)


def test_several_aggregates_cheap_prefilter_and_oracle_predicate() -> None:
    plan = compile_(
        "SELECT AVG(count_cars(image)) AS cars, COUNT(*), SUM(speed) FROM frames "
        "WHERE camera = 'north' AND has_red_light(image) ORACLE LIMIT 100 USING p_red"
    )
    assert [a.kind for a in plan.aggregates] == ["avg", "count", "sum"]
    assert plan.aggregates[0].name == "cars"
    assert plan.aggregates[0].oracle is not None
    assert plan.aggregates[0].oracle.name == "count_cars"
    assert plan.aggregates[2].column is not None
    assert plan.prefilter is not None
    assert plan.prefilter.params == ("north",)
    assert isinstance(plan.predicate, OracleTest)
    assert plan.budget == 100
    assert plan.probability == 0.95
    assert set(plan.oracles) == {"count_cars", "has_red_light"}


def test_cheap_and_oracle_predicates_under_or_stay_per_record() -> None:
    plan = compile_(
        "SELECT COUNT(*) FROM frames WHERE (speed > 30 OR has_red_light(image)) AND has_car(image) "
        "ORACLE LIMIT 50 USING p_car"
    )
    assert plan.prefilter is None
    assert isinstance(plan.predicate, AllOf)
    first = plan.predicate.parts[0]
    assert isinstance(first, AnyOf)
    assert isinstance(first.parts[0], CheapTest)
    derived = compile_(
        "SELECT COUNT(*) FROM frames WHERE speed > 30 OR has_red_light(image) ORACLE LIMIT 50"
    )
    assert derived.proxy_text == "[speed > 30] OR has_red_light"
    assert derived.proxy.params == (30,)


def test_using_expression_is_product_for_and() -> None:
    plan = compile_(
        "SELECT COUNT(*) FROM frames WHERE has_red_light(image) AND has_car(image) "
        "ORACLE LIMIT 50 USING p_red AND p_car"
    )
    assert plan.proxy.sql == '("p_red" * "p_car")'
    plan = compile_(
        "SELECT COUNT(*) FROM frames WHERE has_red_light(image) OR has_car(image) "
        "ORACLE LIMIT 50 USING p_red OR p_car"
    )
    assert plan.proxy.sql == '(1.0 - (1.0 - "p_red") * (1.0 - "p_car"))'


def test_group_by_and_scan_sql_runs_in_duckdb() -> None:
    plan = compile_(
        "SELECT camera, COUNT(*) FROM frames WHERE has_red_light(image) AND speed BETWEEN 1 AND 9 "
        "GROUP BY camera ORACLE LIMIT 50 USING sqrt(p_red * p_car) WITH PROBABILITY 0.9"
    )
    assert [name for name, _ in plan.group_by] == ["camera"]
    assert plan.probability == 0.9
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE frames AS SELECT range AS id, 'x' AS image, NULL::BLOB AS image_blob, "
        "CASE WHEN range % 2 = 0 THEN 'a' ELSE 'b' END AS camera, range::DOUBLE AS speed, "
        "0.5 AS p_red, 0.5 AS p_car FROM range(12)"
    )
    scan = plan.scan_sql()
    rows = con.execute(scan.sql, list(scan.params)).fetchall()
    assert [r[0] for r in rows] == list(range(1, 10))
    assert rows[0][1] == pytest.approx(0.5)


def test_string_literals_travel_as_parameters() -> None:
    evil = "north'; DROP TABLE frames; --"
    plan = compile_(
        f"SELECT COUNT(*) FROM frames WHERE camera = '{evil.replace(chr(39), chr(39) * 2)}' "
        "AND has_red_light(image) ORACLE LIMIT 5"
    )
    assert plan.prefilter is not None
    assert plan.prefilter.params == (evil,)
    assert "DROP" not in plan.prefilter.sql


COMPILE_ERRORS = [
    ("SELECT COUNT(*) FROM cars WHERE has_car(image) ORACLE LIMIT 5", "unknown collection"),
    ("SELECT COUNT(*) FROM frames WHERE nope(image) ORACLE LIMIT 5", "unknown function 'nope'"),
    ("SELECT COUNT(*) FROM frames WHERE has_car(colour) ORACLE LIMIT 5", "unknown column"),
    ("SELECT COUNT(*) FROM frames WHERE has_car(image)", "expected ORACLE LIMIT"),
    ("SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 0", "positive integer"),
    (
        "SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 5 WITH PROBABILITY 1.5",
        "in (0, 1)",
    ),
    ("SELECT COUNT(speed) FROM frames WHERE has_car(image) ORACLE LIMIT 5", "COUNT(*)"),
    ("SELECT speed FROM frames WHERE has_car(image) ORACLE LIMIT 5", "GROUP BY"),
    ("SELECT COUNT(*) FROM frames WHERE speed > 3 ORACLE LIMIT 5 USING p_red", "no oracle"),
    ("SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 5", "expected USING"),
    ("SELECT COUNT(*) FROM frames f WHERE has_car(image) ORACLE LIMIT 5 USING p_car", "alias"),
    (
        "SELECT COUNT(*) FROM frames JOIN other ON 1 = 1 WHERE has_car(image) ORACLE LIMIT 5",
        "JOINS is not supported",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE has_car(image) ORDER BY speed ORACLE LIMIT 5",
        "ORDER is not supported",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE id IN (SELECT id FROM frames) AND has_car(image) "
        "ORACLE LIMIT 5 USING p_car",
        "subquer",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) > 2 ORACLE LIMIT 5 USING p_car",
        "comparisons on oracle outputs",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 5 USING camera",
        "numeric proxy",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE has_car(image) AND read_csv('x') ORACLE LIMIT 5",
        "unsupported expression",
    ),
]


@pytest.mark.parametrize(("sql", "words"), COMPILE_ERRORS)
def test_compile_errors_say_what_and_where(sql: str, words: str) -> None:
    with pytest.raises(QueryCompileError) as caught:
        compile_(sql)
    assert words in str(caught.value)
    assert caught.value.line >= 1
