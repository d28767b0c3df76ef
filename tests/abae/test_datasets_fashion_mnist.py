"""Fashion-MNIST's query ground truth: predicates, the ink statistic and the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from abae.datasets.fashion_mnist import (
    CLASS_NAMES,
    DEFAULT_DIR,
    PREDICATE_CLASSES,
    FashionMNIST,
    fashion_mnist_oracle,
    ink_coverage,
    load_fashion_mnist,
    predicate_truth,
)


def test_ink_coverage_is_the_share_of_pixels_above_threshold() -> None:
    images = np.zeros((2, 4, 4), dtype=np.uint8)
    images[0, :2, :] = 200  # half the pixels
    images[1, 0, 0] = 128  # exactly at the threshold: not ink
    np.testing.assert_allclose(ink_coverage(images, threshold=128), [0.5, 0.0])
    np.testing.assert_allclose(ink_coverage(images, threshold=127), [0.5, 1 / 16])


def test_ink_coverage_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8 images of shape"):
        ink_coverage(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        ink_coverage(np.zeros((1, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="threshold"):
        ink_coverage(np.zeros((1, 4, 4), dtype=np.uint8), threshold=255)


def test_footwear_is_sandal_sneaker_ankle_boot() -> None:
    names = {CLASS_NAMES[c] for c in PREDICATE_CLASSES["is_footwear"]}
    assert names == {"Sandal", "Sneaker", "Ankle boot"}
    labels = np.arange(10, dtype=np.int64)
    np.testing.assert_array_equal(np.flatnonzero(predicate_truth(labels, "is_footwear")), [5, 7, 9])


def test_unknown_predicate_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="is_footwear"):
        predicate_truth(np.arange(3), "is_hat")


def test_oracle_on_a_synthetic_split() -> None:
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[1, :14] = 255
    data = FashionMNIST(images=images, labels=np.array([5, 0, 9], dtype=np.int64))
    oracle = fashion_mnist_oracle(data, "is_footwear", latency_s=0.0)
    predicate, ink = oracle(np.array([2, 1, 0]))
    np.testing.assert_array_equal(predicate, [True, False, True])
    np.testing.assert_allclose(ink, [0.0, 0.5, 0.0])


@pytest.mark.skipif(
    not (DEFAULT_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_oracle_on_the_real_test_split() -> None:
    data = load_fashion_mnist("test")
    oracle = fashion_mnist_oracle(data)
    predicate, ink = oracle(np.arange(len(data.labels)))
    assert predicate.mean() == pytest.approx(0.3)  # 3 of 10 balanced classes
    assert ink.min() > 0.0
    assert ink.max() < 1.0
    # Footwear is drawn with less ink than the average garment.
    assert ink[predicate].mean() < ink[~predicate].mean()
