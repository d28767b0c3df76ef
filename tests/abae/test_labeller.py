"""The labeller between the sampling core and the oracle runtime, with a fake runtime.

Checked: each oracle is asked at most once per record whatever the query says;
cheap conditions decide before any oracle call; missing labels follow the
sampling core's NaN convention; GROUP BY an oracle output returns categories.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abae.engine.labeller import RecordLabeller
from abae.engine.population import Population, load_population
from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry, OracleSpec
from abae.query import CollectionInfo, QueryPlan, compile_query
from abae.store import RecordCollection, Store, import_arrays

N = 40
IDS = np.arange(100, 100 + N)  # record ids differ from population positions on purpose


@dataclass(frozen=True)
class FakeLabel:
    record_id: int
    oracle: str
    predicate: bool | None
    statistic: float | None
    category: str | None = None


def _answer(name: str, record_id: int) -> FakeLabel | None:
    """What each fake oracle says; ``None`` = the call failed (no label)."""
    k = record_id - 100
    if name == "count_cars":
        return None if k % 13 == 5 else FakeLabel(record_id, name, None, float(k % 6))
    if name == "has_car":
        return FakeLabel(record_id, name, k % 3 != 0, None)
    if name == "both":
        return FakeLabel(record_id, name, k % 2 == 0, None if k % 4 == 2 else float(k))
    if name == "kind":
        return None if k == 7 else FakeLabel(record_id, name, None, None, ("car", "bus")[k % 2])
    if name == "liar":
        return FakeLabel(record_id, name, True, None)
    raise KeyError(name)


class FakeRuntime:
    """Answers from :func:`_answer` and records every (oracle, record) it was asked for."""

    def __init__(self, registry: OracleRegistry) -> None:
        self.registry = registry
        self.asked: list[tuple[str, int]] = []

    def labels(
        self, oracle: str, record_ids: Sequence[int], args: Mapping[int, tuple[Any, ...]]
    ) -> dict[int, FakeLabel]:
        assert set(args) == set(record_ids)
        found = {}
        for record_id in record_ids:
            self.asked.append((oracle, int(record_id)))
            label = _answer(oracle, int(record_id))
            if label is not None:
                found[int(record_id)] = label
        return found


def _spec(name: str, returns: str, categories: tuple[str, ...] = ()) -> OracleSpec:
    return OracleSpec(name, lambda *a: None, returns=returns, categories=categories)  # type: ignore[arg-type]


REGISTRY = OracleRegistry()
for _s in (
    _spec("count_cars", "number"),
    _spec("has_car", "bool"),
    _spec("both", "pair"),
    _spec("kind", "category", ("car", "bus")),
    _spec("liar", "any"),
):
    REGISTRY.add(_s)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    k = np.arange(N)
    store = Store(tmp_path / "labeller.duckdb")
    import_arrays(
        store,
        "frames",
        ids=IDS,
        columns={
            "camera": np.where(k % 2 == 0, "north", "south"),
            "speed": np.where(k % 10 == 9, np.nan, k * 1.0),
        },
        proxies={"p": np.linspace(0, 1, N)},
    )
    return store


Setup = Callable[..., tuple[QueryPlan, Population, RecordLabeller, FakeRuntime]]


@pytest.fixture
def setup(store: Store) -> Setup:
    def make(sql: str, **kwargs: Any) -> tuple[QueryPlan, Population, RecordLabeller, FakeRuntime]:
        collection = RecordCollection(store, "frames")
        catalog = {"frames": CollectionInfo(collection.column_types(), collection.proxy_names())}
        plan = compile_query(sql, catalog, REGISTRY)
        population = load_population(store, plan)
        runtime = FakeRuntime(REGISTRY)
        labeller = RecordLabeller(plan, population, collection, runtime, **kwargs)  # type: ignore[arg-type]
        return plan, population, labeller, runtime

    return make


def _k(population: Population, rows: np.ndarray) -> np.ndarray:
    """The record's number k (its id is 100 + k)."""
    return np.asarray(population.ids[rows] - 100)


def test_each_oracle_is_asked_at_most_once_per_record(setup: Setup) -> None:
    _plan, _population, labeller, runtime = setup(
        "SELECT AVG(count_cars(image) * 2), SUM(count_cars(image) + speed), COUNT(*) "
        "FROM frames WHERE (count_cars(image) > 1 AND count_cars(image) < 5) OR has_car(image) "
        "ORACLE LIMIT 40 USING p"
    )
    everyone = np.arange(N)
    labeller(everyone[:25])
    labeller(everyone[10:])  # overlapping batch (GROUP BY sampling may ask again)
    asked = runtime.asked
    assert len(asked) == len(set(asked))
    assert {o for o, _ in asked} == {"count_cars", "has_car"}
    assert sorted(r for o, r in asked if o == "count_cars") == IDS.tolist()


def test_predicate_and_statistics_follow_the_expression(setup: Setup) -> None:
    _plan, population, labeller, _ = setup(
        "SELECT AVG(count_cars(image) * 1.5), SUM(count_cars(image) + speed) FROM frames "
        "WHERE count_cars(image) > 2 ORACLE LIMIT 40 USING p"
    )
    rows = np.arange(N)
    predicate, statistic = labeller(rows)
    k = _k(population, rows)
    cars = (k % 6).astype(float)
    failed = k % 13 == 5
    expected = np.where(failed, np.nan, (cars > 2).astype(float))
    np.testing.assert_array_equal(predicate, expected)
    match = ~failed & (cars > 2)
    np.testing.assert_allclose(statistic[match], cars[match] * 1.5)
    assert np.isnan(statistic[~match]).all()
    speed = np.where(k % 10 == 9, np.nan, k * 1.0)
    np.testing.assert_allclose(labeller.statistics[1, match], (cars + speed)[match])  # NaN = NULL
    assert labeller.left_out == set(rows[failed].tolist())  # a NULL speed is not a missing label


def test_cheap_conditions_decide_before_any_oracle_call(setup: Setup) -> None:
    _, population, labeller, runtime = setup(
        "SELECT COUNT(*) FROM frames WHERE (camera = 'north' AND has_car(image)) "
        "OR count_cars(image) >= 5 ORACLE LIMIT 40 USING p"
    )
    rows = np.arange(N)
    labeller(rows)
    north = _k(population, rows) % 2 == 0
    asked_has_car = {r for o, r in runtime.asked if o == "has_car"}
    assert asked_has_car == set(population.ids[north].tolist())
    has_car = _k(population, rows) % 3 != 0
    decided = north & has_car
    asked_count = {r for o, r in runtime.asked if o == "count_cars"}
    assert asked_count == set(population.ids[~decided].tolist())


def test_prefilter_records_never_reach_the_labeller(setup: Setup) -> None:
    plan, population, labeller, runtime = setup(
        "SELECT COUNT(*) FROM frames WHERE speed < 20 AND has_car(image) ORACLE LIMIT 40 USING p"
    )
    assert plan.prefilter is not None
    assert population.ids.tolist() == [
        i for i in IDS.tolist() if (i - 100) < 20 and (i - 100) % 10 != 9
    ]
    labeller(np.arange(len(population)))
    assert {r for _, r in runtime.asked} == set(population.ids.tolist())


def test_no_missing_label_gives_a_boolean_predicate(setup: Setup) -> None:
    _, _, labeller, _ = setup(
        "SELECT COUNT(*) FROM frames WHERE has_car(image) ORACLE LIMIT 40 USING p"
    )
    predicate, statistic = labeller(np.arange(N))
    assert predicate.dtype == np.bool_
    assert np.isnan(statistic[~predicate]).all()
    assert (statistic[predicate] == 1.0).all()


def test_a_positive_whose_statistic_failed_stays_a_positive(setup: Setup) -> None:
    _, population, labeller, _ = setup(
        "SELECT AVG(count_cars(image)), COUNT(*) FROM frames WHERE has_car(image) "
        "ORACLE LIMIT 40 USING p"
    )
    rows = np.arange(N)
    predicate, statistic = labeller(rows)
    k = _k(population, rows)
    positive = k % 3 != 0
    assert predicate.dtype == np.bool_
    np.testing.assert_array_equal(predicate, positive)
    failed = positive & (k % 13 == 5)
    assert failed.any()
    assert np.isnan(statistic[failed]).all()
    assert labeller.statistics[1, failed].tolist() == [1.0] * int(failed.sum())  # COUNT counts it
    assert labeller.left_out == set(rows[failed].tolist())


def test_a_pair_without_its_number_is_a_missing_statistic(setup: Setup) -> None:
    _, population, labeller, _ = setup(
        "SELECT AVG(both(image)) FROM frames WHERE both(image) ORACLE LIMIT 40 USING p"
    )
    rows = np.arange(N)
    predicate, statistic = labeller(rows)
    k = _k(population, rows)
    np.testing.assert_array_equal(predicate, k % 2 == 0)
    assert np.isnan(statistic[k % 4 == 2]).all()
    np.testing.assert_allclose(statistic[k % 4 == 0], k[k % 4 == 0])


def test_group_by_an_oracle_output_returns_categories_of_matches(setup: Setup) -> None:
    _plan, population, labeller, runtime = setup(
        "SELECT kind(image), COUNT(*) FROM frames WHERE has_car(image) GROUP BY kind(image) "
        "ORACLE LIMIT 40 USING p",
        with_groups=True,
    )
    rows = np.arange(N)
    predicate, _, groups = labeller(rows)
    k = _k(population, rows)
    match = k % 3 != 0
    lost = match & (k == 7)
    np.testing.assert_array_equal(np.isnan(predicate), lost)
    np.testing.assert_array_equal(predicate[~lost] == 1.0, match[~lost])
    assert groups.tolist() == [
        ("car", "bus")[int(i) % 2] if m and not lo else None
        for i, m, lo in zip(k, match, lost, strict=True)
    ]
    assert {r for o, r in runtime.asked if o == "kind"} == set(population.ids[match].tolist())
    assert labeller.group_keys(rows).tolist() == groups.tolist()
    assert 7 in _k(population, np.asarray(sorted(labeller.left_out)))


def test_group_by_an_oracle_needs_groups(setup: Setup) -> None:
    with pytest.raises(AbaeError, match="with_groups=True"):
        setup("SELECT COUNT(*) FROM frames GROUP BY kind(image) ORACLE LIMIT 40 USING p")


def test_an_answer_of_the_wrong_kind_is_a_project_error(setup: Setup) -> None:
    _, _, labeller, _ = setup("SELECT AVG(liar(image)) FROM frames ORACLE LIMIT 40 USING p")
    with pytest.raises(AbaeError, match="uses it as a number"):
        labeller(np.arange(3))


def test_cheap_values_are_read_once_per_record(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _population, labeller, _ = setup(
        "SELECT COUNT(*) FROM frames WHERE count_cars(image) > speed / 10 ORACLE LIMIT 40 USING p"
    )
    loads: list[list[int]] = []
    original = labeller._load_cheap

    def counting(rows: np.ndarray) -> None:
        loads.append(rows.tolist())
        original(rows)

    monkeypatch.setattr(labeller, "_load_cheap", counting)
    labeller(np.arange(20))
    labeller(np.arange(10, 30))
    assert loads == [list(range(20)), list(range(20, 30))]


def test_a_statistic_too_large_to_square_is_a_project_error(setup: Setup) -> None:
    _, _, labeller, _ = setup(
        "SELECT SUM(count_cars(image) * 1e200) FROM frames WHERE has_car(image) "
        "ORACLE LIMIT 40 USING p"
    )
    with pytest.raises(AbaeError, match="too large to estimate with"):
        labeller(np.arange(N))
