"""Pixels of stored records: decode a :class:`~abae.store.RecordBatch` for a proxy.

A record holds its image as encoded bytes (``image_blob``, e.g. the PNG the
array importer writes) or as a file reference (``image``). Both are decoded in
full and checked against the proxy's :class:`~abae.proxy.image_spec.ImageSpec`;
the first bad one raises :class:`~abae.proxy.image_spec.ImageInputError` naming
its record (and file).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from abae.proxy.image_files import read_image_file
from abae.proxy.image_spec import ImageInputError, ImageSpec
from abae.store.records import RecordBatch, RecordCollection

_CHANNELS = {"L": 1, "RGB": 3}


def _decode_blob(blob: bytes, record: int) -> NDArray[np.uint8]:
    try:
        with Image.open(io.BytesIO(blob)) as image:
            image.load()
            mode = image.mode
            pixels = np.asarray(image)
    except UnidentifiedImageError as error:
        raise ImageInputError(
            f"record {record}: image_blob ({len(blob)} bytes) is not an image Pillow can read"
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageInputError(
            f"record {record}: unreadable or truncated image_blob ({len(blob)} bytes): {error}"
        ) from error
    if mode not in _CHANNELS or pixels.dtype != np.uint8:
        raise ImageInputError(
            f"record {record}: image mode is {mode} ({pixels.dtype}); proxies read 8-bit L or "
            "RGB images: convert it (e.g. Image.convert('RGB'))"
        )
    return pixels


def _check_one(pixels: NDArray[np.uint8], spec: ImageSpec, record: int) -> NDArray[np.uint8]:
    image = pixels if pixels.ndim == 3 else pixels[..., None]
    if image.shape[:2] != (spec.height, spec.width):
        raise ImageInputError(
            f"record {record}: image is {image.shape[0]}×{image.shape[1]} but the proxy reads "
            f"{spec.describe()}; resize it to {spec.height}×{spec.width}"
        )
    if image.shape[2] != spec.channels:
        mode = {1: "L", 3: "RGB"}.get(image.shape[2], f"{image.shape[2]} channels")
        raise ImageInputError(
            f"record {record}: image mode is {mode} but the proxy reads {spec.mode}; "
            f"convert it (e.g. Image.convert({spec.mode!r}))"
        )
    return image


def decode_record_images(batch: RecordBatch, spec: ImageSpec) -> NDArray[np.uint8]:
    """Decode a batch of records into uint8 ``(B, H, W, C)`` for a proxy.

    Each record's ``image_blob`` is used when present, else its ``image`` file.

    Raises:
        ImageInputError: a record without an image, or an unreadable, truncated,
            wrongly sized or wrongly moded one; the message names the record.
    """
    out = np.empty((batch.ids.size, spec.height, spec.width, spec.channels), dtype=np.uint8)
    for position, record in enumerate(batch.ids.tolist()):
        blob, path = batch.blobs[position], batch.images[position]
        if blob is not None:
            out[position] = _check_one(_decode_blob(blob, record), spec, record)
        elif path is not None:
            out[position] = read_image_file(path, spec, record=record)
        else:
            raise ImageInputError(
                f"record {record} has neither an image file nor image bytes; import it with "
                "an image to score it"
            )
    return out


def spec_of_collection(collection: RecordCollection, **normalisation: Any) -> ImageSpec:
    """The :class:`ImageSpec` of a collection's first record (what a new proxy will read).

    Raises:
        ImageInputError: the collection is empty or its first image cannot be read.
    """
    first = next(collection.iter_batches(batch_size=1), None)
    if first is None:
        raise ImageInputError(
            f"collection {collection.name!r} is empty: import records before training a proxy"
        )
    record = int(first.ids[0])
    blob, path = first.blobs[0], first.images[0]
    if blob is not None:
        pixels = _decode_blob(blob, record)
    elif path is not None:
        try:
            with Image.open(path) as image:
                image.load()
                pixels = np.asarray(image)
        except (OSError, SyntaxError, ValueError) as error:
            raise ImageInputError(f"record {record} ({path}): unreadable image: {error}") from error
    else:
        raise ImageInputError(f"record {record} has neither an image file nor image bytes")
    channels = 1 if pixels.ndim == 2 else int(pixels.shape[2])
    return ImageSpec(int(pixels.shape[0]), int(pixels.shape[1]), channels, **normalisation)
