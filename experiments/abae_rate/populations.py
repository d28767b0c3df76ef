"""Synthetic record populations for the rate experiments, stored in proxy-score order.

The generators are the sampling core's own (:mod:`abae.sampling.synthetic`, in
the style of the ABae paper's code): ``paper`` (proxy ~ Beta(0.1, 0.5),
predicate ~ Bernoulli(proxy), statistic ~ N(10, 3)), ``growing`` (the statistic
grows with the proxy) and ``rare`` (about 2% positives). A population can also
carry a *blurred* proxy: Gaussian noise added to the score the predicate was
drawn from, which makes the ranking, and so the strata, less informative while
the records themselves stay the same.

Records are stored sorted by proxy score. That is only a relabelling of record
ids (``abae.estimate`` sees the same ranking and draws the same way), but it
makes the ranking step inside ``abae.estimate`` several times cheaper, which is
what lets the experiments afford hundreds of seeds on million-record data.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from abae.sampling.synthetic import POPULATIONS

POPULATION_SEED_ROOT = 20_210_601
"""Root of every population's seed: ``default_rng([ROOT, crc32(generator), records])``."""


@dataclass(frozen=True)
class PopulationSpec:
    """What to generate.

    Attributes:
        generator: ``"paper"``, ``"growing"`` or ``"rare"``.
        records: number of records ``N_total``.
        proxy_noise: standard deviation of the Gaussian noise added to the
            proxy score (scores live in [0, 1]); ``math.inf`` replaces the
            score by an independent uniform draw (a proxy with no information).
    """

    generator: str
    records: int
    proxy_noise: float = 0.0

    def __post_init__(self) -> None:
        if self.generator not in POPULATIONS:
            raise ValueError(
                f"generator must be one of {sorted(POPULATIONS)}, got {self.generator!r}"
            )
        if self.records < 10:
            raise ValueError(f"records must be at least 10, got {self.records}")
        if not self.proxy_noise >= 0.0:
            raise ValueError(f"proxy_noise must be >= 0 (or math.inf), got {self.proxy_noise!r}")

    @property
    def label(self) -> str:
        """A short name for tables, e.g. ``paper``, ``paper+noise0.2``, ``paper+random``."""
        if self.proxy_noise == 0.0:
            return self.generator
        if math.isinf(self.proxy_noise):
            return f"{self.generator}+random"
        return f"{self.generator}+noise{self.proxy_noise:g}"


@dataclass(frozen=True, eq=False)
class SortedPopulation:
    """A population with arrays of shape ``(N_total,)`` sorted by ascending proxy score.

    Attributes:
        spec: how it was generated.
        scores: proxy scores (float64).
        predicate: the true predicate (bool).
        statistic: the statistic (float64; only positives count).
        truth: the exact AVG of the statistic over positives.
    """

    spec: PopulationSpec
    scores: npt.NDArray[np.float64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]
    truth: float

    def oracle(
        self, indices: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        """An instant oracle: the true predicate and statistic of ``indices``."""
        return self.predicate[indices], self.statistic[indices]


def population_rng(spec: PopulationSpec) -> np.random.Generator:
    """The generator a population is drawn from; it ignores ``proxy_noise``.

    So every blurred variant of a population has the same records, predicates
    and statistics; only the proxy differs.
    """
    return np.random.default_rng(
        [POPULATION_SEED_ROOT, zlib.crc32(spec.generator.encode()), spec.records]
    )


def build_population(spec: PopulationSpec) -> SortedPopulation:
    """Draw the population of ``spec`` and sort it by proxy score (deterministic)."""
    rng = population_rng(spec)
    base = POPULATIONS[spec.generator](spec.records, rng)
    scores = base.scores
    if math.isinf(spec.proxy_noise):
        scores = rng.random(spec.records)
    elif spec.proxy_noise > 0.0:
        scores = scores + spec.proxy_noise * rng.standard_normal(spec.records)
    order = np.argsort(scores, kind="stable")
    predicate = base.predicate[order]
    statistic = base.statistic[order]
    if not predicate.any():
        raise ValueError(f"population {spec.label} has no positive record; use more records")
    return SortedPopulation(
        spec=spec,
        scores=np.ascontiguousarray(scores[order]),
        predicate=predicate,
        statistic=statistic,
        truth=float(statistic[predicate].mean()),
    )


@lru_cache(maxsize=8)
def cached_population(spec: PopulationSpec) -> SortedPopulation:
    """:func:`build_population`, memoised per process (worker processes rebuild their own)."""
    return build_population(spec)
