"""Calling the oracle in batches, checking its answers and keeping every label."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from abae.sampling.progress import Progress, ProgressCallback

Oracle = Callable[[npt.NDArray[np.int64]], Any]
"""``oracle(indices) -> (predicate, statistic)`` (plus ``group`` for GROUP BY).

``indices`` is an int64 array of record indices; the answer holds arrays of the
same length: ``predicate`` bool (or 0/1 integers, or floats 0/1 with NaN where
the record got no label: it failed or was lost, and counts as missing data),
``statistic`` real numbers (NaN where the predicate is false, or where a
positive's statistic failed: missing data; never infinite on a positive) and,
for :func:`abae.estimate_groups`, ``group`` the group key of each record.
"""


@dataclass(frozen=True, eq=False)
class OracleLabels:
    """One batch of checked oracle answers (arrays of shape ``(n,)``).

    Attributes:
        predicate: bool, True for a positive (False where ``missing``).
        missing: bool, True where the record got no predicate label (drawn and
            paid for, but failed or lost): missing data, never a negative.
        statistic: float64; NaN where the predicate is false or missing, and
            where a positive's statistic is missing (the record stays a positive).
        groups: the group key of each record, or ``None`` without groups.
    """

    predicate: npt.NDArray[np.bool_]
    missing: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]
    groups: npt.NDArray[Any] | None = None


def read_predicate(values: Any, what: str) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """``(predicate, missing)`` from bool, 0/1 integer or 0/1/NaN float values.

    Args:
        values: a 1-D array-like.
        what: how to name the values in an error message.

    Raises:
        ValueError: another dtype, or a value outside 0, 1 (and NaN for floats).
    """
    array = np.asarray(values)
    if array.dtype == np.bool_:
        return array, np.zeros(array.shape, np.bool_)
    if np.issubdtype(array.dtype, np.integer) and np.isin(array, (0, 1)).all():
        return array.astype(np.bool_), np.zeros(array.shape, np.bool_)
    if np.issubdtype(array.dtype, np.floating):
        missing = np.isnan(array)
        if np.isin(array[~missing], (0.0, 1.0)).all():
            return array == 1.0, missing
    raise ValueError(
        f"{what} must be boolean, 0/1 integers, or 0/1 floats with NaN for a missing "
        f"label, got dtype {array.dtype} with values such as {array.ravel()[:3].tolist()}; "
        "return e.g. numpy.asarray(flags, dtype=bool)"
    )


def read_oracle_answer(answer: Any, n: int, with_groups: bool = False) -> OracleLabels:
    """Validate an oracle's answer for a batch of ``n`` records.

    Returns:
        The :class:`OracleLabels`.

    Raises:
        ValueError: the answer is not a tuple of the right arity, an array has
            the wrong shape, the predicate is not boolean (or 0/1, or 0/1/NaN),
            the statistic is not numeric or is infinite where the predicate is true.

    Example:
        >>> labels = read_oracle_answer(([1.0, np.nan, 0.0], [2.5, np.nan, np.nan]), 3)
        >>> labels.predicate.tolist(), labels.missing.tolist()
        ([True, False, False], [False, True, False])
    """
    arity = 3 if with_groups else 2
    expected = "(predicate, statistic, group)" if with_groups else "(predicate, statistic)"
    if not isinstance(answer, tuple | list) or len(answer) != arity:
        got = (
            f"a {len(answer)}-tuple" if isinstance(answer, tuple | list) else type(answer).__name__
        )
        raise ValueError(f"the oracle must return {expected} for each batch, got {got}")
    raw_predicate = np.asarray(answer[0])
    statistic = np.asarray(answer[1])
    for name, array in (("predicate", raw_predicate), ("statistic", statistic)):
        if array.shape != (n,):
            raise ValueError(
                f"the oracle returned {name} of shape {array.shape} for a batch of {n} "
                f"indices; it must return one value per index, shape ({n},)"
            )
    predicate, missing = read_predicate(raw_predicate, "the oracle's predicate")
    if statistic.dtype == np.bool_ or not (
        np.issubdtype(statistic.dtype, np.integer) or np.issubdtype(statistic.dtype, np.floating)
    ):
        raise ValueError(
            f"the oracle's statistic must be real numbers, got dtype {statistic.dtype}; "
            "return e.g. numpy.asarray(values, dtype=float)"
        )
    statistic = statistic.astype(np.float64, copy=False)
    bad = predicate & np.isinf(statistic)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"the oracle's statistic is {statistic[first]!r} at batch position {first} where "
            "the predicate is true; return a finite value, or NaN if the label is missing"
        )
    groups: npt.NDArray[Any] | None = None
    if with_groups:
        groups = np.asarray(answer[2])
        if groups.shape != (n,):
            raise ValueError(
                f"the oracle returned group of shape {groups.shape} for a batch of {n} "
                f"indices; it must return one group key per index, shape ({n},)"
            )
    return OracleLabels(predicate, missing, statistic, groups)


def check_oracle_answer(
    answer: Any, n: int, with_groups: bool = False
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[Any] | None]:
    """Validate an answer without missing predicate labels: ``(predicate, statistic, groups)``.

    As :func:`read_oracle_answer`, for callers that cannot handle a missing
    predicate label: one (NaN) is refused. A positive's missing statistic comes
    back as NaN.

    Raises:
        ValueError: as :func:`read_oracle_answer`, or a missing predicate label.
    """
    labels = read_oracle_answer(answer, n, with_groups)
    _refuse_missing(labels)
    return labels.predicate, labels.statistic, labels.groups


def _refuse_missing(labels: OracleLabels) -> None:
    if labels.missing.any():
        raise ValueError(
            f"the oracle left {int(labels.missing.sum())} predicate label(s) missing (NaN); "
            "this caller cannot treat them as missing data (abae.estimate and "
            "abae.estimate_uniform can)"
        )


class LabelRecorder:
    """Labels records through the oracle, one batch per call, and keeps the labels.

    Guarantees the sampling invariants: it refuses (``RuntimeError``) to exceed
    the budget or to send the oracle an index twice. With ``reuse=True``
    (GROUP BY) an index labelled before is answered from memory without an
    oracle call instead. A record whose label came back missing was paid for:
    it counts against the budget and is never sent again.

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
        self._labels: list[OracleLabels] = []
        self._memory: dict[int, tuple[bool, bool, float, Hashable]] = {}
        self.calls = 0

    @property
    def remaining(self) -> int:
        """Oracle calls left in the budget."""
        return self._budget - self.calls

    def label(
        self, indices: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[Any] | None]:
        """Label ``indices`` (int64, shape ``(n,)``) with one oracle call.

        For callers that cannot handle a missing predicate label (see
        :meth:`label_records` for those that can).

        Returns:
            ``(predicate, statistic, groups)`` aligned with ``indices``
            (``groups`` is ``None`` without ``with_groups``).

        Raises:
            ValueError: a malformed answer, or a missing predicate label.
        """
        labels = self.label_records(indices)
        _refuse_missing(labels)
        return labels.predicate, labels.statistic, labels.groups

    def label_records(self, indices: npt.NDArray[np.int64]) -> OracleLabels:
        """Label ``indices`` (int64, shape ``(n,)``) with one oracle call.

        Returns:
            The :class:`OracleLabels` aligned with ``indices``, missing labels included.
        """
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            empty_groups = np.empty(0, dtype=object) if self._with_groups else None
            return OracleLabels(
                np.empty(0, np.bool_), np.empty(0, np.bool_), np.empty(0, np.float64), empty_groups
            )
        if self._reuse:
            return self._label_reusing(indices)
        if np.unique(indices).size != indices.size or self._seen[indices].any():
            raise RuntimeError("internal error: a record was about to be labelled twice")
        return self._call(indices)

    def _call(self, indices: npt.NDArray[np.int64]) -> OracleLabels:
        if indices.size > self.remaining:
            raise RuntimeError(
                f"internal error: {indices.size} oracle calls requested with "
                f"{self.remaining} left in the budget"
            )
        answer = self._oracle(indices.copy())
        labels = read_oracle_answer(answer, indices.size, self._with_groups)
        self._seen[indices] = True
        self.calls += int(indices.size)
        self._indices.append(indices)
        self._labels.append(labels)
        return labels

    def _label_reusing(self, indices: npt.NDArray[np.int64]) -> OracleLabels:
        if np.unique(indices).size != indices.size:
            raise RuntimeError("internal error: a batch holds the same record twice")
        fresh = indices[~self._seen[indices]]
        if fresh.size:
            labels = self._call(fresh)
            group_list = (
                labels.groups.tolist() if labels.groups is not None else [None] * fresh.size
            )
            for i, o, lost, f, g in zip(
                fresh.tolist(),
                labels.predicate.tolist(),
                labels.missing.tolist(),
                labels.statistic.tolist(),
                group_list,
                strict=True,
            ):
                self._memory[i] = (o, lost, f, g)
        rows = [self._memory[i] for i in indices.tolist()]
        out_groups: npt.NDArray[Any] | None = None
        if self._with_groups:
            out_groups = np.empty(len(rows), dtype=object)
            out_groups[:] = [r[3] for r in rows]
        return OracleLabels(
            predicate=np.array([r[0] for r in rows], dtype=np.bool_),
            missing=np.array([r[1] for r in rows], dtype=np.bool_),
            statistic=np.array([r[2] for r in rows], dtype=np.float64),
            groups=out_groups,
        )

    def report(
        self, stage: int, running_estimate: float, on_progress: ProgressCallback | None
    ) -> None:
        """Send a :class:`Progress` to ``on_progress`` (if given)."""
        if on_progress is not None:
            on_progress(Progress(self.calls, self._budget, stage, running_estimate))

    def all_labels(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        """Every oracle call so far: ``(indices, predicate, statistic)``, call order.

        A record whose predicate label is missing has predicate False here; see
        :meth:`all_missing`.
        """
        if not self._indices:
            return np.empty(0, np.int64), np.empty(0, np.bool_), np.empty(0, np.float64)
        return (
            np.concatenate(self._indices),
            np.concatenate([labels.predicate for labels in self._labels]),
            np.concatenate([labels.statistic for labels in self._labels]),
        )

    def all_missing(self) -> npt.NDArray[np.bool_]:
        """Whether each label of :meth:`all_labels` is missing its predicate, bool ``(n,)``."""
        if not self._labels:
            return np.empty(0, np.bool_)
        return np.concatenate([labels.missing for labels in self._labels])
