"""A proxy as a scoring function over record batches: what executors run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from abae.proxy.record_images import decode_record_images
from abae.proxy.trained_proxy import Proxy
from abae.store.records import RecordBatch


def score_record_batch(proxy: Proxy, batch: RecordBatch) -> NDArray[np.float64]:
    """Decode one record batch and score it: float64 ``(B,)`` in the batch's order.

    Raises:
        abae.proxy.ImageInputError: a record whose image is missing or unreadable, or
            of another size or mode than the proxy reads (names the record).
    """
    return proxy.score_batch(decode_record_images(batch, proxy.spec))


@dataclass(frozen=True)
class ProxyBatchScorer:
    """``scorer(batch) -> float64 (B,)`` for :meth:`abae.scaleout.Executor.score`.

    Picklable (the proxy's network, spec and calibration travel with it), so a
    Ray executor ships it to its workers once.
    """

    proxy: Proxy

    def __call__(self, batch: RecordBatch) -> NDArray[np.float64]:
        return score_record_batch(self.proxy, batch)

    @property
    def description(self) -> str:
        """The progress bar's label: ``"<proxy> scores"``."""
        return f"{self.proxy.name} scores"
