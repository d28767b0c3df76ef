"""Where batch scoring and oracle calls run: in this process (default) or on a Ray cluster.

- :class:`~abae.scaleout.executor.LocalExecutor` scores record batches one after
  another in this process.
- :class:`~abae.scaleout.ray_executor.RayExecutor` (``pip install -c
  constraints.txt -e ".[ray]"``) scores them as Ray tasks, one per record batch,
  and turns every oracle call into a Ray task; the label ledger and the budget
  stay in this process, so accounting is the same as in process.
- :func:`~abae.scaleout.choice.executor_named` picks one by name, or from
  ``$ABAE_EXECUTOR``.

Executors take a scoring function (:data:`~abae.scaleout.executor.BatchScorer`)
and know nothing of models; this package imports neither torch nor Ray until a
Ray executor is made.
"""

from __future__ import annotations

from abae.scaleout.choice import executor_named
from abae.scaleout.executor import BatchScorer, Executor, LocalExecutor
from abae.scaleout.names import EXECUTOR_ENV_VAR, EXECUTOR_NAMES
from abae.scaleout.ray_executor import RayExecutor, ray_available

__all__ = [
    "EXECUTOR_ENV_VAR",
    "EXECUTOR_NAMES",
    "BatchScorer",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "executor_named",
    "ray_available",
]
