"""How well a proxy ranks records: the area under the ROC curve (AUC).

ABae only uses the order of proxy scores, so AUC — the probability that a
random positive outscores a random negative — is the proxy's natural measure.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def average_ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks of ``values`` (N,), tied values sharing their average rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1
    return (first_rank + (counts - 1) / 2.0)[inverse]


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """AUC of ``scores`` (N,) against bool/0-1 ``labels`` (N,); ties count one half.

    Computed from ranks (the Mann–Whitney U statistic) in O(N log N).

    Raises:
        ValueError: mismatched shapes, non-finite scores, or labels of one class only.
    """
    score_array = np.asarray(scores, dtype=np.float64)
    label_array = np.asarray(labels)
    if score_array.ndim != 1 or label_array.shape != score_array.shape:
        raise ValueError(
            f"roc_auc needs 1-D scores and labels of one length, got shapes "
            f"{score_array.shape} and {label_array.shape}"
        )
    if not np.all(np.isfinite(score_array)):
        raise ValueError("roc_auc: scores hold NaN or infinite values")
    positive = label_array.astype(bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"roc_auc needs both classes, got {n_pos} positives and {n_neg} negatives")
    ranks = average_ranks(score_array)
    u_statistic = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u_statistic / (n_pos * n_neg))
