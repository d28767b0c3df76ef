"""Which implementation of AFNO's spectral step runs: the fused one or the traceable one.

Two implementations compute the same function (they agree to float32
reordering error, and both match the explicit reference to 1e-10 in float64):

- ``"fused"``: :func:`afno.mixers.fused_mixer.fused_afno_mix`, the FFT, the
  block complex MLP (complex GEMMs, in place) and the inverse FFT with one
  hand-written backward. Fastest in eager mode; under ``torch.compile`` it is
  one custom operator that Inductor calls as it is. It cannot be exported:
  it is a Python autograd function, and its in-place ``softshrink(out=...)``
  is what autograd rejects when an exported graph holding it runs with grad.
- ``"traceable"``: the FFTs as plain ``torch.fft`` operations and
  :func:`afno.mixers.real_pair_mlp.real_pair_mlp`, the MLP in real arithmetic
  on (real, imaginary) pairs, built only from differentiable out-of-place
  ATen operations, which ``torch.export``, the ONNX exporter and
  ``torch.jit.trace`` record.

``"auto"`` (the default) picks ``"traceable"`` while a graph is exported
(``torch.export``, ONNX export, ``torch.jit.trace``) and ``"fused"``
otherwise, eager mode and ``torch.compile`` included.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch.jit._trace import is_tracing as _jit_is_tracing

SpectralPath = Literal["auto", "fused", "traceable"]
SPECTRAL_PATHS: tuple[SpectralPath, ...] = ("auto", "fused", "traceable")


def check_spectral_path(path: str) -> SpectralPath:
    """Return ``path`` if it is one of :data:`SPECTRAL_PATHS`, else raise ValueError."""
    for known in SPECTRAL_PATHS:
        if path == known:
            return known
    raise ValueError(f"spectral_path must be one of {SPECTRAL_PATHS}; got {path!r}.")


def jit_tracing() -> bool:
    """Whether ``torch.jit.trace`` is recording (it cannot record Python autograd functions)."""
    return bool(_jit_is_tracing())


def exporting_graph() -> bool:
    """Whether a graph is being recorded for export: ``torch.export`` (also under
    ONNX export) or ``torch.jit.trace``; such graphs must hold ATen operations only."""
    return torch.compiler.is_exporting() or jit_tracing()


def use_traceable_path(path: SpectralPath) -> bool:
    """Whether ``path`` resolves to the traceable implementation right now."""
    return path == "traceable" or (path == "auto" and exporting_graph())
