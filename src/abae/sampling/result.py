"""Result types of the sampling core: :class:`Estimate` and its per-stratum table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, eq=False)
class StratumTable:
    """What was learnt in each stratum; every field is an array of shape ``(K,)``.

    Strata are ordered by proxy score, lowest first.

    Attributes:
        size: records in the stratum (``|S_k|``).
        labelled: records labelled by the oracle, both stages together (``n_k``).
        stage1_labelled: records labelled in stage 1.
        stage2_allocation: records allocated (and labelled) in stage 2.
        positives: labelled records whose predicate is true.
        p: estimated positive rate ``positives / labelled`` (NaN if nothing labelled).
        mean: mean statistic over labelled positives (NaN when there are none).
        std: standard deviation (``ddof=1``) of the statistic over labelled
            positives (NaN with fewer than two).
    """

    size: npt.NDArray[np.int64]
    labelled: npt.NDArray[np.int64]
    stage1_labelled: npt.NDArray[np.int64]
    stage2_allocation: npt.NDArray[np.int64]
    positives: npt.NDArray[np.int64]
    p: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.size.shape[0])

    def rows(self) -> list[dict[str, Any]]:
        """The table as one plain dict per stratum (for printing or JSON)."""
        return [
            {
                "stratum": k,
                "size": int(self.size[k]),
                "labelled": int(self.labelled[k]),
                "stage1_labelled": int(self.stage1_labelled[k]),
                "stage2_allocation": int(self.stage2_allocation[k]),
                "positives": int(self.positives[k]),
                "p": float(self.p[k]),
                "mean": float(self.mean[k]),
                "std": float(self.std[k]),
            }
            for k in range(len(self))
        ]


@dataclass(frozen=True, eq=False)
class Estimate:
    """An aggregate estimated from oracle labels, with its confidence interval.

    Attributes:
        estimate: the point estimate (NaN where undefined, e.g. AVG with no positive).
        ci_low, ci_high: the confidence interval's bounds (zero width when every
            record was labelled).
        confidence: the interval's nominal coverage probability, in (0, 1).
        ci_method: ``"bootstrap"`` (percentile bootstrap within strata),
            ``"bca"`` (bias-corrected and accelerated bootstrap) or ``"normal"``
            (linearised variance).
        oracle_calls: records labelled by the oracle for this estimate.
        budget: the oracle budget that was asked for.
        aggregate: ``"avg"``, ``"sum"`` or ``"count"``.
        allocation: the stage-2 allocation rule (``"variance"``, ``"abae"``,
            ``"proportional"``) or ``"uniform"`` for uniform sampling.
        strata: the per-stratum table.
        warnings: human-readable notes on anything undefined or degenerate.
        labelled_indices: record indices labelled, shape ``(oracle_calls,)``, int64,
            in the order they were labelled.
        labelled_predicate: their predicate values, bool.
        labelled_statistic: their statistic values, float64 (as returned; may be
            NaN where the predicate is false).
        labelled_stratum: the stratum each label was drawn from, int64.
        labelled_stage: the stage (1 or 2) each label was drawn in, int8.
    """

    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    ci_method: str
    oracle_calls: int
    budget: int
    aggregate: str
    allocation: str
    strata: StratumTable
    warnings: list[str]
    labelled_indices: npt.NDArray[np.int64]
    labelled_predicate: npt.NDArray[np.bool_]
    labelled_statistic: npt.NDArray[np.float64]
    labelled_stratum: npt.NDArray[np.int64]
    labelled_stage: npt.NDArray[np.int8]

    @property
    def ci_width(self) -> float:
        """``ci_high - ci_low``."""
        return self.ci_high - self.ci_low

    def __repr__(self) -> str:
        return (
            f"Estimate({self.aggregate}={self.estimate:.6g}, "
            f"{self.confidence:.0%} CI [{self.ci_low:.6g}, {self.ci_high:.6g}] ({self.ci_method}), "
            f"oracle_calls={self.oracle_calls}/{self.budget}, strata={len(self.strata)}, "
            f"allocation={self.allocation!r}, warnings={len(self.warnings)})"
        )
