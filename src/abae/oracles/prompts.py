"""Prompt templates over a record's columns, and images as data URLs, for model oracles."""

from __future__ import annotations

import base64
import os
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""The largest image file or blob sent to a model (bytes)."""

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


class PromptTemplate:
    """A prompt with ``{column}`` fields, filled from a record's argument values.

    Fields are plain argument names (``{caption}``); attribute or index access,
    conversions (``!r``) and positional fields are refused, so a template cannot
    reach into Python objects. Format specs are allowed (``{score:.2f}``); write
    ``{{`` and ``}}`` for literal braces.

    Args:
        template: the prompt text.
        args: the oracle's argument names, in the order the query passes them.

    Raises:
        ValueError: a field that is not one of ``args``, or a forbidden field form.
    """

    def __init__(self, template: str, args: Sequence[str]) -> None:
        if not isinstance(template, str) or not template.strip():
            raise ValueError("the prompt must be a non-empty string")
        self.template = template
        self.args = tuple(args)
        self._parts: list[tuple[str, str | None, str]] = []
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as error:
            raise ValueError(f"prompt template {template!r}: {error}") from None
        for literal, field, spec, conversion in parsed:
            if field is None:
                self._parts.append((literal, None, ""))
                continue
            if conversion or not field.isidentifier():
                raise ValueError(
                    f"prompt field {{{field}{'!' + conversion if conversion else ''}}} is not "
                    "allowed; use a plain argument name such as {caption}"
                )
            if field not in self.args:
                raise ValueError(
                    f"prompt field {{{field}}} is not one of the oracle's arguments "
                    f"{list(self.args)}; add it to args=..."
                )
            if spec and "{" in spec:
                raise ValueError(f"prompt field {{{field}:{spec}}}: nested fields are not allowed")
            self._parts.append((literal, field, spec or ""))

    @property
    def fields(self) -> list[str]:
        """The argument names the template uses."""
        return [field for _, field, _ in self._parts if field is not None]

    def render(self, values: Mapping[str, Any]) -> str:
        """The prompt for one record (``values``: argument name → value)."""
        pieces: list[str] = []
        for literal, field, spec in self._parts:
            pieces.append(literal)
            if field is not None:
                pieces.append(format(values[field], spec))
        return "".join(pieces)


def sniff_image_type(data: bytes) -> str:
    """The MIME type of encoded image bytes (PNG, JPEG, GIF, WebP, BMP).

    Raises:
        ValueError: the bytes are not one of these formats.
    """
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ValueError("the image is not PNG, JPEG, GIF, WebP or BMP data")


def image_url(value: Any) -> str:
    """An image for a chat message: a data URL of a file's or a blob's bytes.

    ``value`` is encoded image bytes (a store's ``image_blob``), a local file path,
    or an ``http(s)://`` / ``data:`` URL (passed on as it is).

    Raises:
        ValueError: no image (``None``), an unreadable or too large file, or bytes
            that are not an image.
    """
    if value is None:
        raise ValueError("the record has no image (NULL)")
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    elif isinstance(value, str | os.PathLike):
        text = os.fspath(value)
        if text.startswith(("data:", "http://", "https://")):
            return text
        path = Path(text)
        try:
            size = path.stat().st_size
            if size > MAX_IMAGE_BYTES:
                raise ValueError(f"image file {path} is larger than {MAX_IMAGE_BYTES} bytes")
            data = path.read_bytes()
        except OSError as error:
            raise ValueError(f"cannot read image file {path}: {error.strerror}") from None
    else:
        raise ValueError(f"an image must be a path, a URL or bytes, got {type(value).__name__}")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"the image is larger than {MAX_IMAGE_BYTES} bytes")
    encoded = base64.b64encode(data).decode("ascii")
    return f"data:{sniff_image_type(data)};base64,{encoded}"
