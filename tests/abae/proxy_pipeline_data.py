"""A tiny image collection with known truth, shared by the proxy-pipeline tests.

16×16 grey images of noise; where the predicate holds, a bright 4×4 square sits
at a random place. The statistic is the square's brightness (0 without one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from abae.demo.truth_oracles import image_reference, truth_registry
from abae.oracles.registry import OracleRegistry
from abae.store import Store, import_arrays

PREFIX = "tiny"
SIZE = 16


@dataclass(frozen=True)
class TinyImages:
    images: NDArray[np.uint8]
    predicate: NDArray[np.bool_]
    statistic: NDArray[np.float64]

    def oracles(self) -> OracleRegistry:
        return truth_registry(
            PREFIX, "has_square", self.predicate, "brightness", self.statistic, latency_s=0.0
        )


def tiny_images(n: int = 240, seed: int = 0) -> TinyImages:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(n, SIZE, SIZE), dtype=np.uint8)
    predicate = rng.random(n) < 0.4
    statistic = np.zeros(n)
    for i in np.flatnonzero(predicate):
        y, x = rng.integers(0, SIZE - 4, size=2)
        level = int(rng.integers(180, 256))
        images[i, y : y + 4, x : x + 4] = level
        statistic[i] = level / 255
    return TinyImages(images, predicate, statistic)


def import_tiny(db: Path, data: TinyImages, name: str = "tiny") -> Store:
    store = Store(db)
    import_arrays(
        store,
        name,
        images=[image_reference(PREFIX, i) for i in range(len(data.predicate))],
        image_arrays=data.images,
    )
    return store
