"""Choosing among several proxies by the pilot estimate of ABae's error constant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from abae.sampling.fresh_draws import draw_fresh
from abae.sampling.labelling import LabelRecorder, Oracle
from abae.sampling.strata import make_strata
from abae.sampling.stratum_stats import stratum_stats
from abae.sampling.validation import (
    RandomState,
    check_budget,
    check_positive_int,
    check_rng,
    check_scores,
)


def oracle_allocation_constant(p: npt.ArrayLike, sigma: npt.ArrayLike) -> float:
    """ABae's error constant ``(Σ_k √p_k σ_k)² / (Σ_k p_k)²``.

    With the optimal allocation, the AVG estimate's MSE is about this constant
    divided by the stage-2 budget (up to the number of strata), so a smaller
    value means a better proxy.

    Args:
        p: positive rate per stratum, shape ``(K,)``, in [0, 1].
        sigma: standard deviation of the statistic over positives per stratum,
            shape ``(K,)``; NaN (undefined, e.g. one positive) counts as 0.

    Returns:
        The constant; NaN when ``Σ p_k = 0`` (no positives: undefined).

    Raises:
        ValueError: mismatched shapes, or ``p`` outside [0, 1].

    Example:
        >>> oracle_allocation_constant([0.25, 1.0], [2.0, 1.0])
        2.56
    """
    p_arr = np.asarray(p, dtype=np.float64)
    s_arr = np.asarray(sigma, dtype=np.float64)
    if p_arr.ndim != 1 or p_arr.shape != s_arr.shape:
        raise ValueError(
            f"p and sigma must be 1-D of the same length, got shapes {p_arr.shape} and {s_arr.shape}"
        )
    if not np.isfinite(p_arr).all() or (p_arr < 0).any() or (p_arr > 1).any():
        raise ValueError(f"p must hold rates in [0, 1], got {p_arr.tolist()}")
    total = float(p_arr.sum())
    if total == 0.0:
        return float("nan")
    spread = float(np.sum(np.sqrt(p_arr) * np.nan_to_num(s_arr)))
    return spread**2 / total**2


def proxy_constants_from_labels(
    candidates: Mapping[str, npt.ArrayLike],
    indices: npt.ArrayLike,
    predicate: npt.ArrayLike,
    statistic: npt.ArrayLike,
    *,
    strata: int = 5,
    rng: RandomState,
) -> dict[str, float]:
    """Estimate :func:`oracle_allocation_constant` for each proxy from labels in hand.

    The labels must come from a uniform random sample of records (e.g. a
    pilot, or labels already cached in a ledger that were drawn uniformly):
    within any proxy's strata such a sample is uniform too, so one sample
    serves every candidate.

    Args:
        candidates: proxy name to scores ``(N,)``; all of the same length.
        indices: labelled record indices ``(n,)``.
        predicate: their predicate ``(n,)`` (bool).
        statistic: their statistic ``(n,)``.
        strata: number of strata ``K``.
        rng: randomness for the strata's tie-breaking (an int seed, a Generator or None).

    Returns:
        Name to constant (NaN where the sample has no positive).
    """
    if not candidates:
        raise ValueError("candidates is empty: give at least one proxy")
    idx = np.asarray(indices, dtype=np.int64)
    pred = np.asarray(predicate, dtype=np.bool_)
    stat = np.asarray(statistic, dtype=np.float64)
    if not (idx.shape == pred.shape == stat.shape) or idx.ndim != 1:
        raise ValueError(
            f"indices, predicate and statistic must be 1-D of one length, got shapes "
            f"{idx.shape}, {pred.shape}, {stat.shape}"
        )
    generator = check_rng(rng)
    constants: dict[str, float] = {}
    n_records: int | None = None
    for name, scores in candidates.items():
        values = check_scores(scores, f"proxy {name!r}")
        if n_records is not None and values.shape[0] != n_records:
            raise ValueError(
                f"proxy {name!r} has {values.shape[0]} scores but the first proxy has "
                f"{n_records}; every proxy needs one score per record"
            )
        n_records = values.shape[0]
        if idx.size and (idx.min() < 0 or idx.max() >= n_records):
            raise ValueError(f"labelled indices must lie in [0, {n_records}) for proxy {name!r}")
        layout = make_strata(values, min(strata, n_records), generator)
        stats = stratum_stats(layout.stratum_of()[idx], pred, stat, len(layout))
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.nan_to_num(stats.p)
        constants[name] = oracle_allocation_constant(p, stats.std)
    return constants


@dataclass(frozen=True, eq=False)
class ProxySelection:
    """The outcome of :func:`select_proxy`.

    Attributes:
        best: the name of the chosen proxy (smallest constant).
        constants: every proxy's estimated constant (NaN where undefined).
        indices, predicate, statistic: the pilot labels, arrays ``(n,)``,
            reusable by the caller.
        warnings: notes, e.g. a pilot without positives.
    """

    best: str
    constants: dict[str, float]
    indices: npt.NDArray[np.int64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]
    warnings: list[str] = field(default_factory=list)


def select_proxy(
    candidates: Mapping[str, npt.ArrayLike],
    oracle: Oracle,
    pilot_budget: int,
    *,
    strata: int = 5,
    rng: RandomState = None,
) -> ProxySelection:
    """Pick the proxy with the smallest pilot estimate of ``(Σ√p_kσ_k)²/(Σp_k)²``.

    Labels one uniform random pilot of ``pilot_budget`` records (one oracle
    call) and scores every candidate on it with
    :func:`proxy_constants_from_labels`.

    Args:
        candidates: proxy name to scores ``(N,)``.
        oracle: ``oracle(indices) -> (predicate, statistic)``.
        pilot_budget: records to label for the pilot.
        strata: number of strata ``K``.
        rng: randomness: an int seed, a Generator, or ``None`` (fresh entropy).

    Returns:
        The :class:`ProxySelection`; if no pilot label is positive every
        constant is NaN and the first candidate is returned with a warning.
    """
    if not candidates:
        raise ValueError("candidates is empty: give at least one proxy")
    first = check_scores(next(iter(candidates.values())), "first proxy")
    n_records = first.shape[0]
    pilot_budget = check_budget(pilot_budget, 1, "at least one pilot label")
    check_positive_int(strata, "strata")
    rng = check_rng(rng)
    recorder = LabelRecorder(oracle, n_records, pilot_budget)
    indices = draw_fresh(n_records, np.empty(0, np.int64), min(pilot_budget, n_records), rng)
    predicate, statistic, _ = recorder.label(indices)
    constants = proxy_constants_from_labels(
        candidates, indices, predicate, statistic, strata=strata, rng=rng
    )
    finite = {name: c for name, c in constants.items() if np.isfinite(c)}
    warnings: list[str] = []
    if finite:
        best = min(finite, key=finite.__getitem__)
    else:
        best = next(iter(candidates))
        warnings.append(
            f"the pilot of {indices.size} labels found no positive: no proxy can be preferred; "
            f"returning the first, {best!r}"
        )
    return ProxySelection(best, constants, indices, predicate, statistic, warnings)
