"""Cells for GROUP BY: records split by group, then by proxy-score quantile within it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abae.sampling.allocation import allocate_stage2, capped_water_fill
from abae.sampling.strata import make_strata

MIN_PILOT_PER_CELL = 2
"""Stage-1 labels a cell should get: with fewer, its variance cannot be estimated."""


@dataclass(frozen=True, eq=False)
class GroupCells:
    """A partition of ``N`` records into cells, group × proxy-score stratum.

    The cells of group ``g`` are ``first_cell[g] .. first_cell[g + 1] - 1``,
    ordered by proxy score, lowest first; their records are contiguous in
    ``order``. Cell ``c`` holds ``order[starts[c] : starts[c] + sizes[c]]``.

    Attributes:
        order: int64 ``(N,)``, every record index once, cell by cell.
        starts: int64 ``(C,)``, where each cell begins in ``order``.
        sizes: int64 ``(C,)``, records per cell ``N_c`` (at least 1).
        group: int64 ``(C,)``, the group of each cell (non-decreasing).
        first_cell: int64 ``(G + 1,)``, the first cell of each group and ``C``.
    """

    order: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]
    first_cell: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.sizes.shape[0])

    @property
    def n_groups(self) -> int:
        """Number of groups ``G``."""
        return int(self.first_cell.shape[0] - 1)

    @property
    def group_sizes(self) -> npt.NDArray[np.int64]:
        """Records per group, int64 ``(G,)``."""
        return np.bincount(self.group, weights=self.sizes, minlength=self.n_groups).astype(np.int64)

    def cells_of(self, group: int) -> slice:
        """The cells of ``group`` as a slice into the ``(C,)`` arrays."""
        return slice(int(self.first_cell[group]), int(self.first_cell[group + 1]))

    def members(self, cell: int) -> npt.NDArray[np.int64]:
        """Record indices of ``cell`` (a view into ``order``)."""
        start = int(self.starts[cell])
        return self.order[start : start + int(self.sizes[cell])]

    def cell_of_records(self) -> npt.NDArray[np.int64]:
        """The cell of every record, int64 ``(N,)`` (one O(N) pass)."""
        cells = np.empty(self.order.shape[0], dtype=np.int64)
        cells[self.order] = np.repeat(np.arange(len(self), dtype=np.int64), self.sizes)
        return cells


def strata_per_group(
    group_sizes: npt.NDArray[np.int64], pilot: npt.NDArray[np.int64], strata: int
) -> npt.NDArray[np.int64]:
    """Proxy strata for each group: ``min(K, N_g, max(1, floor(pilot_g / 2)))``.

    A group gets fewer than ``K`` strata when it has fewer records, or when
    its stage-1 labels cannot give every stratum :data:`MIN_PILOT_PER_CELL`
    labels (a stratum with a single label has no variance estimate).

    Args:
        group_sizes: records per group, int ``(G,)``, each at least 1.
        pilot: stage-1 labels per group, int ``(G,)``.
        strata: the number of strata ``K`` asked for.

    Returns:
        int64 ``(G,)``, each in ``[1, K]``.

    Example:
        >>> strata_per_group(np.array([1000, 3, 1000]), np.array([50, 3, 4]), 5).tolist()
        [5, 1, 2]
    """
    by_pilot = np.maximum(1, np.asarray(pilot, dtype=np.int64) // MIN_PILOT_PER_CELL)
    return np.minimum(np.minimum(strata, group_sizes), by_pilot).astype(np.int64)


def make_group_cells(
    scores: npt.NDArray[np.float64],
    codes: npt.NDArray[np.integer],
    strata: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> GroupCells:
    """Split records by group, then each group into equal-size proxy strata.

    Records are put in group order once (a stable counting sort of the codes);
    each group is then cut by :func:`~abae.sampling.strata.make_strata` (an
    ``argpartition``, ties split at random), so the cost is O(N) plus one
    partition pass, with a Python loop over groups only.

    Args:
        scores: finite proxy scores, float64 ``(N,)``.
        codes: group of each record, ints in ``[0, G)``, ``(N,)``; every group
            must hold at least one record.
        strata: strata per group, int ``(G,)``, ``1 <= strata[g] <= N_g``.
        rng: randomness for tie-breaking.

    Returns:
        The :class:`GroupCells`.

    Example:
        >>> cells = make_group_cells(np.array([0.1, 0.9, 0.5, 0.2]), np.array([1, 0, 1, 1]),
        ...                          np.array([1, 2]), np.random.default_rng(0))
        >>> cells.sizes.tolist(), cells.group.tolist()
        ([1, 2, 1], [0, 1, 1])
        >>> [sorted(cells.members(c).tolist()) for c in range(len(cells))]
        [[1], [0, 3], [2]]
    """
    n_groups = int(strata.shape[0])
    narrow = np.min_scalar_type(max(n_groups - 1, 0))
    by_group = np.argsort(codes.astype(narrow, copy=False), kind="stable").astype(np.int64)
    group_sizes = np.bincount(codes, minlength=n_groups).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(group_sizes)])
    pieces: list[npt.NDArray[np.int64]] = []
    sizes: list[npt.NDArray[np.int64]] = []
    for g in range(n_groups):
        members = by_group[offsets[g] : offsets[g + 1]]
        layout = make_strata(scores[members], int(strata[g]), rng)
        pieces.extend(members[m] for m in layout.members)
        sizes.append(layout.sizes)
    cell_sizes = np.concatenate(sizes).astype(np.int64)
    counts = np.asarray(strata, dtype=np.int64)
    return GroupCells(
        order=np.concatenate(pieces),
        starts=np.concatenate([[0], np.cumsum(cell_sizes)[:-1]]).astype(np.int64),
        sizes=cell_sizes,
        group=np.repeat(np.arange(n_groups, dtype=np.int64), counts),
        first_cell=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
    )


def even_split(cells: GroupCells, per_group: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``per_group[g]`` labels spread evenly over group ``g``'s cells, int64 ``(C,)``.

    The remainder goes to the group's first cells, which are also the larger
    ones (equal-size strata put the extra records first), so no cell overflows
    when ``per_group[g] <= N_g``.

    Example:
        >>> cells = make_group_cells(np.arange(7.0), np.array([0, 0, 0, 0, 0, 1, 1]),
        ...                          np.array([2, 1]), np.random.default_rng(0))
        >>> even_split(cells, np.array([3, 2])).tolist()
        [2, 1, 2]
    """
    counts = np.diff(cells.first_cell)
    position = np.arange(len(cells)) - cells.first_cell[cells.group]
    whole = per_group[cells.group] // counts[cells.group]
    extra = position < per_group[cells.group] % counts[cells.group]
    return np.minimum(whole + extra, cells.sizes).astype(np.int64)


@dataclass(frozen=True, eq=False)
class CellPlan:
    """Cells and their stage-1 draws, before any oracle call.

    Attributes:
        cells: the :class:`GroupCells`.
        stage1: stage-1 draws per cell, int64 ``(C,)``.
        pilot: stage-1 draws per group, int64 ``(G,)``.
    """

    cells: GroupCells
    stage1: npt.NDArray[np.int64]
    pilot: npt.NDArray[np.int64]


def plan_cells(
    scores: npt.NDArray[np.float64],
    codes: npt.NDArray[np.integer],
    n_groups: int,
    spend: int,
    strata: int,
    stage1_share: float,
    rng: np.random.Generator,
    pilot_total: int | None = None,
) -> CellPlan:
    """The cells of a GROUP BY and its stage-1 draws, for ``spend`` oracle calls.

    Stage 1 gets ``max(G, floor(C·spend))`` draws, or ``pilot_total`` when
    given (an error target's smaller pilot; at most ``spend`` either way), split
    equally among the groups (a group smaller than its share is labelled in
    full and the rest shared equally among the others); a group gets :func:`strata_per_group` strata, and its draws are
    spread evenly over them (:func:`even_split`).

    Args:
        scores: proxy scores ranking records within their group, float64 ``(N,)``.
        codes: group of each record, ints ``0 .. G-1``, every group present.
        n_groups: ``G``.
        spend: oracle calls to be made, ``G <= spend <= N``.
        strata: strata per group ``K`` (fewer for small groups or pilots).
        stage1_share: ``C``, in (0, 1].
        rng: randomness for tie-breaking in the strata.
        pilot_total: stage-1 draws in all, ``>= G``; ``None``: from ``stage1_share``.

    Returns:
        The :class:`CellPlan`.

    Example:
        >>> plan = plan_cells(np.arange(100.0), np.repeat([0, 1], [90, 10]), 2, 40, 5, 0.5,
        ...                   np.random.default_rng(0))
        >>> plan.pilot.tolist(), plan.cells.sizes.tolist(), plan.stage1.tolist()
        ([10, 10], [18, 18, 18, 18, 18, 2, 2, 2, 2, 2], [2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    """
    group_sizes = np.bincount(codes, minlength=n_groups).astype(np.int64)
    if pilot_total is None:
        pilot_total = max(n_groups, int(np.floor(stage1_share * spend + 1e-9)))
    pilot_total = min(spend, pilot_total)
    level = capped_water_fill(np.ones(n_groups), np.zeros(n_groups), group_sizes, pilot_total)
    pilot = allocate_stage2(level, group_sizes, pilot_total)
    cells = make_group_cells(scores, codes, strata_per_group(group_sizes, pilot, strata), rng)
    return CellPlan(cells=cells, stage1=even_split(cells, pilot), pilot=pilot)
