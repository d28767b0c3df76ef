"""Labels bought before sampling starts, such as the pilot that trained a proxy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abae.sampling.labelling import read_predicate


@dataclass(frozen=True, eq=False)
class KnownLabels:
    """Records labelled before sampling: a uniform random sample of the population.

    A proxy's pilot is the usual case: its labels are paid for, so the estimate
    uses them. Their records form a census stratum (every record in it is
    labelled, so it adds its exact total and no variance) and are never drawn
    again. Placed in the proxy strata by ``scores``, they also tell the sampler
    where positives and spread are before it spends anything.

    Missing labels follow the oracle's conventions: a NaN predicate means the
    record has no label (missing at random within the census stratum, which
    then adds sampling variance), a NaN statistic on a positive means its
    statistic is missing (it still counts as a positive).

    Attributes:
        indices: distinct int64 record indices, shape ``(m,)``.
        predicate: their predicate, bool ``(m,)`` (False where ``missing``); 0/1
            integers, or 0/1 floats with NaN for a missing label, are accepted
            and stored as bool.
        statistic: their statistic, float64 ``(m,)`` (NaN where the predicate is
            false, or where a positive's statistic is missing).
        scores: float64 ``(m,)``, each record's proxy score from a model that never
            saw its label (cross-fitted); used only to plan the allocation, never
            to decide which records are sampled.
        missing: bool ``(m,)``, True where the predicate label is missing; derived
            from NaN predicates when not given.

    Example:
        >>> known = KnownLabels(np.array([4, 9]), np.array([1.0, np.nan]),
        ...                     np.array([2.5, np.nan]), np.array([0.8, 0.1]))
        >>> known.predicate.tolist(), known.missing.tolist(), len(known)
        ([True, False], [False, True], 2)
    """

    indices: npt.NDArray[np.int64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]
    missing: npt.NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        indices = np.asarray(self.indices)
        if indices.ndim != 1 or not (np.issubdtype(indices.dtype, np.integer) or indices.size == 0):
            raise ValueError(
                f"KnownLabels.indices must be a 1-D array of integer record indices, got "
                f"shape {indices.shape} and dtype {indices.dtype}"
            )
        m = indices.shape
        for name in ("predicate", "statistic", "scores"):
            shape = np.shape(getattr(self, name))
            if shape != m:
                raise ValueError(
                    f"KnownLabels.{name} has shape {shape} but indices has shape {m}; give one "
                    "value per known record"
                )
        if np.unique(indices).size != indices.size:
            raise ValueError("KnownLabels.indices repeats a record; each record is labelled once")
        predicate, missing = read_predicate(self.predicate, "KnownLabels.predicate")
        if self.missing is not None:
            given = np.asarray(self.missing, dtype=np.bool_)
            if given.shape != m:
                raise ValueError(
                    f"KnownLabels.missing has shape {given.shape} but indices has shape {m}"
                )
            missing = missing | given
        statistic = np.asarray(self.statistic, dtype=np.float64)
        scores = np.asarray(self.scores, dtype=np.float64)
        if not np.isfinite(scores).all():
            raise ValueError(
                "KnownLabels.scores holds NaN or infinite values; give every known record a "
                "finite cross-fitted score"
            )
        if (predicate & ~missing & np.isinf(statistic)).any():
            raise ValueError(
                "KnownLabels.statistic is infinite on a positive; use a finite value, or NaN "
                "for a missing statistic"
            )
        object.__setattr__(self, "indices", indices.astype(np.int64, copy=False))
        object.__setattr__(self, "predicate", predicate & ~missing)
        object.__setattr__(self, "missing", missing)
        object.__setattr__(self, "statistic", statistic)
        object.__setattr__(self, "scores", scores)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @property
    def missing_mask(self) -> npt.NDArray[np.bool_]:
        """``missing`` as an array (never ``None`` after construction)."""
        assert self.missing is not None
        return self.missing
