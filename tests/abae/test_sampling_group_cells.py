"""GROUP BY cells: group × proxy stratum, strata per group, stage-1 plan."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abae.sampling.group_cells import (
    even_split,
    make_group_cells,
    plan_cells,
    strata_per_group,
)


def test_cells_partition_the_records_by_group_then_score() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(1000)
    codes = rng.integers(0, 3, 1000)
    cells = make_group_cells(scores, codes, np.array([4, 1, 3]), rng)
    assert np.array_equal(np.sort(cells.order), np.arange(1000))
    assert cells.group.tolist() == [0, 0, 0, 0, 1, 2, 2, 2]
    assert cells.first_cell.tolist() == [0, 4, 5, 8]
    assert np.array_equal(cells.group_sizes, np.bincount(codes))
    for g in range(3):
        mine = cells.cells_of(g)
        assert (cells.sizes[mine].max() - cells.sizes[mine].min()) <= 1
        highest = -np.inf
        for c in range(mine.start, mine.stop):
            members = cells.members(c)
            assert (codes[members] == g).all()
            assert scores[members].min() >= highest
            highest = scores[members].max()
    where = cells.cell_of_records()
    for c in range(len(cells)):
        assert (where[cells.members(c)] == c).all()


def test_tied_scores_are_split_at_random_within_a_group() -> None:
    scores = np.zeros(100)
    codes = np.repeat([0, 1], 50)
    first = make_group_cells(scores, codes, np.array([2, 2]), np.random.default_rng(1))
    second = make_group_cells(scores, codes, np.array([2, 2]), np.random.default_rng(2))
    assert first.sizes.tolist() == [25, 25, 25, 25]
    assert not np.array_equal(np.sort(first.members(0)), np.sort(second.members(0)))


def test_strata_per_group_shrinks_for_small_groups_and_small_pilots() -> None:
    sizes = np.array([1000, 3, 1000, 1000])
    pilot = np.array([50, 3, 4, 1])
    assert strata_per_group(sizes, pilot, 5).tolist() == [5, 1, 2, 1]


def test_plan_gives_each_group_an_equal_pilot_capped_at_its_size() -> None:
    codes = np.repeat([0, 1, 2], [900, 8, 92])
    plan = plan_cells(np.arange(1000.0), codes, 3, 200, 5, 0.5, np.random.default_rng(0))
    assert plan.pilot[1] == 8
    assert abs(int(plan.pilot[0]) - int(plan.pilot[2])) <= 1
    assert int(plan.stage1.sum()) == 100
    assert (plan.stage1 <= plan.cells.sizes).all()
    for g in range(3):
        assert int(plan.stage1[plan.cells.cells_of(g)].sum()) == plan.pilot[g]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(1, 40), min_size=1, max_size=6),
    st.integers(1, 6),
    st.integers(0, 2**32 - 1),
    st.data(),
)
def test_even_split_never_overflows_a_cell(
    group_sizes: list[int], k: int, seed: int, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.permutation(np.repeat(np.arange(len(group_sizes)), group_sizes))
    sizes = np.array(group_sizes)
    strata = np.minimum(k, sizes)
    cells = make_group_cells(rng.random(codes.size), codes, strata, rng)
    per_group = np.array([data.draw(st.integers(0, n)) for n in group_sizes])
    split = even_split(cells, per_group)
    assert (split <= cells.sizes).all()
    assert (split >= 0).all()
    for g in range(sizes.size):
        assert int(split[cells.cells_of(g)].sum()) == per_group[g]


def test_strata_per_group_needs_no_more_strata_than_records() -> None:
    with pytest.raises(ValueError, match="strata"):
        make_group_cells(
            np.arange(3.0), np.array([0, 0, 0]), np.array([4]), np.random.default_rng(0)
        )
