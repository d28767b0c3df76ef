"""Calling the oracle in batches, checking its answers and keeping every label."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import numpy.typing as npt

from abae.sampling.progress import Progress, ProgressCallback

Oracle = Callable[[npt.NDArray[np.int64]], Any]
"""``oracle(indices) -> (predicate, statistic)`` (plus ``group`` for GROUP BY).

``indices`` is an int64 array of record indices; the answer holds arrays of the
same length: ``predicate`` bool (or 0/1 integers), ``statistic`` real numbers
(finite where the predicate is true; anything, e.g. NaN, where it is false) and,
for :func:`abae.estimate_groups`, ``group`` the group key of each record.
"""


def check_oracle_answer(
    answer: Any, n: int, with_groups: bool = False
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[Any] | None]:
    """Validate an oracle's answer for a batch of ``n`` records.

    Returns:
        ``(predicate, statistic, groups)``: bool ``(n,)``, float64 ``(n,)`` and
        the groups array ``(n,)`` (``None`` unless ``with_groups``).

    Raises:
        ValueError: the answer is not a tuple of the right arity, an array has
            the wrong shape, the predicate is not boolean, the statistic is not
            numeric or is not finite where the predicate is true.
    """
    arity = 3 if with_groups else 2
    expected = "(predicate, statistic, group)" if with_groups else "(predicate, statistic)"
    if not isinstance(answer, tuple | list) or len(answer) != arity:
        got = (
            f"a {len(answer)}-tuple" if isinstance(answer, tuple | list) else type(answer).__name__
        )
        raise ValueError(f"the oracle must return {expected} for each batch, got {got}")
    predicate = np.asarray(answer[0])
    statistic = np.asarray(answer[1])
    for name, array in (("predicate", predicate), ("statistic", statistic)):
        if array.shape != (n,):
            raise ValueError(
                f"the oracle returned {name} of shape {array.shape} for a batch of {n} "
                f"indices; it must return one value per index, shape ({n},)"
            )
    if predicate.dtype != np.bool_:
        if not np.issubdtype(predicate.dtype, np.integer) or not np.isin(predicate, (0, 1)).all():
            raise ValueError(
                f"the oracle's predicate must be boolean (or 0/1 integers), got dtype "
                f"{predicate.dtype}; return e.g. numpy.asarray(flags, dtype=bool)"
            )
        predicate = predicate.astype(np.bool_)
    if statistic.dtype == np.bool_ or not (
        np.issubdtype(statistic.dtype, np.integer) or np.issubdtype(statistic.dtype, np.floating)
    ):
        raise ValueError(
            f"the oracle's statistic must be real numbers, got dtype {statistic.dtype}; "
            "return e.g. numpy.asarray(values, dtype=float)"
        )
    statistic = statistic.astype(np.float64, copy=False)
    bad = predicate & ~np.isfinite(statistic)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"the oracle's statistic is {statistic[first]!r} at batch position {first} where "
            "the predicate is true; the statistic must be finite for every positive record"
        )
    groups: npt.NDArray[Any] | None = None
    if with_groups:
        groups = np.asarray(answer[2])
        if groups.shape != (n,):
            raise ValueError(
                f"the oracle returned group of shape {groups.shape} for a batch of {n} "
                f"indices; it must return one group key per index, shape ({n},)"
            )
    return predicate, statistic, groups


class LabelRecorder:
    """Labels records through the oracle, one batch per call, and keeps the labels.

    Guarantees the sampling invariants: it refuses (``RuntimeError``) to exceed
    the budget or to send the oracle an index twice. With ``reuse=True``
    (GROUP BY) an index labelled before is answered from memory without an
    oracle call instead.

    Args:
        oracle: see :data:`Oracle`.
        n_records: records in the data set (indices must lie in ``[0, n_records)``).
        budget: the most oracle calls (records) allowed.
        with_groups: whether the oracle also returns each record's group.
        reuse: answer repeated indices from memory (otherwise they are an error).
    """

    def __init__(
        self,
        oracle: Oracle,
        n_records: int,
        budget: int,
        *,
        with_groups: bool = False,
        reuse: bool = False,
    ) -> None:
        if not callable(oracle):
            raise ValueError(f"oracle must be callable, got {type(oracle).__name__}")
        self._oracle = oracle
        self._budget = budget
        self._with_groups = with_groups
        self._reuse = reuse
        self._seen = np.zeros(n_records, dtype=np.bool_)
        self._indices: list[npt.NDArray[np.int64]] = []
        self._predicate: list[npt.NDArray[np.bool_]] = []
        self._statistic: list[npt.NDArray[np.float64]] = []
        self._groups: list[npt.NDArray[Any]] = []
        self._memory: dict[int, tuple[bool, float, Hashable]] = {}
        self.calls = 0

    @property
    def remaining(self) -> int:
        """Oracle calls left in the budget."""
        return self._budget - self.calls

    def label(
        self, indices: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[Any] | None]:
        """Label ``indices`` (int64, shape ``(n,)``) with one oracle call.

        Returns:
            ``(predicate, statistic, groups)`` aligned with ``indices``
            (``groups`` is ``None`` without ``with_groups``).
        """
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            empty_groups = np.empty(0, dtype=object) if self._with_groups else None
            return np.empty(0, np.bool_), np.empty(0, np.float64), empty_groups
        if self._reuse:
            return self._label_reusing(indices)
        if np.unique(indices).size != indices.size or self._seen[indices].any():
            raise RuntimeError("internal error: a record was about to be labelled twice")
        return self._call(indices)

    def _call(
        self, indices: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[Any] | None]:
        if indices.size > self.remaining:
            raise RuntimeError(
                f"internal error: {indices.size} oracle calls requested with "
                f"{self.remaining} left in the budget"
            )
        answer = self._oracle(indices.copy())
        predicate, statistic, groups = check_oracle_answer(answer, indices.size, self._with_groups)
        self._seen[indices] = True
        self.calls += int(indices.size)
        self._indices.append(indices)
        self._predicate.append(predicate)
        self._statistic.append(statistic)
        if groups is not None:
            self._groups.append(groups)
        return predicate, statistic, groups

    def _label_reusing(
        self, indices: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[Any] | None]:
        if np.unique(indices).size != indices.size:
            raise RuntimeError("internal error: a batch holds the same record twice")
        fresh = indices[~self._seen[indices]]
        if fresh.size:
            predicate, statistic, groups = self._call(fresh)
            group_list = groups.tolist() if groups is not None else [None] * fresh.size
            for i, o, f, g in zip(
                fresh.tolist(), predicate.tolist(), statistic.tolist(), group_list, strict=True
            ):
                self._memory[i] = (o, f, g)
        rows = [self._memory[i] for i in indices.tolist()]
        out_predicate = np.array([r[0] for r in rows], dtype=np.bool_)
        out_statistic = np.array([r[1] for r in rows], dtype=np.float64)
        out_groups: npt.NDArray[Any] | None = None
        if self._with_groups:
            out_groups = np.empty(len(rows), dtype=object)
            out_groups[:] = [r[2] for r in rows]
        return out_predicate, out_statistic, out_groups

    def report(
        self, stage: int, running_estimate: float, on_progress: ProgressCallback | None
    ) -> None:
        """Send a :class:`Progress` to ``on_progress`` (if given)."""
        if on_progress is not None:
            on_progress(Progress(self.calls, self._budget, stage, running_estimate))

    def all_labels(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        """Every oracle call so far: ``(indices, predicate, statistic)``, call order."""
        if not self._indices:
            return np.empty(0, np.int64), np.empty(0, np.bool_), np.empty(0, np.float64)
        return (
            np.concatenate(self._indices),
            np.concatenate(self._predicate),
            np.concatenate(self._statistic),
        )
