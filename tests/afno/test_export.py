"""torch.export of the mixer and the models, with grad enabled and dynamic sizes; jit tracing.

Exported programs run the traceable spectral path (plain ATen operations), so
they are compared with eager mode (the fused path) at the cross-path tolerance,
outputs and gradients alike, at sizes other than the example's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import afno
from afno.export import dynamic_shapes_for, spatial_axes_can_vary
from numerics import assert_close_across_paths

TINY_CLASSIFIER = {
    "img_size": 16,
    "patch_size": 4,
    "in_chans": 1,
    "num_classes": 3,
    "embed_dim": 16,
    "depth": 1,
    "mixer_kwargs": {"num_blocks": 4},
}
TINY_SEGMENTER = {
    "num_classes": 3,
    "in_chans": 2,
    "img_size": 64,
    "embed_dims": (8, 8, 16, 16),
    "depths": (1, 1, 1, 1),
    "decoder_dim": 8,
    "mixer_kwargs": {"num_blocks": 4},
}


def gradients(module: torch.nn.Module, inputs: torch.Tensor) -> list[torch.Tensor]:
    """The output, and the gradients of the sum of its squares for the input and parameters."""
    inputs = inputs.detach().requires_grad_()
    out = module(inputs)
    parameters = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(out.square().sum(), [inputs, *parameters])
    return [out.detach(), *grads]


def test_mixer_exports_with_grad_and_runs_at_other_grids() -> None:
    """Exported with grad enabled (no torch.no_grad), at one grid; run and differentiated
    at two others, against eager mode."""
    mixer = afno.AFNO(16, num_blocks=4, generator=torch.Generator().manual_seed(0))
    assert torch.is_grad_enabled()
    program = afno.export_program(mixer, torch.randn(2, 6, 8, 16))
    generator = torch.Generator().manual_seed(1)
    for grid in ((9, 5), (4, 12)):
        tokens = torch.randn(3, *grid, 16, generator=generator)
        exported = gradients(program.module(), tokens)
        eager = gradients(mixer, tokens)
        assert len(exported) == len(eager) == 6
        for got, want in zip(exported, eager, strict=True):
            assert_close_across_paths(got, want)


def test_classifier_exports_with_grad_and_runs_at_two_image_sizes() -> None:
    model = afno.create_model("afnonet_tiny", **TINY_CLASSIFIER, seed=0).eval()
    program = afno.export_program(model, torch.randn(1, 1, 16, 16))  # one image: batch still free
    generator = torch.Generator().manual_seed(2)
    for shape in ((2, 1, 16, 16), (3, 1, 24, 12)):
        images = torch.randn(shape, generator=generator)
        exported = gradients(program.module(), images)
        eager = gradients(model, images)
        for got, want in zip(exported, eager, strict=True):
            assert_close_across_paths(got, want)
    with pytest.raises(AssertionError, match=r"images.size\(\)\[2\] % 4 == 0"):  # multiples of p
        program.module()(torch.randn(1, 1, 18, 16))


@pytest.mark.slow
def test_segmenter_exports_with_grad_and_runs_at_two_image_sizes() -> None:
    model = afno.create_model("afno_segformer_b0", **TINY_SEGMENTER, seed=0).eval()
    program = afno.export_program(model, torch.randn(2, 2, 64, 64))
    generator = torch.Generator().manual_seed(3)
    for shape in ((1, 2, 64, 96), (2, 2, 128, 64)):
        images = torch.randn(shape, generator=generator)
        for got, want in zip(
            gradients(program.module(), images), gradients(model, images), strict=True
        ):
            assert_close_across_paths(got, want)


def test_static_export_when_keep_fraction_is_below_one() -> None:
    """The kept-mode counts depend on the grid, so such a model exports at the
    example's spatial size; the batch axis stays dynamic."""
    arguments = TINY_CLASSIFIER | {"mixer_kwargs": {"num_blocks": 4, "keep_fraction": 0.5}}
    model = afno.create_model("afnonet_tiny", **arguments, seed=0).eval()
    example = torch.randn(2, 1, 16, 16)
    assert not spatial_axes_can_vary(model)
    (axes,) = dynamic_shapes_for(model, example)
    assert sorted(axes) == [0]
    program = afno.export_program(model, example)
    images = torch.randn(3, 1, 16, 16)
    assert_close_across_paths(program.module()(images).detach(), model(images).detach())
    with pytest.raises(AssertionError, match=r"images.size\(\)\[2\] == 16"):
        program.module()(torch.randn(3, 1, 20, 16))


def test_dynamic_shapes_follow_the_model() -> None:
    classifier = afno.create_model("afnonet_tiny", **TINY_CLASSIFIER, seed=0)
    segmenter = afno.create_model("afno_segformer_b0", **TINY_SEGMENTER, seed=0)
    (classifier_axes,) = dynamic_shapes_for(classifier, torch.zeros(2, 1, 16, 16))
    (segmenter_axes,) = dynamic_shapes_for(segmenter, torch.zeros(2, 2, 64, 64))
    (mixer_axes,) = dynamic_shapes_for(afno.AFNO(8, num_blocks=2), torch.zeros(2, 4, 5, 6, 8))
    assert sorted(classifier_axes) == sorted(segmenter_axes) == [0, 2, 3]
    assert sorted(mixer_axes) == [0, 1, 2, 3]
    assert str(classifier_axes[2]) == "4*height_patches"
    assert str(segmenter_axes[3]) == "32*width_strides"
    gfn = afno.create_model(
        "afnonet_tiny", **TINY_CLASSIFIER | {"mixer": "gfn", "mixer_kwargs": {}}
    )
    assert not spatial_axes_can_vary(gfn)
    with pytest.raises(ValueError, match="no dynamic shapes are known for Linear"):
        dynamic_shapes_for(torch.nn.Linear(4, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="example must be one input tensor"):
        afno.export_program(classifier, [torch.zeros(2, 1, 16, 16)])  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_jit_trace_saves_and_loads(tmp_path: Path) -> None:
    """torch.jit.trace records the traceable path, which a saved trace can hold
    (a Python autograd function cannot); the trace is fixed to its example's sizes."""
    mixer = afno.AFNO(16, num_blocks=4, keep_fraction=0.5).eval()
    tokens = torch.randn(2, 6, 7, 16)
    traced = torch.jit.trace(mixer, tokens)
    traced.save(str(tmp_path / "mixer.pt"))
    loaded = torch.jit.load(str(tmp_path / "mixer.pt"))
    others = torch.randn(2, 6, 7, 16)
    assert_close_across_paths(loaded(others).detach(), mixer(others).detach())
