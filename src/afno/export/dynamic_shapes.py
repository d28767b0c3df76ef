"""Which input axes of a model ``torch.export`` may keep symbolic, and an example that allows it.

The batch axis is always dynamic. The spatial axes are dynamic when the model
allows it:

- :class:`~afno.models.AFNONet`: image sides any multiple of the patch size
  (at least two patches), the position embedding being resampled in the graph;
- :class:`~afno.models.AFNOSegFormer`: image sides any multiple of 32 (at
  least 64 pixels), so that every stage's grid is a whole number of tokens
  in closed form;
- :class:`~afno.mixers.AFNO`: any grid sizes (at least 2 per axis);

provided every token mixer inside is an AFNO with ``keep_fraction`` 1 or
self-attention. With ``keep_fraction < 1`` the number of kept modes is
``floor(f * n / 2)`` per axis, a bound export cannot prove the slices and
zero-fills to respect for every ``n``; GFN resamples its filter and FNO its
weights to the grid. Such models export at the example's spatial size (the
batch axis stays dynamic).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.export import Dim

from afno.mixers import AFNO, FNO, GlobalFilter, SelfAttention
from afno.models import AFNONet, AFNOSegFormer

SEGFORMER_SIDE_MULTIPLE = 32
"""The image sides of an exported :class:`AFNOSegFormer` are multiples of this (its total stride)."""

DynamicShapes = tuple[dict[int, Any], ...]
"""``dynamic_shapes`` for a model with one input: one ``{axis: Dim}`` dict."""


def spatial_axes_can_vary(model: nn.Module) -> bool:
    """Whether every token mixer in ``model`` runs at symbolic grid sizes under export.

    True for AFNO with every ``keep_fraction`` equal to 1 and for
    self-attention; False as soon as one mixer is an AFNO with a smaller
    keep fraction, a GFN or an FNO (see the module docstring).
    """
    for module in model.modules():
        if isinstance(module, AFNO):
            fractions = module.keep_fraction
            values = fractions if isinstance(fractions, tuple) else (fractions,)
            if any(value < 1.0 for value in values):
                return False
        elif isinstance(module, GlobalFilter | FNO):
            return False
    return True


def dynamic_shapes_for(model: nn.Module, example: Tensor) -> DynamicShapes:
    """The ``dynamic_shapes`` argument of ``torch.export.export(model, (example,))``.

    Args:
        model: an :class:`AFNONet`, :class:`AFNOSegFormer` or a token mixer
            (:class:`AFNO`, :class:`SelfAttention`).
        example: the example input, ``(B, C_in, H, W)`` images or ``(B, *spatial, C)`` tokens.

    Returns:
        A one-element tuple (the model's single input) mapping axes to
        ``torch.export.Dim``: the batch axis always, the spatial axes when
        :func:`spatial_axes_can_vary`.

    Raises:
        ValueError: for a model of another kind (pass your own ``dynamic_shapes``).
    """
    axes: dict[int, Any] = {0: Dim("batch", min=1)}
    if not spatial_axes_can_vary(model):
        return (axes,)
    if isinstance(model, AFNONet):
        patch = model.patch_size
        axes[2] = patch * Dim("height_patches", min=2)
        axes[3] = patch * Dim("width_patches", min=2)
    elif isinstance(model, AFNOSegFormer):
        axes[2] = SEGFORMER_SIDE_MULTIPLE * Dim("height_strides", min=2)
        axes[3] = SEGFORMER_SIDE_MULTIPLE * Dim("width_strides", min=2)
    elif isinstance(model, AFNO | SelfAttention):
        for axis in range(1, example.dim() - 1):
            axes[axis] = Dim(f"grid_{axis}", min=2)
    else:
        raise ValueError(
            f"no dynamic shapes are known for {type(model).__name__}; export it with "
            "dynamic=False, or pass dynamic_shapes for torch.export yourself."
        )
    return (axes,)


def traceable_example(example: Tensor) -> Tensor:
    """``example`` with at least two samples.

    ``torch.export`` specialises an axis whose example size is 1 to the
    constant 1, so a one-image example would make the batch axis static; the
    sample is repeated instead. Other sizes are returned as they are.
    """
    if example.dim() == 0 or example.shape[0] != 1:
        return example
    return example.expand(2, *example.shape[1:]).contiguous()


def check_example(example: object) -> Tensor:
    """Raise ValueError unless ``example`` is a tensor (the single model input)."""
    if not isinstance(example, torch.Tensor):
        raise ValueError(
            f"example must be one input tensor, e.g. torch.randn(2, 3, 224, 224); "
            f"got {type(example).__name__}."
        )
    return example
