"""A stratified sample: every label with its stratum and stage, and its builder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abae.sampling.estimators import combine_strata
from abae.sampling.stratum_stats import StratumStats


@dataclass(frozen=True, eq=False)
class StratifiedSample:
    """Every label of a stratified sample, in labelling order (arrays ``(n,)``).

    Attributes:
        sizes: stratum sizes ``N_k``, shape ``(K,)``.
        indices: labelled record indices, int64.
        predicate: their predicate, bool.
        statistic: their statistic, float64.
        stratum: the stratum each was drawn from, int64 in ``[0, K)``.
        stage: the stage each was drawn in (1 or 2), int8.
    """

    sizes: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]
    stratum: npt.NDArray[np.int64]
    stage: npt.NDArray[np.int8]


class SampleBuilder:
    """Collects labels batch by batch, by stratum and stage, with a running estimate.

    Args:
        sizes: stratum sizes ``N_k``, shape ``(K,)``.
        aggregate: ``"avg"``, ``"sum"`` or ``"count"`` (for the running estimate).
    """

    def __init__(self, sizes: npt.NDArray[np.int64], aggregate: str) -> None:
        self._sizes = sizes
        self._aggregate = aggregate
        k = sizes.shape[0]
        self._labelled = np.zeros(k, np.int64)
        self._positives = np.zeros(k, np.int64)
        self._sum_f = np.zeros(k)
        self._sum_f2 = np.zeros(k)
        self._parts: list[
            tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.float64], int, int]
        ] = []

    def add(
        self,
        indices: npt.NDArray[np.int64],
        predicate: npt.NDArray[np.bool_],
        statistic: npt.NDArray[np.float64],
        stratum: int,
        stage: int,
    ) -> None:
        """Record one labelled batch (arrays ``(n,)``) drawn from ``stratum`` in ``stage``."""
        f = np.where(predicate, statistic, 0.0)
        self._labelled[stratum] += indices.size
        self._positives[stratum] += int(predicate.sum())
        self._sum_f[stratum] += float(f.sum())
        self._sum_f2[stratum] += float((f * f).sum())
        self._parts.append((indices, predicate, statistic, stratum, stage))

    def stats(self) -> StratumStats:
        """Per-stratum statistics of the labels so far."""
        return StratumStats(
            self._labelled.copy(), self._positives.copy(), self._sum_f.copy(), self._sum_f2.copy()
        )

    def running_estimate(self) -> float:
        """Estimate over the strata labelled so far (scaled up to all records)."""
        seen = self._labelled > 0
        stats = self.stats()
        sizes = np.where(seen, self._sizes, 0)
        scale = self._sizes.sum() / sizes.sum()
        p = np.where(seen, stats.p, 0.0)
        t = np.where(seen, stats.mean_of_product, 0.0)
        value = float(combine_strata(self._aggregate, sizes, p, t))
        return value if self._aggregate == "avg" else value * float(scale)

    def sample(self) -> StratifiedSample:
        """All labels so far as a :class:`StratifiedSample` (at least one batch needed)."""
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
        )
