"""Bootstrap intervals that resample labels within strata (percentile or BCa)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from abae.sampling.estimators import combine_strata
from abae.sampling.intervals import Interval, single_label_warnings
from abae.sampling.stratified_labels import LabelsByStratum, StratumRates, stratum_rates
from abae.sampling.stratum_stats import StratumStats
from abae.sampling.validation import RandomState, check_rng

_STANDARD_NORMAL = NormalDist()
_DRAWS_PER_CHUNK = 1 << 22


def bootstrap_scale(
    labelled: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Per-stratum factor applied to bootstrap deviations, shape ``(K,)``.

    ``sqrt((1 - n_k/N_k) · n_k/(n_k - 1))``: the finite-population correction
    times the small-sample correction of the with-replacement bootstrap (the
    rescaling bootstrap of Rao and Wu). 0 for fully labelled strata and for
    strata with a single label (whose variance cannot be estimated).

    Example:
        >>> bootstrap_scale(np.array([10, 1]), np.array([10, 5])).tolist()
        [0.0, 0.0]
    """
    n = labelled.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt(np.clip(1.0 - n / sizes, 0.0, 1.0) * n / (n - 1.0))
    return np.where(labelled > 1, scale, 0.0)


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
    aggregate: str, labels: LabelsByStratum, replicates: int, rng: RandomState
) -> npt.NDArray[np.float64]:
    """Bootstrap replicates of the estimate, resampling labels within strata.

    Each stratum's usable labels (known predicate) are resampled with
    replacement, vectorised over replicates: the number of positives drawn is
    Binomial(n_k, p̂_k), how many of them have a known statistic is
    Binomial(positives, b_k/a_k), and those statistic values are drawn from
    the stratum's measured positives. That is the same distribution as
    resampling all ``n_k`` labels but needs only about ``n_k p̂_k`` draws per
    replicate. Deviations from the point estimate's stratum rates are rescaled
    by :func:`bootstrap_scale`.

    Returns:
        float64 ``(replicates,)`` (NaN where AVG has no positive in a replicate).
    """
    generator = check_rng(rng)
    stats = labels.stats()
    rates = stratum_rates(stats, labels.sizes)
    k = labels.sizes.shape[0]
    scale = bootstrap_scale(stats.labelled, labels.sizes)
    p_star = np.empty((replicates, k))
    t_star = np.empty((replicates, k))
    measured = labels.measured()
    for j in range(k):
        n_j = int(stats.labelled[j])
        if scale[j] == 0.0:
            p_star[:, j] = rates.p[j]
            t_star[:, j] = rates.product[j]
            continue
        counts = generator.binomial(n_j, rates.p[j], size=replicates).astype(np.int64)
        a_j, b_j = int(stats.positives[j]), int(stats.measured_positives[j])
        known = counts if b_j == a_j else generator.binomial(counts, b_j / max(a_j, 1))
        values = labels.statistic[(labels.stratum == j) & measured]
        sums = _resampled_sums(values, known, generator)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(known > 0, sums / known, np.nan_to_num(rates.mean[j]))
        raw_t = np.where(counts > 0, counts / n_j * means, 0.0)
        p_star[:, j] = rates.p[j] + scale[j] * (counts / n_j - rates.p[j])
        t_star[:, j] = rates.product[j] + scale[j] * (raw_t - rates.product[j])
    return combine_strata(aggregate, labels.sizes, p_star, t_star)


def bootstrap_interval(
    aggregate: str,
    labels: LabelsByStratum,
    confidence: float,
    rng: RandomState,
    replicates: int = 1000,
    bca: bool = False,
) -> Interval:
    """Percentile (or BCa) bootstrap interval, resampling within strata.

    Args:
        aggregate: ``"avg"``, ``"sum"`` or ``"count"``.
        labels: the labelled sample.
        confidence: coverage probability in (0, 1).
        rng: randomness for the resampling (an int seed, a Generator or None).
        replicates: bootstrap replicates.
        bca: bias-corrected and accelerated (acceleration from the
            within-stratum jackknife) instead of plain percentiles.
    """
    stats = labels.stats()
    warnings = single_label_warnings(labels, stats)
    rates = stratum_rates(stats, labels.sizes)
    point = float(combine_strata(aggregate, labels.sizes, rates.p, rates.product))
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
        levels = _bca_levels(aggregate, labels, stats, rates, point, finite, levels)
    low, high = np.quantile(finite, levels)
    return Interval(float(low), float(high), warnings)


def _bca_levels(
    aggregate: str,
    labels: LabelsByStratum,
    stats: StratumStats,
    rates: StratumRates,
    point: float,
    theta: npt.NDArray[np.float64],
    levels: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Adjusted percentile levels of the BCa interval."""
    below = float(np.mean(theta < point)) + 0.5 * float(np.mean(theta == point))
    below = min(max(below, 0.5 / theta.size), 1.0 - 0.5 / theta.size)
    z0 = _STANDARD_NORMAL.inv_cdf(below)
    a = _jackknife_acceleration(aggregate, labels, stats, rates, point)
    adjusted = []
    for level in levels.tolist():
        z = z0 + _STANDARD_NORMAL.inv_cdf(level)
        adjusted.append(_STANDARD_NORMAL.cdf(z0 + z / (1.0 - a * z)))
    return np.array(adjusted)


def _jackknife_acceleration(
    aggregate: str,
    labels: LabelsByStratum,
    stats: StratumStats,
    rates: StratumRates,
    point: float,
) -> float:
    """BCa acceleration from leave-one-out estimates within strata (closed form)."""
    usable = labels.usable()
    stratum = labels.stratum[usable]
    positive = labels.predicate[usable].astype(np.float64)
    measured = labels.measured()[usable]
    f = np.where(measured, labels.statistic[usable], 0.0)
    n = stats.labelled[stratum].astype(np.float64)
    k = labels.sizes.shape[0]
    rows = np.arange(stratum.shape[0])
    p = np.broadcast_to(rates.p, (rows.size, k)).copy()
    t = np.broadcast_to(rates.product, (rows.size, k)).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        p_out = (stats.positives[stratum] - positive) / (n - 1.0)
        b_out = stats.measured_positives[stratum] - measured
        m_out = np.where(
            b_out > 0, (stats.sum_f[stratum] - f) / b_out, np.nan_to_num(rates.mean[stratum])
        )
        p[rows, stratum] = p_out
        t[rows, stratum] = np.where(p_out > 0, p_out * m_out, 0.0)
    leave_one_out = combine_strata(aggregate, labels.sizes, p, t)
    leave_one_out = np.where(np.isfinite(leave_one_out), leave_one_out, point)
    scale = bootstrap_scale(stats.labelled, labels.sizes)[stratum]
    means = np.bincount(stratum, weights=leave_one_out, minlength=k) / np.maximum(stats.labelled, 1)
    influence = np.where(scale > 0, (n - 1.0) * (means[stratum] - leave_one_out), 0.0)
    second = float(np.sum(influence**2 / n**2))
    if second <= 0.0:
        return 0.0
    third = float(np.sum(influence**3 / n**3))
    acceleration: float = third / (6.0 * np.sqrt(second) ** 3)
    return acceleration
