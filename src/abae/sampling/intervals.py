"""Confidence intervals for stratified estimates: bootstrap within strata, or normal.

Every interval accounts for sampling without replacement: a stratum whose
records are all labelled contributes no uncertainty, so labelling everything
gives a zero-width interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from abae.sampling.estimators import combine_strata, linearised_residuals
from abae.sampling.stratum_stats import StratumStats, stratum_stats

_STANDARD_NORMAL = NormalDist()
_DRAWS_PER_CHUNK = 1 << 22


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]`` and notes on how it was obtained."""

    low: float
    high: float
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class LabelsByStratum:
    """Labels of a stratified sample (arrays ``(n,)``) and the strata sizes ``(K,)``."""

    sizes: npt.NDArray[np.int64]
    stratum: npt.NDArray[np.int64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]

    def stats(self) -> StratumStats:
        """Per-stratum sufficient statistics."""
        return stratum_stats(self.stratum, self.predicate, self.statistic, self.sizes.shape[0])


def bootstrap_scale(
    labelled: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Per-stratum factor applied to bootstrap deviations, shape ``(K,)``.

    ``sqrt((1 - n_k/N_k) · n_k/(n_k - 1))``: the finite-population correction
    times the small-sample correction of the with-replacement bootstrap (the
    rescaling bootstrap of Rao and Wu). 0 for fully labelled strata and for
    strata with a single label (whose variance cannot be estimated).
    """
    n = labelled.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt(np.clip(1.0 - n / sizes, 0.0, 1.0) * n / (n - 1.0))
    return np.where(labelled > 1, scale, 0.0)


def _single_label_warnings(labels: LabelsByStratum, stats: StratumStats) -> list[str]:
    lonely = np.flatnonzero((stats.labelled == 1) & (labels.sizes > 1))
    return [
        f"stratum {k} has a single label: its sampling variance cannot be estimated and "
        "is left out of the interval"
        for k in lonely.tolist()
    ]


def _resampled_sums(
    values: npt.NDArray[np.float64], counts: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """For each replicate ``b``, the sum of ``counts[b]`` draws (with replacement) from ``values``."""
    out = np.zeros(counts.shape[0], dtype=np.float64)
    if values.size == 0 or counts.max(initial=0) == 0:
        return out
    width = int(counts.max())
    rows = max(1, _DRAWS_PER_CHUNK // width)
    for start in range(0, counts.shape[0], rows):
        c = counts[start : start + rows]
        draws = values[rng.integers(0, values.size, size=(c.shape[0], width))]
        running = np.cumsum(draws, axis=1)
        picked = running[np.arange(c.shape[0]), np.maximum(c - 1, 0)]
        out[start : start + rows] = np.where(c > 0, picked, 0.0)
    return out


def bootstrap_replicates(
    aggregate: str, labels: LabelsByStratum, replicates: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Bootstrap replicates of the estimate, resampling labels within strata.

    Each stratum's labels are resampled with replacement, vectorised over
    replicates: the number of positives drawn is Binomial(n_k, p̂_k) and their
    statistic values are drawn from the stratum's positives, which is the same
    distribution as resampling all ``n_k`` labels but needs only about
    ``n_k p̂_k`` draws per replicate. Deviations from the point estimate's
    stratum rates are rescaled by :func:`bootstrap_scale`.

    Returns:
        float64 ``(replicates,)`` (NaN where AVG has no positive in a replicate).
    """
    stats = labels.stats()
    k = labels.sizes.shape[0]
    p_hat = stats.p
    t_hat = stats.mean_of_product
    scale = bootstrap_scale(stats.labelled, labels.sizes)
    p_star = np.empty((replicates, k))
    t_star = np.empty((replicates, k))
    f = np.where(labels.predicate, labels.statistic, 0.0)
    for j in range(k):
        n_j = int(stats.labelled[j])
        if scale[j] == 0.0:
            p_star[:, j] = p_hat[j]
            t_star[:, j] = t_hat[j]
            continue
        in_stratum = (labels.stratum == j) & labels.predicate
        counts = rng.binomial(n_j, p_hat[j], size=replicates).astype(np.int64)
        sums = _resampled_sums(f[in_stratum], counts, rng)
        p_star[:, j] = p_hat[j] + scale[j] * (counts / n_j - p_hat[j])
        t_star[:, j] = t_hat[j] + scale[j] * (sums / n_j - t_hat[j])
    return combine_strata(aggregate, labels.sizes, p_star, t_star)


def bootstrap_interval(
    aggregate: str,
    labels: LabelsByStratum,
    confidence: float,
    rng: np.random.Generator,
    replicates: int = 1000,
    bca: bool = False,
) -> Interval:
    """Percentile (or BCa) bootstrap interval, resampling within strata.

    Args:
        aggregate: ``"avg"``, ``"sum"`` or ``"count"``.
        labels: the labelled sample.
        confidence: coverage probability in (0, 1).
        rng: randomness for the resampling.
        replicates: bootstrap replicates.
        bca: bias-corrected and accelerated (acceleration from the
            within-stratum jackknife) instead of plain percentiles.
    """
    stats = labels.stats()
    warnings = _single_label_warnings(labels, stats)
    point = float(combine_strata(aggregate, labels.sizes, stats.p, stats.mean_of_product))
    if not np.isfinite(point):
        return Interval(np.nan, np.nan, warnings)
    theta = bootstrap_replicates(aggregate, labels, replicates, rng)
    finite = theta[np.isfinite(theta)]
    if finite.size < theta.size:
        warnings.append(
            f"{theta.size - finite.size} of {theta.size} bootstrap replicates had no positive "
            "record and were left out of the interval"
        )
    if finite.size == 0:
        return Interval(np.nan, np.nan, warnings)
    if np.all(finite == point):
        return Interval(point, point, warnings)
    alpha = 1.0 - confidence
    levels = np.array([alpha / 2.0, 1.0 - alpha / 2.0])
    if bca:
        levels = _bca_levels(aggregate, labels, stats, point, finite, levels)
    low, high = np.quantile(finite, levels)
    return Interval(float(low), float(high), warnings)


def _bca_levels(
    aggregate: str,
    labels: LabelsByStratum,
    stats: StratumStats,
    point: float,
    theta: npt.NDArray[np.float64],
    levels: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Adjusted percentile levels of the BCa interval."""
    below = float(np.mean(theta < point)) + 0.5 * float(np.mean(theta == point))
    below = min(max(below, 0.5 / theta.size), 1.0 - 0.5 / theta.size)
    z0 = _STANDARD_NORMAL.inv_cdf(below)
    a = _jackknife_acceleration(aggregate, labels, stats, point)
    adjusted = []
    for level in levels.tolist():
        z = z0 + _STANDARD_NORMAL.inv_cdf(level)
        adjusted.append(_STANDARD_NORMAL.cdf(z0 + z / (1.0 - a * z)))
    return np.array(adjusted)


def _jackknife_acceleration(
    aggregate: str, labels: LabelsByStratum, stats: StratumStats, point: float
) -> float:
    """BCa acceleration from leave-one-out estimates within strata (closed form)."""
    n = stats.labelled[labels.stratum].astype(np.float64)
    f = np.where(labels.predicate, labels.statistic, 0.0)
    k = labels.sizes.shape[0]
    rows = np.arange(labels.stratum.shape[0])
    p = np.broadcast_to(stats.p, (rows.size, k)).copy()
    t = np.broadcast_to(stats.mean_of_product, (rows.size, k)).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        p[rows, labels.stratum] = (stats.positives[labels.stratum] - labels.predicate) / (n - 1.0)
        t[rows, labels.stratum] = (stats.sum_f[labels.stratum] - f) / (n - 1.0)
    leave_one_out = combine_strata(aggregate, labels.sizes, p, t)
    leave_one_out = np.where(np.isfinite(leave_one_out), leave_one_out, point)
    scale = bootstrap_scale(stats.labelled, labels.sizes)[labels.stratum]
    means = np.bincount(labels.stratum, weights=leave_one_out, minlength=k) / np.maximum(
        stats.labelled, 1
    )
    influence = np.where(scale > 0, (n - 1.0) * (means[labels.stratum] - leave_one_out), 0.0)
    second = float(np.sum(influence**2 / n**2))
    if second <= 0.0:
        return 0.0
    third = float(np.sum(influence**3 / n**3))
    acceleration: float = third / (6.0 * np.sqrt(second) ** 3)
    return acceleration


def normal_interval(aggregate: str, labels: LabelsByStratum, confidence: float) -> Interval:
    """Normal interval from the linearised (Taylor) variance of the estimator.

    ``Var = Σ_k N_k² (1 − n_k/N_k) s_k² / n_k``, where ``s_k²`` is the sample
    variance in stratum ``k`` of the residual from :func:`linearised_residuals`;
    for AVG it is divided by ``(Σ_k N_k p̂_k)²``.
    """
    stats = labels.stats()
    warnings = _single_label_warnings(labels, stats)
    point = float(combine_strata(aggregate, labels.sizes, stats.p, stats.mean_of_product))
    if not np.isfinite(point):
        return Interval(np.nan, np.nan, warnings)
    k = labels.sizes.shape[0]
    r = linearised_residuals(aggregate, labels.predicate, labels.statistic, point)
    n = stats.labelled.astype(np.float64)
    sum_r = np.bincount(labels.stratum, weights=r, minlength=k)
    sum_r2 = np.bincount(labels.stratum, weights=r * r, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        s2 = np.maximum(sum_r2 - sum_r**2 / n, 0.0) / (n - 1.0)
        fpc = np.clip(1.0 - n / labels.sizes, 0.0, 1.0)
        terms = labels.sizes.astype(np.float64) ** 2 * fpc * s2 / n
    variance = float(np.sum(np.where(stats.labelled > 1, terms, 0.0)))
    if aggregate == "avg":
        variance /= float(np.dot(labels.sizes, stats.p)) ** 2
    half = _STANDARD_NORMAL.inv_cdf(0.5 + confidence / 2.0) * np.sqrt(variance)
    return Interval(point - half, point + half, warnings)
