"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (IDX, gzip).

70,000 labelled 28×28 grey images: 60,000 train and 10,000 test. Nothing is
downloaded; install the package with ``apt-get install dataset-fashion-mnist``
(the README's set-up commands do this for you).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from abae.datasets.ground_truth_oracle import GroundTruthOracle
from abae.errors import AbaeError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049


@dataclass(frozen=True)
class FashionMNIST:
    """One split: ``images`` uint8 (N, 28, 28), ``labels`` int64 (N,) in 0..9."""

    images: NDArray[np.uint8]
    labels: NDArray[np.int64]


def _read_idx(path: Path, magic: int) -> NDArray[np.uint8]:
    if not path.is_file():
        raise AbaeError(
            f"Fashion-MNIST file {path} is missing; install it with "
            "`apt-get install dataset-fashion-mnist` or pass the folder that holds the IDX files"
        )
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as error:
        raise AbaeError(
            f"Fashion-MNIST file {path} is not a readable gzip file: {error}"
        ) from error
    header = np.frombuffer(raw[:4], dtype=">u4")
    if raw[:2] != b"\x00\x00" or int(header[0]) != magic:
        raise AbaeError(f"{path} is not an IDX file of the expected kind (magic {magic})")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw[4 : 4 + 4 * ndim], dtype=">u4"))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise AbaeError(f"{path} is truncated: header says {dims}, found {data.size} bytes")
    return data.reshape(dims)


def load_fashion_mnist(
    split: Literal["train", "test"] = "train", directory: str | Path = DEFAULT_DIR
) -> FashionMNIST:
    """Load one split of Fashion-MNIST from the Debian package's IDX files."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    folder = Path(directory)
    images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", _IMAGES_MAGIC)
    labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", _LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise AbaeError(
            f"Fashion-MNIST {split}: {images.shape[0]} images but {labels.shape[0]} labels"
        )
    return FashionMNIST(images=images, labels=labels.astype(np.int64))


# --- ground truth for queries: predicates, the ink statistic and the oracle ---

INK_THRESHOLD = 128
"""Pixel intensity (0..255) above which a pixel counts as ink."""

PREDICATE_CLASSES: dict[str, frozenset[int]] = {
    "is_footwear": frozenset({5, 7, 9}),  # Sandal, Sneaker, Ankle boot
    "is_top": frozenset({0, 2, 4, 6}),  # T-shirt/top, Pullover, Coat, Shirt
    "is_trouser": frozenset({1}),
    "is_dress": frozenset({3}),
    "is_bag": frozenset({8}),
}
"""Predicates over the true labels: each name maps to the class ids that satisfy it."""


def ink_coverage(images: NDArray[np.uint8], threshold: int = INK_THRESHOLD) -> NDArray[np.float64]:
    """Fraction of each image's pixels brighter than ``threshold`` (the "ink").

    Args:
        images: uint8 (N, H, W) grey images (Fashion-MNIST draws garments light on black).
        threshold: intensity in 0..254; a pixel is ink when its value is strictly above it.

    Returns:
        float64 (N,) in [0, 1]: the share of ink pixels per image.
    """
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"ink_coverage expects uint8 images of shape (N, H, W), got {images.dtype} {images.shape}"
        )
    if not 0 <= threshold < 255:
        raise ValueError(f"ink threshold must be in 0..254, got {threshold}")
    ink = (images > threshold).reshape(images.shape[0], -1)
    coverage: NDArray[np.float64] = ink.mean(axis=1, dtype=np.float64)
    return coverage


def predicate_truth(labels: NDArray[np.int64], predicate: str) -> NDArray[np.bool_]:
    """The true value of a named predicate (a key of :data:`PREDICATE_CLASSES`) per label."""
    if predicate not in PREDICATE_CLASSES:
        raise ValueError(
            f"unknown Fashion-MNIST predicate {predicate!r}; choose one of {sorted(PREDICATE_CLASSES)}"
        )
    return np.isin(labels, sorted(PREDICATE_CLASSES[predicate]))


def fashion_mnist_oracle(
    data: FashionMNIST,
    predicate: str = "is_footwear",
    *,
    latency_s: float = 0.0,
    ink_threshold: int = INK_THRESHOLD,
) -> GroundTruthOracle:
    """An oracle over one split: the true ``predicate`` and the image's ink coverage.

    ``oracle(indices)`` returns (predicate bool (n,), ink coverage float64 (n,)) and
    sleeps ``latency_s`` seconds per record to stand in for an expensive oracle.
    """
    return GroundTruthOracle(
        predicate_truth(data.labels, predicate),
        ink_coverage(data.images, ink_threshold),
        latency_s=latency_s,
        name=predicate,
    )
