"""Scale-out on Ray: batch scoring as Ray tasks over record batches, oracle calls as Ray tasks.

Ray is an optional extra (``pip install -c constraints.txt -e ".[ray]"``). The
driver keeps the store: it reads record batches from DuckDB (one process may
write a DuckDB file at a time, so workers never open it), ships each batch's
encoded images to a task that scores them with the scoring function (put in
the object store once), and writes the scores back. At most
``max_in_flight`` batches are out at once, which bounds the driver's memory.
Ray starts each worker with ``OMP_NUM_THREADS`` set to the task's CPUs (1), so
tasks on one machine do not oversubscribe its cores.

Oracle calls: each registered oracle becomes a Ray task; the oracle runtime's
threads submit them and wait, so claims, the budget and the ledger stay exactly
as in process.

By default the executor joins ``$RAY_ADDRESS`` or the cluster already started
in this process, and otherwise starts a local one.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry
from abae.scaleout.executor import BatchScorer, joined_scores, progress_bar
from abae.store.records import RecordBatch

USER_ORACLE_MODULE_PREFIX = "abae_user_oracles_"
"""Module names :func:`abae.oracles.load_oracle_file` gives the oracle files it loads."""


def ray_available() -> bool:
    """Whether the ``ray`` package can be imported."""
    return importlib.util.find_spec("ray") is not None


def _ray() -> Any:
    if not ray_available():
        raise AbaeError(
            "the ray executor needs Ray: install it with "
            '`pip install -c constraints.txt -e ".[ray]"`, or use --executor local'
        )
    import ray

    return ray


def _score_on_worker(scorer: BatchScorer, batch: RecordBatch) -> NDArray[np.float64]:
    return scorer(batch)


def _call_on_worker(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return fn(*args)


class _RayOracleCall:
    """An oracle callable whose every call runs as a Ray task (picklable, stateless)."""

    def __init__(self, fn: Callable[..., Any], remote: Any) -> None:
        self.fn = fn
        self.remote = remote

    def __call__(self, *args: Any) -> Any:
        ray = _ray()
        return ray.get(self.remote.remote(self.fn, args))


class RayExecutor:
    """Runs scoring and oracle calls on a Ray cluster.

    Args:
        max_in_flight: record batches out at once (default: twice the cluster's CPUs).
        init_kwargs: passed to ``ray.init`` when no cluster is connected yet
            (e.g. ``num_cpus``, ``_temp_dir``).
    """

    name = "ray"

    def __init__(self, max_in_flight: int | None = None, **init_kwargs: Any) -> None:
        self.ray = _ray()
        if not self.ray.is_initialized():
            self.ray.init(**{"include_dashboard": False, **init_kwargs})
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.max_in_flight = max_in_flight or max(2, 2 * cpus)
        self._score = self.ray.remote(num_cpus=1)(_score_on_worker)
        self._call = self.ray.remote(num_cpus=1)(_call_on_worker)

    def score(
        self,
        scorer: BatchScorer,
        batches: Iterable[RecordBatch],
        *,
        total: int,
        progress: bool = True,
        description: str = "scores",
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        scorer_ref = self.ray.put(scorer)
        pending: deque[tuple[NDArray[np.int64], Any]] = deque()
        ids: list[NDArray[np.int64]] = []
        scores: list[NDArray[np.float64]] = []
        with progress_bar(total, progress, f"{description} (ray)") as bar:

            def collect_oldest() -> None:
                batch_ids, ref = pending.popleft()
                ids.append(batch_ids)
                scores.append(np.asarray(self.ray.get(ref), dtype=np.float64))
                bar.update(batch_ids.size)

            for batch in batches:
                if len(pending) >= self.max_in_flight:
                    collect_oldest()
                pending.append((batch.ids, self._score.remote(scorer_ref, batch)))
            while pending:
                collect_oldest()
        return joined_scores(ids, scores)

    def oracles(self, registry: OracleRegistry) -> OracleRegistry:
        wrapped = OracleRegistry()
        for name in registry.names():
            spec = registry.get(name)
            module = sys.modules.get(getattr(spec.fn, "__module__", "") or "")
            if module is not None and module.__name__.startswith(USER_ORACLE_MODULE_PREFIX):
                # An oracle file loaded from a path is no importable module on the
                # workers: ship its functions by value.
                self.ray.cloudpickle.register_pickle_by_value(module)
            wrapped.add(dataclasses.replace(spec, fn=_RayOracleCall(spec.fn, self._call)))
        return wrapped
