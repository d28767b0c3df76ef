"""`abae.estimate` and `abae.estimate_uniform`: budget, exactness, warnings, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import abae
from abae.sampling.synthetic import SyntheticPopulation, paper_population


@pytest.fixture(scope="module")
def population() -> SyntheticPopulation:
    return paper_population(20_000, np.random.default_rng(0))


class CountingOracle:
    """Wraps a population's oracle and records every batch it is sent."""

    def __init__(self, population: SyntheticPopulation) -> None:
        self.population = population
        self.batches: list[npt.NDArray[np.int64]] = []

    def __call__(
        self, indices: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        assert indices.dtype == np.int64
        self.batches.append(indices.copy())
        return self.population.oracle(indices)

    @property
    def seen(self) -> npt.NDArray[np.int64]:
        return np.concatenate(self.batches)


@pytest.mark.parametrize("aggregate", ["avg", "sum", "count"])
@pytest.mark.parametrize("allocation", ["variance", "abae", "proportional"])
def test_budget_spent_exactly_without_repeats(
    population: SyntheticPopulation, aggregate: str, allocation: str
) -> None:
    oracle = CountingOracle(population)
    result = abae.estimate(
        population.scores,
        oracle,
        1000,
        aggregate=aggregate,
        allocation=allocation,
        rng=np.random.default_rng(1),
    )
    seen = oracle.seen
    assert seen.size == result.oracle_calls == 1000
    assert np.unique(seen).size == seen.size
    assert len(oracle.batches) <= 2 * 5
    assert sorted(result.labelled_indices.tolist()) == sorted(seen.tolist())
    np.testing.assert_array_equal(
        result.labelled_predicate, population.predicate[result.labelled_indices]
    )
    table = result.strata
    assert table.labelled.sum() == 1000
    assert (table.stage1_labelled == 80).all()  # the default stage-1 share 0.4 of 1000, over 5
    assert table.stage2_allocation.sum() == 600
    assert (table.labelled == table.stage1_labelled + table.stage2_allocation).all()
    assert result.ci_low <= result.estimate <= result.ci_high
    truth = population.truth(aggregate)
    assert abs(result.estimate - truth) < 0.15 * abs(truth)


def test_variance_allocation_puts_stage2_where_positives_are(
    population: SyntheticPopulation,
) -> None:
    result = abae.estimate(population.scores, population.oracle, 2000, rng=np.random.default_rng(2))
    allocation = result.strata.stage2_allocation
    assert allocation[-1] == allocation.max()
    assert allocation[0] == 0  # Beta(0.1, 0.5) puts no positive in the bottom stratum


@pytest.mark.parametrize("aggregate", ["avg", "sum", "count"])
@pytest.mark.parametrize("ci", ["bootstrap", "bca", "normal"])
def test_exact_with_zero_width_interval_at_full_budget(aggregate: str, ci: str) -> None:
    small = paper_population(300, np.random.default_rng(3))
    oracle = CountingOracle(small)
    result = abae.estimate(
        small.scores, oracle, 300, aggregate=aggregate, ci=ci, rng=np.random.default_rng(4)
    )
    assert result.oracle_calls == 300
    assert sorted(oracle.seen.tolist()) == list(range(300))
    assert result.estimate == pytest.approx(small.truth(aggregate), rel=1e-12)
    assert result.ci_low == pytest.approx(result.estimate, rel=1e-12)
    assert result.ci_high == pytest.approx(result.estimate, rel=1e-12)


def test_budget_beyond_the_data_labels_everything_once() -> None:
    small = paper_population(50, np.random.default_rng(5))
    oracle = CountingOracle(small)
    result = abae.estimate(small.scores, oracle, 80, rng=np.random.default_rng(6))
    assert result.oracle_calls == 50
    assert result.budget == 80
    assert np.unique(oracle.seen).size == 50
    assert any("exceeds the 50 records" in w for w in result.warnings)
    assert result.ci_width == pytest.approx(0.0, abs=1e-12)


def test_no_positive_at_all_gives_an_unbounded_avg_and_a_bounded_count() -> None:
    scores = np.random.default_rng(7).random(1000)

    def never(indices: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        return np.zeros(indices.size, bool), np.full(indices.size, np.nan)

    result = abae.estimate(scores, never, 100, rng=8)
    assert np.isnan(result.estimate)
    assert (result.ci_low, result.ci_high) == (-np.inf, np.inf)
    assert result.conservative
    assert any("no positive record" in w and "NaN" in w for w in result.warnings)
    count = abae.estimate(scores, never, 100, aggregate="count", rng=8)
    assert count.estimate == 0.0
    assert any("may still be positive" in w for w in count.warnings)
    # 0 positives in 20 of 200 records per stratum: the gamma bound is -ln(0.025)·200/20
    assert count.ci_low == 0.0
    assert count.ci_high == pytest.approx(-np.log(0.025) * 200 / 20, rel=1e-9)


def test_stratum_without_positive_is_reported(population: SyntheticPopulation) -> None:
    result = abae.estimate(population.scores, population.oracle, 500, rng=np.random.default_rng(9))
    assert result.strata.positives[0] == 0
    assert np.isnan(result.strata.mean[0])
    assert any(w.startswith("stratum 0 has no positive") for w in result.warnings)
    assert np.isfinite(result.estimate)


def test_same_seed_same_result(population: SyntheticPopulation) -> None:
    a = abae.estimate(population.scores, population.oracle, 700, rng=np.random.default_rng(10))
    b = abae.estimate(population.scores, population.oracle, 700, rng=np.random.default_rng(10))
    assert (a.estimate, a.ci_low, a.ci_high) == (b.estimate, b.ci_low, b.ci_high)
    np.testing.assert_array_equal(a.labelled_indices, b.labelled_indices)


def test_progress_reports_after_each_stage(population: SyntheticPopulation) -> None:
    reports: list[abae.Progress] = []
    result = abae.estimate(
        population.scores,
        population.oracle,
        1000,
        rng=np.random.default_rng(11),
        on_progress=reports.append,
    )
    calls = [r.oracle_calls for r in reports]
    assert calls == sorted(calls)
    assert calls[-1] == 1000
    # one oracle call (and one report) per stage
    assert [r.stage for r in reports] == [1, 2]
    assert all(r.budget == 1000 for r in reports)
    assert reports[-1].running_estimate == pytest.approx(result.estimate)


def test_stratum_table_rows_and_repr(population: SyntheticPopulation) -> None:
    result = abae.estimate(population.scores, population.oracle, 500, rng=np.random.default_rng(12))
    rows = result.strata.rows()
    assert len(rows) == 5
    assert sum(r["size"] for r in rows) == len(population)
    assert "oracle_calls=500/500" in repr(result)


def test_uniform_baseline(population: SyntheticPopulation) -> None:
    oracle = CountingOracle(population)
    result = abae.estimate_uniform(len(population), oracle, 1500, rng=np.random.default_rng(13))
    assert result.oracle_calls == 1500
    assert len(oracle.batches) == 1
    assert np.unique(oracle.seen).size == 1500
    assert result.allocation == "uniform"
    assert len(result.strata) == 1
    assert result.ci_low < population.truth("avg") < result.ci_high
    same = abae.estimate_uniform(
        population.scores, population.oracle, 1500, rng=np.random.default_rng(13)
    )
    assert same.estimate == result.estimate
    everything = abae.estimate_uniform(100, population.oracle, 100, aggregate="count")
    assert everything.estimate == population.predicate[:100].sum()
    assert everything.ci_width == 0.0


def _oracle_returning(answer: Any) -> Any:
    return lambda indices: answer(indices)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda i: np.zeros(i.size, bool), "must return \\(predicate, statistic\\)"),
        (lambda i: (np.zeros(i.size, bool),), "got a 1-tuple"),
        (lambda i: (np.zeros(i.size + 1, bool), np.zeros(i.size)), "predicate of shape"),
        (lambda i: (np.zeros(i.size, bool), np.zeros((i.size, 2))), "statistic of shape"),
        (lambda i: (np.full(i.size, 0.5), np.zeros(i.size)), "predicate must be boolean"),
        (lambda i: (np.full(i.size, 2), np.zeros(i.size)), "predicate must be boolean"),
        (lambda i: (np.ones(i.size, bool), np.array(["x"] * i.size)), "must be real numbers"),
        (lambda i: (np.ones(i.size, bool), np.full(i.size, np.inf)), "return a finite value"),
    ],
)
def test_malformed_oracle_answers_are_refused(answer: Any, message: str) -> None:
    scores = np.random.default_rng(14).random(100)
    with pytest.raises(ValueError, match=message):
        abae.estimate(scores, _oracle_returning(answer), 20, rng=np.random.default_rng(0))


def test_integer_predicate_and_nan_statistic_on_negatives_are_accepted() -> None:
    truth = np.arange(100) % 2

    def oracle(i: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        return truth[i], np.where(truth[i] == 1, 5.0, np.nan)

    result = abae.estimate(np.arange(100.0), oracle, 100, rng=np.random.default_rng(0))
    assert result.estimate == 5.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"proxy_scores": [0.1, np.nan] * 50}, "NaN or infinite"),
        ({"proxy_scores": [0.1, -np.inf] * 50}, "NaN or infinite"),
        ({"budget": 0}, "budget must be positive"),
        ({"budget": -5}, "budget must be positive"),
        ({"budget": 4}, "smaller than 5"),
        ({"budget": 10.5}, "must be an integer"),
        ({"confidence": 1.0}, "strictly between 0 and 1"),
        ({"confidence": 0.0}, "strictly between 0 and 1"),
        ({"confidence": "high"}, "probability"),
        ({"aggregate": "median"}, "aggregate must be one of"),
        ({"allocation": "greedy"}, "allocation must be one of"),
        ({"ci": "wald"}, "ci must be one of"),
        ({"stage1_share": 0.0}, "stage1_share"),
        ({"strata": 0}, "strata must be at least 1"),
        ({"strata": 1000}, "exceeds the number of records"),
        ({"oracle": "not callable"}, "oracle must be callable"),
        ({"bootstrap_replicates": 0}, "bootstrap_replicates"),
    ],
)
def test_bad_arguments_are_refused(
    population: SyntheticPopulation, change: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "proxy_scores": population.scores[:100],
        "oracle": population.oracle,
        "budget": 50,
    }
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        abae.estimate(**arguments)


def test_mismatched_lengths_are_refused() -> None:
    def short_oracle(i: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        return np.zeros(3, bool), np.zeros(3)

    with pytest.raises(ValueError, match="shape \\(3,\\) for a batch of"):
        abae.estimate(np.random.default_rng(0).random(100), short_oracle, 50)
    with pytest.raises(ValueError, match="different lengths"):
        abae.combine_and([0.1, 0.2], [0.3])
