"""The result of a GROUP BY and the per-group estimate made from a stratified sample."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from abae.sampling.from_labels import estimate_from_labels
from abae.sampling.result import Estimate
from abae.sampling.stratified_sample import StratifiedSample


@dataclass(frozen=True, eq=False)
class GroupEstimates:
    """Per-group estimates of a GROUP BY query.

    Attributes:
        estimates: group key to its :class:`Estimate`. Its ``oracle_calls``
            counts the labels its estimate uses (with groups of an oracle
            output, every label of the run).
        shares: group key to the weight the group had in the stage-2
            allocation (they sum to 1): its share of the stage-2 labels for
            groups of a cheap column, its weight ``λ_g`` in the minimax
            allocation for groups of an oracle output.
        costs: group key to its pilot error constant ``c_g = (Σ_c W_gc)²``,
            its variance times its labels had it the cells to itself (NaN
            where the pilot had too few of its positives to tell).
        oracle_calls: distinct records labelled by the oracle, ``<= budget``.
        budget: the oracle budget.
        warnings: notes about the run as a whole.
    """

    estimates: dict[Hashable, Estimate]
    shares: dict[Hashable, float]
    costs: dict[Hashable, float]
    oracle_calls: int
    budget: int
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, group: Hashable) -> Estimate:
        return self.estimates[group]

    def __len__(self) -> int:
        return len(self.estimates)


def estimate_group(
    sample: StratifiedSample,
    *,
    aggregate: str,
    allocation: str,
    budget: int,
    confidence: float,
    ci: str,
    rng: np.random.Generator,
    bootstrap_replicates: int,
    notes: list[str] | None = None,
    unseen_rates: npt.NDArray[np.float64] | None = None,
) -> Estimate:
    """One group's :class:`Estimate` from its stratified sample (all its labels count as calls).

    ``unseen_rates``: the group's planned rate per cell, or ``None`` (see
    :func:`~abae.sampling.from_labels.estimate_from_labels`).
    """
    return estimate_from_labels(
        sample,
        aggregate=aggregate,
        allocation=allocation,
        budget=budget,
        oracle_calls=int(sample.indices.size),
        confidence=confidence,
        ci=ci,
        rng=rng,
        bootstrap_replicates=bootstrap_replicates,
        notes=notes,
        unseen_rates=unseen_rates,
    )
