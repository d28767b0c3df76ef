"""Drawing and labelling records cell by cell for GROUP BY, one oracle call per stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from abae.sampling.fresh_draws import draw_fresh
from abae.sampling.group_cells import GroupCells
from abae.sampling.labelling import LabelRecorder
from abae.sampling.progress import ProgressCallback
from abae.sampling.stratified_sample import StratifiedSample
from abae.sampling.stratum_stats import StratumStats, stratum_stats


@dataclass(frozen=True, eq=False)
class CellLabels:
    """Every label drawn from the cells, in labelling order (arrays ``(n,)``).

    Attributes:
        indices: labelled record indices, int64.
        predicate: their predicate, bool (False where ``missing``).
        statistic: their statistic, float64 (NaN where not positive, or where
            a positive's statistic is missing).
        missing: bool, True where the predicate label is missing (paid for,
            no answer): missing data within its cell.
        cell: the cell each was drawn from, int64.
        stage: the stage each was drawn in (1 or 2), int8.
        groups: the group key the oracle returned for each, object
            (``None`` when the oracle returns no group).
    """

    indices: npt.NDArray[np.int64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]
    missing: npt.NDArray[np.bool_]
    cell: npt.NDArray[np.int64]
    stage: npt.NDArray[np.int8]
    groups: npt.NDArray[Any] | None

    def cell_stats(
        self, n_cells: int, positive: npt.NDArray[np.bool_] | None = None
    ) -> StratumStats:
        """Per-cell statistics ``(C,)`` of the labels, with ``positive`` as the predicate."""
        predicate = self.predicate if positive is None else positive
        return stratum_stats(self.cell, predicate, self.statistic, n_cells, self.missing)

    def sample(
        self,
        sizes: npt.NDArray[np.int64],
        keep: npt.NDArray[np.bool_] | None = None,
        positive: npt.NDArray[np.bool_] | None = None,
        first_cell: int = 0,
    ) -> StratifiedSample:
        """The labels as a :class:`StratifiedSample` over cells ``first_cell ..``.

        Args:
            sizes: sizes of the sample's strata (cells ``first_cell ..``).
            keep: which labels belong to the sample (default: all).
            positive: the predicate to use instead of ``predicate`` (e.g. the
                predicate and "in group g"), bool ``(n,)``.
            first_cell: the cell that becomes stratum 0.
        """
        rows = np.ones(self.indices.shape[0], np.bool_) if keep is None else keep
        predicate = self.predicate if positive is None else positive
        return StratifiedSample(
            sizes=sizes,
            indices=self.indices[rows],
            predicate=predicate[rows],
            statistic=self.statistic[rows],
            stratum=self.cell[rows] - first_cell,
            stage=self.stage[rows],
            missing=self.missing[rows],
        )


class CellSampler:
    """Draws records uniformly without replacement inside cells and labels them.

    Each :meth:`draw` sends all its records to the oracle in one call (through
    a :class:`LabelRecorder`, which refuses to exceed the budget or to label a
    record twice). A label that comes back missing is kept, marked missing.

    Args:
        cells: the cells.
        recorder: the oracle with its budget.
        rng: randomness for the draws.
    """

    def __init__(self, cells: GroupCells, recorder: LabelRecorder, rng: np.random.Generator):
        self.cells = cells
        self._recorder = recorder
        self._rng = rng
        self._taken: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(len(cells))]
        self._labelled = np.zeros(len(cells), dtype=np.int64)
        self._parts: list[tuple[Any, ...]] = []

    @property
    def labelled(self) -> npt.NDArray[np.int64]:
        """Labels drawn so far per cell, int64 ``(C,)``."""
        return self._labelled.copy()

    @property
    def room(self) -> npt.NDArray[np.int64]:
        """Records not yet drawn per cell, int64 ``(C,)``."""
        return self.cells.sizes - self._labelled

    def draw(
        self, counts: npt.NDArray[np.int64], stage: int, on_progress: ProgressCallback | None
    ) -> None:
        """Draw ``counts[c]`` fresh records from each cell and label them in one oracle call."""
        picked: list[npt.NDArray[np.int64]] = []
        for c in np.flatnonzero(counts).tolist():
            taken = np.concatenate(self._taken[c]) if self._taken[c] else np.empty(0, np.int64)
            positions = draw_fresh(int(self.cells.sizes[c]), taken, int(counts[c]), self._rng)
            self._taken[c].append(positions)
            picked.append(self.cells.order[self.cells.starts[c] + positions])
        if not picked:
            return
        indices = np.concatenate(picked)
        cell = np.repeat(np.flatnonzero(counts), counts[counts > 0]).astype(np.int64)
        answer = self._recorder.label_records(indices)
        self._labelled += counts
        self._parts.append(
            (
                indices,
                answer.predicate,
                answer.statistic,
                answer.missing,
                cell,
                stage,
                answer.groups,
            )
        )
        self._recorder.report(stage, float("nan"), on_progress)

    def labels(self) -> CellLabels:
        """Every label so far."""
        if not self._parts:
            empty = np.empty(0, np.int64)
            none = np.empty(0, np.bool_)
            return CellLabels(empty, none, np.empty(0), none, empty, np.empty(0, np.int8), None)
        parts = list(zip(*self._parts, strict=True))
        groups = parts[6]
        return CellLabels(
            indices=np.concatenate(parts[0]),
            predicate=np.concatenate(parts[1]),
            statistic=np.concatenate(parts[2]),
            missing=np.concatenate(parts[3]),
            cell=np.concatenate(parts[4]),
            stage=np.concatenate(
                [np.full(i.size, st, np.int8) for i, st in zip(parts[0], parts[5], strict=True)]
            ),
            groups=None if groups[0] is None else np.concatenate(groups),
        )
