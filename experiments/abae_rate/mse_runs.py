"""Repeated ``abae.estimate`` runs per design point, and the MSE across seeds.

Seeds scheme (the same in every experiment): run ``r`` of any design point
draws everything from ``numpy.random.default_rng([RUN_SEED_ROOT, r])``. Runs
are therefore independent within a point and *paired* across points (common
random numbers), so differences between points are measured more precisely,
and a bootstrap over seeds must resample the same seeds at every point.
Results do not depend on the number of worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
import numpy.typing as npt
from populations import PopulationSpec, cached_population

import abae

RUN_SEED_ROOT = 20_220_322
"""Run ``r`` uses ``numpy.random.default_rng([RUN_SEED_ROOT, r])``."""

BOOTSTRAP_SEED = 12_345
"""Seed of the bootstrap over runs (``default_rng([BOOTSTRAP_SEED, experiment id])``)."""


def run_rng(run: int) -> np.random.Generator:
    """The generator of run ``run`` (see the module docstring)."""
    return np.random.default_rng([RUN_SEED_ROOT, run])


@dataclass(frozen=True)
class DesignPoint:
    """One configuration of ``abae.estimate`` on one population (AVG aggregate).

    Attributes:
        population: the population.
        budget: oracle budget ``N = K·N1 + N2``.
        stage1_share: ``C = K·N1/N``.
        allocation: the stage-2 rule (``"abae"`` is the paper's √p·σ).
        strata: ``K``.
    """

    population: PopulationSpec
    budget: int
    stage1_share: float
    allocation: str = "abae"
    strata: int = 5


def estimate_errors(point: DesignPoint, runs: range) -> npt.NDArray[np.float64]:
    """``estimate − truth`` of the AVG for each run in ``runs``, shape ``(len(runs),)``.

    NaN where a run's estimate is undefined (no positive labelled at all).
    """
    population = cached_population(point.population)
    errors = np.empty(len(runs))
    for i, run in enumerate(runs):
        result = abae.estimate(
            population.scores,
            population.oracle,
            point.budget,
            aggregate="avg",
            strata=point.strata,
            stage1_share=point.stage1_share,
            allocation=point.allocation,
            ci="normal",
            rng=run_rng(run),
        )
        errors[i] = result.estimate - population.truth
    return errors


def _chunk_errors(task: tuple[DesignPoint, int, int]) -> npt.NDArray[np.float64]:
    point, start, stop = task
    return estimate_errors(point, range(start, stop))


class MonteCarlo:
    """Runs design points over ``seeds`` runs each, in ``workers`` processes.

    Args:
        seeds: runs per design point (run ids ``0 .. seeds-1``).
        workers: processes (1 runs in this process).
        chunk: runs per task handed to a worker.
    """

    def __init__(self, seeds: int, workers: int = 1, chunk: int = 50) -> None:
        if seeds < 2:
            raise ValueError(f"seeds must be at least 2 to measure an MSE, got {seeds}")
        if workers < 1 or chunk < 1:
            raise ValueError(f"workers and chunk must be >= 1, got {workers} and {chunk}")
        self.seeds = seeds
        self.workers = workers
        self.chunk = chunk

    def errors(self, points: Sequence[DesignPoint]) -> npt.NDArray[np.float64]:
        """Errors of every run at every point, shape ``(len(points), seeds)``."""
        tasks = [
            (point, start, min(start + self.chunk, self.seeds))
            for point in points
            for start in range(0, self.seeds, self.chunk)
        ]
        if self.workers == 1:
            pieces = [_chunk_errors(task) for task in tasks]
        else:
            with ProcessPoolExecutor(self.workers, mp_context=get_context("fork")) as pool:
                pieces = list(pool.map(_chunk_errors, tasks))
        return np.concatenate(pieces).reshape(len(points), self.seeds)


@dataclass(frozen=True, eq=False)
class MseSummary:
    """MSE per design point with percentile-bootstrap intervals over seeds (arrays ``(P,)``).

    Attributes:
        mse: mean squared error over defined runs.
        low, high: the 95% bootstrap interval of the MSE.
        bias: mean error; ``bias_se`` its standard error.
        undefined: runs whose estimate was undefined (left out of the MSE).
        replicates: bootstrap replicates of the MSE, shape ``(B, P)``, the same
            seeds resampled at every point (for paired statistics such as slopes).
    """

    mse: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]
    bias_se: npt.NDArray[np.float64]
    undefined: npt.NDArray[np.int64]
    replicates: npt.NDArray[np.float64]


def summarise(errors: npt.NDArray[np.float64], bootstrap: int, experiment: int) -> MseSummary:
    """Summarise errors of shape ``(P, seeds)`` (see :class:`MseSummary`).

    Args:
        errors: from :meth:`MonteCarlo.errors`.
        bootstrap: replicates of the bootstrap over seeds.
        experiment: an id that makes each experiment's bootstrap draws its own.
    """
    if errors.ndim != 2 or errors.shape[1] < 2:
        raise ValueError(f"errors must have shape (points, seeds >= 2), got {errors.shape}")
    squared = errors**2
    defined = np.isfinite(errors)
    mse = np.nanmean(squared, axis=1)
    rng = np.random.default_rng([BOOTSTRAP_SEED, experiment])
    picks = rng.integers(0, errors.shape[1], size=(bootstrap, errors.shape[1]))
    replicates = np.stack([np.nanmean(row[picks], axis=1) for row in squared], axis=1)
    low, high = np.percentile(replicates, [2.5, 97.5], axis=0)
    counts = defined.sum(axis=1)
    bias = np.nanmean(errors, axis=1)
    bias_se = np.nanstd(errors, axis=1, ddof=1) / np.sqrt(counts)
    return MseSummary(
        mse, low, high, bias, bias_se, (~defined).sum(axis=1).astype(np.int64), replicates
    )
