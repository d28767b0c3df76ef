"""An oracle that answers from known ground truth, slowly on purpose.

The built-in datasets know every record's true predicate and statistic. Their
oracles look them up and sleep for a configurable time per record, standing in
for the cost of a real oracle (a large detector, an API, a person). They follow
the contract of the sampling core::

    oracle(indices: int64 array (n,)) -> (predicate: bool array (n,), statistic: float64 array (n,))
"""

from __future__ import annotations

import threading
import time

import numpy as np
from numpy.typing import ArrayLike, NDArray


class GroundTruthOracle:
    """Look up the true predicate and statistic of records, with a latency.

    Args:
        predicate: bool array (N,), the true predicate of each record.
        statistic: float array (N,), the true statistic of each record.
        latency_s: seconds slept per record labelled (0 for an instant oracle).
        name: a name for messages, e.g. ``"is_footwear"``.

    The oracle is thread-safe; :attr:`records_labelled` counts every record it
    has answered for (repeats included), so tests can audit the spend.

    Example:
        >>> oracle = GroundTruthOracle(np.array([True, False]), np.array([0.5, 0.2]))
        >>> oracle(np.array([1, 0]))
        (array([False,  True]), array([0.2, 0.5]))
    """

    def __init__(
        self,
        predicate: ArrayLike,
        statistic: ArrayLike,
        *,
        latency_s: float = 0.0,
        name: str = "oracle",
    ) -> None:
        predicate_array = np.asarray(predicate)
        statistic_array = np.asarray(statistic, dtype=np.float64)
        if predicate_array.ndim != 1 or statistic_array.ndim != 1:
            raise ValueError(
                f"{name}: predicate and statistic must be 1-D arrays, got shapes "
                f"{predicate_array.shape} and {statistic_array.shape}"
            )
        if predicate_array.shape != statistic_array.shape:
            raise ValueError(
                f"{name}: predicate has {predicate_array.shape[0]} records but statistic has "
                f"{statistic_array.shape[0]}; pass one value of each per record"
            )
        if predicate_array.dtype != np.bool_:
            raise ValueError(f"{name}: predicate must be a bool array, got {predicate_array.dtype}")
        if not np.all(np.isfinite(statistic_array)):
            raise ValueError(f"{name}: statistic holds NaN or infinite values")
        if not np.isfinite(latency_s) or latency_s < 0:
            raise ValueError(f"{name}: latency_s must be a finite number >= 0, got {latency_s}")
        self.name = name
        self.latency_s = float(latency_s)
        self._predicate = predicate_array.copy()
        self._statistic = statistic_array.copy()
        self._lock = threading.Lock()
        self._records_labelled = 0

    def __len__(self) -> int:
        return int(self._predicate.shape[0])

    @property
    def records_labelled(self) -> int:
        """How many records this oracle has answered for so far."""
        with self._lock:
            return self._records_labelled

    def __call__(self, indices: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
        """Label records by index: returns (predicate bool (n,), statistic float64 (n,))."""
        index_array = np.asarray(indices)
        if index_array.ndim != 1:
            raise ValueError(f"{self.name}: indices must be 1-D, got shape {index_array.shape}")
        if index_array.size and not np.issubdtype(index_array.dtype, np.integer):
            raise ValueError(
                f"{self.name}: indices must be integers, got dtype {index_array.dtype}"
            )
        index_array = index_array.astype(np.int64, copy=False)
        out_of_range = (index_array < 0) | (index_array >= len(self))
        if np.any(out_of_range):
            raise ValueError(
                f"{self.name}: record indices {index_array[out_of_range][:5].tolist()} are outside "
                f"0..{len(self) - 1}"
            )
        if self.latency_s > 0 and index_array.size:
            time.sleep(self.latency_s * index_array.size)
        with self._lock:
            self._records_labelled += int(index_array.size)
        return self._predicate[index_array], self._statistic[index_array]
