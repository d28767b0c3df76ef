"""An oracle that runs a local PyTorch model (a detector, a classifier, an ``afno`` checkpoint).

Records are turned into tensors by ``transform``, stacked into batches of
``batch_size``, and run through the model under ``torch.inference_mode`` on
``device``. The model's output per record becomes the answer:

- ``returns="bool"``: output shape (B,) or (B, 1) is a logit (positive means yes),
  shape (B, 2) is two-class scores (class 1 means yes);
- ``returns="number"``: output shape (B,) or (B, 1), the number itself;
- ``returns=[names...]``: output shape (B, C) with C names, the arg-max names the category;
- or any ``decode(output) -> list`` of answers.

torch is imported when the oracle is made, not by ``import abae``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

from abae.oracles.registry import OracleReturns, OracleSpec, register_oracle


def model_fingerprint(model: Any) -> str:
    """A short hash of a model's class and parameters/buffers (12 hex digits).

    Used as the oracle's version, so new weights never reuse old labels.
    """
    digest = hashlib.sha256(type(model).__qualname__.encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


class TorchOracle:
    """The callable behind :func:`torch_oracle`: a batch of argument tuples → answers."""

    def __init__(
        self,
        name: str,
        model: Any,
        *,
        transform: Callable[..., Any],
        device: str,
        returns: str,
        categories: tuple[str, ...],
        decode: Callable[[Any], Sequence[Any]] | None,
    ) -> None:
        import torch

        self.name = name
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.transform = transform
        self.returns = returns
        self.categories = categories
        self.decode = decode
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TorchOracle({self.name!r}, {type(self.model).__name__}, device={self.device})"

    def __call__(self, batch: Sequence[Sequence[Any]]) -> list[Any]:
        import torch

        inputs = torch.stack([torch.as_tensor(self.transform(*args)) for args in batch])
        with self._lock, torch.inference_mode():
            output = self.model(inputs.to(self.device))
        if self.decode is not None:
            return list(self.decode(output))
        return self._default_decode(output, len(batch))

    def single(self, *args: Any) -> Any:
        """Answer one record (an oracle with ``batch_size=1``)."""
        return self([args])[0]

    def _default_decode(self, output: Any, n: int) -> list[Any]:
        if not hasattr(output, "shape") or output.shape[0] != n:
            raise ValueError(
                f"torch oracle {self.name!r}: the model returned {type(output).__name__} "
                f"{tuple(getattr(output, 'shape', ()))} for {n} records; expected a tensor "
                "with one row per record, or pass decode="
            )
        values = output.detach().float().cpu()
        if self.returns == "category":
            if values.ndim != 2 or values.shape[1] != len(self.categories):
                raise ValueError(
                    f"torch oracle {self.name!r}: expected scores of shape ({n}, "
                    f"{len(self.categories)}), got {tuple(values.shape)}"
                )
            return [self.categories[int(i)] for i in values.argmax(dim=1).tolist()]
        if self.returns == "bool" and values.ndim == 2 and values.shape[1] == 2:
            return [bool(i == 1) for i in values.argmax(dim=1).tolist()]
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise ValueError(
                f"torch oracle {self.name!r}: expected an output of shape ({n},) or ({n}, 1), "
                f"got {tuple(values.shape)}; pass decode= to turn it into answers"
            )
        if self.returns == "bool":
            return [bool(v > 0) for v in values.tolist()]
        return [float(v) for v in values.tolist()]


def torch_oracle(
    name: str,
    model: Any,
    *,
    transform: Callable[..., Any],
    batch_size: int = 32,
    device: str = "cpu",
    returns: str | Sequence[str] = "number",
    decode: Callable[[Any], Sequence[Any]] | None = None,
    version: str | None = None,
    cost: float = 0.0,
    max_concurrency: int = 1,
    timeout_s: float = 300.0,
) -> OracleSpec:
    """Register a PyTorch model as oracle ``name``.

    Args:
        name: the oracle's name in queries.
        model: a ``torch.nn.Module`` (moved to ``device`` and put in eval mode).
        transform: ``transform(*args) -> Tensor`` for one record's argument values
            (e.g. read the image at ``image`` and return a (C, H, W) float tensor).
        batch_size: records per forward pass.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        returns: ``"bool"``, ``"number"`` or a list of category names (see the module doc).
        decode: ``decode(output) -> answers`` instead of the default decoding.
        version: what identifies the weights (``None``: a hash of the model's
            parameters, so new weights never reuse old labels).
        cost: money per record (e.g. the GPU time it costs).
        max_concurrency: forward passes in flight at once (1: the model runs alone).
        timeout_s: deadline of one batch (seconds).
    """
    categories: tuple[str, ...] = ()
    if isinstance(returns, str):
        if returns not in ("bool", "number"):
            raise ValueError(
                f"torch oracle {name!r}: returns must be 'bool', 'number' or a list of "
                f"category names, got {returns!r}"
            )
        kind = returns
    else:
        categories = tuple(returns)
        kind = "category"
    adapter = TorchOracle(
        name,
        model,
        transform=transform,
        device=device,
        returns=kind,
        categories=categories,
        decode=decode,
    )
    declared: OracleReturns | list[str] = list(categories) if categories else kind  # type: ignore[assignment]
    return register_oracle(
        name,
        adapter if batch_size > 1 else adapter.single,
        cost=cost,
        batch_size=batch_size,
        max_concurrency=max_concurrency,
        returns=declared,
        timeout_s=timeout_s,
        version=model_fingerprint(adapter.model) if version is None else version,
        description=f'{{"kind": "torch", "model": "{type(model).__name__}"}}',
    )
