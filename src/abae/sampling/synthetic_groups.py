"""Synthetic GROUP BY populations, for tests and benchmarks.

Two kinds, as in a query:

- groups of an oracle output (``kind="oracle"``): the oracle says which group
  a positive record is in, and each group has its own proxy score;
- groups of a cheap column (``kind="column"``): every record's group is known
  before sampling, and one proxy ranks records within each group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PAPER_GROUP_RATES = (
    np.array(
        [
            [0.3, 0.3, 0.5, 1.0, 1.0],
            [0.1, 0.3, 0.3, 0.5, 1.0],
            [0.1, 0.1, 0.3, 0.3, 0.5],
            [0.1, 0.1, 0.1, 0.3, 0.3],
        ]
    )
    / 5.0
)
"""Chance that a record of each of the 5 blocks (columns) is in each of the 4 groups (rows)."""


@dataclass(frozen=True, eq=False)
class GroupPopulation:
    """Records with groups, a predicate and a statistic (arrays ``(N,)``).

    A record counts for group ``g`` when its predicate holds and its group is
    ``g``.

    Attributes:
        name: a short label for tables.
        kind: ``"oracle"`` (the oracle tells the group) or ``"column"`` (the
            group is a cheap column, known for every record).
        scores: group position to that group's proxy scores ``(N,)``
            (``kind="oracle"``), or the one proxy, under key 0 (``kind="column"``).
        group: int64, each record's group ``0 .. G-1``; -1 for none (only
            with ``kind="oracle"``, where it goes with a false predicate).
        predicate: bool.
        statistic: float64 (defined for every record; only positives count).
        n_groups: ``G``.
    """

    name: str
    kind: str
    scores: dict[int, npt.NDArray[np.float64]]
    group: npt.NDArray[np.int64]
    predicate: npt.NDArray[np.bool_]
    statistic: npt.NDArray[np.float64]
    n_groups: int

    def __len__(self) -> int:
        return int(self.group.shape[0])

    def oracle(self, indices: npt.NDArray[np.int64]) -> tuple[Any, ...]:
        """An instant oracle: ``(predicate, statistic)``, plus ``group`` for ``kind="oracle"``."""
        if self.kind == "column":
            return self.predicate[indices], self.statistic[indices]
        return self.predicate[indices], self.statistic[indices], self.group[indices]

    def group_oracle(
        self, indices: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """An instant oracle that also returns every record's group (the uniform baseline's)."""
        return self.predicate[indices], self.statistic[indices], self.group[indices]

    def positives(self, group: int) -> npt.NDArray[np.bool_]:
        """The records that count for ``group``, bool ``(N,)``."""
        mine: npt.NDArray[np.bool_] = self.predicate & (self.group == group)
        return mine

    def truth(self, aggregate: str) -> npt.NDArray[np.float64]:
        """The exact ``aggregate`` of every group, float64 ``(G,)``."""
        values = []
        for g in range(self.n_groups):
            mine = self.positives(g)
            if aggregate == "count":
                values.append(float(mine.sum()))
            elif aggregate == "sum":
                values.append(float(self.statistic[mine].sum()))
            elif aggregate == "avg":
                values.append(float(self.statistic[mine].mean()))
            else:
                raise ValueError(f"aggregate must be 'avg', 'sum' or 'count', got {aggregate!r}")
        return np.array(values)


def paper_groups(n: int, rng: np.random.Generator) -> GroupPopulation:
    """The ABae paper's 4-group synthetic setting (one proxy per group, oracle tells the group).

    Records fall in 5 equal blocks by position. A record of block ``k`` is
    positive with probability ``Σ_g P[g, k]`` and then in group ``g`` with
    probability ``∝ P[g, k]`` (:data:`PAPER_GROUP_RATES`); group ``g``'s proxy
    is ``P[g, k]``, constant in a block (so heavily tied). Statistic ~ N(5, 5)
    for every group. Groups hold about 12%, 9%, 5% and 4% of the records.
    """
    blocks = PAPER_GROUP_RATES.shape[1]
    block = np.minimum(np.arange(n) // max(n // blocks, 1), blocks - 1)
    rates = PAPER_GROUP_RATES[:, block]
    predicate = rng.random(n) < rates.sum(axis=0)
    cumulative = np.cumsum(rates / rates.sum(axis=0), axis=0)
    group = (rng.random(n)[None, :] > cumulative).sum(axis=0).astype(np.int64)
    group = np.where(predicate, np.minimum(group, rates.shape[0] - 1), -1)
    statistic = rng.normal(5.0, 5.0, n)
    scores = {g: rates[g].copy() for g in range(rates.shape[0])}
    return GroupPopulation("paper 4 groups", "oracle", scores, group, predicate, statistic, 4)


def sharp_groups(n: int, rng: np.random.Generator) -> GroupPopulation:
    """4 groups of an oracle output, each with an informative proxy of its own.

    Groups hold 10%, 6%, 4% and 2% of the records (the rest is in none). Group
    ``g``'s proxy is ~ Beta(4, 2) on its own records and ~ Beta(1, 8)
    elsewhere; the statistic of group ``g`` is ~ N(5 + 5g, 2 + g).
    """
    shares = np.array([0.10, 0.06, 0.04, 0.02])
    draw = rng.random(n)
    group = np.searchsorted(np.cumsum(shares), draw, side="right").astype(np.int64)
    group = np.where(group < shares.size, group, -1)
    predicate = group >= 0
    scores = {
        g: np.where(group == g, rng.beta(4.0, 2.0, n), rng.beta(1.0, 8.0, n))
        for g in range(shares.size)
    }
    level = np.where(predicate, group, 0)
    statistic = rng.normal(5.0 + 5.0 * level, 2.0 + level)
    return GroupPopulation("sharp 4 groups", "oracle", scores, group, predicate, statistic, 4)


def column_groups(n: int, rng: np.random.Generator) -> GroupPopulation:
    """3 groups of a cheap column holding 60%, 30% and 10% of the records.

    Within each group, proxy ~ Beta(a_g, b_g) and predicate ~ Bernoulli(proxy):
    about 20%, 10% and 33% positives. Statistic: N(10, 3), N(20, 6) and
    N(5 + 10·proxy, 2) (it grows with the proxy in the smallest group).
    """
    group = rng.choice(3, size=n, p=[0.6, 0.3, 0.1]).astype(np.int64)
    alpha = np.array([0.2, 0.1, 0.3])[group]
    beta = np.array([0.8, 0.9, 0.6])[group]
    scores = rng.beta(alpha, beta)
    predicate = rng.random(n) < scores
    statistic = np.select(
        [group == 0, group == 1],
        [rng.normal(10.0, 3.0, n), rng.normal(20.0, 6.0, n)],
        rng.normal(5.0 + 10.0 * scores, 2.0),
    )
    return GroupPopulation("column 3 groups", "column", {0: scores}, group, predicate, statistic, 3)


GROUP_POPULATIONS = {
    "paper_groups": paper_groups,
    "column_groups": column_groups,
    "sharp_groups": sharp_groups,
}
"""Generator name to generator ``(n, rng) -> GroupPopulation``."""
