"""Pixels of stored records: decode a :class:`~abae.store.RecordBatch` for a proxy.

A record holds its image as encoded bytes (``image_blob``, e.g. the PNG the
array importer writes) or as a file reference (``image``). Both are decoded in
full and checked against the proxy's :class:`~abae.proxy.image_spec.ImageSpec`;
the first bad one raises :class:`~abae.proxy.image_spec.ImageInputError` naming
its record (and file).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.proxy.image_decoding import decode_image
from abae.proxy.image_spec import ImageInputError, ImageSpec
from abae.store.records import RecordBatch, RecordCollection


def decode_record_images(batch: RecordBatch, spec: ImageSpec) -> NDArray[np.uint8]:
    """Decode a batch of records into uint8 ``(B, H, W, C)`` for a proxy.

    Each record's ``image_blob`` is used when present, else its ``image`` file.

    Raises:
        ImageInputError: a record without an image, or an unreadable, truncated,
            wrongly sized or wrongly moded one, or a decompression bomb (refused
            from its header, never decoded); the message names the record.
    """
    out = np.empty((batch.ids.size, spec.height, spec.width, spec.channels), dtype=np.uint8)
    for position, record in enumerate(batch.ids.tolist()):
        blob, path = batch.blobs[position], batch.images[position]
        source = blob if blob is not None else path
        if source is not None:
            out[position] = decode_image(source, spec, record=record)
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
    source = blob if blob is not None else path
    if source is None:
        raise ImageInputError(f"record {record} has neither an image file nor image bytes")
    pixels = decode_image(source, None, record=record)
    return ImageSpec(
        int(pixels.shape[0]), int(pixels.shape[1]), int(pixels.shape[2]), **normalisation
    )


def read_collection_images(
    collection: RecordCollection, ids: NDArray[np.int64], spec: ImageSpec, *, batch_size: int = 256
) -> NDArray[np.uint8]:
    """Decoded uint8 images ``(n, H, W, C)`` of the records ``ids``, in that order.

    Raises:
        ImageInputError: a record's image cannot be read (names it).
    """
    out = np.empty((ids.size, spec.height, spec.width, spec.channels), dtype=np.uint8)
    for start in range(0, ids.size, batch_size):
        batch = collection.fetch(ids[start : start + batch_size])
        out[start : start + batch.ids.size] = decode_record_images(batch, spec)
    return out
