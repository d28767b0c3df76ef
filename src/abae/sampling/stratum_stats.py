"""Per-stratum statistics of oracle labels: positive rate, mean and spread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, eq=False)
class StratumStats:
    """Sufficient statistics of the labels in each of ``K`` strata (arrays ``(K,)``).

    Attributes:
        labelled: labels in the stratum, ``n_k``.
        positives: labels with a true predicate.
        sum_f: sum of the statistic over positives, ``Σ O f``.
        sum_f2: sum of the squared statistic over positives, ``Σ O f²``.
    """

    labelled: npt.NDArray[np.int64]
    positives: npt.NDArray[np.int64]
    sum_f: npt.NDArray[np.float64]
    sum_f2: npt.NDArray[np.float64]

    @property
    def p(self) -> npt.NDArray[np.float64]:
        """Positive rate ``positives / labelled`` (NaN where nothing is labelled)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.positives / self.labelled

    @property
    def mean(self) -> npt.NDArray[np.float64]:
        """Mean statistic over positives (NaN where there is none)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.positives > 0, self.sum_f / self.positives, np.nan)

    @property
    def std(self) -> npt.NDArray[np.float64]:
        """Standard deviation (``ddof=1``) over positives (NaN with fewer than two)."""
        n = self.positives.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = self.sum_f2 - self.sum_f**2 / n
            variance = np.maximum(centred, 0.0) / (n - 1.0)
        return np.where(self.positives > 1, np.sqrt(variance), np.nan)

    @property
    def mean_of_product(self) -> npt.NDArray[np.float64]:
        """Mean of ``O·f`` over all labels, ``sum_f / labelled`` (NaN if unlabelled)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sum_f / self.labelled


def stratum_stats(
    stratum: npt.NDArray[np.int64],
    predicate: npt.NDArray[np.bool_],
    statistic: npt.NDArray[np.float64],
    k: int,
) -> StratumStats:
    """Summarise labels by stratum.

    Args:
        stratum: stratum of each label, ints in ``[0, k)``, shape ``(n,)``.
        predicate: predicate of each label, bool ``(n,)``.
        statistic: statistic of each label, float ``(n,)``; ignored (may be NaN)
            where the predicate is false.
        k: number of strata.

    Returns:
        The :class:`StratumStats`, arrays of shape ``(k,)``.
    """
    f = np.where(predicate, statistic, 0.0)
    labelled = np.bincount(stratum, minlength=k).astype(np.int64)
    positives = np.bincount(stratum, weights=predicate.astype(np.float64), minlength=k)
    sum_f = np.bincount(stratum, weights=f, minlength=k)
    sum_f2 = np.bincount(stratum, weights=f * f, minlength=k)
    return StratumStats(
        labelled=labelled,
        positives=np.rint(positives).astype(np.int64),
        sum_f=sum_f.astype(np.float64),
        sum_f2=sum_f2.astype(np.float64),
    )
