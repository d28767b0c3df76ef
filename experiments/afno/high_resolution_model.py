"""The segmentation model of the high-resolution experiment, and how to time and probe it.

SegFormer-B0 widths (``afno_segformer_b0``: channels 32/64/160/256, 2 blocks
per stage, decoder width 256), 19 output classes (as Cityscapes), one mixer.
At a ``S × S`` input the stride-4 stage holds ``(S/4)²`` tokens: 65,536 at 1024.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

import afno

MIXER_KWARGS: dict[str, dict[str, Any]] = {
    "afno": {"num_blocks": 8},
    "attention": {"num_heads": 2},
    "gfn": {},
}
NUM_CLASSES = 19
CASES: dict[str, tuple[str, str]] = {
    "afno": ("afno", "default"),
    "gfn": ("gfn", "default"),
    "attention": ("attention", "default"),
    "attention-math": ("attention", "math"),
}
"""Case name -> (mixer, attention kernel). ``default``: PyTorch's choice (on the CPU a
fused flash-attention kernel that never holds the N × N matrix); ``math``: the
plain kernel that materialises the N × N attention matrix."""


def stride4_tokens(size: int) -> int:
    """Tokens of the stride-4 stage for an ``size × size`` input."""
    side = -(-size // 4)
    return side * side


def build_model(mixer: str, size: int) -> nn.Module:
    """The model for ``mixer`` in eval mode; GFN's filter is sized for ``size`` (no resampling)."""
    if mixer not in MIXER_KWARGS:
        raise ValueError(f"mixer must be one of {sorted(MIXER_KWARGS)}, got {mixer!r}")
    model = afno.create_model(
        "afno_segformer_b0",
        seed=0,
        num_classes=NUM_CLASSES,
        img_size=size,
        mixer=mixer,
        mixer_kwargs=dict(MIXER_KWARGS[mixer]),
    )
    return model.eval()


def input_batch(size: int) -> torch.Tensor:
    """One RGB image ``(1, 3, size, size)``, drawn from a fixed seed."""
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))


@contextlib.contextmanager
def attention_kernel(kernel: str) -> Iterator[None]:
    """Run the body with PyTorch's default attention kernel or the plain ``math`` one."""
    if kernel == "default":
        yield
    elif kernel == "math":
        with sdpa_kernel(SDPBackend.MATH):
            yield
    else:
        raise ValueError(f"kernel must be 'default' or 'math', got {kernel!r}")


@torch.no_grad()
def timed_forward(model: nn.Module, images: torch.Tensor, kernel: str = "default") -> float:
    """Wall seconds of one inference forward pass with the given attention kernel."""
    with attention_kernel(kernel):
        started = time.perf_counter()
        model(images)
        return time.perf_counter() - started
