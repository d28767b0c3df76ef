"""Decode image files for a proxy, with errors that name the file at fault.

Each file is checked against the proxy's :class:`~abae.proxy.image_spec.ImageSpec`
from its header before it is decoded (so a decompression bomb is refused unread)
and then fully decoded, so a truncated file is an error; see
:mod:`abae.proxy.image_decoding`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from abae.proxy.image_decoding import decode_image
from abae.proxy.image_spec import ImageSpec


def read_image_file(
    path: str | os.PathLike[str], spec: ImageSpec, *, record: object | None = None
) -> NDArray[np.uint8]:
    """Decode one file into uint8 ``(H, W, C)`` after checking its size and mode.

    Args:
        path: the image file (any format Pillow reads: PNG, JPEG, ...).
        spec: the size and mode the proxy reads; no conversion or resizing is done.
        record: the record id, named in errors when given.

    Raises:
        ImageInputError: the file is missing, unreadable, truncated, a
            decompression bomb, or of another size or mode; the message names the
            record and file.
    """
    return decode_image(path, spec, record=record)


def read_image_files(
    paths: Sequence[str | os.PathLike[str]],
    spec: ImageSpec,
    *,
    record_ids: Sequence[object] | None = None,
) -> NDArray[np.uint8]:
    """Decode files into one uint8 batch ``(N, H, W, C)``; the first bad file raises
    :class:`ImageInputError` naming it (and its record id when ``record_ids`` is given)."""
    if record_ids is not None and len(record_ids) != len(paths):
        raise ValueError(f"got {len(paths)} image paths but {len(record_ids)} record ids")
    batch = np.empty((len(paths), spec.height, spec.width, spec.channels), dtype=np.uint8)
    for position, path in enumerate(paths):
        record = record_ids[position] if record_ids is not None else None
        batch[position] = read_image_file(path, spec, record=record)
    return batch
