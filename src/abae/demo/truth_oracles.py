"""Oracles for the built-in datasets: look up the known ground truth of a record's image.

The demo's records keep a reference such as ``fashion-mnist/train/12345`` in
their ``image`` column (the pixels are in ``image_blob``). An oracle here turns
that reference back into the row of the ground truth, sleeps ``latency_s`` to
stand in for a real oracle's cost, and answers. Oracles are plain picklable
objects, so the Ray executor can run them as tasks.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry, OracleSpec


def image_reference(prefix: str, index: int) -> str:
    """The ``image`` column value of row ``index``: ``"<prefix>/<index>"``."""
    return f"{prefix}/{index}"


class TruthLookup:
    """``lookup(image_reference) -> value``: a known value per row, with a latency.

    Args:
        prefix: the references' prefix, e.g. ``"fashion-mnist/train"``.
        values: (N,) bool (a predicate) or float (a statistic), one per row.
        latency_s: seconds slept per call.
    """

    def __init__(self, prefix: str, values: ArrayLike, latency_s: float = 0.0) -> None:
        self.prefix = prefix
        self.values: NDArray[Any] = np.asarray(values)
        if self.values.ndim != 1:
            raise ValueError(f"values must be 1-D, got shape {self.values.shape}")
        if not latency_s >= 0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s}")
        self.latency_s = float(latency_s)

    def row(self, reference: object) -> int:
        """The row a reference points at; AbaeError for anything else."""
        text = str(reference)
        head, _, tail = text.rpartition("/")
        if head != self.prefix or not tail.isdigit() or int(tail) >= self.values.size:
            raise AbaeError(
                f"image reference {text!r} is not a row of {self.prefix} "
                f"(expected '{self.prefix}/<0..{self.values.size - 1}>')"
            )
        return int(tail)

    def __call__(self, reference: object) -> bool | float:
        row = self.row(reference)
        if self.latency_s:
            time.sleep(self.latency_s)
        value = self.values[row]
        return bool(value) if self.values.dtype == np.bool_ else float(value)


def truth_registry(
    prefix: str,
    predicate_name: str,
    predicate: ArrayLike,
    statistic_name: str,
    statistic: ArrayLike,
    *,
    latency_s: float,
    cost: float = 0.0,
) -> OracleRegistry:
    """A registry with two oracles over image references: a predicate and a statistic."""
    registry = OracleRegistry()
    for name, values in ((predicate_name, predicate), (statistic_name, statistic)):
        registry.add(OracleSpec(name, TruthLookup(prefix, values, latency_s), cost=cost))
    return registry
