"""Synthetic populations in the style of the ABae paper's code, for tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, eq=False)
class SyntheticPopulation:
    """Records with a proxy score, a true predicate and a statistic (arrays ``(N,)``).

    Attributes:
        name: a short label for tables.
        scores: proxy scores in [0, 1].
        predicate: the true predicate.
        statistic: the statistic (defined for every record; only positives count).
    """

    name: str
    scores: npt.NDArray[np.float64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def oracle(
        self, indices: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        """An instant oracle: the true predicate and statistic of ``indices``."""
        return self.predicate[indices], self.statistic[indices]

    def truth(self, aggregate: str) -> float:
        """The exact value of ``aggregate`` (``"avg"``, ``"sum"``, ``"count"``)."""
        if aggregate == "count":
            return float(self.predicate.sum())
        if aggregate == "sum":
            return float(self.statistic[self.predicate].sum())
        if aggregate == "avg":
            return float(self.statistic[self.predicate].mean())
        raise ValueError(f"aggregate must be 'avg', 'sum' or 'count', got {aggregate!r}")


def paper_population(n: int, rng: np.random.Generator) -> SyntheticPopulation:
    """Proxy ~ Beta(0.1, 0.5), predicate ~ Bernoulli(proxy), statistic ~ N(10, 3).

    About 17% positives; the statistic does not depend on the proxy.
    """
    scores = rng.beta(0.1, 0.5, size=n)
    predicate = rng.random(n) < scores
    statistic = rng.normal(10.0, 3.0, size=n)
    return SyntheticPopulation("paper", scores, predicate, statistic)


def growing_population(n: int, rng: np.random.Generator) -> SyntheticPopulation:
    """Like :func:`paper_population` but the statistic grows with the proxy.

    Proxy ~ Beta(0.5, 0.5), predicate ~ Bernoulli(proxy),
    statistic ~ N(40 · proxy², 2): low-score positives have small values,
    high-score positives large ones, so the strata means differ widely.
    """
    scores = rng.beta(0.5, 0.5, size=n)
    predicate = rng.random(n) < scores
    statistic = rng.normal(40.0 * scores**2, 2.0)
    return SyntheticPopulation("growing", scores, predicate, statistic)


def rare_population(n: int, rng: np.random.Generator) -> SyntheticPopulation:
    """A rare predicate (about 2% positives): proxy ~ Beta(0.02, 1), predicate ~ Bernoulli(proxy).

    Statistic ~ N(10, 3).
    """
    scores = rng.beta(0.02, 1.0, size=n)
    predicate = rng.random(n) < scores
    statistic = rng.normal(10.0, 3.0, size=n)
    return SyntheticPopulation("rare", scores, predicate, statistic)


def very_rare_population(n: int, rng: np.random.Generator) -> SyntheticPopulation:
    """A very rare predicate (about 0.5% positives): proxy ~ Beta(0.2, 40).

    Predicate ~ Bernoulli(proxy), statistic ~ N(10, 3). The top proxy quintile
    holds about 84% of the positives (rate about 2%), the next one about 14%.
    """
    scores = rng.beta(0.2, 40.0, size=n)
    predicate = rng.random(n) < scores
    statistic = rng.normal(10.0, 3.0, size=n)
    return SyntheticPopulation("very_rare", scores, predicate, statistic)


def lognormal_population(n: int, rng: np.random.Generator) -> SyntheticPopulation:
    """A heavy-tailed statistic that grows with the proxy (about 20% positives).

    Proxy ~ Beta(0.5, 2), predicate ~ Bernoulli(proxy), statistic ~
    LogNormal(1 + 2·proxy, 1): skewness about 3 to 7 within strata, and the
    top stratum's mean is about three times the bottom's.
    """
    scores = rng.beta(0.5, 2.0, size=n)
    predicate = rng.random(n) < scores
    statistic = np.exp(rng.normal(1.0 + 2.0 * scores, 1.0))
    return SyntheticPopulation("lognormal", scores, predicate, statistic)


def useless_population(n: int, rng: np.random.Generator) -> SyntheticPopulation:
    """Records of :func:`paper_population` ranked by a proxy with no information.

    The score is an independent Uniform(0, 1) draw, so every stratum is a
    random subset of the records: the best design is proportional allocation.
    """
    base = paper_population(n, rng)
    scores = rng.random(n)
    return SyntheticPopulation("useless", scores, base.predicate, base.statistic)


def miscalibrated_population(n: int, rng: np.random.Generator) -> SyntheticPopulation:
    """A good proxy seen through a monotone, saturating transform (about 20% positives).

    The true probability ``q`` ~ Beta(0.25, 1) draws the predicate, statistic
    ~ N(10, 3); the proxy reports ``round(q³, 3)``: the ranking is kept but the
    values are far from probabilities, and the bottom half of the records ties
    at 0 (ties are split at random between strata).
    """
    q = rng.beta(0.25, 1.0, size=n)
    predicate = rng.random(n) < q
    statistic = rng.normal(10.0, 3.0, size=n)
    scores = np.round(q**3, 3)
    return SyntheticPopulation("miscalibrated", scores, predicate, statistic)


POPULATIONS = {
    "paper": paper_population,
    "growing": growing_population,
    "rare": rare_population,
    "very_rare": very_rare_population,
    "lognormal": lognormal_population,
    "useless": useless_population,
    "miscalibrated": miscalibrated_population,
}
"""Generator name to generator ``(n, rng) -> SyntheticPopulation``."""
