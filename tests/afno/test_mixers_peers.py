"""Peer mixers (self-attention, GFN, dense FNO) and the mixer factory."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from afno.mixers import AFNO, FNO, MIXER_NAMES, GlobalFilter, SelfAttention, build_mixer

GRIDS = [(9,), (6, 7), (4, 5, 3)]


def build(name: str, grid: tuple[int, ...], channels: int = 16) -> torch.nn.Module:
    extra = {"num_blocks": 4} if name == "afno" else {"num_heads": 4} if name == "attention" else {}
    if name == "fno":
        extra = {"modes": 2}
    return build_mixer(
        name, channels, grid_size=grid, generator=torch.Generator().manual_seed(0), **extra
    )


@pytest.mark.parametrize("name", MIXER_NAMES)
@pytest.mark.parametrize("grid", GRIDS)
def test_shape_dtype_and_double_resolution(name: str, grid: tuple[int, ...]) -> None:
    mixer = build(name, grid).double()
    generator = torch.Generator().manual_seed(0)
    for size in (grid, tuple(2 * n for n in grid)):
        x = torch.randn(2, *size, 16, dtype=torch.float64, generator=generator, requires_grad=True)
        y = mixer(x)
        assert y.shape == x.shape
        assert y.dtype == x.dtype
        assert torch.isfinite(y).all()
        y.square().sum().backward()
        assert x.grad is not None
        # The gradient is the derivative: <grad, v> against a central difference along v.
        direction = torch.randn(x.shape, dtype=torch.float64, generator=generator)
        step = 1e-6
        with torch.no_grad():
            ahead = mixer(x + step * direction).square().sum()
            behind = mixer(x - step * direction).square().sum()
        expected = float((ahead - behind) / (2 * step))
        assert float((x.grad * direction).sum()) == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", MIXER_NAMES)
@pytest.mark.parametrize("input_dtype", [torch.float32, torch.bfloat16])
def test_autocast_returns_input_dtype(name: str, input_dtype: torch.dtype) -> None:
    mixer = build(name, (6, 7))
    x = torch.randn(1, 6, 7, 16).to(input_dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert mixer(x).dtype == input_dtype


def test_factory_builds_each_class() -> None:
    classes = {"afno": AFNO, "attention": SelfAttention, "gfn": GlobalFilter, "fno": FNO}
    for name in MIXER_NAMES:
        assert isinstance(build(name, (4, 4)), classes[name])


def test_factory_errors() -> None:
    with pytest.raises(ValueError, match="unknown mixer 'mlp'"):
        build_mixer("mlp", 16, grid_size=(4, 4))
    with pytest.raises(ValueError, match="needs grid_size"):
        build_mixer("gfn", 16)
    with pytest.raises(ValueError, match="grid_size with 1 to 3 positive sizes"):
        build_mixer("fno", 16, grid_size=(2, 2, 2, 2))


def test_attention_equals_softmax_formula() -> None:
    mixer = SelfAttention(8, num_heads=2, generator=torch.Generator().manual_seed(1)).double()
    x = torch.randn(2, 3, 4, 8, dtype=torch.float64)
    tokens = x.reshape(2, 12, 8)
    q, k, v = mixer.qkv(tokens).split(8, dim=-1)
    heads = []
    for h in range(2):
        part = slice(4 * h, 4 * h + 4)
        weights = torch.softmax(q[..., part] @ k[..., part].transpose(1, 2) / 2.0, dim=-1)
        heads.append(weights @ v[..., part])
    expected = mixer.proj(torch.cat(heads, dim=-1)).reshape(x.shape)
    torch.testing.assert_close(mixer(x), expected)


def test_attention_heads_must_divide_channels() -> None:
    with pytest.raises(ValueError, match="channels=10, num_heads=4"):
        SelfAttention(10, num_heads=4)


@settings(max_examples=20, deadline=None)
@given(grid=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), seed=st.integers(0, 99))
def test_attention_is_permutation_equivariant(grid: tuple[int, ...], seed: int) -> None:
    """Without position information, permuting tokens permutes the output."""
    mixer = SelfAttention(8, num_heads=2, generator=torch.Generator().manual_seed(seed)).double()
    x = torch.randn(1, math.prod(grid), 8, dtype=torch.float64)
    order = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(seed))
    out = mixer(x.view(1, *grid, 8)).view(1, -1, 8)
    permuted = mixer(x[:, order].reshape(1, *grid, 8)).view(1, -1, 8)
    torch.testing.assert_close(permuted, out[:, order])


def test_gfn_multiplies_each_mode_by_its_weight() -> None:
    mixer = GlobalFilter(4, grid_size=(6, 5), generator=torch.Generator().manual_seed(2)).double()
    x = torch.randn(2, 6, 5, 4, dtype=torch.float64)
    kernel = torch.view_as_complex(mixer.filter.detach())
    # Explicit: the filter as a circular convolution kernel in token space.
    expected = torch.fft.irfftn(torch.fft.rfftn(x, dim=(1, 2)) * kernel, s=(6, 5), dim=(1, 2))
    torch.testing.assert_close(mixer(x), expected)


@pytest.mark.parametrize("grid", GRIDS)
def test_gfn_interpolated_constant_filter_stays_constant(grid: tuple[int, ...]) -> None:
    """A flat filter (all 1 + 0i) is the identity on the nominal grid and on any other."""
    mixer = GlobalFilter(4, grid_size=grid).double()
    with torch.no_grad():
        mixer.filter[..., 0] = 1.0
        mixer.filter[..., 1] = 0.0
    for size in (grid, tuple(2 * n + 1 for n in grid)):
        x = torch.randn(1, *size, 4, dtype=torch.float64)
        torch.testing.assert_close(mixer(x), x)


def test_gfn_rejects_other_rank() -> None:
    with pytest.raises(ValueError, match=r"2-D grid \(6, 5\).*\(1, 6, 4\)"):
        GlobalFilter(4, grid_size=(6, 5))(torch.zeros(1, 6, 4))


@pytest.mark.parametrize(
    ("grid", "modes"), [((10,), 3), ((8, 9), 2), ((6, 7), (4, 2)), ((6, 5, 4), 2)]
)
def test_fno_equals_per_mode_matrix_product(
    grid: tuple[int, ...], modes: int | tuple[int, ...]
) -> None:
    channels = 3
    mixer = FNO(channels, modes=modes, spatial_dims=len(grid)).double()
    x = torch.randn(2, *grid, channels, dtype=torch.float64)
    counts = (modes,) * len(grid) if isinstance(modes, int) else modes
    dims = tuple(range(1, len(grid) + 1))
    spectrum = torch.fft.rfftn(x, dim=dims, norm="ortho")
    weight = torch.view_as_complex(mixer.weight.detach())
    mixed = torch.zeros_like(spectrum)
    # Weight index per axis: frequencies 0..m-1 at [0, m), -m..-1 at [m, 2m).
    axis_index = []
    for axis, (n, m) in enumerate(zip(grid, counts, strict=True)):
        if axis == len(grid) - 1:
            axis_index.append([(k, k) for k in range(min(m, n // 2 + 1))])
        else:
            pairs = [(k, k) for k in range(min(m, math.ceil(n / 2)))]
            pairs += [(n - j, 2 * m - j) for j in range(1, min(m, n // 2) + 1)]
            axis_index.append(pairs)
    for combo in __import__("itertools").product(*axis_index):
        spec_index = tuple(c[0] for c in combo)
        w_index = tuple(c[1] for c in combo)
        for b in range(2):
            mixed[(b, *spec_index)] = spectrum[(b, *spec_index)] @ weight[w_index]
    expected = torch.fft.irfftn(mixed, s=grid, dim=dims, norm="ortho")
    torch.testing.assert_close(mixer(x), expected)


def test_fno_rejects_bad_modes() -> None:
    with pytest.raises(ValueError, match="one positive mode count per spatial axis"):
        FNO(4, modes=(2, 2, 2), spatial_dims=2)
