"""The executor interface and the in-process executor.

An executor runs the two kinds of bulk work a query needs: proxy scoring over
record batches (:meth:`Executor.score`) and oracle calls (:meth:`Executor.oracles`
wraps a registry so its calls run where the executor runs them).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from abae.oracles.registry import OracleRegistry
from abae.proxy.record_images import decode_record_images
from abae.proxy.trained_proxy import Proxy
from abae.store.records import RecordBatch

EXECUTOR_ENV_VAR = "ABAE_EXECUTOR"
EXECUTOR_NAMES = ("local", "ray")


def score_record_batch(proxy: Proxy, batch: RecordBatch) -> NDArray[np.float64]:
    """Decode one record batch and score it: float64 ``(B,)`` in the batch's order.

    Raises:
        abae.proxy.ImageInputError: a record whose image is missing or unreadable, or
            of another size or mode than the proxy reads (names the record).
    """
    return proxy.score_batch(decode_record_images(batch, proxy.spec))


class Executor(Protocol):
    """Runs proxy scoring and oracle calls somewhere."""

    name: str

    def score(
        self, proxy: Proxy, batches: Iterable[RecordBatch], *, total: int, progress: bool = True
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Score every record of ``batches``: (ids int64 (N,), scores float64 (N,)) in order."""
        ...

    def oracles(self, registry: OracleRegistry) -> OracleRegistry:
        """The registry whose calls run on this executor."""
        ...


def _bar(total: int, progress: bool, name: str) -> tqdm:
    return tqdm(total=total, desc=f"{name} scores", unit="img", disable=not progress)


class LocalExecutor:
    """Everything in this process: batches scored in turn, oracles on the runtime's threads."""

    name = "local"

    def score(
        self, proxy: Proxy, batches: Iterable[RecordBatch], *, total: int, progress: bool = True
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        ids: list[NDArray[np.int64]] = []
        scores: list[NDArray[np.float64]] = []
        with _bar(total, progress, proxy.name) as bar:
            for batch in batches:
                ids.append(batch.ids)
                scores.append(score_record_batch(proxy, batch))
                bar.update(batch.ids.size)
        return _joined(ids, scores)

    def oracles(self, registry: OracleRegistry) -> OracleRegistry:
        return registry


def _joined(
    ids: list[NDArray[np.int64]], scores: list[NDArray[np.float64]]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    if not ids:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    return np.concatenate(ids), np.concatenate(scores)


def executor_named(name: str | None = None) -> Executor:
    """The executor called ``name`` (``"local"`` or ``"ray"``); ``None``: ``$ABAE_EXECUTOR``
    or ``"local"``.

    Raises:
        ValueError: an unknown name.
        abae.errors.AbaeError: ``"ray"`` without Ray installed (says how to install it).
    """
    chosen = name or os.environ.get(EXECUTOR_ENV_VAR) or "local"
    if chosen not in EXECUTOR_NAMES:
        raise ValueError(
            f"unknown executor {chosen!r} (from {'--executor' if name else EXECUTOR_ENV_VAR}); "
            f"choose one of {EXECUTOR_NAMES}"
        )
    if chosen == "ray":
        from abae.scaleout.ray_executor import RayExecutor

        return RayExecutor()
    return LocalExecutor()
