"""Combining proxies (AND, OR) and choosing one by ABae's error constant."""

from __future__ import annotations

import numpy as np
import pytest

import abae
from abae.sampling import proxy_constants_from_labels
from abae.sampling.synthetic import paper_population


def test_and_or_combinations() -> None:
    a = np.array([0.0, 0.5, 1.0])
    b = np.array([0.5, 0.5, 0.2])
    np.testing.assert_allclose(abae.combine_and(a, b), [0.0, 0.25, 0.2])
    np.testing.assert_allclose(abae.combine_or(a, b), [0.5, 0.75, 1.0])
    np.testing.assert_allclose(abae.combine_and(a), a)


def test_combinations_are_exact_for_independent_predicates() -> None:
    rng = np.random.default_rng(0)
    s1, s2 = rng.random(200_000), rng.random(200_000)
    o1, o2 = rng.random(200_000) < s1, rng.random(200_000) < s2
    assert np.mean(o1 & o2) == pytest.approx(np.mean(abae.combine_and(s1, s2)), abs=0.005)
    assert np.mean(o1 | o2) == pytest.approx(np.mean(abae.combine_or(s1, s2)), abs=0.005)


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        (([0.1, 1.5],), "in \\[0, 1\\]"),
        (([0.1, np.nan],), "NaN or infinite"),
        ((), "at least one"),
    ],
)
def test_combination_input_checks(scores: tuple[list[float], ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        abae.combine_or(*scores)


def test_oracle_allocation_constant() -> None:
    assert abae.oracle_allocation_constant([0.25, 1.0], [2.0, 1.0]) == pytest.approx(2.56)
    assert abae.oracle_allocation_constant([0.5, 0.5], [1.0, np.nan]) == pytest.approx(0.5)
    assert np.isnan(abae.oracle_allocation_constant([0.0, 0.0], [1.0, 1.0]))
    with pytest.raises(ValueError, match="same length"):
        abae.oracle_allocation_constant([0.5], [1.0, 2.0])
    with pytest.raises(ValueError, match="rates in \\[0, 1\\]"):
        abae.oracle_allocation_constant([1.5], [1.0])


def test_select_proxy_prefers_the_informative_one() -> None:
    population = paper_population(50_000, np.random.default_rng(1))
    noise = np.random.default_rng(2).random(len(population))
    blurred = np.clip(
        population.scores + np.random.default_rng(3).normal(0, 0.3, len(population)), 0, 1
    )
    candidates = {"noise": noise, "blurred": blurred, "sharp": population.scores}
    choice = abae.select_proxy(candidates, population.oracle, 2000, rng=np.random.default_rng(4))
    assert choice.best == "sharp"
    assert choice.constants["sharp"] < choice.constants["blurred"] < choice.constants["noise"]
    assert choice.indices.size == 2000
    again = proxy_constants_from_labels(
        candidates,
        choice.indices,
        choice.predicate,
        choice.statistic,
        rng=np.random.default_rng(5),
    )
    assert again["sharp"] == pytest.approx(choice.constants["sharp"])


def test_select_proxy_without_positives_warns() -> None:
    scores = {"a": np.linspace(0, 1, 100), "b": np.linspace(1, 0, 100)}

    def never(i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(i.size, bool), np.zeros(i.size)

    choice = abae.select_proxy(scores, never, 50, rng=np.random.default_rng(0))
    assert choice.best == "a"
    assert choice.warnings
    assert all(np.isnan(c) for c in choice.constants.values())
