"""``ERROR WITHIN``: how many labels a two-stage design needs for a target half-width.

The design is staged, not sequential: stage 1 (the usual pilot, smaller under a
target) estimates each stratum's residual variance; from it this module plans
the total labels ``n`` whose Neyman-style allocation brings the interval's
half-width to the target (:func:`abae.sampling.precision.labels_for_half_width`);
stage 2 then spends ``n`` less stage 1, capped by the budget, and the interval
is computed from all labels exactly as for a fixed budget.

Why staged: stopping the first time a naive interval looks narrow enough picks
the moment the variance happens to be underestimated, and loses coverage. Here
the sample size is fixed once, from stage-1 data only, like the stage-2
allocation ABae already makes, so the final interval keeps the coverage of a
fixed-budget run. To reach the target in most runs despite a noisy pilot, the
planning variance is an upper confidence bound (:data:`PLANNING_LEVEL`) from a
chi-square law with the pilot's degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from abae.sampling.distributions import gamma_quantile
from abae.sampling.estimators import combine_strata
from abae.sampling.precision import labels_for_half_width
from abae.sampling.stratum_stats import StratumStats

ExtraPlanner = Callable[
    [npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]],
    float,
]
"""``extra(indices, strata, sizes, shares) -> labels``: given the stage-1 labelled record
indices, their strata, the stratum sizes and the planned allocation shares, the labels
another estimate from the same sample needs for the target (``inf`` if it cannot tell)."""

PLANNING_LEVEL = 0.8
"""The planning variance is this upper confidence bound of the pilot's variance."""

TARGET_PILOT_PER_STRATUM = 40
"""Stage-1 labels per stratum under a target (at most the usual share of the cap)."""


@dataclass(frozen=True)
class PrecisionTarget:
    """A target half-width for an interval.

    Attributes:
        half_width: in the aggregate's unit, or a fraction of the estimate when
            ``relative`` (0.01 = 1%); ``> 0``.
        relative: whether ``half_width`` is relative to the estimate.
        extra: plans for other estimates made from the same sample (e.g. the
            other aggregates of a query, whose statistics the caller keeps):
            :data:`ExtraPlanner`; ``None``: only this aggregate.
    """

    half_width: float
    relative: bool = False
    extra: ExtraPlanner | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.half_width) and self.half_width > 0):
            raise ValueError(
                f"the target half-width must be a positive number, got {self.half_width}"
            )
        if self.relative and not self.half_width < 1:
            raise ValueError(
                f"a relative target is a fraction of the estimate below 1, got {self.half_width}"
            )

    def absolute(self, estimate: float) -> float:
        """The half-width in the aggregate's unit for an estimate (``nan`` if undefined)."""
        if not self.relative:
            return self.half_width
        return self.half_width * abs(estimate) if math.isfinite(estimate) else math.nan


def upper_variance_factor(degrees_of_freedom: float, level: float = PLANNING_LEVEL) -> float:
    """``ν / χ²_{1−level}(ν)``: the factor an estimated variance with ``ν`` degrees of
    freedom is multiplied by for its one-sided upper ``level`` confidence bound.

    Example:
        >>> round(upper_variance_factor(100), 3)
        1.137
    """
    if degrees_of_freedom <= 0:
        return math.inf
    chi2 = 2.0 * gamma_quantile(1.0 - level, degrees_of_freedom / 2.0)
    return degrees_of_freedom / chi2


def planned_labels(
    stats: StratumStats,
    sizes: npt.NDArray[np.int64],
    variances: npt.NDArray[np.float64],
    shares: npt.NDArray[np.float64],
    aggregate: str,
    target: PrecisionTarget,
    confidence: float,
    census: StratumStats | None = None,
) -> float:
    """Labels the design needs for ``target`` (``inf`` when the pilot cannot tell, e.g. AVG
    without a positive), from the pilot's statistics.

    Args:
        stats: the pilot's per-stratum statistics (fresh and placed known labels).
        sizes: stratum sizes ``N_k`` (known records excluded), ``(K,)``.
        variances: the residual variances ``S_k²`` the allocation plans with, ``(K,)``.
        shares: the allocation's shares of the labels, ``(K,)``.
        aggregate: ``"avg"``, ``"sum"`` or ``"count"``.
        target: the target.
        confidence: the interval's coverage.
        census: the known labels as one fully labelled stratum (adds exactly, no variance).
    """
    terms = _target_terms(stats, sizes, aggregate, target, confidence, census)
    if terms is None:
        return math.inf
    half, denominator, factor = terms
    return labels_for_half_width(sizes, variances * factor, shares, half, confidence, denominator)


def allowed_variance(
    stats: StratumStats,
    sizes: npt.NDArray[np.int64],
    aggregate: str,
    target: PrecisionTarget,
    confidence: float,
    census: StratumStats | None = None,
) -> float:
    """The planning variance ``Q`` the target allows: it is met when
    ``Σ_k N_k² S_k² (1/n_k − 1/N_k) <= Q`` (NaN when the pilot cannot tell).

    ``Q = (h/z)² D² / u`` with the target half-width ``h`` (relative targets:
    times the pilot's estimate), ``z`` the normal quantile, ``D`` the
    estimated positives for AVG (1 otherwise) and ``u`` the upper-bound factor
    of :func:`upper_variance_factor`: the same plan as :func:`planned_labels`,
    for designs whose allocation is not a fixed set of shares (GROUP BY over
    shared cells). Arguments as for :func:`planned_labels`.
    """
    terms = _target_terms(stats, sizes, aggregate, target, confidence, census)
    if terms is None:
        return math.nan
    half, denominator, factor = terms
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    return (half / z) ** 2 * denominator**2 / factor


def _target_terms(
    stats: StratumStats,
    sizes: npt.NDArray[np.int64],
    aggregate: str,
    target: PrecisionTarget,
    confidence: float,
    census: StratumStats | None,
) -> tuple[float, float, float] | None:
    """``(half-width, denominator D, upper-bound factor)`` of the plan, ``None`` if unknown."""
    p = np.nan_to_num(stats.p)
    product = np.nan_to_num(stats.mean_of_product)
    positives = float(np.dot(sizes, p))
    total = float(np.dot(sizes, product))
    if census is not None and census.labelled.sum() > 0:
        positives += float(census.positives.sum())
        total += float(census.sum_f.sum())
    point = {"count": positives, "sum": total}.get(aggregate, math.nan)
    if aggregate == "avg":
        point = total / positives if positives > 0 else math.nan
        if positives <= 0:
            return None
    half = target.absolute(float(point))
    if not (math.isfinite(half) and half > 0):
        return None
    evidence = float(stats.positives.sum() if aggregate != "count" else stats.labelled.sum())
    factor = upper_variance_factor(max(evidence - 1.0, 0.0))
    if not math.isfinite(factor):
        return None
    denominator = positives if aggregate == "avg" else 1.0
    return half, denominator, factor


def pilot_point(stats: StratumStats, sizes: npt.NDArray[np.int64], aggregate: str) -> float:
    """The pilot's estimate of the aggregate (NaN when undefined)."""
    return float(
        combine_strata(
            aggregate, sizes, np.nan_to_num(stats.p), np.nan_to_num(stats.mean_of_product)
        )
    )
