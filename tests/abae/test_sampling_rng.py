"""`rng` across the public sampling API: an int seed, a numpy Generator or None."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import abae
from abae.sampling import (
    LabelsByStratum,
    bootstrap_interval,
    check_rng,
    draw_fresh,
    make_strata,
    proxy_constants_from_labels,
)
from abae.sampling.synthetic import paper_population

POPULATION = paper_population(5_000, np.random.default_rng(0))


def _estimate(rng: Any) -> abae.Estimate:
    return abae.estimate(POPULATION.scores, POPULATION.oracle, 300, ci="bootstrap", rng=rng)


def test_int_seed_is_reproducible_and_matches_its_generator() -> None:
    # abae.estimate(..., rng=0) used to crash with AttributeError
    a, b = _estimate(0), _estimate(0)
    assert (a.estimate, a.ci_low, a.ci_high) == (b.estimate, b.ci_low, b.ci_high)
    np.testing.assert_array_equal(a.labelled_indices, b.labelled_indices)
    c = _estimate(np.random.default_rng(0))
    np.testing.assert_array_equal(a.labelled_indices, c.labelled_indices)
    assert _estimate(1).labelled_indices.tolist() != a.labelled_indices.tolist()


def test_a_generator_is_advanced_and_none_draws_fresh_entropy() -> None:
    generator = np.random.default_rng(5)
    first, second = _estimate(generator), _estimate(generator)
    assert first.labelled_indices.tolist() != second.labelled_indices.tolist()
    assert _estimate(None).oracle_calls == 300


def test_every_public_entry_point_takes_an_int_seed() -> None:
    uniform = abae.estimate_uniform(len(POPULATION), POPULATION.oracle, 200, rng=3)
    assert (
        uniform.estimate
        == abae.estimate_uniform(len(POPULATION), POPULATION.oracle, 200, rng=3).estimate
    )
    choice = abae.select_proxy({"a": POPULATION.scores}, POPULATION.oracle, 300, rng=4)
    again = proxy_constants_from_labels(
        {"a": POPULATION.scores}, choice.indices, choice.predicate, choice.statistic, rng=4
    )
    assert again["a"] == pytest.approx(choice.constants["a"])
    strata = make_strata(np.zeros(10), 2, 6)
    assert [m.tolist() for m in strata.members] == [
        m.tolist() for m in make_strata(np.zeros(10), 2, 6).members
    ]
    assert (
        draw_fresh(10, np.array([1]), 3, 7).tolist() == draw_fresh(10, np.array([1]), 3, 7).tolist()
    )
    labels = LabelsByStratum(
        np.array([100]), np.zeros(20, np.int64), np.arange(20) % 2 == 0, np.arange(20.0)
    )
    assert bootstrap_interval("avg", labels, 0.9, 8) == bootstrap_interval("avg", labels, 0.9, 8)


@pytest.mark.parametrize(
    ("rng", "message"),
    [
        (1.5, "int seed, a numpy.random.Generator or None"),
        (True, "int seed, a numpy.random.Generator or None"),
        ("seed", "int seed, a numpy.random.Generator or None"),
        (np.random.RandomState(0), "int seed, a numpy.random.Generator or None"),
        (-1, "non-negative"),
    ],
)
def test_other_rng_values_are_refused(rng: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_rng(rng)
    with pytest.raises(ValueError, match=message):
        _estimate(rng)
