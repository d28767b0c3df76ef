"""Build any token mixer by name, behind one call signature."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from afno.mixers.afno import AFNO
from afno.mixers.attention import SelfAttention
from afno.mixers.fno import FNO
from afno.mixers.global_filter import GlobalFilter
from afno.mixers.token_grid import check_grid_size

MIXER_NAMES: tuple[str, ...] = ("afno", "attention", "gfn", "fno")


def build_mixer(
    name: str, channels: int, grid_size: Sequence[int] | None = None, **kwargs: Any
) -> nn.Module:
    """Build the token mixer ``name`` for ``channels`` channels.

    Every mixer maps tokens ``(B, *spatial, C)`` to the same shape and dtype.

    Args:
        name: one of :data:`MIXER_NAMES`: ``"afno"`` (:class:`AFNO`),
            ``"attention"`` (:class:`SelfAttention`), ``"gfn"``
            (:class:`GlobalFilter`) or ``"fno"`` (:class:`FNO`).
        channels: number of channels ``C``.
        grid_size: the nominal token grid ``(n_1, ..., n_d)``. GFN sizes its
            filter from it and FNO takes its number of axes; required for
            those two, ignored by the others.
        **kwargs: passed to the mixer's constructor (e.g. ``num_blocks``,
            ``keep_fraction``, ``num_heads``, ``modes``, ``generator``).

    Raises:
        ValueError: for an unknown name, or a missing ``grid_size``.
    """
    if name not in MIXER_NAMES:
        raise ValueError(f"unknown mixer {name!r}; choose one of {MIXER_NAMES}.")
    if name == "afno":
        return AFNO(channels, **kwargs)
    if name == "attention":
        return SelfAttention(channels, **kwargs)
    if grid_size is None:
        raise ValueError(f"mixer {name!r} needs grid_size, the nominal token grid, e.g. (14, 14).")
    grid = check_grid_size(grid_size, name)
    if name == "gfn":
        return GlobalFilter(channels, grid, **kwargs)
    return FNO(channels, spatial_dims=len(grid), **kwargs)
