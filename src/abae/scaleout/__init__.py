"""Where proxy scoring and oracle calls run: in this process (default) or on a Ray cluster.

- :class:`LocalExecutor` scores record batches one after another in this process.
- :class:`RayExecutor` (``pip install -c constraints.txt -e ".[ray]"``) scores them as
  Ray tasks, one per record batch, and :meth:`RayExecutor.oracles` turns every
  oracle call into a Ray task; the label ledger and the budget stay in this
  process, so accounting is the same as in process.
- :func:`executor_named` picks one by name, or from ``$ABAE_EXECUTOR``.

Both run the same per-batch step (:func:`score_record_batch`), so for a given
proxy and records they give the same scores.
"""

from __future__ import annotations

from abae.scaleout.executor import (
    EXECUTOR_ENV_VAR,
    EXECUTOR_NAMES,
    Executor,
    LocalExecutor,
    executor_named,
    score_record_batch,
)
from abae.scaleout.ray_executor import RayExecutor, ray_available

__all__ = [
    "EXECUTOR_ENV_VAR",
    "EXECUTOR_NAMES",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "executor_named",
    "ray_available",
    "score_record_batch",
]
