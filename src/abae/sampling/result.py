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
        size: records in the stratum (``|S_k|``); known (census) records are
            not in any stratum.
        labelled: records labelled by the oracle, both stages together (``n_k``),
            missing labels included.
        stage1_labelled: records labelled in stage 1.
        stage2_allocation: records allocated (and labelled) in stage 2.
        positives: labelled records whose predicate is true.
        p: estimated positive rate ``positives / (labelled - missing)`` (NaN if
            no label is usable).
        mean: mean statistic over labelled positives with a known statistic
            (NaN when there are none).
        std: standard deviation (``ddof=1``) of the statistic over those
            positives (NaN with fewer than two).
        known: known labels (e.g. the pilot) that fall in the stratum by their
            planning score; they informed the allocation, not the estimate of
            the stratum (they are the census stratum).
        missing: labels whose predicate is missing (paid for, not used).
        missing_statistic: positives whose statistic is missing.
        planned_rate: float, the planned rate of positives (a group's calibrated
            proxy, GROUP BY an oracle output) that capped the variance the
            interval gave a stratum without a positive (``unseen_rates`` of
            :func:`~abae.sampling.from_labels.estimate_from_labels`); ``None``:
            the usual pseudo-count rule alone.
    """

    size: npt.NDArray[np.int64]
    labelled: npt.NDArray[np.int64]
    stage1_labelled: npt.NDArray[np.int64]
    stage2_allocation: npt.NDArray[np.int64]
    positives: npt.NDArray[np.int64]
    p: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]
    known: npt.NDArray[np.int64] | None = None
    missing: npt.NDArray[np.int64] | None = None
    missing_statistic: npt.NDArray[np.int64] | None = None
    planned_rate: npt.NDArray[np.float64] | None = None

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
                "known": 0 if self.known is None else int(self.known[k]),
                "missing": 0 if self.missing is None else int(self.missing[k]),
                "missing_statistic": (
                    0 if self.missing_statistic is None else int(self.missing_statistic[k])
                ),
            }
            for k in range(len(self))
        ]


@dataclass(frozen=True, eq=False)
class Estimate:
    """An aggregate estimated from oracle labels, with its confidence interval.

    Attributes:
        estimate: the point estimate (NaN where undefined, e.g. AVG with no positive).
        ci_low, ci_high: the confidence interval's bounds (zero width only when
            the answer is exact: every record labelled, none missing; infinite
            when the sample cannot bound the answer, see ``warnings``).
        confidence: the interval's nominal coverage probability, in (0, 1).
        ci_method: ``"studentized"`` (t quantiles at Satterthwaite degrees of
            freedom with a skewness correction), ``"bootstrap"`` (percentile
            bootstrap within strata), ``"bca"`` (bias-corrected and accelerated
            bootstrap) or ``"normal"`` (linearised variance).
        oracle_calls: records labelled by the oracle for this estimate (fresh
            labels; known labels are not counted).
        budget: the oracle budget that was asked for.
        aggregate: ``"avg"``, ``"sum"`` or ``"count"``.
        allocation: the stage-2 allocation rule (``"robust"``, ``"variance"``,
            ``"abae"``, ``"proportional"``) or ``"uniform"`` for uniform sampling.
        strata: the per-stratum table.
        warnings: human-readable notes on anything undefined or degenerate.
        labelled_indices: record indices labelled, shape ``(oracle_calls,)``, int64,
            in the order they were labelled.
        labelled_predicate: their predicate values, bool (False where the label
            is missing, see ``labelled_missing``).
        labelled_statistic: their statistic values, float64 (as returned; NaN
            where the predicate is false, or where a positive's statistic is missing).
        labelled_stratum: the stratum each label was drawn from, int64.
        labelled_stage: the stage (1 or 2) each label was drawn in, int8.
        known_labels: known records (e.g. a proxy's pilot) in the census stratum,
            whose exact contribution the estimate adds.
        known_positives: positives among them.
        missing_labels: labels (fresh and known) whose predicate is missing:
            paid for, left out as missing at random within their stratum.
        missing_statistics: positives (fresh and known) whose statistic is
            missing: counted as positives, their statistic taken as missing at
            random within their stratum.
        conservative: True when the sample held too few positives for a
            reliable interval and a conservative one was given (see ``warnings``).
        labelled_missing: bool, whether each fresh label's predicate is missing,
            shape ``(oracle_calls,)``.
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
    known_labels: int = 0
    known_positives: int = 0
    missing_labels: int = 0
    missing_statistics: int = 0
    conservative: bool = False
    labelled_missing: npt.NDArray[np.bool_] | None = None

    @property
    def ci_width(self) -> float:
        """``ci_high - ci_low``."""
        return self.ci_high - self.ci_low

    def __repr__(self) -> str:
        return (
            f"Estimate({self.aggregate}={self.estimate:.6g}, "
            f"{self.confidence:.0%} CI [{self.ci_low:.6g}, {self.ci_high:.6g}] ({self.ci_method}), "
            f"oracle_calls={self.oracle_calls}/{self.budget}, known_labels={self.known_labels}, "
            f"strata={len(self.strata)}, "
            f"allocation={self.allocation!r}, warnings={len(self.warnings)})"
        )
