"""Decode one image (a file or encoded bytes) for a proxy, refusing anything it should not read.

Pillow reads lazily: ``Image.open`` parses only the header, so a truncated file
opens fine and fails later. Each image is therefore fully decoded with
``.load()`` inside the error handling, and Pillow's ``LOAD_TRUNCATED_IMAGES``
stays off, so a cut-off file is an error rather than an image with a grey tail.

Decompression bombs (a small file whose header claims a huge image) never get
decoded: the header's size and mode are checked against the proxy's
:class:`~abae.proxy.image_spec.ImageSpec` *before* ``.load()``, so an image of
any other size is refused at the cost of reading its header. Without a spec
(probing a collection's first record), at most :data:`MAX_PROBE_PIXELS` pixels
are decoded. Pillow's own bomb check (``DecompressionBombError``, and its
warning, which is turned into an error here) is reported the same way: an
:class:`~abae.proxy.image_spec.ImageInputError` naming the record.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from abae.proxy.image_spec import ImageInputError, ImageSpec

MAX_PROBE_PIXELS = 64 * 1024 * 1024
"""Most pixels decoded from an image when no proxy spec says what size to expect."""
_MODES = {"L": 1, "RGB": 3}

EncodedImage = str | os.PathLike[str] | bytes


def describe_source(source: EncodedImage, record: object | None) -> tuple[str, str]:
    """``(where, what)`` for messages: e.g. ``("record 7 (/a/7.png)", "image file")`` or
    ``("record 12", "image_blob (812 bytes)")``."""
    if isinstance(source, bytes):
        where = f"record {record}" if record is not None else "image bytes"
        return where, f"image_blob ({len(source)} bytes)"
    path = os.fspath(source)
    return (f"record {record} ({path})" if record is not None else path), "image file"


def _check_header(image: Image.Image, spec: ImageSpec | None, where: str, what: str) -> None:
    width, height = image.size
    if spec is None:
        if width * height > MAX_PROBE_PIXELS:
            raise ImageInputError(
                f"{where}: {what} claims {height}×{width} pixels, more than the "
                f"{MAX_PROBE_PIXELS:,} a proxy reads; refused without decoding it (a "
                "decompression bomb?)"
            )
        return
    if (width, height) != (spec.width, spec.height):
        raise ImageInputError(
            f"{where}: image is {height}×{width} (height×width) but the proxy reads "
            f"{spec.describe()}; resize it to {spec.height}×{spec.width}"
        )
    if image.mode != spec.mode:
        raise ImageInputError(
            f"{where}: image mode is {image.mode} but the proxy reads {spec.mode}; "
            f"convert it (e.g. Image.convert({spec.mode!r}))"
        )


def decode_image(
    source: EncodedImage, spec: ImageSpec | None, *, record: object | None = None
) -> NDArray[np.uint8]:
    """Decode one image into uint8 ``(H, W, C)``.

    Args:
        source: a file path, or the encoded bytes of an ``image_blob``.
        spec: the size and mode the proxy reads (checked before decoding; no
            conversion or resizing is done), or None to probe an image of unknown
            size (8-bit L or RGB, at most :data:`MAX_PROBE_PIXELS` pixels).
        record: the record id, named in errors when given.

    Raises:
        ImageInputError: the image is missing, not an image, truncated, of
            another size or mode, or a decompression bomb; the message names the
            record (and file).
    """
    where, what = describe_source(source, record)
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                _check_header(image, spec, where, what)
                image.load()
                mode = image.mode
                pixels = np.asarray(image)
    except ImageInputError:
        raise
    except FileNotFoundError as error:
        raise ImageInputError(f"{where}: {what} does not exist") from error
    except UnidentifiedImageError as error:
        if isinstance(source, bytes):
            raise ImageInputError(f"{where}: {what} is not an image Pillow can read") from error
        raise ImageInputError(f"{where}: not an image file Pillow can read") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageInputError(
            f"{where}: {what} refused as a decompression bomb (its header claims more pixels "
            f"than Pillow's limit): {error}"
        ) from error
    except (OSError, SyntaxError, ValueError, MemoryError) as error:
        # Pillow reports truncation and corrupt data as OSError (or SyntaxError
        # for some broken headers, ValueError for oversized text chunks).
        raise ImageInputError(f"{where}: unreadable or truncated {what} ({error})") from error
    if mode not in _MODES or pixels.dtype != np.uint8:
        raise ImageInputError(
            f"{where}: image mode is {mode} ({pixels.dtype}); proxies read 8-bit L or RGB "
            "images: convert it (e.g. Image.convert('RGB'))"
        )
    return pixels if pixels.ndim == 3 else pixels[..., None]
