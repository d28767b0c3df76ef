"""Progress while a query runs: records sampled, oracle calls bought, labels reused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from abae.oracles.runtime import RuntimeStats
from abae.sampling import Progress


@dataclass(frozen=True)
class QueryProgress:
    """A progress report while the oracles work.

    Attributes:
        records: records the sampler has had labelled so far (bought or reused);
            the unit of ``ORACLE LIMIT``.
        budget: the records the sampler may label (``ORACLE LIMIT`` less what the
            pilot and the census took).
        oracle_calls: labels bought from an oracle in this run so far (one per
            record and oracle: a record asked for a predicate and a statistic
            counts twice).
        labels_reused: labels taken from the ledger so far, free.
        running_estimate: the sampler's current estimate (NaN while undefined).
    """

    records: int
    budget: int
    oracle_calls: int
    labels_reused: int
    running_estimate: float


ProgressHandler = Callable[[QueryProgress], None]


class ProgressTracker:
    """Merges the sampler's and the runtime's updates into :class:`QueryProgress` events."""

    def __init__(self, handler: ProgressHandler | None) -> None:
        self.handler = handler
        self.budget = 0
        self.records = 0
        self.oracle_calls = 0
        self.reused = 0
        self.running = float("nan")

    def start_sampling(self, budget: int) -> None:
        """The sampler starts with ``budget`` records to label."""
        self.budget = budget
        self._emit()

    def sampler_update(self, progress: Progress) -> None:
        self.records = progress.oracle_calls
        self.running = progress.running_estimate
        self._emit()

    def runtime_update(self, stats: RuntimeStats) -> None:
        self.oracle_calls = stats.fresh_labels
        self.reused = stats.reused_labels
        self._emit()

    def _emit(self) -> None:
        if self.handler is not None:
            self.handler(
                QueryProgress(
                    self.records, self.budget, self.oracle_calls, self.reused, self.running
                )
            )
