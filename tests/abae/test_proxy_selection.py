"""Choosing a proxy by cross-validated AUC: folds, candidates, cross-fitted scores, weak proxies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abae.proxy import PilotTooSmallError, roc_auc, select_proxy
from abae.proxy.backbone import ProxyNetwork
from abae.proxy.candidates import FineTuning, PilotImages, PixelLogistic, network_logits
from abae.proxy.cross_validation import fold_count, stratified_folds
from abae.proxy.image_spec import ImageSpec
from abae.proxy.logistic_regression import fit_logistic, fit_logistic_path
from abae.proxy.pilot_scores import align_to_scores
from abae.proxy.selection import SelectionSettings, build_candidates
from numerics import assert_close_across_paths, assert_same_path

SMALL_NETWORK = ProxyNetwork(model_kwargs={"embed_dim": 16, "depth": 1})
QUICK = FineTuning(max_epochs=8, batch_size=16)


def brighter_half(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """16×16 images, each half one random brightness plus noise; true when the left is brighter.

    Linear in the pixels (left mean minus right mean), so logistic regression on
    pixels is nearly perfect from a few dozen labels, while a network trained from
    scratch on as few labels is not.
    """
    rng = np.random.default_rng(seed)
    left, right = rng.uniform(40, 200, n), rng.uniform(40, 200, n)
    images = np.empty((n, 16, 16))
    images[:, :, :8] = left[:, None, None]
    images[:, :, 8:] = right[:, None, None]
    images += rng.normal(0, 25, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8), left > right


def test_selection_picks_a_proxy_within_001_auc_of_the_best_candidate() -> None:
    images, labels = brighter_half(60, seed=0)
    test_images, test_labels = brighter_half(2000, seed=1)
    spec = ImageSpec.of_batch(images)
    pilot = PilotImages(spec.to_pixels(images), labels, spec)
    folds = stratified_folds(labels, 3, np.random.default_rng(0))
    names = ("afno_scratch", "pixels_logistic")
    candidates = build_candidates(
        names, spec, backbone=None, network=SMALL_NETWORK, fine_tuning=QUICK, seed=0
    )
    held_out = {}
    for candidate in candidates:
        network = candidate.fit_final(pilot, candidate.cross_validate(pilot, folds))
        held_out[candidate.name] = roc_auc(
            network_logits(network, spec.to_tensor(test_images)), test_labels
        )
    # The collection is what the test is about: pixels nearly perfect, scratch far from it.
    assert held_out["pixels_logistic"] > 0.98
    assert held_out["afno_scratch"] < held_out["pixels_logistic"] - 0.1
    chosen = select_proxy(
        images,
        labels,
        network=SMALL_NETWORK,
        settings=SelectionSettings(candidates=names, folds=3, fine_tuning=QUICK),
    )
    chosen_auc = roc_auc(chosen.proxy.score_batch(test_images), test_labels)
    assert chosen_auc >= max(held_out.values()) - 0.01
    assert chosen.chosen == "pixels_logistic"
    assert (
        chosen.cv_auc == chosen.results["pixels_logistic"].auc > chosen.results["afno_scratch"].auc
    )


def test_out_of_fold_scores_come_from_models_that_never_saw_the_record() -> None:
    images, labels = brighter_half(48, seed=2)
    spec = ImageSpec.of_batch(images)
    pilot = PilotImages(spec.to_pixels(images), labels, spec)
    folds = stratified_folds(labels, 4, np.random.default_rng(3))
    candidate = PixelLogistic()
    result = candidate.cross_validate(pilot, folds)
    features = candidate.features(pilot)
    penalty = float(result.setting["penalty"])
    for fold in range(4):
        train, held = folds != fold, folds == fold
        # The same fit on the fold's complement alone, through the same path.
        models = fit_logistic_path(features[train], labels[train], candidate.penalties)
        model = models[candidate.penalties.index(penalty)]
        assert_same_path(result.out_of_fold[held], model.logits(features[held]))


def test_selection_is_deterministic_given_its_seed() -> None:
    images, labels = brighter_half(40, seed=4)
    options = {"candidates": ("pixels_logistic",), "settings": SelectionSettings(seed=3)}
    first = select_proxy(images, labels, **options)  # type: ignore[arg-type]
    second = select_proxy(images, labels, **options)  # type: ignore[arg-type]
    assert_same_path(first.out_of_fold_scores, second.out_of_fold_scores)
    assert_same_path(first.proxy.score_batch(images), second.proxy.score_batch(images))


def test_cross_fitted_scores_are_calibrated_probabilities_in_pilot_order() -> None:
    images, labels = brighter_half(60, seed=5)
    chosen = select_proxy(images, labels, candidates=("pixels_logistic",))
    scores = chosen.out_of_fold_scores
    assert scores.shape == (60,)
    assert np.all((scores > 0) & (scores < 1))
    assert roc_auc(scores, labels) == pytest.approx(chosen.cv_auc)
    assert chosen.proxy.metadata["candidates"]["pixels_logistic"]["cv_auc"] == chosen.cv_auc
    assert chosen.warnings == []
    assert not chosen.weak


def test_a_weak_proxy_is_flagged_so_the_engine_can_ignore_it() -> None:
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (80, 8, 8), dtype=np.uint8)
    labels = rng.random(80) < 0.5  # unrelated to the images
    chosen = select_proxy(images, labels, candidates=("pixels_logistic",))
    assert chosen.cv_auc < 0.6
    assert chosen.weak
    assert "allocate as if there were no proxy" in chosen.warnings[0]
    assert chosen.proxy.metadata["warnings"] == chosen.warnings


def test_too_few_positives_for_cross_validation_is_a_clear_error() -> None:
    images, labels = brighter_half(30, seed=7)
    labels[:] = False
    labels[0] = True
    with pytest.raises(PilotTooSmallError, match="1 positive and 29 negative"):
        select_proxy(images, labels, candidates=("pixels_logistic",))
    with pytest.raises(ValueError, match="start from a pretrained backbone"):
        select_proxy(*brighter_half(30, seed=7), candidates=("afno_linear_probe",))
    with pytest.raises(ValueError, match="non-empty subset"):
        SelectionSettings(candidates=("random_forest",))


@settings(max_examples=40, deadline=None)
@given(
    positives=st.integers(2, 30),
    negatives=st.integers(2, 30),
    wanted=st.integers(2, 8),
    seed=st.integers(0, 10_000),
)
def test_stratified_folds_partition_the_pilot_evenly(
    positives: int, negatives: int, wanted: int, seed: int
) -> None:
    labels = np.array([True] * positives + [False] * negatives)
    np.random.default_rng(seed).shuffle(labels)
    folds = fold_count(labels, wanted)
    assert folds == min(wanted, positives, negatives)
    assignment = stratified_folds(labels, folds, np.random.default_rng(seed))
    assert set(assignment.tolist()) == set(range(folds))
    for value in (True, False):
        counts = np.bincount(assignment[labels == value], minlength=folds)
        assert counts.max() - counts.min() <= 1
        assert counts.min() >= 1


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(st.floats(-5, 5), min_size=1, max_size=40),
    reference=st.lists(st.floats(0, 1), min_size=1, max_size=60),
)
def test_aligned_scores_keep_the_order_and_the_reference_range(
    scores: list[float], reference: list[float]
) -> None:
    aligned = align_to_scores(np.array(scores), np.array(reference))
    order = np.argsort(scores, kind="stable")
    assert np.all(np.diff(aligned[order]) >= -1e-12)
    assert min(reference) - 1e-12 <= aligned.min() <= aligned.max() <= max(reference) + 1e-12


def test_logistic_regression_reaches_its_optimum() -> None:
    rng = np.random.default_rng(8)
    features = rng.normal(size=(300, 5)) * [1, 10, 0.1, 1, 1] + [0, 5, 0, 0, 0]
    labels = features[:, 0] + 0.1 * features[:, 1] + rng.normal(size=300) > 0.5
    model = fit_logistic(features, labels, penalty=0.01)
    standardised = (features - model.mean) / model.scale
    probabilities = 1 / (1 + np.exp(-model.logits(features)))
    gradient = standardised.T @ (probabilities - labels) / 300 + 0.01 * model.weights
    assert np.abs(gradient).max() < 1e-6
    assert abs((probabilities - labels).mean()) < 1e-6
    weights, bias = model.raw_weights()
    assert_close_across_paths(features @ weights + bias, model.logits(features))
    with pytest.raises(ValueError, match="both classes"):
        fit_logistic(features, np.zeros(300, bool), penalty=0.01)
