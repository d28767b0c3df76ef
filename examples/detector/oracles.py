"""Oracle file: a real face detector that ships inside scikit-image.

The detector is OpenCV's LBP frontal-face cascade (``lbpcascade_frontalface``),
which scikit-image bundles as ``skimage.data.lbp_frontal_face_cascade_filename()``
and runs with ``skimage.feature.Cascade``. Nothing is downloaded.

Two oracles over a record's stored image bytes (``image_blob``, PNG):

- ``has_face(image_blob)``: True when the detector finds at least one face;
- ``count_faces(image_blob)``: how many faces it finds.

Use with ``abae query ... --oracles examples/detector/oracles.py``.
"""

from __future__ import annotations

import io
import threading

import numpy as np
from numpy.typing import NDArray
from PIL import Image

import abae

DETECTOR_VERSION = "skimage-lbp-frontalface-1"
"""Bump when the detector or its settings change, so old labels are not reused."""

_local = threading.local()


def _cascade() -> object:
    """One detector per thread (the cascade object keeps per-call state)."""
    if not hasattr(_local, "cascade"):
        from skimage.data import lbp_frontal_face_cascade_filename
        from skimage.feature import Cascade

        _local.cascade = Cascade(lbp_frontal_face_cascade_filename())
    return _local.cascade


def gray_pixels(image_bytes: bytes) -> NDArray[np.float64]:
    """Decode encoded image bytes to grayscale floats in [0, 1], shape (H, W)."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def detect_faces(image_bytes: bytes) -> list[dict[str, int]]:
    """Face boxes (``r``, ``c``, ``width``, ``height`` in pixels) found in the image."""
    pixels = gray_pixels(image_bytes)
    side = min(pixels.shape)
    detections: list[dict[str, int]] = _cascade().detect_multi_scale(  # type: ignore[attr-defined]
        img=pixels,
        scale_factor=1.2,
        step_ratio=1,
        min_size=(side // 3, side // 3),
        max_size=(side, side),
    )
    return detections


@abae.oracle("has_face", returns="bool", version=DETECTOR_VERSION, max_concurrency=2)
def has_face(image_blob: bytes) -> bool:
    return len(detect_faces(image_blob)) > 0


@abae.oracle("count_faces", returns="number", version=DETECTOR_VERSION, max_concurrency=2)
def count_faces(image_blob: bytes) -> float:
    return float(len(detect_faces(image_blob)))
