"""Count the floating-point operations of one forward pass, FFTs and attention included.

``torch.utils.flop_counter.FlopCounterMode`` counts matrix products and
convolutions (2 FLOPs per multiply-add) but, on the CPU, neither the fused
attention kernel (``_scaled_dot_product_flash_attention_for_cpu``) nor any FFT,
and it counts a complex multiply-add as 2 FLOPs instead of 8. This counter uses
the same per-operator rules (its ``flop_registry``) and adds what it misses:

- complex matrix products: the registry's count × 4 (a complex multiply-add is
  4 real multiplies and 4 real adds);
- attention: ``4 · B · heads · N_q · N_k · d_head`` (the two products
  ``Q Kᵀ`` and ``softmax · V``; the softmax is not counted);
- FFTs, analytically: ``5 · N · log2(N)`` per complex transform of ``N`` points
  and half of that, ``2.5 · N · log2(N)``, per real-input (``rfft``) or
  real-output (``irfft``) transform;
- complex element-wise products (GFN's filter): 6 FLOPs per output element.

Other element-wise work (norms, activations, soft-shrink, additions) is not
counted, for any mixer, as in ``FlopCounterMode``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

_ATTENTION_OPS = ("_scaled_dot_product_flash_attention_for_cpu",)
_FFT_OPS = {"_fft_r2c": 2.5, "_fft_c2r": 2.5, "_fft_c2c": 5.0}


@dataclass
class FlopCount:
    """FLOPs of one forward pass, by kind (all counts are totals for the whole batch)."""

    matmul: float = 0.0
    attention: float = 0.0
    fft: float = 0.0
    complex_elementwise: float = 0.0
    by_op: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """All counted FLOPs."""
        return self.matmul + self.attention + self.fft + self.complex_elementwise

    @property
    def library_count(self) -> float:
        """What ``FlopCounterMode`` alone would report (complex products at 2 per multiply-add)."""
        return self.by_op.get("registry_as_real", 0.0)


def _fft_flops(name: str, args: tuple[Any, ...], out: Tensor) -> float:
    """Analytic FLOPs of one aten FFT call (see the module docstring)."""
    source: Tensor = args[0]
    dims = [int(d) for d in args[1]]
    # signal length N: from the real side of the transform (input of r2c, output of c2r)
    full = out if name == "_fft_c2r" else source
    points = math.prod(int(full.shape[d]) for d in dims)
    if points < 2:
        return 0.0
    transforms = full.numel() // points
    return _FFT_OPS[name] * points * math.log2(points) * transforms


class _FlopCountingMode(TorchDispatchMode):
    def __init__(self, count: FlopCount) -> None:
        super().__init__()
        self.count = count

    def _add(self, key: str, flops: float) -> None:
        self.count.by_op[key] = self.count.by_op.get(key, 0.0) + flops

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        name = packet.__name__
        tensors = [a for a in args if isinstance(a, Tensor)]
        is_complex = any(t.is_complex() for t in tensors)
        if packet in flop_registry:
            flops = float(flop_registry[packet](*args, **kwargs, out_val=out))
            self._add("registry_as_real", flops)
            self.count.matmul += 4 * flops if is_complex else flops
        elif name in _ATTENTION_OPS:
            query, key = args[0], args[1]
            batch, heads, n_query, d_head = query.shape
            flops = 4.0 * batch * heads * n_query * key.shape[-2] * d_head
            self.count.attention += flops
        elif name in _FFT_OPS:
            self.count.fft += _fft_flops(name, args, out)
        elif name == "mul" and is_complex and isinstance(out, Tensor):
            self.count.complex_elementwise += 6.0 * out.numel()
        return out


@torch.no_grad()
def count_forward_flops(model: nn.Module, inputs: Tensor) -> FlopCount:
    """FLOPs of ``model(inputs)`` in eval mode (batch total; divide by ``B`` for per image).

    Args:
        model: any module.
        inputs: one input batch, e.g. images ``(B, C, H, W)``.
    """
    count = FlopCount()
    was_training = model.training
    model.eval()
    try:
        with _FlopCountingMode(count):
            model(inputs)
    finally:
        model.train(was_training)
    return count
