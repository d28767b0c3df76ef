"""Values over oracle outputs, evaluated in NumPy, agree with DuckDB evaluating the same expression."""

from __future__ import annotations

import functools

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from abae.query.evaluation import evaluate
from abae.query.plan import OracleCall, SqlFragment
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

N = 8
CARS = OracleOutput(OracleCall("count_cars", ("image",)), "statistic")
KIND = OracleOutput(OracleCall("vehicle_type", ("image",)), "category")
SPEED = CheapValue(0, SqlFragment('CAST("speed" AS DOUBLE)'), "number", "speed")
CAMERA = CheapValue(1, SqlFragment('"camera"'), "text", "camera")
CARS_VALUES = np.array([0.5, 3.0, -2.0, 7.0, 3.0, 1.0, -0.25, 9.0])
SPEED_VALUES = np.array([1.0, np.nan, 4.0, -3.0, 3.0, 2.0, np.nan, 0.5])  # NaN = NULL
KIND_VALUES = np.array(["car", "bus", "car", "van", "bus", "car", "bus", "van"], dtype=object)
CAMERA_VALUES = np.array(["car", None, "bus", "van", None, "car", "x", "van"], dtype=object)
KNOWN = np.array([True, True, True, False, True, True, True, True])
OUTPUTS = {CARS: (CARS_VALUES, KNOWN), KIND: (KIND_VALUES, np.ones(N, np.bool_))}
CHEAP = {0: SPEED_VALUES, 1: CAMERA_VALUES}


@functools.cache
def _table() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (i INTEGER, cars DOUBLE, speed DOUBLE, kind VARCHAR, camera VARCHAR)"
    )
    rows = [
        (
            i,
            float(CARS_VALUES[i]),
            None if np.isnan(SPEED_VALUES[i]) else float(SPEED_VALUES[i]),
            KIND_VALUES[i],
            CAMERA_VALUES[i],
        )
        for i in range(N)
    ]
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    return con


def _sql(value: Value) -> str:
    """The same value as DuckDB SQL (comparisons with NULL made false, as documented)."""
    if value == CARS:
        return "cars"
    if value == KIND:
        return "kind"
    if isinstance(value, CheapValue):
        return value.fragment.sql
    if isinstance(value, Constant):
        return "'" + value.value + "'" if isinstance(value.value, str) else f"({value.value!r})"
    if isinstance(value, Negative):
        return f"(-{_sql(value.operand)})"
    if isinstance(value, Arithmetic):
        left, right = _sql(value.left), _sql(value.right)
        if value.operator == "%":
            return f"(CAST({left} AS DOUBLE) % nullif(CAST({right} AS DOUBLE), 0))"
        return f"(CAST({left} AS DOUBLE) {value.operator} CAST({right} AS DOUBLE))"
    if isinstance(value, Function):
        return f"{value.name}({', '.join(_sql(o) for o in value.operands)})"
    if isinstance(value, Comparison):
        return f"CAST(coalesce({_sql(value.left)} {value.operator} {_sql(value.right)}, FALSE) AS DOUBLE)"
    if isinstance(value, Membership):
        options = ", ".join(_sql(o) for o in value.options)
        return f"CAST(coalesce({_sql(value.value)} IN ({options}), FALSE) AS DOUBLE)"
    assert isinstance(value, Between)
    inner = f"{_sql(value.value)} BETWEEN {_sql(value.low)} AND {_sql(value.high)}"
    return f"CAST(coalesce({inner}, FALSE) AS DOUBLE)"


def _duckdb(value: Value) -> NDArray[np.float64]:
    rows = _table().execute(f"SELECT {_sql(value)} FROM t ORDER BY i").fetchall()
    return np.array([np.nan if r[0] is None else r[0] for r in rows], dtype=np.float64)


def _numbers() -> st.SearchStrategy[Value]:
    leaves = st.one_of(
        st.just(CARS),
        st.just(SPEED),
        st.sampled_from([1.0, 2.0, -1.5, 3.0]).map(Constant),
    )

    def extend(inner: st.SearchStrategy[Value]) -> st.SearchStrategy[Value]:
        return st.one_of(
            st.builds(Arithmetic, st.sampled_from(["+", "-", "*", "/", "%"]), inner, inner),
            st.builds(Negative, inner),
            st.builds(lambda v: Function("abs", (v,)), inner),
            st.builds(
                lambda name, a, b: Function(name, (a, b)),
                st.sampled_from(["greatest", "least"]),
                inner,
                inner,
            ),
        )

    return st.recursive(leaves, extend, max_leaves=5)


def _conditions() -> st.SearchStrategy[Value]:
    numbers = _numbers()
    texts = st.one_of(st.just(KIND), st.just(CAMERA), st.sampled_from(["car", "bus"]).map(Constant))
    return st.one_of(
        st.builds(Comparison, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), numbers, numbers),
        st.builds(Comparison, st.sampled_from(["=", "<>"]), texts, texts),
        st.builds(Between, numbers, numbers, numbers),
        st.builds(
            lambda v, options: Membership(v, tuple(Constant(o) for o in options)),
            st.just(KIND),
            st.lists(st.sampled_from(["car", "bus", "van"]), min_size=1, max_size=3),
        ),
        st.builds(
            lambda v, options: Membership(v, tuple(Constant(o) for o in options)),
            st.just(CARS),
            st.lists(st.sampled_from([3.0, 9.0, -2.0]), min_size=1, max_size=3),
        ),
    )


@settings(max_examples=300, deadline=None)
@given(st.one_of(_numbers(), _conditions()))
def test_numpy_evaluation_matches_duckdb(value: Value) -> None:
    ours, known = evaluate(value, OUTPUTS, CHEAP, N)
    theirs = _duckdb(value)
    ours = np.asarray(ours, dtype=np.float64)
    assert known.tolist() == (KNOWN.tolist() if CARS in _leaves(value) else [True] * N)
    both = known & ~(np.isnan(theirs) & np.isnan(ours))
    np.testing.assert_allclose(ours[both], theirs[both], rtol=1e-12, atol=0, equal_nan=False)


def _leaves(value: Value) -> list[Value]:
    from abae.query.values import children

    stack, found = [value], []
    while stack:
        node = stack.pop()
        kids = children(node)
        if not kids:
            found.append(node)
        stack.extend(kids)
    return found


def test_comparisons_with_null_are_false_and_unknown_follows_missing_labels() -> None:
    value = Comparison(">", CARS, SPEED)
    result, known = evaluate(value, OUTPUTS, CHEAP, N)
    assert result.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert known.tolist() == KNOWN.tolist()
    assert (
        evaluate(Arithmetic("%", CARS, Constant(0.0)), OUTPUTS, CHEAP, N)[0].tolist()
        == [pytest.approx(np.nan, nan_ok=True)] * N
    )


def test_text_values_only_compare_for_equality() -> None:
    with pytest.raises(ValueError, match="do not compare with <"):
        evaluate(Comparison("<", KIND, CAMERA), OUTPUTS, CHEAP, N)
