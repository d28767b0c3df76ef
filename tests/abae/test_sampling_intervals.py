"""Confidence intervals: bootstrap (percentile, BCa) and normal agree; corrections."""

from __future__ import annotations

import numpy as np
import pytest

from abae.sampling import LabelsByStratum, bootstrap_interval, normal_interval
from abae.sampling.intervals import bootstrap_replicates, bootstrap_scale


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
