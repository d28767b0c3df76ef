"""Named model variants: ``create_model(name, **overrides)`` and ``list_models()``.

Each name maps to a model class and the constructor arguments that define the
variant (its size); keyword arguments given to :func:`create_model` override
them (image size, classes, mixer, ...). The model remembers its resolved
arguments in ``model.config`` and its name in ``model.model_name``, which is
what checkpoints store and verify.

Example:
    >>> model = create_model("afnonet_tiny", img_size=28, patch_size=4, in_chans=1,
    ...                      num_classes=10, mixer="gfn", seed=0)
    >>> model.model_name, model.config["mixer"], model.config["embed_dim"]
    ('afnonet_tiny', 'gfn', 48)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch

from afno.models.afnonet import AFNONet
from afno.models.configured import ConfiguredModel
from afno.models.segformer import AFNOSegFormer


@dataclass(frozen=True)
class ModelSpec:
    """A registered variant: the class, the arguments that define it, a one-line summary."""

    model_class: type[ConfiguredModel]
    defaults: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    model_class: type[ConfiguredModel],
    defaults: dict[str, Any] | None = None,
    summary: str = "",
) -> None:
    """Add a variant under ``name``; raises ValueError if the name is taken or an
    argument in ``defaults`` is not one of the class's constructor parameters."""
    if name in _REGISTRY:
        raise ValueError(f"a model named {name!r} is already registered")
    spec = ModelSpec(model_class, dict(defaults or {}), summary)
    _check_arguments(name, spec, spec.defaults)
    _REGISTRY[name] = spec


def _check_arguments(name: str, spec: ModelSpec, arguments: dict[str, Any]) -> None:
    accepted = [
        parameter
        for parameter in inspect.signature(spec.model_class.__init__).parameters
        if parameter != "self"
    ]
    unknown = sorted(set(arguments) - set(accepted))
    if unknown:
        raise ValueError(
            f"model {name!r} ({spec.model_class.__name__}) got unknown arguments {unknown}; "
            f"it accepts {accepted}"
        )


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return sorted(_REGISTRY)


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; raises ValueError listing the known names."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {list_models()}")
    return _REGISTRY[name]


def create_model(name: str, *, seed: int | None = None, **overrides: Any) -> ConfiguredModel:
    """Build the variant ``name`` with ``overrides`` on top of its defining arguments.

    Args:
        name: one of :func:`list_models`.
        seed: when given, the weights are drawn under ``torch.manual_seed(seed)``
            inside a forked RNG, so the same seed gives the same weights and the
            caller's global RNG state is left as it was.
        **overrides: constructor arguments of the model class (e.g. ``img_size``,
            ``num_classes``, ``mixer``, ``mixer_kwargs``).

    Returns:
        The model, with ``model.model_name == name`` and ``model.config`` set.

    Raises:
        ValueError: for an unknown name or argument, or invalid argument values.
    """
    spec = model_spec(name)
    _check_arguments(name, spec, overrides)
    arguments = {**spec.defaults, **overrides}
    if seed is None:
        model = spec.model_class(**arguments)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = spec.model_class(**arguments)
    model.model_name = name
    return model


_CLASSIFIER_SIZES = {
    "afnonet_tiny": (
        48,
        4,
        2.0,
        "48 channels, 4 blocks: a Fashion-MNIST epoch in ~30 s on 2 cores",
    ),
    "afnonet_small": (192, 8, 4.0, "192 channels, 8 blocks"),
    "afnonet_base": (384, 12, 4.0, "384 channels, 12 blocks"),
}
_SEGMENTER_SIZES = {
    "afno_segformer_b0": ((32, 64, 160, 256), (2, 2, 2, 2), 256, "SegFormer-B0 widths"),
    "afno_segformer_b1": ((64, 128, 320, 512), (2, 2, 2, 2), 256, "SegFormer-B1 widths"),
    "afno_segformer_b2": ((64, 128, 320, 512), (3, 4, 6, 3), 768, "SegFormer-B2 widths"),
}
for _name, (_dim, _depth, _ratio, _summary) in _CLASSIFIER_SIZES.items():
    register_model(
        _name, AFNONet, {"embed_dim": _dim, "depth": _depth, "mlp_ratio": _ratio}, _summary
    )
for _name, (_dims, _depths, _decoder, _summary) in _SEGMENTER_SIZES.items():
    register_model(
        _name,
        AFNOSegFormer,
        {"embed_dims": _dims, "depths": _depths, "decoder_dim": _decoder},
        _summary,
    )
