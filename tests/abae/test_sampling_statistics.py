"""Statistical guarantees: unbiasedness, interval coverage and the O(1/N) MSE rate."""

from __future__ import annotations

import numpy as np
import pytest

import abae
from abae.sampling.synthetic import POPULATIONS, SyntheticPopulation


def _estimates(
    population: SyntheticPopulation, budget: int, runs: int, **options: object
) -> list[abae.Estimate]:
    return [
        abae.estimate(
            population.scores,
            population.oracle,
            budget,
            rng=np.random.default_rng(seed),
            **options,  # type: ignore[arg-type]
        )
        for seed in range(runs)
    ]


@pytest.mark.parametrize(
    ("generator", "aggregate"),
    [
        ("paper", "avg"),
        ("paper", "sum"),
        ("paper", "count"),
        ("growing", "avg"),
        ("rare", "avg"),
        ("rare", "count"),
    ],
)
def test_unbiased_over_500_seeds(generator: str, aggregate: str) -> None:
    # Adaptive stage-2 allocation leaves an O(1/N) bias (about -0.1% of the truth
    # at N = 2000 here, -0.2% at N = 1000), far below the O(1/sqrt(N)) error.
    population = POPULATIONS[generator](20_000, np.random.default_rng(100))
    values = np.array(
        [r.estimate for r in _estimates(population, 2000, 500, aggregate=aggregate, ci="normal")]
    )
    truth = population.truth(aggregate)
    standard_error = values.std(ddof=1) / np.sqrt(values.size)
    assert abs(values.mean() - truth) < 3 * standard_error


def test_uniform_baseline_unbiased_over_500_seeds() -> None:
    population = POPULATIONS["paper"](20_000, np.random.default_rng(101))
    values = np.array(
        [
            abae.estimate_uniform(
                len(population), population.oracle, 1000, ci="normal", rng=np.random.default_rng(s)
            ).estimate
            for s in range(500)
        ]
    )
    standard_error = values.std(ddof=1) / np.sqrt(values.size)
    assert abs(values.mean() - population.truth("avg")) < 3 * standard_error


ADAPTIVE_BIAS = pytest.mark.xfail(
    reason="the O(1/N) bias of two-stage designs that reuse their stage-1 labels pulls "
    "coverage to 0.91-0.93 here; see docs/statistics.md",
    strict=False,
)
COVERAGE_CASES = [
    *[
        (generator, budget, aggregate)
        for generator in ("paper", "growing", "useless")
        for budget in (500, 2000)
        for aggregate in ("avg", "sum", "count")
        if (generator, budget, aggregate) != ("useless", 500, "count")
    ],
    pytest.param("useless", 500, "count", marks=ADAPTIVE_BIAS),  # 0.928 over 1,000 seeds
    ("lognormal", 500, "avg"),
    ("lognormal", 2000, "avg"),
    pytest.param("lognormal", 500, "sum", marks=ADAPTIVE_BIAS),
    pytest.param("lognormal", 2000, "sum", marks=ADAPTIVE_BIAS),
    pytest.param("miscalibrated", 500, "count", marks=ADAPTIVE_BIAS),
]


@pytest.mark.slow
@pytest.mark.parametrize(("generator", "budget", "aggregate"), COVERAGE_CASES)
def test_default_95_percent_intervals_cover_93_to_97_percent(
    generator: str, budget: int, aggregate: str
) -> None:
    # very_rare (0.5% positives) is left out: at budgets up to 1,000 most samples
    # hold fewer than ten positives and the conservative rule over-covers by design
    population = POPULATIONS[generator](100_000, np.random.default_rng(200))
    truth = population.truth(aggregate)
    results = _estimates(population, budget, 1000, aggregate=aggregate)
    coverage = np.mean([r.ci_low <= truth <= r.ci_high for r in results])
    print(f"coverage {generator}/{aggregate}/{budget}: {coverage:.3f}")
    assert 0.93 <= coverage <= 0.97, f"{generator}/{aggregate}/{budget}: coverage {coverage:.3f}"


@pytest.mark.slow
def test_mse_falls_as_one_over_budget() -> None:
    population = POPULATIONS["paper"](1_000_000, np.random.default_rng(300))
    truth = population.truth("avg")
    budgets = np.array([500, 1000, 2000, 4000, 8000, 16_000, 32_000])
    mse = [
        np.mean(
            [(r.estimate - truth) ** 2 for r in _estimates(population, int(b), 200, ci="normal")]
        )
        for b in budgets
    ]
    slope = np.polyfit(np.log(budgets), np.log(mse), 1)[0]
    print(f"MSE log-log slope: {slope:.3f}")
    assert -1.1 <= slope <= -0.9, f"log-log slope {slope:.3f}"
