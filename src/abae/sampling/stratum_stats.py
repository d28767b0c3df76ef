"""Per-stratum statistics of oracle labels: positive rate, mean and spread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, eq=False)
class StratumStats:
    """Sufficient statistics of the labels in each of ``K`` strata (arrays ``(K,)``).

    Missing labels are missing data: a label whose predicate is missing is left
    out of ``labelled``; a positive whose statistic is missing counts in
    ``positives`` but not in ``measured``, ``sum_f`` or ``sum_f2`` (its
    statistic is taken to be like that of the stratum's other positives).

    Attributes:
        labelled: labels with a known predicate, ``n_k``.
        positives: labels with a true predicate, ``a_k``.
        sum_f: sum of the statistic over positives with a known statistic, ``Σ O f``.
        sum_f2: sum of the squared statistic over those positives, ``Σ O f²``.
        measured: positives with a known statistic, ``b_k``; ``None`` means every
            positive (no statistic missing).
        sum_f3, sum_f4: sums of the statistic's third and fourth powers over
            those positives (for the robust allocation's uncertainty); ``None``
            when not collected (a normal shape is then assumed).
    """

    labelled: npt.NDArray[np.int64]
    positives: npt.NDArray[np.int64]
    sum_f: npt.NDArray[np.float64]
    sum_f2: npt.NDArray[np.float64]
    measured: npt.NDArray[np.int64] | None = None
    sum_f3: npt.NDArray[np.float64] | None = None
    sum_f4: npt.NDArray[np.float64] | None = None

    @property
    def measured_positives(self) -> npt.NDArray[np.int64]:
        """Positives with a known statistic, ``b_k`` (``positives`` when none is missing)."""
        return self.positives if self.measured is None else self.measured

    @property
    def p(self) -> npt.NDArray[np.float64]:
        """Positive rate ``positives / labelled`` (NaN where nothing is labelled)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.positives / self.labelled

    @property
    def mean(self) -> npt.NDArray[np.float64]:
        """Mean statistic over measured positives (NaN where there is none)."""
        b = self.measured_positives
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(b > 0, self.sum_f / b, np.nan)

    @property
    def std(self) -> npt.NDArray[np.float64]:
        """Standard deviation (``ddof=1``) over measured positives (NaN with fewer than two)."""
        b = self.measured_positives
        n = b.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = self.sum_f2 - self.sum_f**2 / n
            variance = np.maximum(centred, 0.0) / (n - 1.0)
        return np.where(b > 1, np.sqrt(variance), np.nan)

    @property
    def mean_of_product(self) -> npt.NDArray[np.float64]:
        """Mean of ``O·f`` over the stratum, ``p_k m_k``: 0 without positives.

        NaN where nothing is labelled, or where the stratum has positives but
        none with a known statistic.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            product = np.where(self.positives > 0, self.p * self.mean, 0.0)
        return np.where(self.labelled > 0, product, np.nan)

    def central_moments(
        self,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Variance (``ddof=1``), third and fourth central moments over measured positives.

        Where a stratum has fewer than two measured positives, the moments of
        all strata's measured positives pooled stand in; without any such
        pair, zeros. Without ``sum_f3``/``sum_f4`` the third moment is taken
        as 0 and the fourth as ``3·variance²`` (a normal shape).

        Returns:
            ``(v2, v3, v4)``, arrays ``(K,)``.
        """
        b = self.measured_positives.astype(np.float64)
        pooled = StratumStats(
            labelled=np.array([self.labelled.sum()]),
            positives=np.array([self.positives.sum()]),
            sum_f=np.array([self.sum_f.sum()]),
            sum_f2=np.array([self.sum_f2.sum()]),
            measured=np.array([self.measured_positives.sum()]),
        )
        v2 = np.where(b > 1, np.nan_to_num(self.std) ** 2, np.nan_to_num(pooled.std[0]) ** 2)
        if self.sum_f3 is None or self.sum_f4 is None:
            return v2, np.zeros_like(v2), 3.0 * v2**2
        with np.errstate(invalid="ignore", divide="ignore"):
            e1, e2 = self.sum_f / b, self.sum_f2 / b
            e3, e4 = self.sum_f3 / b, self.sum_f4 / b
            v3 = e3 - 3.0 * e1 * e2 + 2.0 * e1**3
            v4 = e4 - 4.0 * e1 * e3 + 6.0 * e1**2 * e2 - 3.0 * e1**4
            total = float(b.sum())
            p1, p2 = self.sum_f.sum() / total, self.sum_f2.sum() / total
            p3, p4 = self.sum_f3.sum() / total, self.sum_f4.sum() / total
            pooled_v3 = p3 - 3.0 * p1 * p2 + 2.0 * p1**3
            pooled_v4 = p4 - 4.0 * p1 * p3 + 6.0 * p1**2 * p2 - 3.0 * p1**4
        few = b < 2
        v3 = np.nan_to_num(np.where(few, pooled_v3, v3))
        v4 = np.maximum(np.nan_to_num(np.where(few, pooled_v4, v4)), 0.0)
        return v2, v3, v4

    def plus(self, other: StratumStats) -> StratumStats:
        """The statistics of both sets of labels together (same strata)."""
        higher = [
            None if mine is None or theirs is None else mine + theirs
            for mine, theirs in ((self.sum_f3, other.sum_f3), (self.sum_f4, other.sum_f4))
        ]
        return StratumStats(
            labelled=self.labelled + other.labelled,
            positives=self.positives + other.positives,
            sum_f=self.sum_f + other.sum_f,
            sum_f2=self.sum_f2 + other.sum_f2,
            measured=self.measured_positives + other.measured_positives,
            sum_f3=higher[0],
            sum_f4=higher[1],
        )


def stratum_stats(
    stratum: npt.NDArray[np.int64],
    predicate: npt.NDArray[np.bool_],
    statistic: npt.NDArray[np.float64],
    k: int,
    missing: npt.NDArray[np.bool_] | None = None,
) -> StratumStats:
    """Summarise labels by stratum.

    Args:
        stratum: stratum of each label, ints in ``[0, k)``, shape ``(n,)``.
        predicate: predicate of each label, bool ``(n,)``.
        statistic: statistic of each label, float ``(n,)``; ignored (may be NaN)
            where the predicate is false; NaN on a positive means "missing".
        k: number of strata.
        missing: bool ``(n,)``, True where the predicate label is missing (the
            label is left out); ``None``: none is.

    Returns:
        The :class:`StratumStats`, arrays of shape ``(k,)``.

    Example:
        >>> s = stratum_stats(np.array([0, 0, 0, 1]), np.array([True, True, False, True]),
        ...                   np.array([2.0, np.nan, np.nan, 5.0]), 2)
        >>> s.p.tolist(), s.mean.tolist(), s.mean_of_product.tolist()
        ([0.6666666666666666, 1.0], [2.0, 5.0], [1.3333333333333333, 5.0])
    """
    known = np.ones(stratum.shape, np.bool_) if missing is None else ~missing
    positive = predicate & known
    measured = positive & np.isfinite(statistic)
    f = np.where(measured, statistic, 0.0)
    labelled = np.bincount(stratum[known], minlength=k).astype(np.int64)
    positives = np.bincount(stratum[positive], minlength=k).astype(np.int64)
    with_statistic = np.bincount(stratum[measured], minlength=k).astype(np.int64)
    sum_f = np.bincount(stratum, weights=f, minlength=k)
    sum_f2 = np.bincount(stratum, weights=f * f, minlength=k)
    return StratumStats(
        labelled=labelled,
        positives=positives,
        sum_f=sum_f.astype(np.float64),
        sum_f2=sum_f2.astype(np.float64),
        measured=with_statistic,
        sum_f3=np.bincount(stratum, weights=f**3, minlength=k).astype(np.float64),
        sum_f4=np.bincount(stratum, weights=f**4, minlength=k).astype(np.float64),
    )
