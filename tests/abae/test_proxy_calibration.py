"""Platt calibration and the AUC used to judge proxies."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abae.proxy import PlattCalibration, roc_auc


def test_platt_recovers_a_known_sigmoid() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, 20_000)
    labels = rng.random(20_000) < 1 / (1 + np.exp(-(0.5 * logits - 1.0)))
    fitted = PlattCalibration.fit(logits, labels)
    assert fitted.slope == pytest.approx(0.5, abs=0.03)
    assert fitted.intercept == pytest.approx(-1.0, abs=0.06)


def test_calibrated_probabilities_match_observed_rates() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, 50_000)
    labels = rng.random(50_000) < 1 / (1 + np.exp(-(2.0 * logits + 0.5)))
    probability = PlattCalibration.fit(logits, labels)(logits)
    for low in (0.1, 0.4, 0.7):
        in_bin = (probability >= low) & (probability < low + 0.1)
        assert labels[in_bin].mean() == pytest.approx(probability[in_bin].mean(), abs=0.02)


def test_separable_labels_give_a_finite_increasing_map() -> None:
    logits = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    labels = logits > 0
    fitted = PlattCalibration.fit(logits, labels)
    assert np.isfinite(fitted.slope)
    assert fitted.slope > 0
    assert np.all(np.diff(fitted(logits)) > 0)


def test_extreme_logits_do_not_overflow() -> None:
    probability = PlattCalibration(2.0, 0.0)(np.array([-1e4, 0.0, 1e4]))
    np.testing.assert_allclose(probability, [0.0, 0.5, 1.0])


def test_anti_ranking_proxy_falls_back_to_the_base_rate_and_keeps_the_order() -> None:
    logits = np.linspace(-3, 3, 200)
    labels = logits < -1.5  # a quarter positive, all at the low end
    fitted = PlattCalibration.fit(logits, labels)
    assert not fitted.informative
    probability = fitted(logits)
    np.testing.assert_allclose(probability, 51 / 202, rtol=1e-4)  # smoothed 50 of 200
    assert np.all(np.diff(probability) > 0)
    assert PlattCalibration.fit(logits, logits > 0).informative


def test_round_trip_and_bad_input() -> None:
    calibration = PlattCalibration(1.5, -0.25)
    assert PlattCalibration.from_dict(calibration.to_dict()) == calibration
    with pytest.raises(ValueError, match="1-D logits and labels of one length"):
        PlattCalibration.fit(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="0/1"):
        PlattCalibration.fit(np.zeros(2), np.array([0.0, 0.5]))
    with pytest.raises(ValueError, match="NaN"):
        PlattCalibration.fit(np.array([0.0, np.nan]), np.array([0, 1]))
    with pytest.raises(ValueError, match="at least one"):
        PlattCalibration.fit(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="finite"):
        PlattCalibration(np.inf, 0.0)


def brute_force_auc(scores: list[float], labels: list[bool]) -> float:
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(
        1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives)
    )
    return wins / (len(positives) * len(negatives))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5).map(float), st.booleans()), min_size=2, max_size=40
    ).filter(lambda pairs: 0 < sum(y for _, y in pairs) < len(pairs))
)
def test_auc_equals_pairwise_definition_with_ties(pairs: list[tuple[float, bool]]) -> None:
    scores, labels = [s for s, _ in pairs], [y for _, y in pairs]
    assert roc_auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels))


def test_auc_bad_input() -> None:
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="one length"):
        roc_auc([0.1, 0.2], [True])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([np.nan, 0.2], [True, False])
