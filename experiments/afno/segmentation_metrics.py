"""Intersection over union per class and its mean (mIoU), from a confusion matrix."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor


def confusion_matrix(predicted: Tensor, target: Tensor, num_classes: int) -> NDArray[np.int64]:
    """Counts ``(K, K)``: row = true class, column = predicted class, over all pixels.

    Args:
        predicted: int class indices ``(B, H, W)``.
        target: int class indices ``(B, H, W)`` in ``0..K-1``.
        num_classes: ``K``.
    """
    if predicted.shape != target.shape:
        raise ValueError(
            f"predicted {tuple(predicted.shape)} and target {tuple(target.shape)} must match"
        )
    flat = target.reshape(-1).long() * num_classes + predicted.reshape(-1).long()
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    matrix: NDArray[np.int64] = counts.reshape(num_classes, num_classes).numpy().astype(np.int64)
    return matrix


def iou_per_class(confusion: NDArray[np.int64]) -> NDArray[np.float64]:
    """IoU of each class, ``TP / (TP + FP + FN)``; NaN for a class absent from both."""
    true_positive = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        iou: NDArray[np.float64] = np.where(union > 0, true_positive / union, np.nan)
    return iou


def mean_iou(confusion: NDArray[np.int64]) -> float:
    """Mean IoU over the classes present in the labels or the predictions."""
    return float(np.nanmean(iou_per_class(confusion)))
