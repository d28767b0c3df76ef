"""Choose each mixer's width so that the classifiers have comparable parameter counts.

The mixers differ in parameters per block at width ``C``: AFNO ``4C²/k``
(block-diagonal complex MLP), self-attention ``4C²``, GFN one complex weight per
mode and channel, FNO a complex ``C × C`` matrix per kept mode. At equal width
the models differ by up to several times, so each mixer gets the width whose
total parameter count is closest to a common target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

import afno

MIXER_KWARGS: dict[str, dict[str, Any]] = {
    "afno": {"num_blocks": 4},
    "attention": {"num_heads": 4},
    "gfn": {},
    "fno": {"modes": 2},
}
"""Mixer settings of the classification experiment (FNO keeps the 2 lowest
frequencies per axis, 4×2 = 8 modes on the 7×7 token grid)."""

WIDTH_STEP = 4
"""Candidate widths are multiples of this (AFNO's 4 blocks and attention's 4 heads divide them)."""


@dataclass(frozen=True)
class ClassifierShape:
    """What fixes an AFNONet for Fashion-MNIST apart from its width and mixer."""

    img_size: int = 28
    patch_size: int = 4
    depth: int = 4
    mlp_ratio: float = 2.0


def classifier_kwargs(mixer: str, width: int, shape: ClassifierShape) -> dict[str, Any]:
    """Arguments of ``afno.create_model("afnonet_tiny", ...)`` for one mixer and width."""
    return {
        "img_size": shape.img_size,
        "patch_size": shape.patch_size,
        "in_chans": 1,
        "num_classes": 10,
        "embed_dim": width,
        "depth": shape.depth,
        "mlp_ratio": shape.mlp_ratio,
        "mixer": mixer,
        "mixer_kwargs": dict(MIXER_KWARGS[mixer]),
    }


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable scalars (a complex weight stored as two reals counts twice)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def classifier_parameters(mixer: str, width: int, shape: ClassifierShape) -> int:
    """Parameter count of the classifier with ``mixer`` at ``width``."""
    model = afno.create_model("afnonet_tiny", seed=0, **classifier_kwargs(mixer, width, shape))
    return count_parameters(model)


def width_for_budget(
    mixer: str, target: int, shape: ClassifierShape, widths: range = range(8, 257, WIDTH_STEP)
) -> tuple[int, int]:
    """The width (from ``widths``) whose parameter count is closest to ``target``.

    Returns:
        ``(width, parameters)``.

    Raises:
        ValueError: for an unknown mixer or a non-positive target.
    """
    if mixer not in MIXER_KWARGS:
        raise ValueError(f"mixer must be one of {sorted(MIXER_KWARGS)}, got {mixer!r}")
    if target < 1:
        raise ValueError(f"target parameter count must be positive, got {target}")
    best: tuple[int, int] | None = None
    for width in widths:
        params = classifier_parameters(mixer, width, shape)
        if best is None or abs(params - target) < abs(best[1] - target):
            best = (width, params)
        if params > target:
            break  # counts grow with width
    assert best is not None
    return best


def matched_widths(
    target: int, shape: ClassifierShape, mixers: tuple[str, ...]
) -> Mapping[str, tuple[int, int]]:
    """``{mixer: (width, parameters)}`` with every count close to ``target``."""
    return {mixer: width_for_budget(mixer, target, shape) for mixer in mixers}
