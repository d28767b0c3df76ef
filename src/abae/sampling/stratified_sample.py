"""A stratified sample: every label with its stratum and stage, and its builder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abae.sampling.estimators import combine_strata
from abae.sampling.stratified_labels import stratum_rates
from abae.sampling.stratum_stats import StratumStats, stratum_stats


@dataclass(frozen=True, eq=False)
class StratifiedSample:
    """Every label of a stratified sample, in labelling order (arrays ``(n,)``).

    Attributes:
        sizes: stratum sizes ``N_k``, shape ``(K,)``.
        indices: labelled record indices, int64.
        predicate: their predicate, bool (ignored where ``missing``).
        statistic: their statistic, float64 (NaN on a positive: missing).
        stratum: the stratum each was drawn from, int64 in ``[0, K)``.
        stage: the stage each was drawn in (1 or 2), int8.
        missing: bool, True where the predicate label is missing (drawn and
            paid for, no answer); ``None``: none is.
    """

    sizes: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]
    stratum: npt.NDArray[np.int64]
    stage: npt.NDArray[np.int8]
    missing: npt.NDArray[np.bool_] | None = None

    @classmethod
    def empty(cls, sizes: npt.NDArray[np.int64]) -> StratifiedSample:
        """A sample without labels over strata of ``sizes``."""
        return cls(
            sizes=sizes,
            indices=np.empty(0, np.int64),
            predicate=np.empty(0, np.bool_),
            statistic=np.empty(0, np.float64),
            stratum=np.empty(0, np.int64),
            stage=np.empty(0, np.int8),
            missing=np.empty(0, np.bool_),
        )

    def missing_mask(self) -> npt.NDArray[np.bool_]:
        """``missing`` as an array (all False when ``None``)."""
        if self.missing is None:
            return np.zeros(self.indices.shape, np.bool_)
        return self.missing


class SampleBuilder:
    """Collects labels batch by batch, by stratum and stage, with a running estimate.

    Args:
        sizes: stratum sizes ``N_k``, shape ``(K,)``.
        aggregate: ``"avg"``, ``"sum"`` or ``"count"`` (for the running estimate).
        census: statistics and size of a census stratum (known labels) added
            to the running estimate, or ``None``.
    """

    def __init__(
        self,
        sizes: npt.NDArray[np.int64],
        aggregate: str,
        census: tuple[StratumStats, int] | None = None,
    ) -> None:
        self._sizes = sizes
        self._aggregate = aggregate
        self._census = census
        k = sizes.shape[0]
        self._stats = StratumStats(
            labelled=np.zeros(k, np.int64),
            positives=np.zeros(k, np.int64),
            sum_f=np.zeros(k),
            sum_f2=np.zeros(k),
            measured=np.zeros(k, np.int64),
            sum_f3=np.zeros(k),
            sum_f4=np.zeros(k),
        )
        self._parts: list[
            tuple[
                npt.NDArray[np.int64],
                npt.NDArray[np.bool_],
                npt.NDArray[np.float64],
                int,
                int,
                npt.NDArray[np.bool_],
            ]
        ] = []

    def add(
        self,
        indices: npt.NDArray[np.int64],
        predicate: npt.NDArray[np.bool_],
        statistic: npt.NDArray[np.float64],
        stratum: int,
        stage: int,
        missing: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """Record one labelled batch (arrays ``(n,)``) drawn from ``stratum`` in ``stage``."""
        lost = np.zeros(indices.shape, np.bool_) if missing is None else missing
        batch = stratum_stats(
            np.full(indices.size, stratum, np.int64),
            predicate,
            statistic,
            self._sizes.shape[0],
            lost,
        )
        self._stats = self._stats.plus(batch)
        self._parts.append((indices, predicate & ~lost, statistic, stratum, stage, lost))

    def stats(self) -> StratumStats:
        """Per-stratum statistics of the labels so far (missing labels left out)."""
        return self._stats

    def running_estimate(self) -> float:
        """Estimate over the strata labelled so far (scaled up to all records)."""
        stats = self.stats()
        seen = stats.labelled > 0
        sizes = np.where(seen, self._sizes, 0)
        if sizes.sum() == 0:
            return float("nan")
        rates = stratum_rates(stats, self._sizes)
        p = np.where(seen, rates.p, 0.0)
        t = np.where(seen, np.nan_to_num(rates.product), 0.0)
        scale = float(self._sizes.sum() / sizes.sum())
        if self._aggregate != "avg":
            sizes = sizes * scale
        if self._census is not None:
            census, size = self._census
            census_rates = stratum_rates(census, np.array([size], np.int64))
            sizes = np.append(sizes, size)
            p = np.append(p, census_rates.p)
            t = np.append(t, census_rates.product)
        return float(combine_strata(self._aggregate, sizes, p, t))

    def sample(self) -> StratifiedSample:
        """All labels so far as a :class:`StratifiedSample`."""
        if not self._parts:
            return StratifiedSample.empty(self._sizes)
        indices = np.concatenate([part[0] for part in self._parts])
        return StratifiedSample(
            sizes=self._sizes,
            indices=indices,
            predicate=np.concatenate([part[1] for part in self._parts]),
            statistic=np.concatenate([part[2] for part in self._parts]),
            stratum=np.concatenate(
                [np.full(part[0].size, part[3], np.int64) for part in self._parts]
            ),
            stage=np.concatenate([np.full(part[0].size, part[4], np.int8) for part in self._parts]),
            missing=np.concatenate([part[5] for part in self._parts]),
        )
