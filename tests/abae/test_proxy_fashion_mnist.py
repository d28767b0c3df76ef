"""A proxy trained on 2,000 Fashion-MNIST pilot labels ranks ``is_footwear`` well (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from abae.datasets.fashion_mnist import DEFAULT_DIR, load_fashion_mnist, predicate_truth
from abae.proxy import roc_auc, train_proxy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (DEFAULT_DIR / "train-images-idx3-ubyte.gz").is_file(),
        reason="Debian package dataset-fashion-mnist is not installed",
    ),
]


def test_footwear_proxy_from_2000_pilot_labels_ranks_the_test_split() -> None:
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    pilot = np.random.default_rng(0).choice(len(train.labels), 2000, replace=False)
    proxy = train_proxy(
        train.images[pilot],
        predicate_truth(train.labels[pilot], "is_footwear"),
        seed=0,
        progress=False,
    )
    truth = predicate_truth(test.labels, "is_footwear")
    scores = proxy.score(test.images, progress=False)
    assert roc_auc(scores, truth) > 0.95
    # Calibrated: the mean score is close to the true share of footwear (0.3).
    assert scores.mean() == pytest.approx(truth.mean(), abs=0.05)
