"""Progress reports sent to an ``on_progress`` callback after each oracle batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """Where an estimation run stands after an oracle batch.

    Attributes:
        oracle_calls: records labelled so far (all batches, all stages).
        budget: the oracle budget of the run.
        stage: 1 or 2 (two-stage sampling); 1 for uniform sampling.
        running_estimate: the aggregate estimated from the labels so far, over
            the strata labelled so far (NaN while undefined). A rough guide for a
            progress display, not the final answer.
    """

    oracle_calls: int
    budget: int
    stage: int
    running_estimate: float


ProgressCallback = Callable[[Progress], None]
