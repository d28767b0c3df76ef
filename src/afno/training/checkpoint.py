"""Checkpoints that hold weights and plain data only, so loading runs no pickled code.

A checkpoint file is a ``torch.save`` of one dictionary::

    {"format": "afno.checkpoint", "version": 1,
     "model_name": "afnonet_tiny" | None,   # registry name, if the model has one
     "config": {...},                       # constructor arguments, plain data
     "metadata": {...},                     # anything plain: epochs, accuracy, ...
     "state_dict": {name: tensor}}

and is read back with ``torch.load(..., weights_only=True)``. Loading into a
model checks the name and config first and names the keys that differ, then
checks parameter names and shapes, so a checkpoint made for another
configuration fails with a :class:`CheckpointMismatchError` that says what
differs instead of torch's size-mismatch traceback.

A checkpoint file may come from anyone, so rebuilding its model never lets the
config choose the memory: the config's numbers are checked against limits,
then the model is built without storage for its large tensors (see
:mod:`afno.training.build_guard`) and must have exactly the parameter shapes of
the weights in the file before it is built for real. A config that asks for
more than the file holds is a :class:`CheckpointError`, found before any
large allocation.

Example:
    >>> import tempfile, pathlib
    >>> from afno.models import create_model
    >>> model = create_model("afnonet_tiny", img_size=8, patch_size=4, in_chans=1, num_classes=2)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.pt"
    >>> _ = save_checkpoint(path, model, metadata={"epochs": 0})
    >>> restored = load_checkpoint(path)
    >>> restored.model_name, restored.metadata
    ('afnonet_tiny', {'epochs': 0})
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from afno.models.registry import create_model
from afno.training.build_guard import (
    ModelTooLargeError,
    check_config_limits,
    dry_build,
    registration_budget,
)

CHECKPOINT_FORMAT = "afno.checkpoint"
CHECKPOINT_VERSION = 1
_ABSENT = "<absent>"
_MAX_LISTED = 8
MAX_CHECKPOINT_ELEMENTS = 1 << 31
"""Most weight elements (about 8 GiB of float32) a checkpoint may hold by default."""
_UNSAVED_SLACK_TENSORS = 64
_UNSAVED_SLACK_ELEMENTS = 1 << 20
"""Room for buffers a model registers but does not save (non-persistent ones)."""


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint (corrupt, truncated, or foreign)."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint made for another model name, configuration or parameter layout.

    Attributes:
        differences: ``{key: (value in the checkpoint, value in the model)}`` for
            each differing config key (``"model_name"`` included), or for each
            differing parameter when the configs agree but the weights do not.
    """

    def __init__(self, message: str, differences: dict[str, tuple[Any, Any]]) -> None:
        super().__init__(message)
        self.differences = differences


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the model with its weights, and the data saved with them."""

    model: nn.Module
    model_name: str | None
    config: dict[str, Any]
    metadata: dict[str, Any]


def _check_plain(value: Any, where: str) -> None:
    """Raise ValueError unless ``value`` is plain data (what weights-only loading accepts)."""
    if value is None or isinstance(value, bool | int | float | str):
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has a non-string key {key!r}; use string keys")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise ValueError(
        f"{where} holds a {type(value).__name__}, which a weights-only checkpoint cannot store; "
        "use None, bool, int, float, str, lists, tuples and dicts with string keys"
    )


def _as_plain(value: Any) -> Any:
    """Tuples as lists, recursively, so configs compare equal however they were written."""
    if isinstance(value, list | tuple):
        return [_as_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_plain(item) for key, item in value.items()}
    return value


def config_differences(
    saved: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """``{key: (saved value, current value)}`` for every key whose values differ."""
    differences = {}
    for key in sorted(set(saved) | set(current)):
        before = _as_plain(saved.get(key, _ABSENT))
        after = _as_plain(current.get(key, _ABSENT))
        if before != after:
            differences[key] = (saved.get(key, _ABSENT), current.get(key, _ABSENT))
    return differences


def _describe(differences: dict[str, tuple[Any, Any]]) -> str:
    lines = [
        f"  {key}: checkpoint {saved!r}, model {current!r}"
        for key, (saved, current) in list(differences.items())[:_MAX_LISTED]
    ]
    if len(differences) > _MAX_LISTED:
        lines.append(f"  ... and {len(differences) - _MAX_LISTED} more")
    return "\n".join(lines)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    model_name: str | None = None,
    config: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights, name, config and metadata to ``path`` (atomically).

    Args:
        path: the file to write; its folder must exist.
        model: the module whose ``state_dict`` to save.
        model_name: registry name; defaults to ``model.model_name`` when the
            model was made by :func:`afno.create_model`, else None.
        config: constructor arguments; defaults to ``model.config`` if present,
            else ``{}``. Must be plain data.
        metadata: any further plain data (training epochs, accuracy, ...).

    Returns:
        The path written.

    Raises:
        ValueError: if config or metadata hold anything but plain data.
    """
    name = model_name if model_name is not None else getattr(model, "model_name", None)
    if name is not None and not isinstance(name, str):
        raise ValueError(f"model_name must be a string or None, got {type(name).__name__}")
    saved_config = dict(config if config is not None else getattr(model, "config", {}) or {})
    saved_metadata = dict(metadata or {})
    _check_plain(saved_config, "config")
    _check_plain(saved_metadata, "metadata")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_name": name,
        "config": saved_config,
        "metadata": saved_metadata,
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
    }
    target = Path(path)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(payload, stream)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def read_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load and validate the raw checkpoint dictionary, weights only.

    Raises:
        FileNotFoundError: if ``path`` is not a file.
        CheckpointError: if the file is corrupt, truncated, holds anything but
            weights and plain data, or is not an afno checkpoint.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"checkpoint file {source} does not exist")
    try:
        payload = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"checkpoint file {source} cannot be read (corrupt, truncated, or not a "
            f"weights-only torch file): {type(error).__name__}: {error}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{source} is a torch file but not an afno checkpoint (no format "
            f"{CHECKPOINT_FORMAT!r}); write checkpoints with afno.training.save_checkpoint"
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{source} is an afno checkpoint of version {payload.get('version')!r}; "
            f"this library reads version {CHECKPOINT_VERSION}"
        )
    for key, kind in (("config", dict), ("metadata", dict), ("state_dict", dict)):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"{source} is a damaged afno checkpoint: {key!r} is missing")
    return payload


def _check_weights(source: Path, model: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    differences = _shape_differences(weights, expected)
    if differences:
        raise CheckpointMismatchError(
            f"checkpoint {source} does not fit the model's parameters "
            f"(name: shape in checkpoint, shape in model):\n{_describe(differences)}",
            differences,
        )


def _shape_differences(
    weights: Mapping[str, torch.Tensor], shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, tuple[Any, Any]]:
    differences: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(weights) | set(shapes)):
        saved = tuple(weights[key].shape) if key in weights else _ABSENT
        current = shapes.get(key, _ABSENT)
        if saved != current:
            differences[key] = (saved, current)
    return differences


def _rebuild(
    source: Path,
    name: str,
    config: dict[str, Any],
    weights: Mapping[str, torch.Tensor],
    max_elements: int,
) -> nn.Module:
    """``create_model(name, **config)``, once the config is shown to fit the weights."""
    held = sum(int(tensor.numel()) for tensor in weights.values())
    if held > max_elements:
        raise CheckpointError(
            f"checkpoint {source} holds {held:,} weight elements, above the limit of "
            f"{max_elements:,}; pass max_elements= to load_checkpoint if you trust it"
        )
    try:
        check_config_limits(config)
    except ValueError as error:
        raise CheckpointError(f"checkpoint {source} has an implausible config: {error}") from error
    limits = {
        "max_tensors": len(weights) + _UNSAVED_SLACK_TENSORS,
        "max_elements": held + _UNSAVED_SLACK_ELEMENTS,
    }
    try:
        shapes = dry_build(lambda: create_model(name, **config), **limits)
        if shapes is not None:
            differences = _shape_differences(weights, shapes)
            if differences:
                raise CheckpointMismatchError(
                    f"checkpoint {source}: the model its config {config} builds does not have "
                    f"the weights it holds (name: shape in checkpoint, shape of the model):\n"
                    f"{_describe(differences)}",
                    differences,
                )
        with registration_budget(**limits):
            return create_model(name, **config)
    except ModelTooLargeError as error:
        raise CheckpointError(
            f"checkpoint {source} is refused: its config {config} asks for a larger model than "
            f"the weights it holds ({error})"
        ) from error
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(
            f"checkpoint {source} is for model {name!r} with config {config}, which this "
            f"version of afno cannot build: {error}"
        ) from error


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module | None = None,
    *,
    map_location: str | torch.device = "cpu",
    max_elements: int = MAX_CHECKPOINT_ELEMENTS,
) -> Checkpoint:
    """Load a checkpoint into ``model``, or into a new model built from the registry.

    Args:
        path: a file written by :func:`save_checkpoint`.
        model: the module to load into. Its ``model_name`` and ``config`` (if
            it has them) must equal the checkpoint's. When None, the model is
            rebuilt with ``afno.create_model(model_name, **config)``, but only
            after the config passed the limits of
            :mod:`afno.training.build_guard` and was shown (without allocating
            the model) to build exactly the parameter shapes the file holds.
        map_location: where to place the loaded tensors.
        max_elements: most weight elements a rebuilt model may have.

    Returns:
        A :class:`Checkpoint` holding the model (in eval mode when rebuilt).

    Raises:
        FileNotFoundError: if ``path`` is not a file.
        CheckpointError: if the file is not a readable afno checkpoint, holds no
            model name and no ``model`` was given, or its config is implausible
            or asks for more than the weights it holds.
        CheckpointMismatchError: if the name, config or parameter shapes
            differ; the message lists each differing key with both values.
    """
    source = Path(path)
    payload = read_checkpoint(source, map_location=map_location)
    name: str | None = payload.get("model_name")
    config: dict[str, Any] = payload["config"]
    if model is None:
        if name is None:
            raise CheckpointError(
                f"checkpoint {source} names no registered model; pass the model to load into"
            )
        model = _rebuild(source, name, config, payload["state_dict"], max_elements)
        model.eval()
    else:
        current_name = getattr(model, "model_name", None)
        current_config = getattr(model, "config", None)
        differences = {}
        if name is not None and current_name is not None and name != current_name:
            differences["model_name"] = (name, current_name)
        if isinstance(current_config, Mapping):
            differences.update(config_differences(config, current_config))
        if differences:
            raise CheckpointMismatchError(
                f"checkpoint {source} was made for another model configuration; "
                f"differing keys:\n{_describe(differences)}",
                differences,
            )
    _check_weights(source, model, payload["state_dict"])
    model.load_state_dict(payload["state_dict"])
    return Checkpoint(
        model=model, model_name=name, config=dict(config), metadata=dict(payload["metadata"])
    )
