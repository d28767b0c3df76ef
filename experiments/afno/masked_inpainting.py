"""Self-supervised pretraining by inpainting: hide random square patches, reconstruct their pixels.

A segmentation model with ``K = 3 · 4 · 4 = 48`` output channels at stride 4
predicts, for every stride-4 cell, the 4×4 RGB pixels it covers
(``pixel_shuffle`` turns ``(B, 48, H/4, W/4)`` into ``(B, 3, H, W)``). The input
has its masked patches set to 0 (the per-channel mean after standardisation);
the loss is the mean squared error over the masked pixels only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

OUTPUT_STRIDE = 4
"""The segmentation models' logits are at stride 4."""
RECONSTRUCTION_CHANNELS = 3 * OUTPUT_STRIDE * OUTPUT_STRIDE
"""Outputs per stride-4 cell: its 4×4 RGB pixels."""


def random_patch_mask(
    batch: int,
    height: int,
    width: int,
    *,
    patch: int,
    ratio: float,
    generator: torch.Generator,
) -> Tensor:
    """Mask of hidden pixels: bool ``(B, 1, H, W)``, True on ``round(ratio · n)`` random patches.

    The frame is cut into ``(H/patch) × (W/patch)`` squares; each frame hides
    its own random choice of exactly ``round(ratio · n_patches)`` of them.

    Raises:
        ValueError: if ``patch`` does not divide ``H`` and ``W`` or ``ratio`` is not in (0, 1).
    """
    if patch < 1 or height % patch or width % patch:
        raise ValueError(f"patch {patch} must divide the frame size {height}×{width}")
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must be in (0, 1), got {ratio}")
    rows, cols = height // patch, width // patch
    hidden = max(1, round(ratio * rows * cols))
    scores = torch.rand(batch, rows * cols, generator=generator)
    chosen = scores.argsort(dim=1)[:, :hidden]
    grid = torch.zeros(batch, rows * cols, dtype=torch.bool)
    grid.scatter_(1, chosen, True)
    patches = grid.view(batch, 1, rows, cols)
    return patches.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)


class PixelReconstructor(nn.Module):
    """Wrap a stride-4 model with 48 outputs: images ``(B, 3, H, W)`` -> pixels ``(B, 3, H, W)``."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, images: Tensor) -> Tensor:
        cells: Tensor = self.backbone(images)
        if cells.shape[1] != RECONSTRUCTION_CHANNELS:
            raise ValueError(
                f"the backbone must output {RECONSTRUCTION_CHANNELS} channels per stride-4 cell, "
                f"got {tuple(cells.shape)}; build it with num_classes={RECONSTRUCTION_CHANNELS}"
            )
        return functional.pixel_shuffle(cells, OUTPUT_STRIDE)


def masked_mse(reconstruction: Tensor, images: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the hidden pixels (all 3 channels) only; a scalar."""
    hidden = mask.expand_as(images)
    return functional.mse_loss(reconstruction[hidden], images[hidden])


def pretrain_inpainting(
    model: PixelReconstructor,
    frames: Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    patch: int,
    ratio: float,
    seed: int,
) -> list[float]:
    """Train ``model`` to inpaint ``frames`` (float ``(N, 3, H, W)``, standardised); returns the losses.

    Batches and masks come from a ``torch.Generator`` seeded with ``seed``;
    AdamW with a cosine learning-rate decay over ``steps``.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"need steps >= 1 and batch_size >= 1, got {steps} and {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses: list[float] = []
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(steps):
            pick = torch.randint(0, frames.shape[0], (batch_size,), generator=generator)
            images = frames[pick]
            mask = random_patch_mask(
                batch_size,
                images.shape[2],
                images.shape[3],
                patch=patch,
                ratio=ratio,
                generator=generator,
            )
            loss = masked_mse(model(images.masked_fill(mask, 0.0)), images, mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
    return losses
