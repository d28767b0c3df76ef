"""GROUP BY allocation: capped water-filling, minimax over shared cells, group costs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abae.sampling import StratumStats, capped_water_fill
from abae.sampling.group_allocation import (
    cell_variances,
    domain_variances,
    group_cost,
    group_weights,
    minimax_cell_allocation,
)


def _objective(w: np.ndarray, a: np.ndarray, n: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        terms = np.where(w > 0, w**2 / (a + n), 0.0)
    return float(terms.sum())


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32 - 1), st.floats(0.0, 1.2))
def test_water_fill_spends_the_total_within_caps_and_is_optimal(
    cells: int, seed: int, fraction: float
) -> None:
    rng = np.random.default_rng(seed)
    w = rng.random(cells) * (rng.random(cells) < 0.8)
    a = rng.integers(1, 5, cells).astype(float)
    sizes = a + rng.integers(0, 30, cells)
    total = fraction * float((sizes - a).sum())
    n = capped_water_fill(w, a, sizes, total)
    assert n.sum() == pytest.approx(min(total, float((sizes - a).sum())), abs=1e-6)
    assert (n >= -1e-12).all()
    assert (n <= sizes - a + 1e-9).all()
    # no transfer of draws between two cells lowers Σ w²/(a + n)
    best = _objective(w, a, n)
    for _ in range(20):
        i, j = rng.integers(0, cells, 2)
        step = min(0.5, n[i], sizes[j] - a[j] - n[j])
        if i == j or step <= 0:
            continue
        moved = n.copy()
        moved[i] -= step
        moved[j] += step
        assert _objective(w, a, moved) >= best - 1e-9 * max(best, 1.0)


def test_water_fill_counts_labels_already_drawn() -> None:
    assert capped_water_fill([1.0, 1.0], [6, 0], [100, 100], 4).tolist() == [0.0, 4.0]
    assert capped_water_fill([1.0, 1.0], [2, 0], [100, 100], 6).tolist() == [2.0, 4.0]
    # zero-weight cells get draws only once the others are full
    assert capped_water_fill([1.0, 0.0], [0, 0], [3, 10], 5).tolist() == [3.0, 2.0]


def test_minimax_with_one_group_is_neyman_allocation() -> None:
    a_matrix = np.array([[1.0, 4.0, 9.0]])
    draws, mix = minimax_cell_allocation(a_matrix, [1, 1, 1], [1000, 1000, 1000], 57)
    np.testing.assert_allclose(draws, capped_water_fill([1.0, 2.0, 3.0], [1, 1, 1], [1000] * 3, 57))
    assert mix.tolist() == [1.0]


def test_minimax_over_disjoint_cells_equalises_the_groups_like_the_closed_form() -> None:
    # group g owns cell g: V_g = A_g/(1 + n_g), equal at the optimum: n_g + 1 ∝ A_g
    a_matrix = np.diag([1.0, 2.0, 5.0])
    draws, _ = minimax_cell_allocation(a_matrix, [1, 1, 1], [10**6] * 3, 77)
    totals = draws + 1.0
    np.testing.assert_allclose(totals / totals.sum(), [1 / 8, 2 / 8, 5 / 8], rtol=1e-2)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(2, 10), st.integers(0, 2**32 - 1))
def test_minimax_beats_every_random_allocation(groups: int, cells: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a_matrix = rng.random((groups, cells)) ** 3 * (rng.random((groups, cells)) < 0.8)
    already = np.full(cells, 2.0)
    sizes = rng.integers(5, 200, cells)
    total = int(rng.integers(1, int((sizes - already).sum())))
    draws, mix = minimax_cell_allocation(a_matrix, already, sizes, total)
    assert draws.sum() == pytest.approx(total)
    assert mix.sum() == pytest.approx(1.0)
    worst = cell_variances(a_matrix, already + draws, sizes).max()
    for _ in range(200):
        other = rng.dirichlet(np.ones(cells)) * total
        if (other > sizes - already).any():
            continue
        assert cell_variances(a_matrix, already + other, sizes).max() >= worst * (1 - 2e-3)


def _stats(labelled: list[int], positives: list[int], mean: float, std: float) -> StratumStats:
    n = np.array(labelled)
    a = np.array(positives)
    sum_f = a * mean
    sum_f2 = np.where(a > 0, (a - 1) * std**2 + a * mean**2, 0.0)
    return StratumStats(n, a, sum_f.astype(float), sum_f2.astype(float), a)


def test_group_cost_with_the_paper_rule_is_the_paper_constant() -> None:
    stats = _stats([100, 100, 100], [10, 30, 60], 5.0, 2.0)
    sizes = np.array([1000, 1000, 1000])
    p = np.array([0.1, 0.3, 0.6])
    expected = (np.sum(np.sqrt(p) * 2.0)) ** 2 / p.sum() ** 2
    assert group_cost(stats, sizes, "avg", "abae") == pytest.approx(expected, rel=1e-9)


def test_group_weights_are_unknown_with_fewer_than_two_positives() -> None:
    sizes = np.array([1000, 1000])
    assert np.isnan(group_weights(_stats([50, 50], [0, 1], 3.0, 1.0), sizes, "avg", "robust")).all()
    assert np.isnan(group_cost(_stats([50, 50], [0, 0], 3.0, 1.0), sizes, "count", "variance"))


def test_count_and_sum_costs_are_relative_to_the_group_total() -> None:
    sizes = np.array([1000, 1000])
    small = _stats([100, 100], [5, 10], 2.0, 1.0)
    large_sizes = sizes * 10
    # ten times the records, same rates: same relative error constant
    assert group_cost(small, large_sizes, "count", "variance") == pytest.approx(
        group_cost(small, sizes, "count", "variance")
    )


def test_domain_variances_follow_the_planned_rates() -> None:
    sizes = np.array([10_000, 10_000, 10_000])
    stats = _stats([100, 100, 100], [0, 0, 6], 5.0, 1.0)
    rates = np.array([0.001, 0.01, 0.06])
    count = domain_variances(stats, sizes, "count", rates)
    np.testing.assert_allclose(count, rates * (1 - rates))
    # AVG: the spread of the statistic times the rate (equal means: no between-cell term)
    avg = domain_variances(stats, sizes, "avg", rates)
    np.testing.assert_allclose(avg, rates * 1.0, rtol=1e-9)
