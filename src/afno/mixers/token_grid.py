"""Validation of token tensors laid out channels-last on a 1-, 2- or 3-D grid.

Every mixer in :mod:`afno.mixers` takes tokens of shape ``(B, *spatial, C)``:
a batch axis, one to three spatial axes and a trailing channel axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

MIN_SPATIAL_DIMS = 1
MAX_SPATIAL_DIMS = 3
FLOATING_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
"""The input dtypes the models and mixers accept: real floating point."""


def check_floating(x: Tensor, what: str) -> None:
    """Raise ValueError unless ``x`` holds real floating-point numbers.

    A complex input would silently lose its imaginary part (every spectral
    mixer takes a real FFT) and an integer or boolean one would come back
    truncated, so both are refused with the offending dtype named.

    Args:
        x: the input tensor.
        what: who is asking and what the tensor is, for the message (e.g. ``"AFNO tokens"``).
    """
    if x.dtype in FLOATING_DTYPES:
        return
    kind = "complex" if x.is_complex() else "boolean" if x.dtype == torch.bool else "integer"
    advice = (
        "pass the real and imaginary parts as separate channels, e.g. torch.view_as_real"
        if kind == "complex"
        else "convert it first, e.g. x.float() (images as uint8: x.float() / 255)"
    )
    raise ValueError(
        f"{what} must be real floating point (float16, bfloat16, float32 or float64); "
        f"got {kind} dtype {x.dtype} with shape {tuple(x.shape)}: {advice}."
    )


def check_tokens(x: Tensor, channels: int, mixer: str) -> tuple[int, ...]:
    """Check that ``x`` is a token tensor ``(B, *spatial, channels)``.

    Args:
        x: tokens of shape ``(B, *spatial, C)`` with 1 to 3 spatial axes.
        channels: the channel count ``C`` the mixer was built for.
        mixer: the mixer's name, used in error messages.

    Returns:
        The spatial sizes ``spatial`` as a tuple of ints (symbolic ints while
        ``torch.export`` traces with dynamic shapes).

    Raises:
        ValueError: if ``x`` is not real floating point, does not have 3 to
            5 dimensions, if its last axis is not ``channels`` long, or if an
            axis is empty.
    """
    check_floating(x, f"{mixer} tokens")
    spatial_dims = x.dim() - 2
    if not MIN_SPATIAL_DIMS <= spatial_dims <= MAX_SPATIAL_DIMS:
        raise ValueError(
            f"{mixer} expects tokens of shape (B, *spatial, C) with 1 to 3 spatial axes, "
            f"i.e. a 3-, 4- or 5-D tensor; got a {x.dim()}-D tensor of shape {tuple(x.shape)}. "
            "Reshape images (B, C, H, W) to channels-last (B, H, W, C) first."
        )
    if x.shape[-1] != channels:
        raise ValueError(
            f"{mixer} was built for {channels} channels but got tokens of shape "
            f"{tuple(x.shape)} whose last (channel) axis has {x.shape[-1]}; "
            "tokens must be channels-last (B, *spatial, C)."
        )
    if any(size < 1 for size in x.shape[:-1]):
        raise ValueError(f"{mixer} got tokens of shape {tuple(x.shape)} with an empty axis.")
    # The sizes stay as they are (no int()): under torch.export with dynamic
    # shapes they are symbolic, and int() would pin them to the example's.
    return tuple(x.shape[1:-1])


def check_grid_size(grid_size: Sequence[int], mixer: str) -> tuple[int, ...]:
    """Check a nominal token grid ``(n_1, ..., n_d)`` with 1 to 3 positive sizes.

    Raises:
        ValueError: if the grid has the wrong number of axes or a size below 1.
    """
    grid = tuple(int(size) for size in grid_size)
    if not MIN_SPATIAL_DIMS <= len(grid) <= MAX_SPATIAL_DIMS or any(size < 1 for size in grid):
        raise ValueError(
            f"{mixer} needs grid_size with 1 to 3 positive sizes, e.g. (14, 14); got {grid_size!r}."
        )
    return grid
