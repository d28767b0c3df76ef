"""The labels of a stratified sample grouped by stratum, and the point estimate they give."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abae.sampling.estimators import combine_strata
from abae.sampling.stratum_stats import StratumStats, stratum_stats


@dataclass(frozen=True, eq=False)
class LabelsByStratum:
    """Labels of a stratified sample (arrays ``(n,)``) and the strata sizes ``(K,)``.

    A census stratum (every record labelled, e.g. the known pilot labels) is a
    stratum like the others whose labels number its size: it adds no sampling
    variance.

    Attributes:
        sizes: records per stratum ``N_k``, int64 ``(K,)``.
        stratum: the stratum of each label, int64 in ``[0, K)``.
        predicate: bool; ignored where ``missing``.
        statistic: float64; ignored where the predicate is false, NaN on a
            positive means its statistic is missing.
        missing: bool, True where the predicate label is missing (left out of
            its stratum as missing at random); ``None``: none is.
        planning: statistics of labels outside the sample that describe each
            stratum (known labels placed by their planning score), shape ``(K,)``;
            used only to judge a stratum whose sample saw no positive, never
            in the estimate; ``None``: none.
    """

    sizes: npt.NDArray[np.int64]
    stratum: npt.NDArray[np.int64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]
    missing: npt.NDArray[np.bool_] | None = None
    planning: StratumStats | None = None

    def stats(self) -> StratumStats:
        """Per-stratum sufficient statistics (missing labels left out)."""
        return stratum_stats(
            self.stratum, self.predicate, self.statistic, self.sizes.shape[0], self.missing
        )

    def usable(self) -> npt.NDArray[np.bool_]:
        """Labels with a known predicate, bool ``(n,)``."""
        if self.missing is None:
            return np.ones(self.stratum.shape, np.bool_)
        return ~self.missing

    def measured(self) -> npt.NDArray[np.bool_]:
        """Positives with a known statistic, bool ``(n,)``."""
        return self.usable() & self.predicate & np.isfinite(self.statistic)


@dataclass(frozen=True, eq=False)
class StratumRates:
    """Per-stratum quantities of the point estimate, arrays ``(K,)``.

    Attributes:
        p: positive rate ``p̂_k``; where a stratum has no usable label (all
            missing), the pooled rate of the other strata (``unlabelled``).
        mean: mean statistic over positives ``m̂_k``; where a stratum has
            positives but none with a known statistic (``imputed``), or no usable
            label, the pooled mean of the other strata; NaN without positives.
        product: ``t̂_k = p̂_k m̂_k`` (0 without positives).
        imputed: bool, strata with positives whose mean was borrowed.
        unlabelled: bool, strata without a usable label, whose rate was borrowed.
    """

    p: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    product: npt.NDArray[np.float64]
    imputed: npt.NDArray[np.bool_]
    unlabelled: npt.NDArray[np.bool_]


def stratum_rates(stats: StratumStats, sizes: npt.NDArray[np.int64]) -> StratumRates:
    """The per-stratum rates, means and products of :class:`StratumRates`.

    A stratum without a usable label borrows the size-weighted rate of the
    labelled strata, and a stratum without a known statistic the mean of the
    others weighted by their estimated positives ``N_k p̂_k``: such a borrowed
    value is a guess (the caller warns about it), not an estimate of that stratum.

    Args:
        stats: the strata's statistics.
        sizes: stratum sizes ``N_k``, shape ``(K,)``.
    """
    unlabelled = stats.labelled == 0
    p = stats.p
    if unlabelled.any():
        weight = np.where(unlabelled, 0.0, sizes.astype(np.float64))
        pooled_p = (
            float(np.dot(weight, np.nan_to_num(p)) / weight.sum()) if weight.sum() else np.nan
        )
        p = np.where(unlabelled, pooled_p, p)
    mean = stats.mean
    imputed = (stats.positives > 0) & (stats.measured_positives == 0)
    borrow = imputed | unlabelled
    if borrow.any():
        weight = np.where(np.isfinite(mean), sizes * p, 0.0)
        pooled = (
            float(np.dot(weight, np.nan_to_num(mean)) / weight.sum()) if weight.sum() else np.nan
        )
        mean = np.where(borrow, pooled, mean)
    with np.errstate(invalid="ignore"):
        product = np.where((stats.positives > 0) | (unlabelled & (p > 0)), p * mean, 0.0)
    return StratumRates(p=p, mean=mean, product=product, imputed=imputed, unlabelled=unlabelled)


def point_estimate(aggregate: str, labels: LabelsByStratum) -> float:
    """The stratified estimate of ``aggregate`` from ``labels`` (NaN where undefined)."""
    rates = stratum_rates(labels.stats(), labels.sizes)
    return float(combine_strata(aggregate, labels.sizes, rates.p, rates.product))
