"""Stage-1 split and stage-2 allocation: proportions, caps, redistribution."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import abae
from abae.sampling import (
    StratumStats,
    allocate_stage2,
    draw_fresh,
    shrunk_variances,
    stage1_sizes,
    stage2_draws,
    stage2_weights,
    stratum_stats,
    top_up_weights,
)
from abae.sampling.allocation import capped_water_fill, increasing_fit


def test_allocation_follows_weights() -> None:
    assert allocate_stage2([1.0, 2.0, 1.0], [100, 100, 100], 40).tolist() == [10, 20, 10]


def test_rounding_remainder_goes_to_largest_fractions() -> None:
    allocation = allocate_stage2([1.0, 1.0, 1.0], [100, 100, 100], 10)
    assert allocation.sum() == 10
    assert sorted(allocation.tolist()) == [3, 3, 4]


def test_capped_excess_is_redistributed_by_weight() -> None:
    allocation = allocate_stage2([1.0, 10.0, 2.0], [50, 3, 50], 33)
    assert allocation.tolist() == [10, 3, 20]


def test_zero_weight_strata_get_draws_only_when_others_are_full() -> None:
    assert allocate_stage2([0.0, 1.0], [10, 5], 4).tolist() == [0, 4]
    assert allocate_stage2([0.0, 1.0], [10, 5], 8).tolist() == [3, 5]


def test_all_zero_weights_fall_back_to_remaining_capacity() -> None:
    assert allocate_stage2([0.0, 0.0], [30, 10], 8).tolist() == [6, 2]


def test_total_beyond_capacity_fills_everything() -> None:
    assert allocate_stage2([1.0, 5.0], [2, 3], 100).tolist() == [2, 3]


@pytest.mark.parametrize(
    ("weights", "capacity", "total", "message"),
    [
        ([1.0, 2.0], [1], 3, "same length"),
        ([1.0, -2.0], [1, 1], 1, "non-negative"),
        ([1.0, np.nan], [1, 1], 1, "finite"),
        ([1.0, 1.0], [1, -1], 1, "capacity"),
        ([1.0, 1.0], [1, 1], -1, "total"),
    ],
)
def test_bad_allocation_input(
    weights: list[float], capacity: list[int], total: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        allocate_stage2(weights, capacity, total)


def test_stage1_sizes_floor_share_and_cap() -> None:
    sizes = np.array([100, 100, 3])
    assert stage1_sizes(60, 0.5, sizes).tolist() == [10, 10, 3]
    assert stage1_sizes(3, 0.5, sizes).tolist() == [1, 1, 1]


def _stats(labelled: list[int], positives: list[int], f: list[list[float]]) -> StratumStats:
    sum_f = np.array([sum(v) for v in f])
    sum_f2 = np.array([sum(x * x for x in v) for v in f])
    return StratumStats(np.array(labelled), np.array(positives), sum_f, sum_f2)


def test_stage2_weights_formulas() -> None:
    # stratum 0: p = 0.5, values 1, 3 (mean 2, std √2); stratum 1: p = 1, values 10, 10, 10, 10
    stats = _stats([4, 4], [2, 4], [[1.0, 3.0], [10.0] * 4])
    sizes = np.array([100, 100])
    abae = stage2_weights(stats, sizes, "avg", "abae")
    np.testing.assert_allclose(abae, [100 * np.sqrt(0.5) * np.sqrt(2.0), 0.0])
    mu = (0.5 * 2 + 1.0 * 10) / 1.5
    avg = stage2_weights(stats, sizes, "avg", "variance")
    np.testing.assert_allclose(
        avg, [100 * np.sqrt(0.5 * 2 + 0.25 * (2 - mu) ** 2), 100 * np.sqrt(0.0)]
    )
    count = stage2_weights(stats, sizes, "count", "variance")
    np.testing.assert_allclose(count, [100 * 0.5, 0.0])
    total = stage2_weights(stats, sizes, "sum", "variance")
    np.testing.assert_allclose(total, [100 * np.sqrt(0.5 * 2 + 0.25 * 4), 0.0])
    np.testing.assert_allclose(stage2_weights(stats, sizes, "avg", "proportional"), [100, 100])


def test_draw_fresh_skips_taken_positions_and_is_uniform() -> None:
    taken = np.array([0, 2, 4, 6, 8])
    counts = np.zeros(10)
    for seed in range(2000):
        drawn = draw_fresh(10, taken, 2, np.random.default_rng(seed))
        assert len(set(drawn.tolist())) == 2
        assert not set(drawn.tolist()) & set(taken.tolist())
        counts[drawn] += 1
    free = counts[1::2] / 2000
    assert np.all(np.abs(free - 0.4) < 0.05)


def test_draw_fresh_refuses_too_many() -> None:
    with pytest.raises(ValueError, match="only 1 of 3 are free"):
        draw_fresh(3, np.array([0, 1]), 2, np.random.default_rng(0))


def _pilot(rates: list[float], n: int, seed: int, spread: float = 3.0) -> StratumStats:
    rng = np.random.default_rng(seed)
    k = len(rates)
    stratum = np.repeat(np.arange(k), n)
    predicate = rng.random(k * n) < np.array(rates)[stratum]
    statistic = np.where(predicate, rng.normal(10.0, spread, k * n), np.nan)
    return stratum_stats(stratum, predicate, statistic, k)


def test_increasing_fit_pools_adjacent_violators() -> None:
    np.testing.assert_allclose(
        increasing_fit([0.3, 0.1, 0.2, 0.6], [1, 1, 2, 1]), [0.2] * 3 + [0.6]
    )
    np.testing.assert_allclose(increasing_fit([0.3, 0.1, 0.1], [1, 1, 2]), [0.15] * 3)
    np.testing.assert_allclose(increasing_fit([0.0, 0.5, 0.4], [10, 0, 10]), [0.0, 0.4, 0.4])
    assert increasing_fit([1.0, 2.0], [1, 1]).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("aggregate", ["avg", "sum", "count"])
def test_robust_allocation_is_proportional_when_strata_do_not_differ(aggregate: str) -> None:
    # pilots from one population: any differences are noise, so the weights stay near flat
    # (a coefficient of variation of 2-5% where plain Neyman weights have 6-15%)
    sizes = np.full(5, 10_000)
    spreads = []
    for seed in range(20):
        weights = stage2_weights(_pilot([0.2] * 5, 100, seed), sizes, aggregate, "robust")
        spreads.append(weights.std() / weights.mean())
    plain = [
        (w := stage2_weights(_pilot([0.2] * 5, 100, seed), sizes, aggregate, "variance")).std()
        / w.mean()
        for seed in range(20)
    ]
    assert np.median(spreads) < 0.06
    assert np.median(spreads) < 0.5 * np.median(plain)


def test_robust_allocation_follows_clear_differences() -> None:
    sizes = np.full(3, 10_000)
    stats = _pilot([0.01, 0.2, 0.8], 200, 1)
    robust = stage2_weights(stats, sizes, "count", "robust")
    neyman = stage2_weights(stats, sizes, "count", "variance")
    np.testing.assert_allclose(robust / robust.sum(), neyman / neyman.sum(), atol=0.03)


def test_robust_allocation_never_reads_an_empty_pilot_as_certain() -> None:
    stats = _pilot([0.0, 0.0, 0.3], 50, 2)
    assert stats.positives[:2].sum() == 0
    for aggregate in ("avg", "sum", "count"):
        assert (shrunk_variances(stats, np.full(3, 1000), aggregate) > 0).all()
        assert stage2_weights(stats, np.full(3, 1000), aggregate, "variance")[0] == 0.0


def test_stage2_draws_count_stage1_labels_only_for_whole_sample_rules() -> None:
    weights, sizes, labelled = [1.0, 1.0], [100, 100], [30, 0]
    for rule in ("robust", "variance"):
        assert stage2_draws(weights, sizes, labelled, 30, rule).tolist() == [0, 30]
        assert stage2_draws(weights, sizes, labelled, 50, rule).tolist() == [10, 40]
    for rule in ("abae", "proportional"):
        assert stage2_draws(weights, sizes, labelled, 30, rule).tolist() == [15, 15]
    # caps: a stratum never gets more than the records it has left
    assert stage2_draws([1.0, 9.0], [100, 12], [2, 2], 40, "abae").tolist() == [30, 10]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.just(0.0), st.floats(0.01, 10.0)), st.integers(1, 60), st.integers(0, 60)
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, 400),
    st.sampled_from(["robust", "variance", "abae", "proportional"]),
)
def test_stage2_draws_spend_what_fits_within_each_stratum(
    strata: list[tuple[float, int, int]], total: int, rule: str
) -> None:
    weights = np.array([w for w, _, _ in strata])
    sizes = np.array([n for _, n, _ in strata])
    labelled = np.minimum([a for _, _, a in strata], sizes)
    draws = stage2_draws(weights, sizes, labelled, total, rule)
    room = sizes - labelled
    assert (draws >= 0).all()
    assert (draws <= room).all()
    assert draws.sum() == min(total, room.sum())
    if rule in ("robust", "variance"):
        # water-filling over the whole sample: no stratum is topped up past the level of
        # another that has weight and room left (up to rounding), whatever stage 1 drew
        final = labelled + draws
        weighted = weights > 0
        receivers = weighted & (draws > 0)
        still_open = weighted & (final < sizes)
        if receivers.any() and still_open.any():
            highest = ((final - 1.5) / np.where(weighted, weights, 1.0))[receivers].max()
            lowest = ((final + 1.5) / np.where(weighted, weights, 1.0))[still_open].min()
            assert highest <= lowest + 1e-9


@pytest.mark.parametrize("allocation", ["robust", "variance", "abae", "proportional"])
def test_estimate_and_group_by_place_stage2_by_the_same_rule(allocation: str) -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    scores = rng.random(n)
    positive = rng.random(n) < scores**2
    value = rng.lognormal(1.0 + scores, 0.5)
    codes = (rng.random(n) < 0.3).astype(np.int64)

    def oracle(i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return positive[i], value[i]

    single = abae.estimate(scores, oracle, 600, aggregate="sum", allocation=allocation, rng=4)
    estimates = [single]
    if allocation != "robust":  # robust GROUP BY plans its cells from a calibrated proxy
        grouped = abae.estimate_by_group(
            scores, codes, oracle, 900, aggregate="sum", allocation=allocation, rng=5
        )
        estimates += [grouped[0], grouped[1]]
    for result in estimates:
        table = result.strata
        first = result.labelled_stage == 1
        pilot = stratum_stats(
            result.labelled_stratum[first],
            result.labelled_predicate[first],
            result.labelled_statistic[first],
            len(table),
        )
        weights = stage2_weights(pilot, table.size, "sum", allocation)
        expected = stage2_draws(
            weights,
            table.size,
            table.stage1_labelled,
            int(table.stage2_allocation.sum()),
            allocation,
        )
        assert table.stage2_allocation.tolist() == expected.tolist()


@given(
    weights=st.lists(st.floats(1e-3, 10.0), min_size=2, max_size=8),
    stage1=st.lists(st.integers(0, 50), min_size=8, max_size=8),
    total=st.integers(0, 400),
)
def test_stage2_draws_equal_the_plain_top_up_when_no_stratum_fills_up(
    weights: list[float], stage1: list[int], total: int
) -> None:
    """With room everywhere, the capped water-filling is the plain top-up (the
    sampling benchmark's strata never fill up, so its figures hold for either).
    Two float paths: the continuous shares agree to rounding, and the integer
    draws they round to differ by at most one where shares tie."""
    k = len(weights)
    labelled = np.array(stage1[:k])
    sizes = np.full(k, 10**6)
    capped = capped_water_fill(weights, labelled, sizes, total)
    plain = top_up_weights(weights, labelled, total)
    np.testing.assert_allclose(capped, plain, rtol=1e-9, atol=1e-9 * max(total, 1))
    new = stage2_draws(weights, sizes, labelled, total, "robust")
    old = allocate_stage2(plain, sizes - labelled, total)
    assert new.sum() == old.sum() == total
    assert np.abs(new - old).max(initial=0) <= 1


def test_water_filling_is_exact_when_weights_span_many_orders_of_magnitude() -> None:
    """Found by the property test above: a running sum of slopes lost the tiny
    weights to rounding, turned negative, and gave every draw to one stratum."""
    weights = [1.7982460334138652, 3.0763548766243427, 5.6e-39, 5.6e-39]
    draws = capped_water_fill(weights, [0, 1, 1, 1], [10**6] * 4, 2)
    level = 3.0 / (weights[0] + weights[1])  # τ w0 + (τ w1 - 1) = 2
    np.testing.assert_allclose(draws, [level * weights[0], level * weights[1] - 1, 0, 0])
