"""The executor interface and the in-process executor.

An executor runs the two kinds of bulk work a query needs: scoring record
batches with a scoring function (:meth:`Executor.score`) and oracle calls
(:meth:`Executor.oracles` wraps a registry so its calls run where the executor
runs them). Executors know nothing of models: the caller hands them a
:data:`BatchScorer`, e.g. :class:`abae.proxy.ProxyBatchScorer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from abae.oracles.registry import OracleRegistry
from abae.store.records import RecordBatch

BatchScorer = Callable[[RecordBatch], NDArray[np.float64]]
"""``scorer(batch) -> float64 (B,)``: one score per record of the batch, in its order.

Executors that run batches elsewhere (Ray) pickle it once, so it must be
picklable and must not hold open files or connections."""


class Executor(Protocol):
    """Runs batch scoring and oracle calls somewhere."""

    name: str

    def score(
        self,
        scorer: BatchScorer,
        batches: Iterable[RecordBatch],
        *,
        total: int,
        progress: bool = True,
        description: str = "scores",
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Score every record of ``batches``: (ids int64 (N,), scores float64 (N,)) in order.

        Args:
            scorer: the per-batch scoring function.
            batches: record batches, in id order.
            total: records in all batches (for the progress bar).
            progress: show a progress bar.
            description: the progress bar's label.
        """
        ...

    def oracles(self, registry: OracleRegistry) -> OracleRegistry:
        """The registry whose calls run on this executor."""
        ...


def progress_bar(total: int, progress: bool, description: str) -> tqdm:
    """A tqdm bar counting records."""
    return tqdm(total=total, desc=description, unit="rec", disable=not progress)


class LocalExecutor:
    """Everything in this process: batches scored in turn, oracles on the runtime's threads."""

    name = "local"

    def score(
        self,
        scorer: BatchScorer,
        batches: Iterable[RecordBatch],
        *,
        total: int,
        progress: bool = True,
        description: str = "scores",
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        ids: list[NDArray[np.int64]] = []
        scores: list[NDArray[np.float64]] = []
        with progress_bar(total, progress, description) as bar:
            for batch in batches:
                ids.append(batch.ids)
                scores.append(np.asarray(scorer(batch), dtype=np.float64))
                bar.update(batch.ids.size)
        return joined_scores(ids, scores)

    def oracles(self, registry: OracleRegistry) -> OracleRegistry:
        return registry


def joined_scores(
    ids: list[NDArray[np.int64]], scores: list[NDArray[np.float64]]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Concatenate per-batch ids and scores (empty arrays when there were no batches)."""
    if not ids:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    return np.concatenate(ids), np.concatenate(scores)
