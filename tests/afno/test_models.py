"""Models: registry, AFNONet and AFNOSegFormer shapes, resolution changes, peer mixers, input checks."""

from __future__ import annotations

import pytest
import torch

from afno import (
    AFNO,
    FNO,
    MIXER_NAMES,
    AFNONet,
    AFNOSegFormer,
    GlobalFilter,
    SelfAttention,
    create_model,
    list_models,
)
from afno.models.layers import resize_grid

MIXER_CLASSES = {"afno": AFNO, "attention": SelfAttention, "gfn": GlobalFilter, "fno": FNO}
TINY_CLASSIFIER = {
    "img_size": 16,
    "patch_size": 4,
    "in_chans": 1,
    "num_classes": 3,
    "embed_dim": 16,
    "depth": 2,
    "mixer_kwargs": {"num_blocks": 4},
}
TINY_SEGMENTER = {
    "num_classes": 3,
    "in_chans": 2,
    "img_size": 64,
    "embed_dims": (8, 16, 16, 32),
    "depths": (1, 1, 1, 1),
    "decoder_dim": 16,
    "mixer_kwargs": {"num_blocks": 4},
}


def _mixer_kwargs(mixer: str) -> dict[str, object]:
    return {"num_blocks": 4} if mixer == "afno" else {}


def test_registry_lists_the_variants() -> None:
    names = list_models()
    for name in ("afnonet_tiny", "afnonet_small", "afnonet_base"):
        assert name in names
    for name in ("afno_segformer_b0", "afno_segformer_b1"):
        assert name in names
    assert names == sorted(names)


def test_create_model_records_name_and_plain_config() -> None:
    model = create_model("afnonet_small", **TINY_CLASSIFIER | {"embed_dim": 32}, seed=0)
    assert isinstance(model, AFNONet)
    assert model.model_name == "afnonet_small"
    assert model.config["embed_dim"] == 32
    assert model.config["depth"] == 2
    assert model.config["img_size"] == (16, 16)
    rebuilt = AFNONet(**model.config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }


def test_create_model_seed_fixes_weights_and_spares_global_rng() -> None:
    state = torch.random.get_rng_state()
    first = create_model("afnonet_tiny", **TINY_CLASSIFIER, seed=3)
    second = create_model("afnonet_tiny", **TINY_CLASSIFIER, seed=3)
    third = create_model("afnonet_tiny", **TINY_CLASSIFIER, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(first.pos_embed, third.pos_embed)


def test_unknown_model_or_argument_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown model 'afnonet_huge'"):
        create_model("afnonet_huge")
    with pytest.raises(ValueError, match=r"unknown arguments \['embed_dims'\]"):
        create_model("afnonet_tiny", embed_dims=(1, 2, 3, 4))


def test_afnonet_runs_at_twice_the_resolution_with_a_resized_position_embedding() -> None:
    model = create_model("afnonet_tiny", **TINY_CLASSIFIER, seed=0).eval()
    images = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert model(images[..., :16, :16]).shape == (2, 3)
        logits = model(images)
    assert logits.shape == (2, 3)
    assert torch.isfinite(logits).all()

    # The same weights at 32x32 equal a model built for 32x32 whose position
    # embedding is the bicubically resized one: the embedding is resized, not dropped.
    large = AFNONet(**model.config | {"img_size": 32}).eval()
    weights = dict(model.state_dict())
    weights["pos_embed"] = resize_grid(model.pos_embed.detach(), (8, 8))
    large.load_state_dict(weights)
    with torch.no_grad():
        torch.testing.assert_close(large(images), logits)
        shifted = model.pos_embed.detach().clone()
        model.pos_embed.data.zero_()
        assert not torch.allclose(model(images), logits)
        model.pos_embed.data.copy_(shifted)


def test_resize_grid_keeps_same_size_and_interpolates_otherwise() -> None:
    grid = torch.randn(1, 4, 6, 3)
    assert resize_grid(grid, (4, 6)) is grid
    constant = torch.full((1, 4, 4, 2), 0.5)
    torch.testing.assert_close(resize_grid(constant, (8, 12)), torch.full((1, 8, 12, 2), 0.5))


def test_afnonet_non_square_images() -> None:
    model = AFNONet(**TINY_CLASSIFIER | {"img_size": (8, 20)})
    assert model(torch.randn(3, 1, 8, 20)).shape == (3, 3)
    assert model(torch.randn(3, 1, 12, 8)).shape == (3, 3)


def test_segformer_output_at_stride_four_and_twice_the_resolution() -> None:
    model = AFNOSegFormer(**TINY_SEGMENTER).eval()
    images = torch.randn(2, 2, 128, 96)
    with torch.no_grad():
        features = model.forward_features(images[..., :64, :48])
        assert [tuple(f.shape) for f in features] == [
            (2, 16, 12, 8),
            (2, 8, 6, 16),
            (2, 4, 3, 16),
            (2, 2, 2, 32),
        ]
        assert model(images[..., :64, :48]).shape == (2, 3, 16, 12)
        logits = model(images)
    assert logits.shape == (2, 3, 32, 24)
    assert torch.isfinite(logits).all()


def test_segformer_sizes_not_divisible_by_32_round_up() -> None:
    model = AFNOSegFormer(**TINY_SEGMENTER).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 2, 50, 37)).shape == (1, 3, 13, 10)


def assert_first_layer_gradient_is_the_derivative(
    model: torch.nn.Module, weight: torch.nn.Parameter, loss_of: object
) -> None:
    """The gradient that reached the first layer's weight is the loss's derivative
    along a random direction (central difference, float64): the signal crosses
    every block, mixer included, backwards."""
    assert weight.grad is not None
    generator = torch.Generator().manual_seed(1)
    direction = torch.randn(weight.shape, dtype=weight.dtype, generator=generator)
    step = 1e-7  # small: a kink of ReLU or soft-shrink inside the step spoils the difference
    with torch.no_grad():
        weight.add_(step * direction)
        ahead = float(loss_of())  # type: ignore[operator]
        weight.sub_(2 * step * direction)
        behind = float(loss_of())  # type: ignore[operator]
        weight.add_(step * direction)
    expected = (ahead - behind) / (2 * step)
    assert float((weight.grad * direction).sum()) == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert abs(expected) > 1e-6


@pytest.mark.parametrize("mixer", MIXER_NAMES)
def test_each_mixer_builds_and_trains_in_afnonet(mixer: str) -> None:
    arguments = TINY_CLASSIFIER | {"mixer": mixer, "mixer_kwargs": _mixer_kwargs(mixer)}
    model = create_model("afnonet_tiny", **arguments, seed=0).double()
    assert isinstance(model.blocks[0].mixer, MIXER_CLASSES[mixer])
    images = torch.randn(
        2, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    logits = model(images)
    assert logits.shape == (2, 3)
    logits.sum().backward()
    assert_first_layer_gradient_is_the_derivative(
        model, model.patch_embed.projection.weight, lambda: model(images).sum()
    )


@pytest.mark.parametrize("mixer", MIXER_NAMES)
def test_each_mixer_builds_and_trains_in_segformer(mixer: str) -> None:
    arguments = TINY_SEGMENTER | {"mixer": mixer, "mixer_kwargs": _mixer_kwargs(mixer)}
    model = create_model("afno_segformer_b0", **arguments, seed=0).double().eval()
    assert isinstance(model.stages[0].blocks[0].mixer, MIXER_CLASSES[mixer])
    images = torch.randn(
        2, 2, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    logits = model(images)
    assert logits.shape == (2, 3, 16, 16)
    logits.square().mean().backward()
    assert_first_layer_gradient_is_the_derivative(
        model,
        model.stages[0].patch_embed.projection.weight,
        lambda: model(images).square().mean(),
    )


def test_registered_segformer_sizes_have_their_widths() -> None:
    b0 = create_model("afno_segformer_b0", num_classes=4, img_size=64, seed=0)
    b1 = create_model("afno_segformer_b1", num_classes=4, img_size=64, seed=0)
    assert b0.config["embed_dims"] == (32, 64, 160, 256)
    assert b1.config["embed_dims"] == (64, 128, 320, 512)
    with torch.no_grad():
        assert b0.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 4, 16, 16)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 16, 16), r"expects images \(B, 1, H, W\), got shape \(2, 3, 16, 16\)"),
        ((1, 16, 16), r"got shape \(1, 16, 16\)"),
        ((2, 1, 18, 16), r"image size \(18, 16\).*not divisible by patch_size 4"),
    ],
)
def test_afnonet_rejects_bad_images(shape: tuple[int, ...], message: str) -> None:
    model = AFNONet(**TINY_CLASSIFIER)
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"img_size": 18}, r"img_size \(18, 18\) is not divisible by patch_size 4"),
        ({"mixer": "mamba"}, "mixer must be one of"),
        ({"depth": 0}, "depth must be a positive int"),
        ({"img_size": (8, 8, 8)}, "img_size must be an int or a pair"),
        ({"drop_path_rate": 1.0}, r"drop_path_rate must be in \[0, 1\)"),
    ],
)
def test_afnonet_rejects_bad_arguments(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AFNONet(**TINY_CLASSIFIER | change)


def test_segformer_rejects_bad_images_and_arguments() -> None:
    model = AFNOSegFormer(**TINY_SEGMENTER)
    with pytest.raises(
        ValueError, match=r"expects images \(B, 2, H, W\), got shape \(1, 3, 32, 32\)"
    ):
        model(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="embed_dims must hold 4 values"):
        AFNOSegFormer(**TINY_SEGMENTER | {"embed_dims": (8, 16, 32)})
    with pytest.raises(ValueError, match="mixer must be one of"):
        AFNOSegFormer(**TINY_SEGMENTER | {"mixer": "conv"})


def test_segformer_b0_at_1024_pixels_has_65536_stage_one_tokens() -> None:
    model = create_model("afno_segformer_b0", num_classes=5, img_size=1024, seed=0).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 1024, 1024))
        assert features[0].shape[1] * features[0].shape[2] == 65_536
        logits = model.decoder(features)
    assert logits.shape == (1, 5, 256, 256)
    assert torch.isfinite(logits).all()
