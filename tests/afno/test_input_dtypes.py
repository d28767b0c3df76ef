"""Complex, integer and boolean inputs are refused with a ValueError naming the dtype.

Before, a complex input lost its imaginary part silently (every spectral mixer
takes a real FFT) and an integer one came back truncated.
"""

from __future__ import annotations

import re

import pytest
import torch

from afno import AFNONet, AFNOSegFormer
from afno.mixers import MIXER_NAMES, build_mixer

BAD_DTYPES = [torch.complex64, torch.complex128, torch.int64, torch.int32, torch.uint8, torch.bool]


def kind_of(dtype: torch.dtype) -> str:
    if dtype.is_complex:
        return "complex"
    return "boolean" if dtype == torch.bool else "integer"


def message_for(dtype: torch.dtype) -> str:
    return rf"must be real floating point .*got {kind_of(dtype)} dtype {re.escape(str(dtype))}"


@pytest.mark.parametrize("name", MIXER_NAMES)
@pytest.mark.parametrize("dtype", BAD_DTYPES)
def test_mixers_refuse_non_floating_tokens(name: str, dtype: torch.dtype) -> None:
    extra = {"num_blocks": 4} if name == "afno" else {"num_heads": 4} if name == "attention" else {}
    mixer = build_mixer(name, 16, grid_size=(4, 5), **extra)
    tokens = torch.ones(1, 4, 5, 16).to(dtype)
    with pytest.raises(ValueError, match=message_for(dtype)):
        mixer(tokens)


@pytest.mark.parametrize("dtype", BAD_DTYPES)
def test_models_refuse_non_floating_images(dtype: torch.dtype) -> None:
    classifier = AFNONet(
        img_size=16, patch_size=4, in_chans=1, num_classes=3, embed_dim=16, depth=1
    )
    segmenter = AFNOSegFormer(
        num_classes=3,
        in_chans=1,
        img_size=32,
        embed_dims=(8, 8, 8, 8),
        depths=(1, 1, 1, 1),
        decoder_dim=8,
        mixer_kwargs={"num_blocks": 4},
    )
    images = torch.ones(1, 1, 16, 16).to(dtype)
    for model, name in ((classifier, "AFNONet"), (segmenter, "AFNOSegFormer")):
        with pytest.raises(ValueError, match=f"{name} images " + message_for(dtype)):
            model(images)


def test_message_says_how_to_fix_it() -> None:
    mixer = build_mixer("afno", 8, num_blocks=2)
    with pytest.raises(ValueError, match=r"shape \(1, 3, 8\).*view_as_real"):
        mixer(torch.zeros(1, 3, 8, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"x\.float\(\)"):
        mixer(torch.zeros(1, 3, 8, dtype=torch.uint8))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_floating_tokens_keep_their_dtype(dtype: torch.dtype) -> None:
    mixer = build_mixer("afno", 8, num_blocks=2)
    tokens = torch.randn(1, 3, 4, 8).to(dtype)
    assert mixer(tokens).dtype == dtype
