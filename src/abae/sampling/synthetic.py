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


POPULATIONS = {
    "paper": paper_population,
    "growing": growing_population,
    "rare": rare_population,
}
"""Generator name to generator ``(n, rng) -> SyntheticPopulation``."""
