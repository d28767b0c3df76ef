"""Faults as missing data: lost predicate labels and failed statistics are missing at random."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import abae
from abae.sampling import KnownLabels, LabelsByStratum, read_oracle_answer, studentized_interval
from abae.sampling.synthetic import SyntheticPopulation, paper_population


@pytest.fixture(scope="module")
def population() -> SyntheticPopulation:
    return paper_population(20_000, np.random.default_rng(0))


class FaultyOracle:
    """Answers like the population, but loses labels at random (seeded by the batch)."""

    def __init__(
        self, population: SyntheticPopulation, lose_predicate: float, lose_statistic: float
    ) -> None:
        self.population = population
        self.lose_predicate = lose_predicate
        self.lose_statistic = lose_statistic
        self.seen: list[npt.NDArray[np.int64]] = []

    def __call__(self, indices: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        self.seen.append(indices.copy())
        rng = np.random.default_rng(indices)
        predicate = self.population.predicate[indices].astype(np.float64)
        statistic = np.where(predicate == 1.0, self.population.statistic[indices], np.nan)
        predicate[rng.random(indices.size) < self.lose_predicate] = np.nan
        statistic[rng.random(indices.size) < self.lose_statistic] = np.nan
        return predicate, statistic


def test_oracle_answers_with_missing_labels_are_read() -> None:
    labels = read_oracle_answer(([1.0, np.nan, 0.0, 1.0], [2.0, 7.0, np.nan, np.nan]), 4)
    assert labels.predicate.tolist() == [True, False, False, True]
    assert labels.missing.tolist() == [False, True, False, False]
    assert np.isnan(labels.statistic[3])
    with pytest.raises(ValueError, match="0/1 floats with NaN"):
        read_oracle_answer(([0.5], [1.0]), 1)


def test_lost_labels_are_paid_never_redrawn_and_reported(population: SyntheticPopulation) -> None:
    oracle = FaultyOracle(population, lose_predicate=0.3, lose_statistic=0.2)
    result = abae.estimate(population.scores, oracle, 1000, rng=1)
    drawn = np.concatenate(oracle.seen)
    assert drawn.size == result.oracle_calls == 1000
    assert np.unique(drawn).size == 1000
    lost = result.labelled_missing
    assert lost is not None
    assert result.missing_labels == int(lost.sum()) == int(result.strata.missing.sum())
    assert 240 < result.missing_labels < 360
    assert not result.labelled_predicate[lost].any()
    assert result.missing_statistics == int(result.strata.missing_statistic.sum()) > 0
    assert any("missing at random" in w and "without a predicate" in w for w in result.warnings)
    assert any("have no statistic" in w for w in result.warnings)
    usable = result.strata.labelled - result.strata.missing
    np.testing.assert_allclose(result.strata.p, result.strata.positives / usable)


@pytest.mark.parametrize(
    ("aggregate", "lose_predicate", "lose_statistic"),
    [("count", 0.0, 0.5), ("sum", 0.0, 0.5), ("avg", 0.0, 0.5), ("count", 0.5, 0.0)],
)
def test_faults_leave_no_bias_beyond_noise(
    population: SyntheticPopulation, aggregate: str, lose_predicate: float, lose_statistic: float
) -> None:
    # A lost statistic used to drop the positive: COUNT came out 23% low.
    oracle = FaultyOracle(population, lose_predicate, lose_statistic)
    truth = population.truth(aggregate)
    values = np.array(
        [
            abae.estimate(
                population.scores,
                oracle,
                1000,
                aggregate=aggregate,
                allocation="proportional",
                ci="normal",
                rng=seed,
            ).estimate
            for seed in range(150)
        ]
    )
    error = values - truth
    standard_error = error.std(ddof=1) / np.sqrt(error.size)
    assert abs(error.mean()) < 3 * standard_error
    assert abs(error.mean()) < 0.01 * abs(truth)


@pytest.mark.slow
@pytest.mark.parametrize("aggregate", ["count", "sum", "avg"])
def test_default_estimate_with_half_the_statistics_failing_is_unbiased_and_covers(
    population: SyntheticPopulation, aggregate: str
) -> None:
    oracle = FaultyOracle(population, lose_predicate=0.1, lose_statistic=0.5)
    truth = population.truth(aggregate)
    results = [
        abae.estimate(population.scores, oracle, 1000, aggregate=aggregate, rng=seed)
        for seed in range(1000)
    ]
    error = np.array([r.estimate for r in results]) - truth
    coverage = np.mean([r.ci_low <= truth <= r.ci_high for r in results])
    print(
        f"{aggregate}: bias {error.mean():.4g} ± {error.std() / np.sqrt(error.size):.4g}, "
        f"coverage {coverage:.3f}"
    )
    assert abs(error.mean()) < 3 * error.std(ddof=1) / np.sqrt(error.size)
    assert 0.93 <= coverage <= 0.97


def test_missing_statistics_widen_the_interval() -> None:
    rng = np.random.default_rng(2)
    stratum = np.repeat([0, 1], 200)
    predicate = rng.random(400) < 0.5
    statistic = np.where(predicate, rng.normal(10.0, 3.0, 400), np.nan)
    whole = LabelsByStratum(np.array([1000, 1000]), stratum, predicate, statistic)
    lost = statistic.copy()
    lost[::2] = np.nan
    partial = LabelsByStratum(np.array([1000, 1000]), stratum, predicate, lost)
    # AVG rests on the statistics alone (about √2 wider with half of them);
    # SUM also on the rate, which every positive still informs
    for aggregate, factor in (("avg", 1.3), ("sum", 1.05)):
        full = studentized_interval(aggregate, whole, 0.95)
        half = studentized_interval(aggregate, partial, 0.95)
        assert half.high - half.low > factor * (full.high - full.low)
    # everything labelled but statistics missing: not exact, so not zero width
    census = LabelsByStratum(np.array([200, 200]), stratum, predicate, lost)
    interval = studentized_interval("sum", census, 0.95)
    assert interval.high - interval.low > 0.0
    exact = LabelsByStratum(np.array([200, 200]), stratum, predicate, statistic)
    interval = studentized_interval("sum", exact, 0.95)
    assert interval.high == interval.low


def test_a_stratum_with_every_label_lost_borrows_and_warns() -> None:
    scores = np.arange(1000.0)
    truth = np.arange(1000) % 4 == 0

    def oracle(i: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        predicate = truth[i].astype(np.float64)
        predicate[i < 200] = np.nan  # the lowest stratum never answers
        return predicate, np.ones(i.size)

    result = abae.estimate(scores, oracle, 100, aggregate="count", rng=3)
    assert any("stratum 0 has no usable label" in w for w in result.warnings)
    assert np.isfinite(result.estimate)
    assert result.ci_high - result.ci_low > 0


def test_known_labels_accept_the_same_missing_conventions(population: SyntheticPopulation) -> None:
    rng = np.random.default_rng(4)
    indices = rng.choice(len(population), 400, replace=False)
    predicate = population.predicate[indices].astype(np.float64)
    predicate[:100] = np.nan
    statistic = np.where(predicate == 1.0, population.statistic[indices], np.nan)
    statistic[100:150] = np.nan
    known = KnownLabels(indices, predicate, statistic, population.scores[indices])
    assert known.missing_mask.sum() == 100
    result = abae.estimate(population.scores, population.oracle, 500, rng=5, known=known)
    assert result.known_labels == 400
    assert result.missing_labels == 100
    assert result.missing_statistics == int((population.predicate[indices[100:150]]).sum())
