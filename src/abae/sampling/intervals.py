"""Confidence intervals for stratified estimates: the result type, the normal interval, bounds.

Every interval accounts for sampling without replacement: a stratum whose
records are all labelled contributes no uncertainty, so labelling everything
gives a zero-width interval. Missing labels are missing at random within
their stratum; a positive's missing statistic adds the uncertainty of its
imputed value. The studentized default lives in
:mod:`abae.sampling.studentized`, the bootstrap in :mod:`abae.sampling.bootstrap`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from abae.sampling.stratified_labels import LabelsByStratum, point_estimate, stratum_rates
from abae.sampling.stratum_stats import StratumStats

_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]`` and notes on how it was obtained."""

    low: float
    high: float
    warnings: list[str] = field(default_factory=list)


def single_label_warnings(labels: LabelsByStratum, stats: StratumStats) -> list[str]:
    """Warnings for strata whose variance cannot be estimated (one usable label)."""
    lonely = np.flatnonzero((stats.labelled == 1) & (labels.sizes > 1))
    return [
        f"stratum {k} has a single label: its sampling variance cannot be estimated from "
        "its own sample"
        for k in lonely.tolist()
    ]


def linearised_variance(aggregate: str, labels: LabelsByStratum, point: float) -> float:
    """The estimate's linearised (Taylor) variance, missing labels accounted for.

    ``Σ_k w_k² [(1 − n_k/N_k) s_k² / n_k + p̂_k² σ̂_k² (1/b_k − 1/a_k)]`` with
    ``w_k = N_k`` (over ``Σ N_k p̂_k`` for AVG), ``s_k²`` the sample variance
    of the linearised residual ``O(f − c)`` (``c`` the AVG estimate for AVG, 0
    for SUM; ``O`` for COUNT) over the ``n_k`` labels with a known predicate,
    where a positive's missing statistic is imputed by its stratum's mean and
    adds the stratum's variance ``σ̂_k²`` to the sum of squares; the last term
    is the uncertainty of the ``a_k − b_k`` imputed statistics. Strata with a
    single label add nothing (their variance cannot be estimated).
    """
    k = labels.sizes.shape[0]
    stats = labels.stats()
    rates = stratum_rates(stats, labels.sizes)
    usable = labels.usable()
    positive = labels.predicate & usable
    measured = labels.measured()
    mean = np.nan_to_num(rates.mean)[labels.stratum]
    f = np.where(measured, labels.statistic, mean)
    if aggregate == "count":
        residual = positive.astype(np.float64)
    else:
        centre = point if aggregate == "avg" else 0.0
        residual = np.where(positive, f - centre, 0.0)
    residual = np.where(usable, residual, 0.0)
    n = stats.labelled.astype(np.float64)
    a = stats.positives.astype(np.float64)
    b = stats.measured_positives.astype(np.float64)
    sigma2 = np.nan_to_num(stats.std) ** 2 if aggregate != "count" else np.zeros(k)
    sum_r = np.bincount(labels.stratum, weights=residual, minlength=k)
    sum_r2 = np.bincount(labels.stratum, weights=residual * residual, minlength=k)
    weight = labels.sizes.astype(np.float64)
    if aggregate == "avg":
        weight = weight / float(np.dot(labels.sizes, rates.p))
    with np.errstate(invalid="ignore", divide="ignore"):
        squares = np.maximum(sum_r2 - sum_r**2 / n, 0.0) + (a - b) * sigma2
        s2 = squares / (n - 1.0)
        fpc = np.clip(1.0 - n / labels.sizes, 0.0, 1.0)
        sampling = np.where(n > 1, weight**2 * fpc * s2 / n, 0.0)
        imputed = np.where(b > 0, weight**2 * rates.p**2 * sigma2 * (1.0 / b - 1.0 / a), 0.0)
    return float(np.sum(sampling) + np.sum(np.where(a > b, imputed, 0.0)))


def normal_interval(aggregate: str, labels: LabelsByStratum, confidence: float) -> Interval:
    """Normal interval ``θ̂ ± z·√V`` from :func:`linearised_variance`."""
    warnings = single_label_warnings(labels, labels.stats())
    point = point_estimate(aggregate, labels)
    if not np.isfinite(point):
        return Interval(np.nan, np.nan, warnings)
    variance = linearised_variance(aggregate, labels, point)
    half = _STANDARD_NORMAL.inv_cdf(0.5 + confidence / 2.0) * np.sqrt(variance)
    return Interval(point - half, point + half, warnings)


def known_bounds(aggregate: str, labels: LabelsByStratum) -> tuple[float, float]:
    """What the labels prove about the answer, whatever the unlabelled records hold.

    COUNT lies between the positives seen and the records not seen negative.
    SUM lies above the sum of the statistics seen when every statistic seen is
    non-negative (below it when every one is non-positive): the unseen records
    are assumed to share the sign. AVG: no bound, ``(-inf, inf)``.

    Returns:
        ``(lowest, highest)``.
    """
    usable = labels.usable()
    positive = labels.predicate & usable
    if aggregate == "count":
        seen_negative = int(np.count_nonzero(usable & ~labels.predicate))
        return float(positive.sum()), float(labels.sizes.sum() - seen_negative)
    if aggregate == "sum":
        values = labels.statistic[labels.measured()]
        if values.size and (values >= 0).all():
            return float(values.sum()), np.inf
        if values.size and (values <= 0).all():
            return -np.inf, float(values.sum())
    return -np.inf, np.inf


def clip_to_known(aggregate: str, labels: LabelsByStratum, interval: Interval) -> Interval:
    """``interval`` intersected with :func:`known_bounds` (NaN bounds stay NaN)."""
    lowest, highest = known_bounds(aggregate, labels)
    low = interval.low if np.isnan(interval.low) else max(interval.low, lowest)
    high = interval.high if np.isnan(interval.high) else min(interval.high, highest)
    return Interval(low, high, interval.warnings)
