"""Build a model from an untrusted config without letting the config choose the memory.

A checkpoint's config is plain data, but plain data can still ask for a model
of any size (``embed_dim=65536, depth=64`` is a trillion parameters). The
weights in the file are real tensors, so their size is bounded by the file the
user chose to load; the config is only trusted as far as it agrees with them.

:func:`check_config_limits` refuses absurd numbers before anything is built.
:func:`dry_build` then builds the model with every large tensor on PyTorch's
``meta`` device (shapes, no storage) while counting what the constructor
registers, and stops as soon as the model outgrows the weights in the file.
Only a model whose parameter shapes equal the file's is then built for real.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

MAX_CONFIG_NUMBER = 1 << 20
"""Largest magnitude of a number in a checkpoint's config (image sides, widths, depths)."""
MAX_CONFIG_DEPTH = 8
"""Deepest nesting of lists and dicts in a checkpoint's config."""
MAX_CONFIG_ITEMS = 256
"""Most entries of one list or dict in a checkpoint's config."""
META_THRESHOLD = 1024
"""Tensors of at least this many elements are made on the meta device during a dry build."""

_FACTORIES = frozenset(
    {torch.empty, torch.zeros, torch.ones, torch.randn, torch.rand, torch.full, torch.randint}
)


class ModelTooLargeError(ValueError):
    """The config builds more (or larger) tensors than the checkpoint holds."""


def check_config_limits(config: Any, where: str = "config", depth: int = 0) -> None:
    """Raise ValueError naming the key when ``config`` holds an absurd number or structure.

    Numbers above :data:`MAX_CONFIG_NUMBER` in magnitude (or not finite), nesting
    deeper than :data:`MAX_CONFIG_DEPTH` and containers of more than
    :data:`MAX_CONFIG_ITEMS` entries are refused.
    """
    if depth > MAX_CONFIG_DEPTH:
        raise ValueError(f"{where} is nested deeper than {MAX_CONFIG_DEPTH} levels")
    if isinstance(config, bool) or config is None or isinstance(config, str):
        return
    if isinstance(config, int | float):
        if not math.isfinite(config) or abs(config) > MAX_CONFIG_NUMBER:
            raise ValueError(
                f"{where} is {config!r}, beyond the limit {MAX_CONFIG_NUMBER} of a model config"
            )
        return
    if isinstance(config, Mapping | list | tuple):
        if len(config) > MAX_CONFIG_ITEMS:
            raise ValueError(f"{where} holds {len(config)} entries (limit {MAX_CONFIG_ITEMS})")
        items = config.items() if isinstance(config, Mapping) else enumerate(config)
        for key, value in items:
            check_config_limits(value, f"{where}[{key!r}]", depth + 1)


def _requested_elements(func: Callable[..., Any], args: tuple[Any, ...]) -> int:
    """Elements a factory call such as ``torch.zeros(3, 4)`` or ``torch.empty((3, 4))`` asks for."""
    shape = next((a for a in args if isinstance(a, tuple | list | torch.Size)), None)
    if shape is None:
        if func in (torch.full, torch.randint):
            return 0
        shape = args
    sizes = [d for d in shape if isinstance(d, int) and not isinstance(d, bool)]
    return math.prod(sizes) if sizes and len(sizes) == len(shape) else 0


class _LargeTensorsOnMeta(TorchFunctionMode):
    """Sends factory calls of at least :data:`META_THRESHOLD` elements to the meta device."""

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = dict(kwargs or {})
        if func in _FACTORIES and _requested_elements(func, args) >= META_THRESHOLD:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


_ACTIVE = threading.local()


def _count(module: nn.Module, name: str, tensor: torch.Tensor | None) -> None:
    budget: _Budget | None = getattr(_ACTIVE, "budget", None)
    if budget is not None and tensor is not None:
        budget.add(f"{type(module).__name__}.{name}", tensor)


class _Budget:
    def __init__(self, max_tensors: int, max_elements: int) -> None:
        self.max_tensors, self.max_elements = max_tensors, max_elements
        self.tensors, self.elements = 0, 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        self.tensors += 1
        self.elements += tensor.numel()
        if self.tensors > self.max_tensors or self.elements > self.max_elements:
            raise ModelTooLargeError(
                f"the config builds more than the checkpoint's {self.max_tensors} tensors of "
                f"{self.max_elements:,} elements in all (at {name}, shape {tuple(tensor.shape)})"
            )


@contextmanager
def registration_budget(max_tensors: int, max_elements: int) -> Iterator[None]:
    """Within the block, building modules raises :class:`ModelTooLargeError` as soon as the
    parameters and buffers registered exceed ``max_tensors`` tensors or ``max_elements``
    elements (counted in this thread only)."""
    handles = [
        nn.modules.module.register_module_parameter_registration_hook(_count),
        nn.modules.module.register_module_buffer_registration_hook(_count),
    ]
    _ACTIVE.budget = _Budget(max_tensors, max_elements)
    try:
        yield
    finally:
        _ACTIVE.budget = None
        for handle in handles:
            handle.remove()


def dry_build(
    build: Callable[[], nn.Module], *, max_tensors: int, max_elements: int
) -> dict[str, tuple[int, ...]] | None:
    """Build a model without storage for its large tensors; its state dict's shapes.

    Args:
        build: makes the model (e.g. ``lambda: create_model(name, **config)``).
        max_tensors, max_elements: what the checkpoint holds; building more stops early.

    Returns:
        ``{name: shape}`` of the model's state dict, or None when the model's
        constructor cannot run on the meta device (it reads values of its own
        tensors); then build it for real under :func:`registration_budget`.

    Raises:
        ModelTooLargeError: the model outgrows the checkpoint.
        TypeError, ValueError, KeyError: the constructor refuses the config.
    """
    try:
        with registration_budget(max_tensors, max_elements), _LargeTensorsOnMeta():
            model = build()
    except (NotImplementedError, RuntimeError) as error:
        if "meta" not in str(error).lower():
            raise
        return None
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}
