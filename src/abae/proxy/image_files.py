"""Decode image files for a proxy, with errors that name the file at fault.

Pillow reads lazily: ``Image.open`` parses only the header, so a truncated file
opens fine and fails later. Each file is therefore fully decoded with
``.load()`` inside the error handling, and Pillow's ``LOAD_TRUNCATED_IMAGES``
stays off, so a cut-off file is an error rather than an image with a grey tail.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from abae.proxy.image_spec import ImageInputError, ImageSpec


def _name(path: str | os.PathLike[str], record: object | None) -> str:
    return f"record {record} ({os.fspath(path)})" if record is not None else os.fspath(path)


def read_image_file(
    path: str | os.PathLike[str], spec: ImageSpec, *, record: object | None = None
) -> NDArray[np.uint8]:
    """Decode one file into uint8 ``(H, W, C)`` after checking its size and mode.

    Args:
        path: the image file (any format Pillow reads: PNG, JPEG, ...).
        spec: the size and mode the proxy reads; no conversion or resizing is done.
        record: the record id, named in errors when given.

    Raises:
        ImageInputError: the file is missing, unreadable, truncated, or of another
            size or mode; the message names the record and file.
    """
    where = _name(path, record)
    try:
        with Image.open(path) as image:
            image.load()
            mode, size = image.mode, image.size
            pixels = np.asarray(image)
    except FileNotFoundError as error:
        raise ImageInputError(f"{where}: image file does not exist") from error
    except UnidentifiedImageError as error:
        raise ImageInputError(f"{where}: not an image file Pillow can read") from error
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow reports truncation and corrupt data as OSError (or SyntaxError
        # for some broken headers).
        raise ImageInputError(f"{where}: unreadable or truncated image file ({error})") from error
    if size != (spec.width, spec.height):
        raise ImageInputError(
            f"{where}: image is {size[1]}×{size[0]} (height×width) but the proxy reads "
            f"{spec.describe()}; resize it to {spec.height}×{spec.width}"
        )
    if mode != spec.mode:
        raise ImageInputError(
            f"{where}: image mode is {mode} but the proxy reads {spec.mode}; "
            f"convert it (e.g. Image.convert({spec.mode!r}))"
        )
    if pixels.dtype != np.uint8:
        raise ImageInputError(f"{where}: expected 8-bit pixels, got {pixels.dtype}")
    return pixels.reshape(spec.height, spec.width, spec.channels)


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
