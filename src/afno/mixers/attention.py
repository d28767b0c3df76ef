"""Multi-head self-attention over all tokens of a grid (the quadratic peer mixer)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from afno.mixers.token_grid import check_tokens


class SelfAttention(nn.Module):
    """Global multi-head self-attention via ``scaled_dot_product_attention``.

    The grid ``(B, *spatial, C)`` is flattened to ``N = prod(spatial)`` tokens;
    time and memory grow as ``N^2``. No position information is added (the
    model supplies it) and there is no skip connection (the block adds one).

    Args:
        channels: number of channels ``C``.
        num_heads: number of heads; must divide ``channels``.
        qkv_bias: whether the query/key/value projection has a bias.
        generator: random generator for the initial weights (default: torch's global one).
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if channels < 1 or num_heads < 1 or channels % num_heads:
            raise ValueError(
                f"SelfAttention needs channels divisible by num_heads; got channels={channels}, "
                f"num_heads={num_heads}. Pick num_heads among the divisors of channels."
            )
        self.channels = channels
        self.num_heads = num_heads
        self.qkv = nn.Linear(channels, 3 * channels, bias=qkv_bias)
        self.proj = nn.Linear(channels, channels)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Truncated-normal weights (std 0.02) and zero biases, as in ViT."""
        for linear in (self.qkv, self.proj):
            nn.init.trunc_normal_(linear.weight, std=0.02, generator=generator)
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Mix tokens ``(B, *spatial, C)`` -> ``(B, *spatial, C)``, same dtype."""
        check_tokens(x, self.channels, "SelfAttention")
        batch, channels = x.shape[0], x.shape[-1]
        tokens = x.reshape(batch, -1, channels)
        head_size = channels // self.num_heads
        qkv = self.qkv(tokens).view(batch, tokens.shape[1], 3, self.num_heads, head_size)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attended = functional.scaled_dot_product_attention(query, key, value)
        merged = attended.transpose(1, 2).reshape(batch, tokens.shape[1], channels)
        out: Tensor = self.proj(merged)
        return out.view(x.shape).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.channels}, num_heads={self.num_heads}"
