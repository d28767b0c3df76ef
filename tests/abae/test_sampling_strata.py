"""Stratification by proxy score: equal sizes, ordering, random tie-breaking."""

from __future__ import annotations

import numpy as np
import pytest

from abae.sampling import equal_stratum_sizes, make_strata


@pytest.mark.parametrize(("n", "k"), [(10, 1), (10, 3), (101, 5), (7, 7)])
def test_strata_partition_the_records_in_equal_sizes(n: int, k: int) -> None:
    scores = np.random.default_rng(0).random(n)
    strata = make_strata(scores, k, np.random.default_rng(1))
    assert len(strata) == k
    assert strata.sizes.tolist() == equal_stratum_sizes(n, k).tolist()
    assert strata.sizes.max() - strata.sizes.min() <= 1
    everything = np.sort(np.concatenate(strata.members))
    assert everything.tolist() == list(range(n))


def test_strata_are_ordered_by_score() -> None:
    scores = np.random.default_rng(2).normal(size=1000)
    strata = make_strata(scores, 5, np.random.default_rng(3))
    for low, high in zip(strata.members[:-1], strata.members[1:], strict=True):
        assert scores[low].max() <= scores[high].min()
    assert strata.cut_scores.tolist() == [scores[m].min() for m in strata.members[1:]]


def test_stratum_of_inverts_members() -> None:
    strata = make_strata(np.arange(12.0), 3, np.random.default_rng(0))
    assert strata.stratum_of().tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_ties_are_broken_at_random() -> None:
    scores = np.zeros(100)
    scores[:10] = -1.0  # always in the lowest stratum
    top = [
        set(make_strata(scores, 2, np.random.default_rng(s)).members[1].tolist())
        for s in range(200)
    ]
    assert all(len(t) == 50 for t in top)
    assert all(not t & set(range(10)) for t in top)
    share = np.zeros(100)
    for t in top:
        share[list(t)] += 1 / 200
    # each tied record lands in the top stratum with probability 50/90
    assert abs(share[10:].mean() - 50 / 90) < 1e-9
    assert share[10:].min() > 0.35
    assert share[10:].max() < 0.75


def test_same_seed_same_strata() -> None:
    scores = np.round(np.random.default_rng(4).random(500), 1)  # many ties
    a = make_strata(scores, 4, np.random.default_rng(9))
    b = make_strata(scores, 4, np.random.default_rng(9))
    assert all(np.array_equal(x, y) for x, y in zip(a.members, b.members, strict=True))


@pytest.mark.parametrize(
    ("scores", "k", "message"),
    [
        ([0.1, np.nan, 0.3], 2, "NaN or infinite"),
        ([0.1, np.inf, 0.3], 2, "NaN or infinite"),
        ([[0.1, 0.2]], 1, "1-D"),
        ([], 1, "empty"),
        ([0.1, 0.2], 3, "exceeds the number of records"),
        ([0.1, 0.2], 0, "at least 1"),
        (["a", "b"], 1, "real numbers"),
    ],
)
def test_bad_input_is_refused(scores: list[object], k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_strata(scores, k, np.random.default_rng(0))  # type: ignore[arg-type]
