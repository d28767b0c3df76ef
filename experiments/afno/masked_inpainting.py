"""Inpainting pretraining of a segmentation model, with the ``afno`` library's objective.

A segmentation model with ``K = 3 · 4 · 4 = 48`` output channels at stride 4
predicts, for every stride-4 cell, the 4×4 RGB pixels it covers
(:class:`afno.training.CellReconstructor` pixel-shuffles ``(B, 48, H/4, W/4)``
into ``(B, 3, H, W)``). :class:`afno.training.MaskedInpainting` hides random
square patches (set to 0, the per-channel mean after standardisation) and
scores the mean squared error over the hidden pixels only; ``afno.fit`` runs it.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

import afno
from afno.training import CellReconstructor, MaskedInpainting, masked_mse, random_patch_mask

__all__ = [
    "OUTPUT_STRIDE",
    "RECONSTRUCTION_CHANNELS",
    "CellReconstructor",
    "masked_mse",
    "pixel_reconstructor",
    "pretrain_inpainting",
    "random_patch_mask",
]

OUTPUT_STRIDE = 4
"""The segmentation models' logits are at stride 4."""
RECONSTRUCTION_CHANNELS = 3 * OUTPUT_STRIDE * OUTPUT_STRIDE
"""Outputs per stride-4 cell: its 4×4 RGB pixels."""


def pixel_reconstructor(backbone: nn.Module) -> CellReconstructor:
    """Wrap a stride-4 segmenter with 48 outputs: images ``(B, 3, H, W)`` -> pixels ``(B, 3, H, W)``."""
    return CellReconstructor(backbone, OUTPUT_STRIDE)


def pretrain_inpainting(
    model: nn.Module,
    frames: Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    patch: int,
    ratio: float,
    seed: int,
) -> list[float]:
    """Train ``model`` to inpaint ``frames`` (float ``(N, 3, H, W)``, standardised).

    About ``steps`` optimiser steps of ``batch_size`` frames: ``afno.fit`` with
    :class:`afno.training.MaskedInpainting`, AdamW (weight decay 0.05), cosine
    decay, gradients clipped at 1. Returns the mean masked-pixel loss per epoch.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"need steps >= 1 and batch_size >= 1, got {steps} and {batch_size}")
    epochs = max(1, math.ceil(steps * batch_size / frames.shape[0]))
    history = afno.fit(
        model,
        frames,
        loss=MaskedInpainting(patch=patch, ratio=ratio),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=0.05,
        schedule="cosine",
        max_grad_norm=1.0,
        seed=seed,
        progress=False,
    )
    return history.train_loss
