"""The default interval: studentized, with t degrees of freedom and a skewness correction.

Built for the small and skewed samples where a normal or percentile-bootstrap
interval undercovers: few positives, heavy-tailed statistics, rare predicates.
See ``docs/statistics.md`` for the formulas and the coverage measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abae.sampling.distributions import t_quantile
from abae.sampling.estimators import combine_strata, residual_moments
from abae.sampling.intervals import Interval
from abae.sampling.rare_events import poisson_gamma_interval
from abae.sampling.stratified_labels import LabelsByStratum, stratum_rates

FEW_POSITIVES = 10
"""Below this many positives in the sampled strata (with a known statistic, for AVG and SUM)
an interval is conservative: COUNT and SUM take the hull with the gamma interval."""

UNSEEN_POSITIVES = 0.1
"""A sampled stratum without a positive keeps the variance of this many positives among its
labels: no positive seen is not proof of none (the same pseudo-count as the robust allocation's)."""


@dataclass(frozen=True)
class StudentizedParts:
    """The pieces of a studentized interval (for reports and tests).

    Attributes:
        estimate: the point estimate.
        variance: estimated variance of the estimate (``inf`` when AVG or SUM
            has fewer than two positives with a known statistic).
        df: Satterthwaite degrees of freedom (``inf``: normal quantiles).
        skewness: ``λ``, the estimate's standardised third moment (Hall's transformation).
        positives: positives with a known statistic in the sample (all strata).
    """

    estimate: float
    variance: float
    df: float
    skewness: float
    positives: int


def _central_moments(
    values: npt.NDArray[np.float64], groups: npt.NDArray[np.int64], k: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per group: variance (``ddof=1``) and third central moment (``ddof=0``), arrays ``(k,)``."""
    count = np.bincount(groups, minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(groups, weights=values, minlength=k) / count
        deviation = values - mean[groups]
        v2 = np.bincount(groups, weights=deviation**2, minlength=k) / (count - 1.0)
        v3 = np.bincount(groups, weights=deviation**3, minlength=k) / count
    return v2, v3


def studentized_parts(
    aggregate: str,
    labels: LabelsByStratum,
    unseen_rates: npt.NDArray[np.float64] | None = None,
) -> StudentizedParts:
    """Variance, degrees of freedom and skewness of the stratified estimate.

    In stratum ``k`` (``n_k`` labels with a known predicate, ``a_k`` positives,
    ``b_k`` with a known statistic, size ``N_k``, weight ``w_k = N_k``, over
    ``Σ N_k p̂_k`` for AVG), the linearised residual ``r = O(f − c)`` (``c``
    the AVG estimate for AVG, 0 for SUM; ``r = O`` for COUNT) is 0 with
    probability ``1 − p̂_k`` and otherwise ``f − c`` with ``f`` distributed as
    the stratum's measured positives (all strata's measured positives pooled
    where the stratum has fewer than two). From its central moments ``μ2, μ3``
    (:func:`~abae.sampling.estimators.residual_moments`):

    - variance ``V = Σ_k w_k² (1 − n_k/N_k) μ2_k / (n_k − 1)
      + Σ_k w_k² p̂_k² σ̂_k² (1/b_k − 1/a_k)`` (the last term: statistics
      missing at random, imputed by the stratum mean); for COUNT and SUM a
      sampled stratum without a positive takes ``μ2`` at the rate ``(a'_k + 0.1)/(n_k + n'_k + 0.2)``
      (:data:`UNSEEN_POSITIVES`) instead of 0, with ``a'_k`` positives among
      ``n'_k`` planning labels of the stratum (``labels.planning``; known
      labels placed there) when there are any; with ``unseen_rates`` (e.g. a
      group's planned rate in each cell, for a domain estimate whose domain is
      absent from most cells) the smaller of that rate and the pseudo-count rate;
    - degrees of freedom (Satterthwaite) from the part of each stratum's
      variance that comes from the spread of the statistic,
      ``p̂_k σ̂_k² / μ2_k`` of it, estimated on ``b_k − 1`` degrees of freedom;
      the rest (the rate) has no t penalty, its error is the skewness below;
    - skewness ``λ = Σ_k w_k³ (1 − f_k)(1 − 2f_k) μ3_k / n_k² / V^{3/2}``
      (``f_k = n_k/N_k``), which also carries the correlation between the
      estimate and its variance estimate (Hall, 1992).
    """
    sizes = labels.sizes
    k = sizes.shape[0]
    stats = labels.stats()
    rates = stratum_rates(stats, sizes)
    point = float(combine_strata(aggregate, sizes, rates.p, rates.product))
    n = stats.labelled.astype(np.float64)
    a = stats.positives.astype(np.float64)
    b = stats.measured_positives.astype(np.float64)
    positives = int(b.sum())
    if aggregate == "count":
        d = np.ones(k)
        v2 = v3 = np.zeros(k)
    else:
        if positives < 2:
            return StudentizedParts(point, math.inf, math.inf, 0.0, positives)
        measured = labels.measured()
        f = labels.statistic[measured]
        pooled_v2, pooled_v3 = _central_moments(f, np.zeros(f.size, np.int64), 1)
        v2, v3 = _central_moments(f, labels.stratum[measured], k)
        few = b < 2
        v2 = np.where(few, pooled_v2[0], v2)
        v3 = np.where(few, pooled_v3[0], v3)
        centre = point if aggregate == "avg" else 0.0
        d = np.where(np.isfinite(rates.mean), rates.mean, float(np.mean(f))) - centre
    p = np.nan_to_num(rates.p)
    _, mu3, _ = residual_moments(p, d, v2, v3, 3.0 * v2**2)
    seen_a, seen_n = np.zeros(k), np.zeros(k)
    if labels.planning is not None:
        seen_a = labels.planning.positives.astype(np.float64)
        seen_n = labels.planning.labelled.astype(np.float64)
    floor = (seen_a + UNSEEN_POSITIVES) / (n + seen_n + 2.0 * UNSEEN_POSITIVES)
    if unseen_rates is not None:
        floor = np.minimum(floor, _per_stratum(unseen_rates, k))
    unseen_rate = np.where((a == 0) & (n < sizes) & (aggregate != "avg"), floor, 0.0)
    mu2, _, _ = residual_moments(np.maximum(p, unseen_rate), d, v2, v3, 3.0 * v2**2)
    weight = sizes.astype(np.float64)
    if aggregate == "avg":
        weight = weight / float(np.dot(sizes, rates.p))
    fraction = np.clip(n / sizes, 0.0, 1.0)
    sampled = fraction < 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        sample_var = np.where(
            sampled, weight**2 * (1.0 - fraction) * mu2 / np.maximum(n - 1.0, 1.0), 0.0
        )
        lost = (a > b) & (aggregate != "count")
        missing_var = np.where(
            lost,
            weight**2 * p**2 * v2 * np.where(b > 0, 1.0 / np.maximum(b, 1.0) - 1.0 / a, 1.0),
            0.0,
        )
        spread_share = np.where(mu2 > 0, p * v2 / mu2, 0.0) if aggregate != "count" else np.zeros(k)
        spread_df = np.maximum(np.where(b < 2, float(positives), b) - 1.0, 1.0)
        third = np.where(
            sampled,
            weight**3 * (1.0 - fraction) * (1.0 - 2.0 * fraction) * mu3 / np.maximum(n, 1.0) ** 2,
            0.0,
        )
    variance = float(sample_var.sum() + missing_var.sum())
    if variance <= 0.0:
        return StudentizedParts(point, 0.0, math.inf, 0.0, positives)
    uncertain = float(np.sum((sample_var * spread_share) ** 2 / spread_df))
    uncertain += float(np.sum(missing_var**2 / spread_df))
    df = variance**2 / uncertain if uncertain > 0 else math.inf
    skewness = float(third.sum()) / variance**1.5
    return StudentizedParts(point, variance, max(df, 1.0), skewness, positives)


def _per_stratum(rates: npt.ArrayLike, k: int) -> npt.NDArray[np.float64]:
    """``rates`` for the first strata, padded with 0 to ``k`` (a census stratum after them).

    Raises:
        ValueError: more rates than strata, or a rate outside [0, 1].
    """
    given = np.asarray(rates, dtype=np.float64)
    if given.ndim != 1 or given.shape[0] > k:
        raise ValueError(
            f"unseen_rates must hold one rate per sampled stratum (at most {k}), got shape "
            f"{given.shape}"
        )
    if not ((given >= 0.0) & (given <= 1.0)).all():
        raise ValueError(f"unseen_rates must be rates in [0, 1], got {given.tolist()}")
    return np.concatenate([given, np.zeros(k - given.shape[0])])


def _inverse_hall(y: float, skewness: float) -> float:
    """The ``x`` with ``g(x) = y``, ``g(x) = x + λx²/3 + λ²x³/27 + λ/6`` (Hall, 1992)."""
    if abs(skewness) < 1e-9:
        return y
    return 3.0 / skewness * (float(np.cbrt(1.0 + skewness * (y - skewness / 6.0))) - 1.0)


def sampled_positives(aggregate: str, labels: LabelsByStratum) -> int:
    """Positives in the strata not fully labelled (with a known statistic unless COUNT)."""
    stats = labels.stats()
    sampled = stats.labelled < labels.sizes
    counts = stats.positives if aggregate == "count" else stats.measured_positives
    return int(counts[sampled].sum())


def studentized_interval(
    aggregate: str,
    labels: LabelsByStratum,
    confidence: float,
    *,
    skew: bool = True,
    unseen_rates: npt.NDArray[np.float64] | None = None,
) -> Interval:
    """Studentized interval with t quantiles and Hall's skewness correction.

    ``[θ̂ − √V·x₊, θ̂ − √V·x₋]`` where ``x± = g⁻¹(±t)``, ``t`` the Student t
    quantile at the Satterthwaite degrees of freedom and ``g`` Hall's cubic
    transformation ``g(x) = x + λx²/3 + λ²x³/27 + λ/6`` with the estimate's
    skewness ``λ`` (see :func:`studentized_parts`; ``skew=False`` sets ``λ = 0``;
    ``unseen_rates``, float ``(K,)`` or shorter (census strata after them), caps
    the rate a sampled stratum without a positive is given for COUNT and SUM).

    Conservative rule: with fewer than :data:`FEW_POSITIVES` positives in the
    sampled strata, COUNT and SUM take the hull with
    :func:`~abae.sampling.rare_events.poisson_gamma_interval`; AVG (and SUM)
    is unbounded with fewer than two positives with a known statistic, and
    AVG without any positive (its estimate is then undefined, NaN). Zero width
    only when every record is labelled and nothing is missing.

    Example:
        >>> stratum = np.repeat([0, 1], 50)
        >>> predicate = np.arange(100) % 3 == 0
        >>> labels = LabelsByStratum(np.array([500, 500]), stratum, predicate, np.ones(100))
        >>> interval = studentized_interval("count", labels, 0.95)
        >>> bool(interval.low < 340 < interval.high)
        True
    """
    parts = studentized_parts(aggregate, labels, unseen_rates)
    point = parts.estimate
    stats = labels.stats()
    exact = bool(
        (stats.labelled == labels.sizes).all()
        and (stats.measured_positives == stats.positives).all()
    )
    if not np.isfinite(point):
        return Interval(np.nan, np.nan) if exact else Interval(-math.inf, math.inf)
    if exact:
        return Interval(point, point)
    if math.isinf(parts.variance):
        interval = Interval(-math.inf, math.inf)
    elif parts.variance == 0.0:
        interval = Interval(point, point)
    else:
        t = t_quantile(0.5 + confidence / 2.0, parts.df)
        lam = parts.skewness if skew else 0.0
        root = math.sqrt(parts.variance)
        interval = Interval(
            point - root * _inverse_hall(t, lam), point - root * _inverse_hall(-t, lam)
        )
    if aggregate != "avg" and sampled_positives(aggregate, labels) < FEW_POSITIVES:
        rare = poisson_gamma_interval(aggregate, labels, confidence)
        interval = Interval(min(interval.low, rare.low), max(interval.high, rare.high))
    return interval
