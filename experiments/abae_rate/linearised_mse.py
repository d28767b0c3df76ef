"""First-order (linearised) predictions of the AVG estimator's MSE from population moments.

For ``K`` strata of sizes ``N_k`` with positive rates ``p_k``, means ``m_k`` and
standard deviations ``σ_k`` of the statistic over positives, and ``μ`` the true
AVG, the ratio estimator ``Σ N_k t̂_k / Σ N_k p̂_k`` has, to first order,

    MSE ≈ Σ_k N_k² S_k² (1/n_k − 1/N_k) / (Σ_k N_k p_k)²,
    S_k² = p_k σ_k² + p_k (1 − p_k)(m_k − μ)²,

when stratum ``k`` gets ``n_k`` labels. With equal strata, no finite-population
correction, ``m_k = μ`` and the allocation ``n_k ∝ √p_k σ_k`` this is
``(Σ√p_kσ_k)² / ((Σp_k)² N)``: the oracle-allocation constant over ``N``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from populations import SortedPopulation

from abae.sampling import make_strata, oracle_allocation_constant, top_up_weights

STRATA_SEED = 0
"""Seed of the (tie-breaking only) randomness when cutting a population into strata."""


@dataclass(frozen=True, eq=False)
class StratumMoments:
    """Population moments per stratum, arrays of shape ``(K,)``, lowest scores first.

    Attributes:
        sizes: records per stratum ``N_k``.
        p: positive rate ``p_k``.
        mean: mean statistic over positives ``m_k`` (0 where no positive).
        std: standard deviation (ddof 0) over positives ``σ_k`` (0 where < 2 positives).
        residual_sd: ``S_k``, the standard deviation of ``O (f − μ)`` in the stratum.
        avg: the population AVG ``μ`` (a scalar).
    """

    sizes: npt.NDArray[np.int64]
    p: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]
    residual_sd: npt.NDArray[np.float64]
    avg: float

    @property
    def allocation_constant(self) -> float:
        """The oracle-allocation constant ``(Σ√p_kσ_k)² / (Σp_k)²``."""
        return oracle_allocation_constant(self.p, self.std)

    @property
    def neyman_constant(self) -> float:
        """``(Σ S_k)² / (Σ p_k)²``: N·MSE under the best allocation for the ratio estimator.

        Equals :attr:`allocation_constant` when every stratum mean is ``μ``.
        """
        return float(self.residual_sd.sum() ** 2 / self.p.sum() ** 2)


def stratum_moments(population: SortedPopulation, strata: int = 5) -> StratumMoments:
    """Cut ``population`` into ``strata`` equal strata by score, as ``abae.estimate`` does."""
    layout = make_strata(population.scores, strata, np.random.default_rng(STRATA_SEED))
    p = np.empty(strata)
    mean = np.zeros(strata)
    std = np.zeros(strata)
    residual = np.empty(strata)
    mu = population.truth
    for k, members in enumerate(layout.members):
        positive = population.predicate[members]
        values = population.statistic[members][positive]
        p[k] = positive.mean()
        if values.size:
            mean[k] = values.mean()
        if values.size > 1:
            std[k] = values.std()
        residual[k] = np.where(positive, population.statistic[members] - mu, 0.0).std()
    return StratumMoments(layout.sizes.copy(), p, mean, std, residual, mu)


def asymptotic_labels(
    moments: StratumMoments, budget: int, stage1_share: float, allocation: str
) -> npt.NDArray[np.float64]:
    """Labels per stratum ``n_k`` (continuous, shape ``(K,)``) once the pilot is exact.

    Stage 1 puts ``C·budget/K`` in every stratum; stage 2 spreads the rest by
    ``allocation`` computed from the true moments: ``"abae"`` (``N_k√p_kσ_k``),
    ``"variance"`` (top the whole sample up towards ``N_k S_k``) or
    ``"proportional"``. Caps at the stratum sizes are not applied.
    """
    k = moments.sizes.shape[0]
    stage1 = np.full(k, stage1_share * budget / k)
    stage2 = (1.0 - stage1_share) * budget
    sizes = moments.sizes.astype(np.float64)
    if allocation == "abae":
        weights = sizes * np.sqrt(moments.p) * moments.std
        extra = stage2 * weights / weights.sum()
    elif allocation == "variance":
        extra = top_up_weights(sizes * moments.residual_sd, stage1, round(stage2))
    elif allocation == "proportional":
        extra = stage2 * sizes / sizes.sum()
    else:
        raise ValueError(
            f"allocation must be 'abae', 'variance' or 'proportional', got {allocation!r}"
        )
    return np.asarray(stage1 + extra, dtype=np.float64)


def linearised_mse(moments: StratumMoments, labels: npt.ArrayLike) -> float:
    """First-order MSE of the AVG ratio estimator with ``labels[k]`` labels in stratum ``k``.

    Includes the finite-population correction ``1 − n_k/N_k``.

    Raises:
        ValueError: ``labels`` of the wrong shape, or not in ``(0, N_k]``.
    """
    n = np.asarray(labels, dtype=np.float64)
    sizes = moments.sizes.astype(np.float64)
    if n.shape != sizes.shape:
        raise ValueError(f"labels must have shape {sizes.shape} (one per stratum), got {n.shape}")
    if (n <= 0).any() or (n > sizes).any():
        raise ValueError(f"labels must lie in (0, N_k] = (0, {sizes.tolist()}], got {n.tolist()}")
    numerator = np.sum(sizes**2 * moments.residual_sd**2 * (1.0 / n - 1.0 / sizes))
    return float(numerator / np.dot(sizes, moments.p) ** 2)


def uniform_mse(moments: StratumMoments, budget: int) -> float:
    """First-order MSE of the AVG from ``budget`` uniform draws (no proxy), with FPC."""
    sizes = moments.sizes.astype(np.float64)
    total = sizes.sum()
    # variance of O (f − μ) over all records (its overall mean is 0): within-stratum
    # variance S_k² plus the squared stratum mean p_k (m_k − μ)
    within_mean = moments.p * (moments.mean - moments.avg)
    second_moment = np.dot(sizes, moments.residual_sd**2 + within_mean**2) / total
    positives = np.dot(sizes, moments.p) / total
    return float(second_moment * (1.0 / budget - 1.0 / total) / positives**2)
