"""AFNO against a slow reference written here from the paper's math.

The reference uses explicit DFT matrices over the kept frequencies, an explicit
loop over modes and blocks for the complex MLP, and the explicit real inverse
transform; it shares no code with the library. Both implementations of the
spectral step are held to it: the fused one (eager mode, ``torch.compile``) and
the traceable one (``torch.export``, ONNX).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from afno.mixers import AFNO

PATHS = ("fused", "traceable")


def signed_frequencies(size: int, real_axis: bool) -> list[int]:
    """Frequencies stored along an axis, in storage order."""
    if real_axis:
        return list(range(size // 2 + 1))
    return [index if index <= (size - 1) // 2 else index - size for index in range(size)]


def kept_frequencies(size: int, fraction: float, real_axis: bool) -> list[int]:
    """The frequencies AFNO keeps: |k| <= floor(fraction * size / 2), fraction as written."""
    cutoff = math.floor(Fraction(repr(fraction)) * size / 2)
    return [k for k in signed_frequencies(size, real_axis) if abs(k) <= cutoff]


def reference_afno(x: np.ndarray, mixer: AFNO, fractions: tuple[float, ...]) -> np.ndarray:
    """y = irfftn(S(W2 ReLU(W1 Z + b1) + b2)) + x with explicit sums (float64)."""
    batch, *spatial, _channels = x.shape
    ndim = len(spatial)
    total = math.prod(spatial)
    kept = [
        kept_frequencies(n, f, axis == ndim - 1)
        for axis, (n, f) in enumerate(zip(spatial, fractions, strict=True))
    ]
    # Explicit forward DFT over the kept frequencies of each axis.
    spectrum = x.astype(np.complex128)
    for axis, (n, freqs) in enumerate(zip(spatial, kept, strict=True)):
        dft = np.exp(-2j * np.pi * np.outer(freqs, np.arange(n)) / n)
        spectrum = np.moveaxis(np.tensordot(dft, spectrum, axes=([1], [axis + 1])), 0, axis + 1)
    spectrum /= math.sqrt(total)

    def complex_weight(parameter: torch.Tensor) -> np.ndarray:
        return torch.view_as_complex(parameter.detach().double()).numpy()

    w1, b1 = complex_weight(mixer.weight1), complex_weight(mixer.bias1)
    w2, b2 = complex_weight(mixer.weight2), complex_weight(mixer.bias2)
    blocks, block = mixer.num_blocks, mixer.block_size
    threshold = mixer.sparsity_threshold

    def split_relu(v: np.ndarray) -> np.ndarray:
        return np.maximum(v.real, 0) + 1j * np.maximum(v.imag, 0)

    def split_shrink(v: np.ndarray) -> np.ndarray:
        def shrink(r: np.ndarray) -> np.ndarray:
            return np.sign(r) * np.maximum(np.abs(r) - threshold, 0)

        return shrink(v.real) + 1j * shrink(v.imag)

    mixed = np.zeros_like(spectrum)
    for index in np.ndindex(batch, *spectrum.shape[1:-1]):
        for b in range(blocks):
            z = spectrum[index][b * block : (b + 1) * block]
            hidden = split_relu(w1[b] @ z + b1[b])
            mixed[index][b * block : (b + 1) * block] = split_shrink(w2[b] @ hidden + b2[b])

    # Explicit real inverse: paired bins of the last (real-FFT) axis count twice.
    last = spatial[-1]
    pairing = np.array([1.0 if k == 0 or 2 * k == last else 2.0 for k in kept[-1]])
    signal = mixed * pairing[:, None]
    for axis, (n, freqs) in enumerate(zip(spatial, kept, strict=True)):
        idft = np.exp(2j * np.pi * np.outer(np.arange(n), freqs) / n)
        signal = np.moveaxis(np.tensordot(idft, signal, axes=([1], [axis + 1])), 0, axis + 1)
    return signal.real / math.sqrt(total) + x


def make_mixer(
    channels: int, blocks: int, keep: float | tuple[float, ...], seed: int, path: str = "fused"
) -> AFNO:
    """An AFNO with weights large enough that ReLU and soft-shrink both bite."""
    generator = torch.Generator().manual_seed(seed)
    mixer = AFNO(
        channels,
        num_blocks=blocks,
        sparsity_threshold=0.05,
        keep_fraction=keep,
        spectral_path=path,  # type: ignore[arg-type]
    )
    with torch.no_grad():
        for parameter in mixer.parameters():
            parameter.normal_(0.0, 0.4, generator=generator)
    return mixer.double()


CASES = [
    ((9,), 1.0),
    ((8,), 0.5),
    ((6, 6), 1.0),
    ((6, 7), 0.5),
    ((7, 8), 0.3),
    ((5, 8), (1.0, 0.4)),
    ((8, 5), (0.4, 1.0)),
    ((4, 5, 3), 1.0),
    ((6, 4, 7), 0.6),
    ((5, 6, 6), (0.5, 1.0, 0.5)),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("spatial", "keep"), CASES)
def test_afno_equals_explicit_reference(
    spatial: tuple[int, ...], keep: float | tuple, path: str
) -> None:
    mixer = make_mixer(channels=8, blocks=2, keep=keep, seed=len(spatial), path=path)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *spatial, 8))
    fractions = keep if isinstance(keep, tuple) else (keep,) * len(spatial)
    expected = reference_afno(x, mixer, fractions)
    actual = mixer(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10)
    # The nonlinearities are active: the output is not the input plus a linear map of it.
    assert np.abs(actual - x).max() > 1e-3


def test_reference_sees_truncation() -> None:
    """Guard for the reference itself: a smaller keep fraction changes the result."""
    mixer = make_mixer(channels=8, blocks=2, keep=1.0, seed=1)
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 8))
    full = reference_afno(x, mixer, (1.0, 1.0))
    half = reference_afno(x, mixer, (0.5, 0.5))
    assert np.abs(full - half).max() > 1e-3


GRADCHECK_CASES = [((5, 6), 1.0), ((6, 7), 0.5), ((7,), 0.6), ((4, 3, 5), 0.7), ((4, 8), 0.9)]
"""Even last axes with the Nyquist bin kept ((5, 6), (4, 8)) and dropped ((4, 3, 5) at 0.7)."""


@pytest.mark.parametrize(
    ("spatial", "keep", "path"),
    [(*case, "fused") for case in GRADCHECK_CASES]
    + [(*case, "traceable") for case in GRADCHECK_CASES[3:]],
)
def test_gradcheck_float64(spatial: tuple[int, ...], keep: float, path: str) -> None:
    """The hand-written backward in full; the traceable path's autograd on two cases."""
    generator = torch.Generator().manual_seed(3)
    mixer = AFNO(
        8,
        num_blocks=2,
        keep_fraction=keep,
        generator=generator,
        spectral_path=path,  # type: ignore[arg-type]
    ).double()
    with torch.no_grad():
        for parameter in mixer.parameters():
            parameter.mul_(20.0)  # away from the soft-shrink kinks at +-lambda
    x = torch.randn(2, *spatial, 8, dtype=torch.float64, generator=generator, requires_grad=True)
    params = tuple(mixer.parameters())
    # The traceable path is ATen's own derivatives: a random projection of the
    # Jacobian (fast mode) checks it at a fraction of the evaluations.
    assert torch.autograd.gradcheck(
        lambda x, *p: mixer(x),
        (x, *params),
        eps=1e-6,
        atol=1e-6,
        fast_mode=path == "traceable",
    )
