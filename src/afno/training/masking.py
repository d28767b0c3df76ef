"""Random masks of square patches, the input corruption of masked-image pretraining.

Example:
    >>> import torch
    >>> mask = random_patch_mask(2, 8, 12, patch=4, ratio=0.5,
    ...                          generator=torch.Generator().manual_seed(0))
    >>> mask.shape, mask.dtype
    (torch.Size([2, 1, 8, 12]), torch.bool)
    >>> mask.sum(dim=(1, 2, 3)).tolist()   # round(0.5 · 6 patches) · 16 pixels per image
    [48, 48]
"""

from __future__ import annotations

import torch
from torch import Tensor


def hidden_patch_count(rows: int, cols: int, ratio: float) -> int:
    """How many of ``rows × cols`` patches a mask of ``ratio`` hides: ``round(ratio · n)``,
    at least 1 and at most ``n - 1`` (a mask that hides nothing or everything teaches nothing)."""
    total = rows * cols
    if total < 2:
        raise ValueError(f"a patch mask needs at least 2 patches, got a {rows}×{cols} grid")
    return min(total - 1, max(1, round(ratio * total)))


def random_patch_mask(
    batch: int,
    height: int,
    width: int,
    *,
    patch: int,
    ratio: float,
    generator: torch.Generator,
) -> Tensor:
    """Mask of hidden pixels: bool ``(B, 1, H, W)``, True on random square patches.

    The image is cut into ``(H/patch) × (W/patch)`` squares; each image hides
    its own random choice of exactly :func:`hidden_patch_count` of them.

    Args:
        batch: number of images ``B``.
        height, width: image size ``H × W`` in pixels.
        patch: side of a masked square in pixels; must divide ``H`` and ``W``.
        ratio: share of the squares to hide, in (0, 1).
        generator: the source of randomness, so masks are reproducible.

    Raises:
        ValueError: if ``patch`` does not divide the image size, ``ratio`` is
            not in (0, 1), or the grid has fewer than 2 squares.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if patch < 1 or height % patch or width % patch:
        raise ValueError(
            f"mask patch {patch} must divide the image size {height}×{width}; choose a patch "
            "side that divides both (e.g. the model's patch size)"
        )
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must be in (0, 1), got {ratio}")
    rows, cols = height // patch, width // patch
    hidden = hidden_patch_count(rows, cols, ratio)
    scores = torch.rand(batch, rows * cols, generator=generator)
    chosen = scores.argsort(dim=1)[:, :hidden]
    grid = torch.zeros(batch, rows * cols, dtype=torch.bool)
    grid.scatter_(1, chosen, True)
    patches = grid.view(batch, 1, rows, cols)
    return patches.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)
