"""Compiling queries against a catalog: cheap vs oracle parts, proxies, parameters, errors."""

from __future__ import annotations

import duckdb
import pytest

from abae.oracles.registry import OracleRegistry, OracleSpec
from abae.query import (
    AllOf,
    AnyOf,
    CheapTest,
    CollectionInfo,
    NoneOf,
    OracleCall,
    OracleCondition,
    OracleTest,
    QueryCompileError,
    QueryPlan,
    compile_query,
    missing_proxies,
    parse_query,
    predicate_calls,
)
from abae.query.values import (
    Arithmetic,
    Between,
    CheapValue,
    Comparison,
    Constant,
    Function,
    Membership,
    OracleOutput,
    oracle_outputs,
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
    assert "speed" in plan.aggregates[2].column.sql
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
    assert plan.proxy.sql == '(CAST("p_red" AS DOUBLE) * CAST("p_car" AS DOUBLE))'
    assert plan.proxy_columns == ("p_red", "p_car")
    plan = compile_(
        "SELECT COUNT(*) FROM frames WHERE has_red_light(image) OR has_car(image) "
        "ORACLE LIMIT 50 USING p_red OR p_car"
    )
    assert plan.proxy.sql == (
        '(1.0 - (1.0 - CAST("p_red" AS DOUBLE)) * (1.0 - CAST("p_car" AS DOUBLE)))'
    )


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
    ("SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 0", "whole number"),
    (
        "SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 5 WITH PROBABILITY 1.5",
        "WITH PROBABILITY needs a probability in (0, 1)",
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


# --- oracle outputs in expressions (typed oracles) ----------------------------------------


def _spec(name: str, returns: str = "any", categories: tuple[str, ...] = ()) -> OracleSpec:
    return OracleSpec(name, lambda *args: None, returns=returns, categories=categories)  # type: ignore[arg-type]


TYPED = {
    "count_cars": _spec("count_cars", "number"),
    "has_car": _spec("has_car", "bool"),
    "has_red_light": _spec("has_red_light", "bool"),
    "both": _spec("both", "pair"),
    "anything": _spec("anything"),
    "vehicle_type": _spec("vehicle_type", "category", ("car", "bus", "pick-up")),
}


def typed(sql: str) -> QueryPlan:
    return compile_query(sql, CATALOG, TYPED)


def test_comparison_on_a_number_oracle_is_an_oracle_condition() -> None:
    plan = typed(
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) > 2 ORACLE LIMIT 5 USING p_car"
    )
    assert isinstance(plan.predicate, OracleCondition)
    assert plan.predicate.condition == Comparison(
        ">", OracleOutput(OracleCall("count_cars", ("image",)), "statistic"), Constant(2.0)
    )
    assert plan.predicate.text == "count_cars(image) > 2"
    assert plan.oracles == ("count_cars",)


def test_mixed_where_keeps_cheap_pushdown_and_left_to_right_order() -> None:
    plan = typed(
        "SELECT COUNT(*) FROM frames WHERE speed > 3 AND (count_cars(image) BETWEEN 1 AND 4 "
        "OR NOT has_car(image)) AND vehicle_type(image) IN ('car', 'bus') ORACLE LIMIT 5 "
        "USING p_car"
    )
    assert plan.prefilter is not None
    assert plan.prefilter.params == (3,)
    assert isinstance(plan.predicate, AllOf)
    first, second = plan.predicate.parts
    assert isinstance(first, AnyOf)
    assert isinstance(first.parts[0], OracleCondition)
    assert isinstance(first.parts[0].condition, Between)
    assert isinstance(first.parts[1], NoneOf)
    assert isinstance(second, OracleCondition)
    assert second.condition == Membership(
        OracleOutput(OracleCall("vehicle_type", ("image",)), "category"),
        (Constant("car"), Constant("bus")),
    )
    assert predicate_calls(plan.predicate) == (
        OracleCall("count_cars", ("image",)),
        OracleCall("has_car", ("image",)),
        OracleCall("vehicle_type", ("image",)),
    )


def test_arithmetic_inside_aggregates_mixes_oracle_outputs_and_columns() -> None:
    plan = typed(
        "SELECT AVG(count_cars(image) * 1.5) AS a, SUM(count_cars(image) + speed), "
        "SUM(abs(speed - count_cars(image))) FROM frames WHERE has_car(image) "
        "ORACLE LIMIT 5 USING p_car"
    )
    cars = OracleOutput(OracleCall("count_cars", ("image",)), "statistic")
    first, second, third = plan.aggregates
    assert first.name == "a"
    assert first.expression == Arithmetic("*", cars, Constant(1.5))
    assert first.oracle is None
    assert first.column is None
    assert second.name == "sum(count_cars(image) + speed)"
    assert isinstance(second.expression, Arithmetic)
    speed = second.expression.right
    assert isinstance(speed, CheapValue)
    assert speed.fragment.sql == 'CAST("speed" AS DOUBLE)'
    assert speed.kind == "number"
    assert isinstance(third.expression, Function)
    assert plan.cheap_values == (speed,)  # one cheap value, shared by both aggregates
    assert second.calls == (OracleCall("count_cars", ("image",)),)


def test_pair_and_any_oracles_take_the_part_their_use_needs() -> None:
    plan = typed(
        "SELECT AVG(both(image)) FROM frames WHERE both(image) AND both(image) > 3 "
        "AND anything(image) = 'car' AND anything(image) < 4 ORACLE LIMIT 5 USING p_car"
    )
    assert isinstance(plan.predicate, AllOf)
    parts = plan.predicate.parts
    assert parts[0] == OracleTest(OracleCall("both", ("image",)))
    assert isinstance(parts[1], OracleCondition)
    assert isinstance(parts[2], OracleCondition)
    assert isinstance(parts[3], OracleCondition)
    assert [o.part for p in parts[1:] for o in oracle_outputs(p.condition)] == [  # type: ignore[union-attr]
        "statistic",
        "category",
        "statistic",
    ]


def test_untyped_oracles_from_a_list_of_names_still_compile() -> None:
    plan = compile_(
        "SELECT AVG(count_cars(image) * 2) FROM frames WHERE count_cars(image) > 2 "
        "ORACLE LIMIT 5 USING p_car"
    )
    assert isinstance(plan.predicate, OracleCondition)
    assert plan.aggregates[0].expression is not None


def test_an_oracle_registry_is_accepted() -> None:
    registry = OracleRegistry()
    for spec in TYPED.values():
        registry.add(spec)
    with pytest.raises(QueryCompileError, match="to compare with has_car"):
        compile_query(
            "SELECT COUNT(*) FROM frames WHERE has_car(image) > 2 ORACLE LIMIT 5", CATALOG, registry
        )


# (query, line, column, words in the message)
TYPE_ERRORS = [
    (
        "SELECT COUNT(*) FROM frames WHERE has_car(image) > 2 ORACLE LIMIT 5",
        1,
        52,
        "expected TRUE/FALSE to compare with has_car(image), got a number",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE vehicle_type(image) = 3 ORACLE LIMIT 5",
        1,
        57,
        "expected text to compare with vehicle_type(image), got a number",
    ),
    (
        "SELECT COUNT(*) FROM frames\nWHERE vehicle_type(image) = 'plane' ORACLE LIMIT 5",
        2,
        29,
        "'plane' is not a category of oracle 'vehicle_type'; expected one of 'car', 'bus'",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE vehicle_type(image) IN ('car', 'van') ORACLE LIMIT 5",
        1,
        66,
        "'van' is not a category",
    ),
    (
        "SELECT AVG(has_car(image) + 1) FROM frames ORACLE LIMIT 5 USING p_car",
        1,
        12,
        "expected numbers around +, got oracle 'has_car', which returns TRUE/FALSE",
    ),
    (
        "SELECT AVG(has_car(image)) FROM frames ORACLE LIMIT 5 USING p_car",
        1,
        12,
        "count its positives with COUNT(*)",
    ),
    (
        "SELECT AVG(vehicle_type(image)) FROM frames ORACLE LIMIT 5 USING p_car",
        1,
        12,
        "group by it instead",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) ORACLE LIMIT 5",
        1,
        35,
        "returns a number; compare it, e.g. count_cars(image) > 2",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE vehicle_type(image) ORACLE LIMIT 5",
        1,
        35,
        "compare it, e.g. vehicle_type(image) = 'car'",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE vehicle_type(image) > 'car' ORACLE LIMIT 5",
        1,
        35,
        "> needs numbers",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE has_car(image) BETWEEN 0 AND 1 ORACLE LIMIT 5",
        1,
        35,
        "expected numbers in BETWEEN",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE anything(image) = both(image) ORACLE LIMIT 5",
        1,
        35,
        "declare what the oracle returns",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) = NULL ORACLE LIMIT 5",
        1,
        35,
        "never true",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) IS NULL ORACLE LIMIT 5",
        1,
        35,
        "IS does not apply to oracle outputs",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) > camera ORACLE LIMIT 5",
        1,
        55,
        "expected a number to compare with count_cars(image), got text: camera",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE (has_car(image) AND has_red_light(image)) = TRUE "
        "ORACLE LIMIT 5",
        1,
        36,
        "AND, OR and NOT of oracle conditions belong directly in WHERE",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) + 1 ORACLE LIMIT 5",
        1,
        35,
        "expected a condition in WHERE",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) > image_blob ORACLE LIMIT 5",
        1,
        55,
        "oracle outputs combine with numbers, TRUE/FALSE and text only",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) > 1e400 ORACLE LIMIT 5",
        1,
        55,
        "too large",
    ),
]


@pytest.mark.parametrize(("sql", "line", "column", "words"), TYPE_ERRORS)
def test_oracle_type_errors_are_positioned(sql: str, line: int, column: int, words: str) -> None:
    with pytest.raises(QueryCompileError) as caught:
        typed(sql)
    assert words in str(caught.value)
    assert (caught.value.line, caught.value.column) == (line, column)


# --- GROUP BY an oracle output ----------------------------------------------------------

GROUP_CATALOG = {
    "frames": CollectionInfo(
        columns={
            "id": "BIGINT",
            "image": "VARCHAR",
            "camera": "VARCHAR",
            "p": "DOUBLE",
            "p_car": "DOUBLE",
            "p_bus": "DOUBLE",
            "p_pickup": "DOUBLE",
            "kind_car": "DOUBLE",
            "kind_bus": "DOUBLE",
            "has_car": "DOUBLE",
        },
        proxies=["p", "p_car", "p_bus", "p_pickup", "kind_car", "kind_bus", "has_car"],
    )
}
GROUP_ORACLES = {
    "kind": _spec("kind", "category", ("car", "bus")),
    "vehicle_type": _spec("vehicle_type", "category", ("car", "bus", "pick-up")),
    "has_car": _spec("has_car", "bool"),
    "count_cars": _spec("count_cars", "number"),
    "untyped": _spec("untyped"),
}


def grouped(sql: str) -> QueryPlan:
    return compile_query(sql, GROUP_CATALOG, GROUP_ORACLES)


def test_group_by_oracle_uses_per_group_columns_of_the_using_name() -> None:
    plan = grouped(
        "SELECT kind(image), COUNT(*), AVG(count_cars(image)) FROM frames WHERE has_car(image) "
        "GROUP BY kind(image) ORACLE LIMIT 50 USING p"
    )
    groups = plan.group_oracle
    assert groups is not None
    assert groups.call == OracleCall("kind", ("image",))
    assert groups.categories == ("car", "bus")
    assert groups.per_group
    assert groups.proxy_texts == ("p_car", "p_bus")
    assert groups.name == "kind(image)"
    assert plan.group_by == ()
    assert [a.kind for a in plan.aggregates] == ["count", "avg"]
    assert plan.proxy_text == "p"
    assert plan.proxy_columns == ("p_car", "p_bus", "p")
    assert "kind" in plan.oracles
    scan = plan.scan_sql().sql
    assert 'CAST(("p_car") AS DOUBLE) AS abae_group_proxy_0' in scan
    assert 'CAST(("p_bus") AS DOUBLE) AS abae_group_proxy_1' in scan


def test_group_by_oracle_falls_back_to_one_proxy_when_a_group_column_is_missing() -> None:
    plan = grouped(
        "SELECT vehicle_type(image) AS v, COUNT(*) FROM frames GROUP BY v ORACLE LIMIT 50 USING p"
    )
    groups = plan.group_oracle
    assert groups is not None
    assert groups.name == "v"
    assert not groups.per_group
    assert groups.proxy_texts == ("p", "p", "p")
    assert "abae_group_proxy" not in plan.scan_sql().sql


def test_group_by_oracle_explicit_map_and_default_naming_rule() -> None:
    plan = grouped(
        "SELECT vehicle_type(image), COUNT(*) FROM frames GROUP BY vehicle_type(image) "
        "ORACLE LIMIT 50 USING ('pick-up': p_pickup, CAR: p_car * p, bus: p_bus)"
    )
    groups = plan.group_oracle
    assert groups is not None
    assert groups.proxy_texts == ("p_car * p", "p_bus", "p_pickup")
    assert plan.proxy_text == "greatest(p_car * p, p_bus, p_pickup)"
    default = grouped(
        "SELECT kind(image), COUNT(*) FROM frames GROUP BY kind(image) ORACLE LIMIT 9"
    )
    assert default.group_oracle is not None
    assert default.group_oracle.proxy_texts == ("kind_car", "kind_bus")
    assert default.proxy_text == "greatest(kind_car, kind_bus)"


def test_group_by_oracle_scan_runs_in_duckdb() -> None:
    plan = grouped(
        "SELECT kind(image), SUM(count_cars(image)) FROM frames GROUP BY kind(image) "
        "ORACLE LIMIT 50 USING (car: p_car * 2, bus: 1 - p_bus)"
    )
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE frames AS SELECT range AS id, 'x' AS image, 'a' AS camera, 0.5 AS p, "
        "0.25 AS p_car, 0.75 AS p_bus, 0.1 AS p_pickup, 0.0 AS kind_car, 0.0 AS kind_bus, "
        "0.0 AS has_car FROM range(3)"
    )
    scan = plan.scan_sql()
    row = con.execute(scan.sql, list(scan.params)).fetchall()[0]
    assert row[1] == pytest.approx(0.5)  # the plan's ranking: the greatest group score
    assert row[-2:] == (pytest.approx(0.5), pytest.approx(0.25))


GROUP_ERRORS = [
    (
        "SELECT kind(image), COUNT(*) FROM frames GROUP BY kind(image), camera ORACLE LIMIT 5 "
        "USING p",
        "together with columns is not supported",
    ),
    (
        "SELECT COUNT(*) FROM frames GROUP BY count_cars(image) ORACLE LIMIT 5 USING p",
        "returns a category; it returns a number",
    ),
    (
        "SELECT COUNT(*) FROM frames GROUP BY untyped(image) ORACLE LIMIT 5 USING p",
        "declare its categories",
    ),
    (
        "SELECT COUNT(*) FROM frames GROUP BY kind(image), vehicle_type(image) ORACLE LIMIT 5",
        "at most one oracle output",
    ),
    (
        "SELECT COUNT(*) FROM frames GROUP BY kind(image) ORACLE LIMIT 5 USING (car: p_car)",
        "missing: 'bus'",
    ),
    (
        "SELECT COUNT(*) FROM frames GROUP BY kind(image) ORACLE LIMIT 5 "
        "USING (car: p, bus: p, van: p)",
        "'van' is not a category of oracle 'kind'",
    ),
    (
        "SELECT COUNT(*) FROM frames GROUP BY kind(image) ORACLE LIMIT 5 "
        "USING (car: p, bus: p, car: p)",
        "twice",
    ),
    (
        "SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 5 USING (car: p)",
        "needs GROUP BY an oracle",
    ),
    (
        "SELECT COUNT(*) FROM frames GROUP BY kind(image) ORACLE LIMIT 5 "
        "USING (car: has_car(image), bus: p)",
        "not oracle calls",
    ),
    (
        "SELECT kind(image) FROM frames GROUP BY camera ORACLE LIMIT 5 USING p",
        "must be in GROUP BY",
    ),
    ("SELECT COUNT(*) FROM frames GROUP BY speed + 1 ORACLE LIMIT 5 USING p", "GROUP BY takes"),
]


@pytest.mark.parametrize(("sql", "words"), GROUP_ERRORS)
def test_group_by_oracle_errors(sql: str, words: str) -> None:
    with pytest.raises(QueryCompileError) as caught:
        grouped(sql)
    assert words in str(caught.value)
    assert caught.value.line >= 1


def test_parse_once_compiles_a_given_tree_without_changing_it() -> None:
    sql = "SELECT COUNT(*) FROM frames WHERE count_cars(image) > 2 ORACLE LIMIT 5 USING p_car"
    tree = parse_query(sql)
    before = tree.sql()
    plan = compile_query(sql, CATALOG, TYPED, tree=tree)
    assert plan == compile_query(sql, CATALOG, TYPED)
    assert tree.sql() == before


def test_missing_proxies_knows_per_group_columns() -> None:
    columns = ["id", "image", "q_car", "q_bus", "p"]
    tree = parse_query("SELECT COUNT(*) FROM frames GROUP BY kind(image) ORACLE LIMIT 5 USING q")
    assert missing_proxies(tree, columns, GROUP_ORACLES) == []
    assert missing_proxies(tree, columns, ["kind"]) == ["q"]  # its categories are unknown
    aliased = parse_query(
        "SELECT kind(image) AS k, COUNT(*) FROM frames GROUP BY k ORACLE LIMIT 5 USING q"
    )
    assert missing_proxies(aliased, columns, GROUP_ORACLES) == []
    tree = parse_query(
        "SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 5 USING r * p"
    )
    assert missing_proxies(tree, columns) == ["r"]
    tree = parse_query(
        "SELECT COUNT(*) FROM frames GROUP BY kind(image) ORACLE LIMIT 5 USING (car: a, bus: p)"
    )
    assert missing_proxies(tree, columns, GROUP_ORACLES) == ["a"]


def test_a_derived_proxy_follows_the_compared_oracle() -> None:
    columns = {**CATALOG["frames"].columns, "count_cars_proxy": "DOUBLE"}
    catalog = {"frames": CollectionInfo(columns, ["count_cars_proxy"])}
    plan = compile_query(
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) > 2 ORACLE LIMIT 5", catalog, TYPED
    )
    assert plan.proxy_text == "count_cars_proxy"
    assert plan.proxy_columns == ("count_cars_proxy",)
