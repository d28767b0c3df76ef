"""Training, scoring and determinism of proxies, on a toy task that trains in a second."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from abae.proxy import (
    ImageInputError,
    Proxy,
    default_patch_size,
    roc_auc,
    score_batch,
    train_proxy,
)
from numerics import assert_close_across_paths, assert_same_path

TINY = {"embed_dim": 16, "depth": 1}


def toy_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """16×16 grey noise; positives hold a bright 4×4 square. Returns images, labels, brightness."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (n, 16, 16), dtype=np.uint8)
    labels = rng.random(n) < 0.4
    brightness = rng.uniform(150, 255, n)
    rows, cols = rng.integers(0, 12, n), rng.integers(0, 12, n)
    for i in np.flatnonzero(labels):
        images[i, rows[i] : rows[i] + 4, cols[i] : cols[i] + 4] = brightness[i]
    return images, labels, np.where(labels, brightness, 0.0)


def train_toy(seed: int = 0, **kwargs: object) -> Proxy:
    images, labels, _ = toy_images(300, seed=1)
    options = {"epochs": 4, "batch_size": 32, "lr": 3e-3, "model_kwargs": TINY, "progress": False}
    options.update(kwargs)
    return train_proxy(images, labels, seed=seed, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def proxy() -> Proxy:
    return train_toy()


def test_classifier_ranks_unseen_images(proxy: Proxy) -> None:
    images, labels, _ = toy_images(400, seed=2)
    scores = proxy.score(images, progress=False)
    assert scores.dtype == np.float64
    assert scores.shape == (400,)
    assert np.all((scores > 0) & (scores < 1))
    assert roc_auc(scores, labels) > 0.9
    assert proxy.metadata["held_out_auc"] > 0.8
    assert proxy.metadata["held_out_size"] == 60


def test_same_seed_same_scores_bitwise() -> None:
    images, _, _ = toy_images(64, seed=3)
    first = train_toy(seed=5).score(images, progress=False)
    second = train_toy(seed=5).score(images, progress=False)
    third = train_toy(seed=6).score(images, progress=False)
    assert_same_path(first, second)
    assert not np.array_equal(first, third)


def test_scores_do_not_depend_on_batch_size(proxy: Proxy) -> None:
    images, _, _ = toy_images(50, seed=4)
    whole = proxy.score_batch(images)
    # Batches of 7 take other kernels than one batch of 50: equal within the cross-path rule.
    assert_close_across_paths(proxy.score(images, batch_size=7, progress=False), whole)
    assert_close_across_paths(proxy.score(images, batch_size=1, progress=False), whole)
    # The same batch again, and (N, H, W, 1) instead of (N, H, W), is the same path: bitwise.
    assert_same_path(proxy.score_batch(images), whole)
    assert_same_path(proxy.score_batch(images[..., None]), whole)


def test_calibration_keeps_the_ranking(proxy: Proxy) -> None:
    images, _, _ = toy_images(80, seed=5)
    raw = proxy.raw_outputs(images)
    scores = proxy.score_batch(images)
    assert np.array_equal(np.argsort(raw, kind="stable"), np.argsort(scores, kind="stable"))


def test_score_batch_is_pure_and_needs_eval_mode(proxy: Proxy) -> None:
    images, _, _ = toy_images(8, seed=6)
    tensor = proxy.spec.to_tensor(images)
    before = tensor.clone()
    out = score_batch(proxy.network, tensor)
    assert out.shape == (8,)
    assert out.dtype == torch.float32
    assert torch.equal(tensor, before)
    proxy.network.train()
    try:
        with pytest.raises(ValueError, match="eval mode"):
            score_batch(proxy.network, tensor)
    finally:
        proxy.network.eval()


def test_regressor_predicts_the_statistic() -> None:
    images, _labels, brightness = toy_images(300, seed=1)
    proxy = train_proxy(
        images,
        brightness,
        task="regress",
        epochs=6,
        batch_size=32,
        lr=3e-3,
        model_kwargs=TINY,
        progress=False,
    )
    assert proxy.task == "regress"
    assert proxy.calibration is None
    test_images, _, test_brightness = toy_images(200, seed=2)
    predicted = proxy.score(test_images, progress=False)
    assert np.corrcoef(predicted, test_brightness)[0, 1] > 0.8
    assert proxy.metadata["held_out_correlation"] > 0.8


def test_attention_mixer_trains_through_the_same_pipeline() -> None:
    proxy = train_toy(mixer="attention", epochs=2)
    assert proxy.metadata["mixer"] == "attention"
    assert proxy.network.config["mixer"] == "attention"


def test_scoring_rejects_images_of_another_size_or_mode(proxy: Proxy) -> None:
    with pytest.raises(ImageInputError, match=r"20×20 but the proxy reads 16×16 L"):
        proxy.score_batch(np.zeros((2, 20, 20), dtype=np.uint8))
    with pytest.raises(ImageInputError, match="RGB but the proxy reads L"):
        proxy.score_batch(np.zeros((2, 16, 16, 3), dtype=np.uint8))
    with pytest.raises(ImageInputError, match="uint8"):
        proxy.score_batch(np.zeros((2, 16, 16), dtype=np.float32))


def test_bad_pilots_are_explained() -> None:
    images, labels, _ = toy_images(40, seed=1)
    with pytest.raises(ValueError, match="one target per image"):
        train_proxy(images, labels[:-1], progress=False)
    with pytest.raises(ValueError, match="has 0 positives"):
        train_proxy(images, np.zeros(40, bool), progress=False)
    with pytest.raises(ValueError, match="too few"):
        train_proxy(images[:3], labels[:3], progress=False)
    with pytest.raises(ValueError, match="bool or 0/1"):
        train_proxy(images, np.full(40, 0.5), progress=False)
    with pytest.raises(ValueError, match="task"):
        train_proxy(images, labels, task="segment", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="calibration_share"):
        train_proxy(images, labels, calibration_share=1.0, progress=False)


@pytest.mark.parametrize(
    ("size", "patch"),
    [((28, 28), 4), ((16, 16), 4), ((256, 256), 16), ((96, 128), 8), ((30, 30), 3)],
)
def test_default_patch_size(size: tuple[int, int], patch: int) -> None:
    assert default_patch_size(*size) == patch
