"""The ground-truth oracle behind the built-in datasets."""

from __future__ import annotations

import time

import numpy as np
import pytest

from abae.datasets.ground_truth_oracle import GroundTruthOracle


@pytest.fixture
def oracle() -> GroundTruthOracle:
    predicate = np.array([True, False, True, False, False])
    statistic = np.array([0.5, 1.5, 2.5, 3.5, 4.5])
    return GroundTruthOracle(predicate, statistic, name="toy")


def test_returns_truth_for_requested_indices_in_order(oracle: GroundTruthOracle) -> None:
    predicate, statistic = oracle(np.array([4, 0, 2], dtype=np.int64))
    assert predicate.dtype == np.bool_
    assert statistic.dtype == np.float64
    np.testing.assert_array_equal(predicate, [False, True, True])
    np.testing.assert_array_equal(statistic, [4.5, 0.5, 2.5])


def test_counts_every_record_labelled(oracle: GroundTruthOracle) -> None:
    oracle(np.array([1, 2]))
    oracle(np.array([1]))
    oracle(np.array([], dtype=np.int64))
    assert oracle.records_labelled == 3


def test_sleeps_latency_per_record() -> None:
    slow = GroundTruthOracle(np.zeros(10, bool), np.zeros(10), latency_s=0.02)
    started = time.perf_counter()
    slow(np.arange(5))
    assert time.perf_counter() - started >= 0.1


def test_answers_are_copies_not_views(oracle: GroundTruthOracle) -> None:
    predicate, _ = oracle(np.array([0]))
    predicate[0] = False
    assert oracle(np.array([0]))[0][0]


@pytest.mark.parametrize(
    ("indices", "message"),
    [
        (np.array([0, 5]), "outside 0..4"),
        (np.array([-1]), "outside 0..4"),
        (np.array([[0, 1]]), "1-D"),
        (np.array([0.0, 1.0]), "integers"),
    ],
)
def test_bad_indices_are_named(
    oracle: GroundTruthOracle, indices: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        oracle(indices)


def test_bad_construction_is_explained() -> None:
    with pytest.raises(ValueError, match="3 records but statistic has 2"):
        GroundTruthOracle(np.zeros(3, bool), np.zeros(2))
    with pytest.raises(ValueError, match="bool"):
        GroundTruthOracle(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        GroundTruthOracle(np.zeros(2, bool), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="latency_s"):
        GroundTruthOracle(np.zeros(2, bool), np.zeros(2), latency_s=-1)
