"""GROUP BY an oracle output (:func:`abae.estimate_groups`): one sample serves every group."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import abae
from abae.sampling import minimax_shares


def test_minimax_shares_equalise_the_worst_error() -> None:
    costs = np.array([1.0, 4.0, 5.0])
    shares = minimax_shares(costs)
    np.testing.assert_allclose(shares, [0.1, 0.4, 0.5])
    errors = costs / shares
    assert errors.max() == pytest.approx(errors.min())
    # any other split makes the worst group worse
    other = np.array([0.2, 0.35, 0.45])
    assert (costs / other).max() > errors.max()
    np.testing.assert_allclose(minimax_shares([0.0, 0.0]), [0.5, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        minimax_shares([1.0, -1.0])


class GroupWorld:
    """Records of colour 'red', 'green' or none, with per-colour proxies."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.red_score = rng.beta(0.2, 0.8, n)
        self.green_score = rng.beta(0.2, 2.0, n)
        u = rng.random(n)
        self.group = np.full(n, None, dtype=object)
        self.group[u < self.green_score] = "green"
        self.group[u > 1 - self.red_score] = "red"
        self.predicate = self.group != None  # noqa: E711
        self.value = rng.normal(np.where(self.group == "red", 10.0, 3.0), 1.0)
        self.seen: list[npt.NDArray[np.int64]] = []

    def oracle(self, indices: npt.NDArray[np.int64]) -> tuple[Any, Any, Any]:
        self.seen.append(indices.copy())
        return self.predicate[indices], self.value[indices], self.group[indices]

    def scores(self) -> dict[str, npt.NDArray[np.float64]]:
        return {"red": self.red_score, "green": self.green_score}

    def truth(self, colour: str, aggregate: str = "avg") -> float:
        mine = self.group == colour
        if aggregate == "count":
            return float(mine.sum())
        if aggregate == "sum":
            return float(self.value[mine].sum())
        return float(self.value[mine].mean())


def test_one_sample_serves_every_group_within_budget() -> None:
    world = GroupWorld(20_000, 0)
    result = abae.estimate_groups(world.scores(), world.oracle, 3000, rng=1)
    labelled = np.concatenate(world.seen)
    assert len(world.seen) == 2
    assert labelled.size == result.oracle_calls == 3000
    assert np.unique(labelled).size == labelled.size
    assert set(result.estimates) == {"red", "green"}
    assert sum(result.shares.values()) == pytest.approx(1.0)
    for colour in ("red", "green"):
        estimate = result[colour]
        # every label counts for every group
        assert estimate.oracle_calls == 3000
        assert np.array_equal(np.sort(estimate.labelled_indices), np.sort(labelled))
        assert estimate.ci_low < world.truth(colour) < estimate.ci_high
        # the group's positives are exactly the labels the oracle put in it
        mine = estimate.labelled_predicate
        assert (world.group[estimate.labelled_indices[mine]] == colour).all()


@pytest.mark.parametrize("aggregate", ["avg", "sum", "count"])
def test_every_record_labelled_gives_exact_answers(aggregate: str) -> None:
    world = GroupWorld(300, 2)
    result = abae.estimate_groups(
        world.scores(), world.oracle, 1000, aggregate=aggregate, strata=3, rng=3
    )
    labelled = np.concatenate(world.seen)
    assert labelled.size == result.oracle_calls == 300
    assert np.unique(labelled).size == 300
    for colour in ("red", "green"):
        assert result[colour].estimate == pytest.approx(world.truth(colour, aggregate))
        assert result[colour].ci_width == pytest.approx(0.0, abs=1e-9)


def test_a_shared_score_array_discovers_the_groups() -> None:
    world = GroupWorld(20_000, 4)
    shared = np.maximum(world.red_score, world.green_score)
    result = abae.estimate_groups(shared, world.oracle, 2000, aggregate="count", rng=5)
    assert list(result.estimates) == ["green", "red"]
    for colour in ("red", "green"):
        estimate = result[colour]
        assert estimate.ci_low < world.truth(colour, "count") < estimate.ci_high
        assert estimate.ci_low >= estimate.strata.positives.sum()


def test_a_group_without_a_proxy_is_still_estimated_with_a_warning() -> None:
    world = GroupWorld(20_000, 6)
    result = abae.estimate_groups({"red": world.red_score}, world.oracle, 2000, rng=7)
    assert set(result.estimates) == {"red", "green"}
    assert any("no proxy score" in w for w in result.warnings)
    green = result["green"]
    assert green.ci_low < world.truth("green") < green.ci_high
    listed = abae.estimate_groups(world.red_score, world.oracle, 2000, groups=["red"], rng=7)
    assert set(listed.estimates) == {"red", "green"}


def test_the_worst_group_gets_the_most_weight() -> None:
    world = GroupWorld(20_000, 8)
    result = abae.estimate_groups(world.scores(), world.oracle, 2000, rng=9)
    # green is rarer, so its AVG is the harder one
    assert result.shares["green"] > result.shares["red"]


def test_group_arguments_are_checked() -> None:
    world = GroupWorld(100, 4)
    with pytest.raises(ValueError, match="lengths differ"):
        abae.estimate_groups({"a": world.red_score, "b": world.green_score[:50]}, world.oracle, 50)
    with pytest.raises(ValueError, match="empty"):
        abae.estimate_groups({}, world.oracle, 50)
    with pytest.raises(ValueError, match="only for one shared score array"):
        abae.estimate_groups(world.scores(), world.oracle, 50, groups=["red"])
    with pytest.raises(ValueError, match="repeats"):
        abae.estimate_groups(world.red_score, world.oracle, 50, groups=["red", "red"])
    with pytest.raises(ValueError, match="score blocks"):
        abae.estimate_groups(world.scores(), world.oracle, 1)

    def two_arrays(i: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        return world.predicate[i], world.value[i]

    with pytest.raises(ValueError, match="\\(predicate, statistic, group\\)"):
        abae.estimate_groups({"a": world.red_score}, two_arrays, 50)

    def list_groups(i: npt.NDArray[np.int64]) -> tuple[Any, Any, Any]:
        keys = np.empty(i.size, dtype=object)
        keys[:] = [["red"]] * i.size
        return np.ones(i.size, np.bool_), np.ones(i.size), keys

    with pytest.raises(ValueError, match="cannot be a group key"):
        abae.estimate_groups({"red": world.red_score}, list_groups, 50)
