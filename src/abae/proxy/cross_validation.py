"""Folds of a labelled pilot, and the measures cross-validation reports on them.

The pilot is split into ``k`` folds stratified by label (each fold gets its
share of positives), so every fold can be scored by AUC. A candidate model is
fitted ``k`` times, each time on all folds but one, and scores the fold it did
not see: its *out-of-fold* (OOF) scores. Pooled over the folds they are a
score for every pilot record from a model that never saw its label (cross-fitted),
and their AUC against the labels is the candidate's cross-validated AUC.

Example:
    >>> import numpy as np
    >>> labels = np.array([True] * 4 + [False] * 8)
    >>> folds = stratified_folds(labels, 4, np.random.default_rng(0))
    >>> [int(labels[folds == f].sum()) for f in range(4)]
    [1, 1, 1, 1]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError
from abae.proxy.ranking_quality import roc_auc


class PilotTooSmallError(AbaeError, ValueError):
    """A pilot with too few labels, or too few of one class, to train and cross-validate on."""


def fold_count(labels: NDArray[np.bool_], wanted: int) -> int:
    """The folds a pilot supports: ``wanted``, or fewer when a class has fewer records.

    Raises:
        PilotTooSmallError: fewer than 2 positives or 2 negatives (no two folds
            could each hold both classes).
    """
    positives = int(labels.sum())
    negatives = int(labels.size - positives)
    folds = min(wanted, positives, negatives)
    if folds < 2:
        raise PilotTooSmallError(
            f"the pilot has {labels.size} labels: {positives} positive and {negatives} "
            "negative; a proxy needs at least 2 of each to be trained and cross-validated: "
            "label more pilot records (--pilot N or --pilot auto)"
        )
    return folds


def stratified_folds(
    labels: NDArray[np.bool_], folds: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """The fold (``0..folds-1``) of each record ``(n,)``: each class dealt round-robin
    over the folds in a random order, so fold sizes and positive counts differ by at most 1.

    Raises:
        ValueError: fewer than 2 folds, or a class with fewer records than folds.
    """
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    assignment = np.empty(labels.size, dtype=np.int64)
    offset = 0
    for value in (True, False):
        rows = np.flatnonzero(labels == value)
        if rows.size < folds:
            raise ValueError(f"{rows.size} records of class {value} cannot fill {folds} folds")
        assignment[rng.permutation(rows)] = (offset + np.arange(rows.size)) % folds
        offset += rows.size
    return assignment


def pooled_auc(out_of_fold: NDArray[np.float64], labels: NDArray[np.bool_]) -> float:
    """AUC of the pooled out-of-fold scores ``(n,)`` against the labels ``(n,)``."""
    return roc_auc(out_of_fold, labels)
