"""GROUP BY a cheap column (:func:`abae.estimate_by_group`): design, answers, checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import abae
from abae.sampling.synthetic_groups import column_groups


class ColumnWorld:
    """Records with a 3-value column, a proxy, a predicate and a statistic; counts oracle calls."""

    def __init__(self, n: int, seed: int) -> None:
        self.population = column_groups(n, np.random.default_rng(seed))
        self.calls: list[npt.NDArray[np.int64]] = []

    def oracle(self, indices: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        self.calls.append(indices.copy())
        return self.population.oracle(indices)

    def run(self, budget: int, **options: Any) -> abae.GroupEstimates:
        p = self.population
        return abae.estimate_by_group(p.scores[0], p.group, self.oracle, budget, **options)


def test_budget_spent_once_per_record_in_one_call_per_stage() -> None:
    world = ColumnWorld(30_000, 0)
    result = world.run(1200, rng=1)
    labelled = np.concatenate(world.calls)
    assert len(world.calls) == 2
    assert labelled.size == result.oracle_calls == 1200
    assert np.unique(labelled).size == labelled.size
    assert sorted(result.estimates) == [0, 1, 2]
    assert sum(e.oracle_calls for e in result.estimates.values()) == 1200
    assert sum(result.shares.values()) == pytest.approx(1.0)
    for g in range(3):
        mine = result[g].labelled_indices
        assert (world.population.group[mine] == g).all()
        assert result[g].strata.size.sum() == np.count_nonzero(world.population.group == g)


@pytest.mark.parametrize("aggregate", ["avg", "sum", "count"])
def test_every_record_labelled_gives_each_group_its_exact_answer(aggregate: str) -> None:
    world = ColumnWorld(400, 2)
    result = world.run(500, aggregate=aggregate, strata=3, rng=3)
    assert result.oracle_calls == 400
    truth = world.population.truth(aggregate)
    for g in range(3):
        estimate = result[g]
        assert estimate.estimate == pytest.approx(truth[g], rel=1e-12)
        assert estimate.ci_low == pytest.approx(truth[g], rel=1e-12)
        assert estimate.ci_high == pytest.approx(truth[g], rel=1e-12)


def test_intervals_cover_and_count_respects_the_positives_seen() -> None:
    world = ColumnWorld(60_000, 4)
    truth_avg = world.population.truth("avg")
    truth_count = world.population.truth("count")
    avg = world.run(2000, rng=5)
    count = world.run(2000, aggregate="count", rng=6)
    for g in range(3):
        assert avg[g].ci_low < truth_avg[g] < avg[g].ci_high
        assert count[g].ci_low < truth_count[g] < count[g].ci_high
        assert count[g].ci_low >= count[g].strata.positives.sum()
        assert avg[g].ci_width > 0


def test_the_harder_group_gets_more_of_stage_two() -> None:
    rng = np.random.default_rng(7)
    n = 40_000
    codes = np.repeat([0, 1], n // 2)
    scores = rng.random(n)
    positive = rng.random(n) < 0.3
    # group 1's statistic is ten times as spread out
    value = rng.normal(10.0, np.where(codes == 1, 10.0, 1.0))
    result = abae.estimate_by_group(scores, codes, lambda i: (positive[i], value[i]), 2000, rng=8)
    assert result.shares[1] > 0.8
    assert result[1].oracle_calls > 2 * result[0].oracle_calls


def test_small_groups_get_fewer_cells_and_a_full_census() -> None:
    rng = np.random.default_rng(9)
    codes = np.concatenate([np.zeros(5000, np.int64), np.ones(3, np.int64)])
    scores = rng.random(codes.size)
    positive = np.ones(codes.size, np.bool_)
    value = rng.normal(0.0, 1.0, codes.size)
    result = abae.estimate_by_group(scores, codes, lambda i: (positive[i], value[i]), 300, rng=10)
    assert len(result[1].strata) <= 3
    assert result[1].oracle_calls == 3
    assert result[1].estimate == pytest.approx(value[codes == 1].mean())
    assert result[1].ci_width == pytest.approx(0.0, abs=1e-12)


def test_same_seed_same_answer_and_rng_forms() -> None:
    world = ColumnWorld(5000, 11)
    first = world.run(400, rng=12)
    again = world.run(400, rng=np.random.default_rng(12))
    assert [first[g].estimate for g in range(3)] == [again[g].estimate for g in range(3)]
    assert world.run(400, rng=None).oracle_calls == 400
    with pytest.raises(ValueError, match="rng"):
        world.run(400, rng=1.5)


def test_bad_group_codes_are_refused_with_a_fix() -> None:
    scores = np.random.default_rng(0).random(10)

    def oracle(i: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        return np.ones(i.size, np.bool_), np.ones(i.size)

    cases = [
        (np.zeros(10, dtype=float), "must be integers"),
        (np.zeros(10, dtype=bool), "must be integers"),
        (np.zeros(9, dtype=np.int64), r"shape \(10,\)"),
        (np.zeros((10, 1), dtype=np.int64), r"shape \(10,\)"),
        (np.full(10, -1), "non-negative"),
        (np.array([0, 0, 2, 2, 0, 2, 0, 2, 0, 2]), r"groups \[1\] have no record"),
    ]
    for codes, message in cases:
        with pytest.raises(ValueError, match=message):
            abae.estimate_by_group(scores, codes, oracle, 10)
    with pytest.raises(ValueError, match="one label for each of the 3 groups"):
        abae.estimate_by_group(scores, np.arange(10) % 3, oracle, 2)
    with pytest.raises(ValueError, match=r"\(predicate, statistic\)"):
        abae.estimate_by_group(
            scores, np.zeros(10, np.int64), lambda i: (oracle(i)[0], oracle(i)[1], i), 5
        )
