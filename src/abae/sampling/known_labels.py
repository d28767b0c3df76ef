"""Labels bought before sampling starts, such as the pilot that trained a proxy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, eq=False)
class KnownLabels:
    """Records labelled before sampling: a uniform random sample of the population.

    A proxy's pilot is the usual case: its labels are paid for, so the estimate
    uses them. Their records form a census stratum (every record in it is
    labelled, so it adds its exact total and no variance) and are never drawn
    again. Placed in the proxy strata by ``scores``, they also tell the sampler
    where positives and spread are before it spends anything.

    Attributes:
        indices: distinct int64 record indices, shape ``(m,)``.
        predicate: their predicate, bool ``(m,)``.
        statistic: their statistic, float64 ``(m,)`` (NaN where the predicate is
            false, or where a positive's statistic is missing).
        scores: float64 ``(m,)``, each record's proxy score from a model that never
            saw its label (cross-fitted); used only to plan the allocation, never
            to decide which records are sampled.
    """

    indices: npt.NDArray[np.int64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        m = self.indices.shape
        for name in ("predicate", "statistic", "scores"):
            shape = getattr(self, name).shape
            if shape != m:
                raise ValueError(
                    f"KnownLabels.{name} has shape {shape} but indices has shape {m}; give one "
                    "value per known record"
                )
        if np.unique(self.indices).size != self.indices.size:
            raise ValueError("KnownLabels.indices repeats a record; each record is labelled once")

    def __len__(self) -> int:
        return int(self.indices.shape[0])
