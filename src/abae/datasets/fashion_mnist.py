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
        raise AbaeError(f"Fashion-MNIST file {path} is not a readable gzip file: {error}") from error
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
