"""Known labels (a proxy's pilot) as a census stratum in `abae.estimate` and `estimate_uniform`."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import abae
from abae.sampling import KnownLabels, plan_known
from abae.sampling.synthetic import SyntheticPopulation, paper_population


@pytest.fixture(scope="module")
def population() -> SyntheticPopulation:
    return paper_population(20_000, np.random.default_rng(0))


def pilot(population: SyntheticPopulation, size: int, rng: np.random.Generator) -> KnownLabels:
    """A uniform pilot of ``size`` records, scored by the population's proxy."""
    indices = rng.choice(len(population), size, replace=False)
    predicate = population.predicate[indices]
    statistic = np.where(predicate, population.statistic[indices], np.nan)
    return KnownLabels(indices, predicate, statistic, population.scores[indices])


class RecordingOracle:
    def __init__(self, population: SyntheticPopulation) -> None:
        self.population = population
        self.seen: list[npt.NDArray[np.int64]] = []

    def __call__(self, indices: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        self.seen.append(indices.copy())
        return self.population.oracle(indices)


def test_known_records_are_never_drawn_and_budget_counts_fresh_calls_only(
    population: SyntheticPopulation,
) -> None:
    known = pilot(population, 1000, np.random.default_rng(1))
    oracle = RecordingOracle(population)
    result = abae.estimate(population.scores, oracle, 800, aggregate="count", rng=2, known=known)
    drawn = np.concatenate(oracle.seen)
    assert drawn.size == result.oracle_calls == 800
    assert np.unique(drawn).size == drawn.size
    assert not np.isin(drawn, known.indices).any()
    assert result.known_labels == 1000
    assert result.known_positives == int(known.predicate.sum())
    assert result.strata.size.sum() == len(population) - 1000
    assert result.strata.known.sum() == 1000
    assert "known_labels=1000" in repr(result)


def test_known_labels_replace_stage1_draws_but_keep_two_fresh_per_stratum(
    population: SyntheticPopulation,
) -> None:
    known = pilot(population, 2000, np.random.default_rng(3))
    result = abae.estimate(population.scores, population.oracle, 1000, rng=4, known=known)
    # stage 1 asks 0.4 * 1000 / 5 = 80 per stratum; about 400 known labels fall in each
    assert (result.strata.known > 80).all()
    assert (result.strata.stage1_labelled == 2).all()
    assert result.strata.stage2_allocation.sum() == 1000 - 10
    few = pilot(population, 100, np.random.default_rng(5))
    partial = abae.estimate(population.scores, population.oracle, 1000, rng=4, known=few)
    np.testing.assert_array_equal(
        partial.strata.stage1_labelled, np.maximum(80 - partial.strata.known, 2)
    )


def test_known_labels_are_placed_by_their_planning_scores() -> None:
    scores = np.arange(100.0)
    known = KnownLabels(
        np.array([0, 50, 99]),
        np.array([True, False, True]),
        np.array([1.0, np.nan, 2.0]),
        np.array([-5.0, 60.0, 1e9]),
    )
    plan = plan_known(scores, known, 4, np.random.default_rng(0))
    assert plan.strata.sizes.tolist() == [25, 24, 24, 24]
    assert plan.per_stratum.tolist() == [1, 0, 1, 1]
    members = np.concatenate(plan.strata.members)
    assert not np.isin(members, known.indices).any()
    assert members.size == 97


def test_census_adds_its_exact_total() -> None:
    # every positive is known: the rest holds none, so COUNT and SUM are exact
    predicate = np.zeros(1000, bool)
    predicate[:40] = True
    statistic = np.where(predicate, 3.0, np.nan)
    known = KnownLabels(np.arange(100), predicate[:100], statistic[:100], np.zeros(100))
    scores = np.random.default_rng(6).random(1000)

    def oracle(i: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        return predicate[i], statistic[i]

    count = abae.estimate(scores, oracle, 200, aggregate="count", rng=7, known=known)
    total = abae.estimate(scores, oracle, 200, aggregate="sum", rng=7, known=known)
    avg = abae.estimate(scores, oracle, 200, rng=7, known=known)
    assert count.estimate == pytest.approx(40.0, rel=1e-12)
    assert total.estimate == pytest.approx(120.0, rel=1e-12)
    assert avg.estimate == pytest.approx(3.0, rel=1e-12)
    assert count.ci_low == 40.0  # at least the positives seen
    assert count.ci_high > 40.0  # the unlabelled rest may hold positives
    assert total.ci_low == pytest.approx(120.0, rel=1e-12)


def test_everything_known_is_exact_without_oracle_calls(population: SyntheticPopulation) -> None:
    small = paper_population(60, np.random.default_rng(8))
    known = pilot(small, 60, np.random.default_rng(9))
    oracle = RecordingOracle(small)
    for aggregate in ("avg", "sum", "count"):
        result = abae.estimate(small.scores, oracle, 10, aggregate=aggregate, rng=1, known=known)
        assert result.oracle_calls == 0
        assert result.estimate == pytest.approx(small.truth(aggregate), rel=1e-12)
        assert result.ci_low == result.ci_high == result.estimate
    assert oracle.seen == []


def test_budget_covering_the_rest_is_exact(population: SyntheticPopulation) -> None:
    small = paper_population(300, np.random.default_rng(10))
    known = pilot(small, 100, np.random.default_rng(11))
    for estimator in (abae.estimate, abae.estimate_uniform):
        result = estimator(small.scores, small.oracle, 250, aggregate="sum", rng=12, known=known)
        assert result.oracle_calls == 200
        assert result.estimate == pytest.approx(small.truth("sum"), rel=1e-12)
        assert result.ci_width == 0.0
        assert any("exceeds the 200 records left" in w for w in result.warnings)


def test_uniform_with_known_labels_draws_only_the_rest(population: SyntheticPopulation) -> None:
    known = pilot(population, 500, np.random.default_rng(13))
    oracle = RecordingOracle(population)
    result = abae.estimate_uniform(len(population), oracle, 700, rng=14, known=known)
    drawn = np.concatenate(oracle.seen)
    assert drawn.size == 700
    assert not np.isin(drawn, known.indices).any()
    assert result.known_labels == 500
    assert result.strata.size.tolist() == [len(population) - 500]


@pytest.mark.parametrize(("allocation", "runs"), [("proportional", 250)])
def test_census_plus_strata_is_unbiased_over_many_seeds(
    population: SyntheticPopulation, allocation: str, runs: int
) -> None:
    # With a fixed allocation the design is exactly unbiased: every record is in
    # the census or in one stratum, sampled uniformly within it.
    truth = population.truth("count")
    values = []
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        known = pilot(population, 500, rng)
        values.append(
            abae.estimate(
                population.scores,
                population.oracle,
                500,
                aggregate="count",
                allocation=allocation,
                ci="normal",
                rng=rng,
                known=known,
            ).estimate
        )
    error = np.array(values) - truth
    assert abs(error.mean()) < 3 * error.std(ddof=1) / np.sqrt(runs)


@pytest.mark.slow
@pytest.mark.parametrize("aggregate", ["avg", "sum", "count"])
def test_default_allocation_with_a_pilot_is_unbiased_over_2000_seeds(
    population: SyntheticPopulation, aggregate: str
) -> None:
    truth = population.truth(aggregate)
    values = []
    for seed in range(2000):
        rng = np.random.default_rng(seed)
        known = pilot(population, 500, rng)
        result = abae.estimate(
            population.scores,
            population.oracle,
            500,
            aggregate=aggregate,
            ci="normal",
            rng=rng,
            known=known,
        )
        values.append(result.estimate)
    error = np.array(values) - truth
    standard_error = error.std(ddof=1) / np.sqrt(error.size)
    print(f"{aggregate}: bias {error.mean():.4g} ± {standard_error:.4g}")
    assert abs(error.mean()) < 3 * standard_error


def _same_spend_errors(
    population: SyntheticPopulation, aggregate: str, runs: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    truth = population.truth(aggregate)
    ours, uniform = [], []
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        known = pilot(population, 500, rng)
        common: dict[str, Any] = {"aggregate": aggregate, "ci": "normal", "known": known}
        ours.append(abae.estimate(population.scores, population.oracle, 500, rng=rng, **common))
        uniform.append(
            abae.estimate_uniform(len(population), population.oracle, 500, rng=rng, **common)
        )
    return (
        np.array([r.estimate for r in ours]) - truth,
        np.array([r.estimate for r in uniform]) - truth,
    )


def test_a_useful_proxy_beats_uniform_at_the_same_total_spend(
    population: SyntheticPopulation,
) -> None:
    # 500 known + 500 fresh labels each; measured RMSE ratio about 2.0 (COUNT)
    ours, uniform = _same_spend_errors(population, "count", 120)
    mse_ours, mse_uniform = np.mean(ours**2), np.mean(uniform**2)
    ratio = np.sqrt(mse_uniform / mse_ours)
    relative_se = np.sqrt(
        np.var(ours**2) / (ours.size * mse_ours**2)
        + np.var(uniform**2) / (uniform.size * mse_uniform**2)
    )
    assert ratio - 3 * 0.5 * ratio * relative_se > 1.0, f"ratio {ratio:.2f}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"predicate": np.array([True])}, "predicate has shape"),
        ({"indices": np.array([1, 1])}, "repeats a record"),
        ({"indices": np.array([0.5, 1.5])}, "integer record indices"),
        ({"predicate": np.array([0.5, 1.0])}, "predicate must be boolean"),
        ({"statistic": np.array([np.inf, 1.0])}, "infinite on a positive"),
        ({"scores": np.array([np.nan, 1.0])}, "finite cross-fitted score"),
    ],
)
def test_bad_known_labels_are_refused(change: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "indices": np.array([1, 2]),
        "predicate": np.array([True, False]),
        "statistic": np.array([1.0, np.nan]),
        "scores": np.array([0.5, 0.1]),
    }
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        KnownLabels(**fields)


def test_known_indices_outside_the_records_are_refused() -> None:
    known = KnownLabels(
        np.array([5, 200]), np.array([True, False]), np.array([1.0, np.nan]), np.zeros(2)
    )
    with pytest.raises(ValueError, match="outside the 100 records"):
        abae.estimate(
            np.random.default_rng(0).random(100), lambda i: (i > 0, i * 1.0), 20, known=known
        )
    with pytest.raises(ValueError, match=r"must be an abae\.sampling\.KnownLabels"):
        abae.estimate(np.zeros(100), lambda i: (i > 0, i * 1.0), 20, known=[1, 2])  # type: ignore[arg-type]


def test_progress_reports_count_the_known_labels(population: SyntheticPopulation) -> None:
    known = pilot(population, 1000, np.random.default_rng(15))
    for estimator in (abae.estimate, abae.estimate_uniform):
        reports: list[abae.Progress] = []
        result = estimator(
            population.scores,
            population.oracle,
            600,
            aggregate="count",
            rng=16,
            known=known,
            on_progress=reports.append,
        )
        assert reports[-1].oracle_calls == 600
        assert reports[-1].running_estimate == pytest.approx(result.estimate, rel=1e-9)
