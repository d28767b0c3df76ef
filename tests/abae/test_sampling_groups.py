"""GROUP BY: minimax shares, per-group estimates, shared labels, budget."""

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

    def truth(self, colour: str) -> float:
        return float(self.value[self.group == colour].mean())


def test_group_estimates_within_budget_and_near_truth() -> None:
    world = GroupWorld(20_000, 0)
    result = abae.estimate_groups(
        {"red": world.red_score, "green": world.green_score},
        world.oracle,
        3000,
        rng=np.random.default_rng(1),
    )
    labelled = np.concatenate(world.seen)
    assert labelled.size == result.oracle_calls == 3000
    assert np.unique(labelled).size == labelled.size
    assert set(result.estimates) == {"red", "green"}
    assert sum(result.shares.values()) == pytest.approx(1.0)
    for colour in ("red", "green"):
        estimate = result[colour]
        assert estimate.ci_low < world.truth(colour) < estimate.ci_high
        assert estimate.oracle_calls >= 1000


def test_group_labels_are_reused_not_relabelled() -> None:
    world = GroupWorld(300, 2)
    result = abae.estimate_groups(
        {"red": world.red_score, "green": world.green_score},
        world.oracle,
        1000,
        strata=3,
        rng=np.random.default_rng(3),
    )
    labelled = np.concatenate(world.seen)
    assert labelled.size == result.oracle_calls == 300
    assert np.unique(labelled).size == 300
    for colour in ("red", "green"):
        assert result[colour].oracle_calls == 300
        assert result[colour].estimate == pytest.approx(world.truth(colour))
        assert result[colour].ci_width == pytest.approx(0.0, abs=1e-12)


def test_group_arguments_are_checked() -> None:
    world = GroupWorld(100, 4)
    with pytest.raises(ValueError, match="lengths differ"):
        abae.estimate_groups({"a": world.red_score, "b": world.green_score[:50]}, world.oracle, 50)
    with pytest.raises(ValueError, match="groups × 5 strata"):
        abae.estimate_groups({"a": world.red_score, "b": world.green_score}, world.oracle, 9)
    with pytest.raises(ValueError, match="empty"):
        abae.estimate_groups({}, world.oracle, 50)

    def two_arrays(i: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        return world.predicate[i], world.value[i]

    with pytest.raises(ValueError, match="\\(predicate, statistic, group\\)"):
        abae.estimate_groups({"a": world.red_score}, two_arrays, 50)
