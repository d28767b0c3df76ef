"""A conservative interval for COUNT and SUM when the sample holds few positives.

With few positives the estimate is a weighted sum of a few rare events, and
intervals built on its variance (normal, t, bootstrap) are unreliable: with
no positive at all they have zero width. This module gives the gamma
interval of Fay and Feuer (1997) for weighted sums of Poisson counts, which
treats each positive in a sampled stratum as a Poisson event of weight
``N_k/n_k`` (times its statistic for SUM) and is conservative by construction.
"""

from __future__ import annotations

import math

import numpy as np

from abae.sampling.distributions import gamma_quantile
from abae.sampling.intervals import Interval
from abae.sampling.stratified_labels import LabelsByStratum, stratum_rates


def poisson_gamma_interval(aggregate: str, labels: LabelsByStratum, confidence: float) -> Interval:
    """Fay-Feuer gamma interval for COUNT, or SUM of a non-negative statistic.

    With event weights ``w_i = N_k/n_k`` (COUNT) or ``N_k f_i/n_k`` (SUM; a
    missing statistic counts at its stratum's mean) over the positives of the
    sampled strata, ``y = Σ w_i``, ``v = Σ w_i²`` and ``w_M`` the largest weight
    one more positive could carry (the largest ``N_k/n_k``, times the largest
    statistic seen for SUM):

    - lower ``= (v/y)·G⁻¹(α/2; y²/v)`` (0 when ``y = 0``),
    - upper ``= ((v + w_M²)/(y + w_M))·G⁻¹(1 − α/2; (y + w_M)²/(v + w_M²))``,

    where ``G⁻¹(q; a)`` is the Gamma(a) quantile, plus the exact total of fully
    labelled strata. For SUM of a statistic that may be negative, or that was
    never seen, the interval is unbounded above (and below for negatives).

    Example:
        >>> labels = LabelsByStratum(np.array([1000]), np.zeros(100, np.int64),
        ...                          np.zeros(100, bool), np.full(100, np.nan))
        >>> interval = poisson_gamma_interval("count", labels, 0.95)
        >>> interval.low, round(interval.high, 1)  # no positive in 100 of 1000 records
        (0.0, 36.9)
    """
    if aggregate not in ("count", "sum"):
        raise ValueError(f"the gamma interval is for 'count' and 'sum', got {aggregate!r}")
    stats = labels.stats()
    rates = stratum_rates(stats, labels.sizes)
    n = stats.labelled.astype(np.float64)
    sampled = n < labels.sizes
    exact_rates = np.where(sampled, 0.0, rates.p if aggregate == "count" else rates.product)
    shift = float(np.dot(labels.sizes, np.nan_to_num(exact_rates)))
    with np.errstate(invalid="ignore", divide="ignore"):
        stratum_weight = np.where(sampled & (n > 0), labels.sizes / n, 0.0)
    positive = labels.usable() & labels.predicate
    event = positive & sampled[labels.stratum]
    weight = stratum_weight[labels.stratum]
    largest = float(np.max(np.where(sampled, labels.sizes / np.maximum(n, 1.0), 0.0)))
    if aggregate == "sum":
        seen = labels.statistic[labels.measured()]
        if seen.size == 0 or (seen < 0).any():
            return Interval(-math.inf if (seen < 0).any() else shift, math.inf)
        mean = np.nan_to_num(rates.mean)[labels.stratum]
        value = np.where(np.isfinite(labels.statistic), labels.statistic, mean)
        weight = weight * value
        largest *= float(seen.max())
    alpha = 1.0 - confidence
    if largest <= 0.0:  # no record left that could add to the total
        return Interval(shift + float(weight[event].sum()), shift + float(weight[event].sum()))
    # In units of the largest weight, so that squares neither underflow nor overflow.
    w = weight[event] / largest
    y, v = float(w.sum()), float(np.dot(w, w))
    low = 0.0 if y <= 0.0 or v <= 0.0 else v / y * gamma_quantile(alpha / 2.0, y * y / v)
    grown_v, grown_y = v + 1.0, y + 1.0
    high = grown_v / grown_y * gamma_quantile(1.0 - alpha / 2.0, grown_y**2 / grown_v)
    return Interval(shift + largest * low, shift + largest * high)
