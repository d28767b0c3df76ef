"""Confidence intervals: bootstrap (percentile, BCa) and normal agree; corrections."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abae.sampling import (
    LabelsByStratum,
    bootstrap_interval,
    known_bounds,
    normal_interval,
    point_estimate,
    studentized_interval,
)
from abae.sampling.bootstrap import bootstrap_replicates, bootstrap_scale
from abae.sampling.distributions import gamma_quantile, t_cdf, t_quantile
from abae.sampling.intervals import clip_to_known
from abae.sampling.rare_events import poisson_gamma_interval
from abae.sampling.studentized import studentized_parts


def _labels(seed: int, n_per_stratum: int = 400, size: int = 100_000) -> LabelsByStratum:
    rng = np.random.default_rng(seed)
    k = 3
    stratum = np.repeat(np.arange(k), n_per_stratum)
    predicate = rng.random(stratum.size) < np.array([0.1, 0.4, 0.8])[stratum]
    statistic = rng.normal(np.array([5.0, 10.0, 20.0])[stratum], 3.0)
    return LabelsByStratum(np.full(k, size, np.int64), stratum, predicate, statistic)


@pytest.mark.parametrize("aggregate", ["avg", "sum", "count"])
def test_bootstrap_and_normal_intervals_agree(aggregate: str) -> None:
    labels = _labels(0)
    normal = normal_interval(aggregate, labels, 0.95)
    for bca in (False, True):
        boot = bootstrap_interval(aggregate, labels, 0.95, np.random.default_rng(1), 2000, bca)
        assert boot.high - boot.low == pytest.approx(normal.high - normal.low, rel=0.12)
        centre = (normal.low + normal.high) / 2
        assert abs((boot.low + boot.high) / 2 - centre) < 0.1 * (normal.high - normal.low)


def test_bootstrap_standard_error_matches_linearised_variance() -> None:
    labels = _labels(2)
    theta = bootstrap_replicates("avg", labels, 4000, np.random.default_rng(3))
    normal = normal_interval("avg", labels, 0.6826894921370859)
    assert np.std(theta) == pytest.approx((normal.high - normal.low) / 2, rel=0.06)


def test_higher_confidence_gives_wider_interval() -> None:
    labels = _labels(4)
    narrow = bootstrap_interval("avg", labels, 0.8, np.random.default_rng(5))
    wide = bootstrap_interval("avg", labels, 0.99, np.random.default_rng(5))
    assert wide.low < narrow.low < narrow.high < wide.high


def test_scale_has_finite_population_and_small_sample_corrections() -> None:
    scale = bootstrap_scale(np.array([10, 10, 1, 50]), np.array([10, 20, 30, 100]))
    np.testing.assert_allclose(scale, [0.0, np.sqrt(0.5 * 10 / 9), 0.0, np.sqrt(0.5 * 50 / 49)])


def test_fully_labelled_stratum_adds_no_uncertainty() -> None:
    labels = _labels(6, n_per_stratum=200, size=200)
    for interval in (
        normal_interval("sum", labels, 0.95),
        bootstrap_interval("sum", labels, 0.95, np.random.default_rng(0)),
        bootstrap_interval("sum", labels, 0.95, np.random.default_rng(0), bca=True),
    ):
        assert interval.low == interval.high


def test_single_label_stratum_is_flagged() -> None:
    labels = LabelsByStratum(
        np.array([10, 10]),
        np.array([0, 1, 1, 1]),
        np.array([True, True, False, True]),
        np.array([1.0, 2.0, 0.0, 4.0]),
    )
    interval = normal_interval("avg", labels, 0.95)
    assert any("stratum 0 has a single label" in w for w in interval.warnings)


@pytest.mark.parametrize(
    ("q", "df", "expected"),
    [
        (0.975, 1, 12.706204736),
        (0.975, 2, 4.302652730),
        (0.975, 10, 2.228138852),
        (0.95, 30, 1.697260887),
        (0.025, 5, -2.570581836),
        (0.975, 1e9, 1.959963985),
    ],
)
def test_t_quantile_matches_tables(q: float, df: float, expected: float) -> None:
    assert t_quantile(q, df) == pytest.approx(expected, rel=1e-8)
    assert t_cdf(t_quantile(q, df), df) == pytest.approx(q, rel=1e-10)


@pytest.mark.parametrize(
    ("q", "shape", "expected"),
    [
        (0.975, 1.0, 3.688879454),
        (0.025, 5.0, 1.623486),
        (0.975, 6.0, 11.668332),
        (0.5, 0.5, 0.227468),
    ],
)
def test_gamma_quantile_matches_tables(q: float, shape: float, expected: float) -> None:
    assert gamma_quantile(q, shape) == pytest.approx(expected, rel=1e-5)


def _rare_labels(positives: int, n: int = 400, size: int = 40_000) -> LabelsByStratum:
    predicate = np.zeros(n, bool)
    predicate[:positives] = True
    statistic = np.where(predicate, 10.0 + np.arange(n) % 7, np.nan)
    return LabelsByStratum(np.array([size]), np.zeros(n, np.int64), predicate, statistic)


def test_studentized_matches_normal_on_a_large_symmetric_sample() -> None:
    labels = _labels(7, n_per_stratum=2000)
    normal = normal_interval("avg", labels, 0.95)
    student = studentized_interval("avg", labels, 0.95)
    assert student.high - student.low == pytest.approx(normal.high - normal.low, rel=0.03)
    assert (student.low + student.high) / 2 == pytest.approx(
        (normal.low + normal.high) / 2, abs=0.01
    )


def test_studentized_parts_give_student_t_degrees_of_freedom_for_avg() -> None:
    # one stratum, b positives with a normal-ish statistic: the AVG is a mean of b values
    rng = np.random.default_rng(8)
    predicate = rng.random(1000) < 0.02
    labels = LabelsByStratum(
        np.array([10**6]), np.zeros(1000, np.int64), predicate, rng.normal(5.0, 1.0, 1000)
    )
    parts = studentized_parts("avg", labels)
    assert parts.df == pytest.approx(predicate.sum() - 1, rel=1e-6)
    assert parts.positives == predicate.sum()


def test_skewed_statistic_shifts_the_interval_upwards() -> None:
    rng = np.random.default_rng(9)
    predicate = np.ones(60, bool)
    labels = LabelsByStratum(
        np.array([10**6]), np.zeros(60, np.int64), predicate, np.exp(rng.normal(0.0, 1.5, 60))
    )
    parts = studentized_parts("avg", labels)
    interval = studentized_interval("avg", labels, 0.95)
    symmetric = studentized_interval("avg", labels, 0.95, skew=False)
    assert parts.skewness > 0.3
    assert interval.high - parts.estimate > parts.estimate - interval.low
    assert interval.high > symmetric.high


def test_no_positive_bounds_count_and_leaves_sum_and_avg_open() -> None:
    labels = _rare_labels(0)
    count = clip_to_known("count", labels, studentized_interval("count", labels, 0.95))
    assert count.low == 0.0
    assert count.high == pytest.approx(-np.log(0.025) * 100)  # no event among n = N/100
    # nothing is known about the statistic: neither its scale nor its sign
    for aggregate in ("sum", "avg"):
        interval = studentized_interval(aggregate, _rare_labels(0), 0.95)
        assert (interval.low, interval.high) == (-np.inf, np.inf)


def test_gamma_interval_of_a_single_stratum_is_the_exact_poisson_interval() -> None:
    # weights N/n = 100 for every event: Garwood's interval for 5 events, times 100
    interval = poisson_gamma_interval("count", _rare_labels(5), 0.95)
    assert interval.low == pytest.approx(100 * 1.6235, rel=1e-3)
    assert interval.high == pytest.approx(100 * 11.668, rel=1e-3)


@pytest.mark.parametrize("scale", [1e-200, 1e-30, 1.0, 1e30, 1e60])
def test_gamma_interval_of_sum_scales_with_the_statistic(scale: float) -> None:
    """Found by the 1,000 generated queries: tiny statistics underflowed ``w**2`` to 0."""
    labels = _rare_labels(5)
    reference = poisson_gamma_interval("sum", labels, 0.95)
    scaled = LabelsByStratum(
        labels.sizes, labels.stratum, labels.predicate, labels.statistic * scale
    )
    interval = poisson_gamma_interval("sum", scaled, 0.95)
    assert interval.low == pytest.approx(reference.low * scale, rel=1e-9)
    assert interval.high == pytest.approx(reference.high * scale, rel=1e-9)
    assert 0 < interval.low < interval.high < math.inf


def test_few_positives_take_the_hull_with_the_gamma_interval() -> None:
    labels = _rare_labels(4)
    student = studentized_interval("count", labels, 0.95)
    gamma = poisson_gamma_interval("count", labels, 0.95)
    assert student.low <= gamma.low
    assert student.high >= gamma.high


def test_avg_with_one_positive_is_unbounded() -> None:
    interval = studentized_interval("avg", _rare_labels(1), 0.95)
    assert (interval.low, interval.high) == (-np.inf, np.inf)


def test_known_bounds_hold_the_positives_and_sums_seen() -> None:
    labels = _rare_labels(30)
    low, high = known_bounds("count", labels)
    assert (low, high) == (30.0, 40_000 - 370)
    low, high = known_bounds("sum", labels)
    assert low == pytest.approx(float(np.nansum(labels.statistic)))
    assert high == np.inf
    assert known_bounds("avg", labels) == (-np.inf, np.inf)
    negative = LabelsByStratum(labels.sizes, labels.stratum, labels.predicate, -labels.statistic)
    assert known_bounds("sum", negative)[1] == pytest.approx(-float(np.nansum(labels.statistic)))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(0, 40),
    st.integers(2, 60),
    st.sampled_from(["avg", "sum", "count"]),
    st.integers(0, 2**31),
)
def test_intervals_contain_the_estimate_and_respect_known_bounds(
    k: int, positives_cap: int, per_stratum: int, aggregate: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    stratum = np.repeat(np.arange(k), per_stratum)
    predicate = rng.random(stratum.size) < rng.random(k)[stratum] * positives_cap / 40
    statistic = np.where(predicate, rng.gamma(2.0, 3.0, stratum.size), np.nan)
    sizes = np.full(k, per_stratum, np.int64) + rng.integers(0, 500, k)
    labels = LabelsByStratum(sizes, stratum, predicate, statistic)
    point = point_estimate(aggregate, labels)
    interval = clip_to_known(aggregate, labels, studentized_interval(aggregate, labels, 0.9))
    if not np.isfinite(point):
        assert aggregate == "avg"
        return
    assert interval.low <= point + 1e-9 * abs(point) + 1e-12
    assert interval.high >= point - 1e-9 * abs(point) - 1e-12
    lowest, highest = known_bounds(aggregate, labels)
    assert interval.low >= lowest
    assert interval.high <= highest
    exact = bool((sizes == per_stratum).all())
    assert (interval.high - interval.low == 0.0) == exact  # zero width only when exact
