"""torch.compile of the mixer and the models: the same values and gradients as eager mode.

Compiling is slow (seconds even for a small graph), so the default run holds
one small mixer; the models and the real-pair path are in the slow run.
Compiled graphs call the fused spectral step as one custom operator, so they
give the same numbers as eager mode up to Inductor's reordering of the
surrounding element-wise work: the cross-path tolerance.
"""

from __future__ import annotations

import pytest
import torch

import afno
from numerics import assert_close_across_paths


def outputs_and_gradients(module: torch.nn.Module, inputs: torch.Tensor) -> list[torch.Tensor]:
    inputs = inputs.detach().requires_grad_()
    out = module(inputs)
    parameters = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(out.square().sum(), [inputs, *parameters])
    return [out.detach(), *grads]


def assert_compiled_equals_eager(
    module: torch.nn.Module, inputs: torch.Tensor, compiled: torch.nn.Module
) -> None:
    expected = outputs_and_gradients(module, inputs)
    actual = outputs_and_gradients(compiled, inputs)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert_close_across_paths(got, want)


def test_compiled_mixer_equals_eager_in_one_graph() -> None:
    torch._dynamo.reset()
    mixer = afno.AFNO(
        16, num_blocks=4, keep_fraction=0.5, generator=torch.Generator().manual_seed(0)
    )
    tokens = torch.randn(2, 6, 8, 16, generator=torch.Generator().manual_seed(1))
    # fullgraph: no graph break anywhere (the spectral step is one custom operator).
    assert_compiled_equals_eager(mixer, tokens, torch.compile(mixer, fullgraph=True))


@pytest.mark.slow
def test_compiled_real_pair_path_equals_eager() -> None:
    torch._dynamo.reset()
    mixer = afno.AFNO(
        16, num_blocks=4, keep_fraction=0.5, generator=torch.Generator().manual_seed(0)
    )
    traceable = afno.AFNO(16, num_blocks=4, keep_fraction=0.5, spectral_path="traceable")
    traceable.load_state_dict(mixer.state_dict())
    tokens = torch.randn(2, 6, 8, 16, generator=torch.Generator().manual_seed(1))
    assert_compiled_equals_eager(mixer, tokens, torch.compile(traceable, fullgraph=True))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "arguments", "shape"),
    [
        (
            "afnonet_tiny",
            {"img_size": 28, "patch_size": 4, "in_chans": 1, "num_classes": 10},
            (4, 1, 28, 28),
        ),
        (
            "afno_segformer_b0",
            {
                "num_classes": 3,
                "img_size": 64,
                "embed_dims": (8, 8, 16, 16),
                "depths": (1, 1, 1, 1),
                "decoder_dim": 8,
                "mixer_kwargs": {"num_blocks": 4},
            },
            (2, 3, 64, 64),
        ),
    ],
)
def test_compiled_models_equal_eager(
    name: str, arguments: dict[str, object], shape: tuple[int, ...]
) -> None:
    torch._dynamo.reset()
    model = afno.create_model(name, **arguments, seed=0).eval()
    images = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    assert_compiled_equals_eager(model, images, torch.compile(model, fullgraph=True))
