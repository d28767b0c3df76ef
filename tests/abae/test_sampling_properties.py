"""Property tests (hypothesis): budget, uniqueness and exactness for any sizes."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

import abae
from abae.sampling import allocate_stage2


@st.composite
def problems(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 400))
    k = draw(st.integers(1, min(n, 12)))
    budget = draw(st.integers(k, n + 40))
    return {
        "n": n,
        "strata": k,
        "budget": budget,
        "seed": draw(st.integers(0, 2**32 - 1)),
        "aggregate": draw(st.sampled_from(["avg", "sum", "count"])),
        "allocation": draw(st.sampled_from(["variance", "abae", "proportional"])),
        "ci": draw(st.sampled_from(["bootstrap", "bca", "normal"])),
        "stage1_share": draw(st.sampled_from([0.1, 0.5, 1.0])),
        "tied_scores": draw(st.booleans()),
    }


@settings(max_examples=60, deadline=None)
@given(problems())
def test_never_over_budget_never_twice_exact_at_full_budget(problem: dict[str, Any]) -> None:
    rng = np.random.default_rng(problem["seed"])
    n = problem["n"]
    scores = rng.integers(0, 3, n).astype(float) if problem["tied_scores"] else rng.random(n)
    predicate = rng.random(n) < scores / 3.0 + 0.1
    statistic = rng.normal(5.0, 2.0, n)
    seen: list[npt.NDArray[np.int64]] = []

    def oracle(indices: npt.NDArray[np.int64]) -> tuple[Any, Any]:
        seen.append(indices.copy())
        return predicate[indices], statistic[indices]

    result = abae.estimate(
        scores,
        oracle,
        problem["budget"],
        aggregate=problem["aggregate"],
        strata=problem["strata"],
        allocation=problem["allocation"],
        ci=problem["ci"],
        stage1_share=problem["stage1_share"],
        rng=rng,
        bootstrap_replicates=50,
    )
    labelled = np.concatenate(seen)
    assert labelled.size == result.oracle_calls == min(problem["budget"], n)
    assert np.unique(labelled).size == labelled.size
    assert labelled.min() >= 0
    assert labelled.max() < n
    if problem["budget"] >= n:
        if problem["aggregate"] == "count":
            truth = float(predicate.sum())
        elif problem["aggregate"] == "sum":
            truth = float(statistic[predicate].sum())
        else:
            truth = float(statistic[predicate].mean()) if predicate.any() else np.nan
        np.testing.assert_allclose(result.estimate, truth, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(result.ci_low, truth, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(result.ci_high, truth, rtol=1e-9, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 100), st.integers(0, 50)), min_size=1, max_size=10),
    st.integers(0, 600),
)
def test_allocation_is_capped_and_complete(strata: list[tuple[float, int]], total: int) -> None:
    weights = np.array([w for w, _ in strata])
    capacity = np.array([c for _, c in strata])
    allocation = allocate_stage2(weights, capacity, total)
    assert allocation.sum() == min(total, capacity.sum())
    assert (allocation >= 0).all()
    assert (allocation <= capacity).all()
    positive = (weights > 0) & (capacity > 0)
    if positive.any() and allocation.sum() < capacity[positive].sum():
        assert allocation[~positive].sum() == 0  # zero-weight strata only once others are full
