"""Save and load proxies as weights-only ``afno`` checkpoints.

The file is an :func:`afno.training.save_checkpoint` checkpoint (weights plus
the network's registry name and config, loaded with ``weights_only=True`` so no
pickled code runs) whose metadata holds the proxy's side under ``"abae_proxy"``::

    {"version": 2, "name": "afno_proxy", "task": "classify",
     "network": {"kind": "afno" | "pixel_linear"},
     "image_spec": {"height": 28, "width": 28, "channels": 1, "mean": .5, "std": .25},
     "calibration": {"method": "platt", "slope": ..., "intercept": ...} | None,
     "target_scale": {"mean": ..., "std": ...} | None,
     "training": {...}}

So ``abae proxy score`` can run with a checkpoint trained elsewhere: the file
alone rebuilds the network, checks the images, and calibrates the scores. A
network of kind ``"afno"`` is a registered :func:`afno.create_model` model
(rebuilt under :func:`afno.load_checkpoint`'s checks: its config must fit the
weights in the file before anything is allocated); ``"pixel_linear"`` is
:class:`~abae.proxy.pixel_linear.PixelLinearNetwork`, whose config is bounded.
The image spec must be plausible and agree with the network's config, so a
hostile file cannot make scoring allocate batches of any size. Version-1 files
(before the network kind was recorded) hold AFNO networks and still load.

Example:
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from abae.proxy.selection import select_proxy
    >>> rng = np.random.default_rng(0)
    >>> images = rng.integers(0, 50, (40, 8, 8), dtype=np.uint8)
    >>> labels = np.arange(40) % 2 == 0
    >>> images[labels, :4] = 250
    >>> proxy = select_proxy(images, labels, candidates=("pixels_logistic",)).proxy
    >>> path = save_proxy(pathlib.Path(tempfile.mkdtemp()) / "p.pt", proxy)
    >>> loaded = load_proxy(path)
    >>> bool(np.array_equal(loaded.score_batch(images), proxy.score_batch(images)))
    True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from abae.errors import AbaeError
from abae.proxy.calibration import PlattCalibration
from abae.proxy.image_spec import ImageSpec
from abae.proxy.pixel_linear import PIXEL_LINEAR_KIND, PixelLinearNetwork
from abae.proxy.trained_proxy import PROXY_TASKS, Proxy, TargetScale
from afno.training import load_checkpoint, read_checkpoint, save_checkpoint

PROXY_METADATA_KEY = "abae_proxy"
PROXY_CHECKPOINT_VERSION = 2
READABLE_VERSIONS = (1, 2)
AFNO_KIND = "afno"
NETWORK_KINDS = (AFNO_KIND, PIXEL_LINEAR_KIND)


class ProxyCheckpointError(AbaeError, ValueError):
    """A checkpoint that is not a usable proxy, or a proxy for other images; names the file."""


def save_proxy(path: str | os.PathLike[str], proxy: Proxy) -> Path:
    """Write ``proxy`` to ``path`` (atomically); returns the path."""
    kind = PIXEL_LINEAR_KIND if isinstance(proxy.network, PixelLinearNetwork) else AFNO_KIND
    if kind == AFNO_KIND and getattr(proxy.network, "model_name", None) is None:
        raise ValueError(
            f"proxy {proxy.name!r}: its network {type(proxy.network).__name__} is neither a "
            "registered afno model nor a PixelLinearNetwork, so a checkpoint could not rebuild it"
        )
    proxy_data: dict[str, Any] = {
        "version": PROXY_CHECKPOINT_VERSION,
        "name": proxy.name,
        "task": proxy.task,
        "network": {"kind": kind},
        "image_spec": proxy.spec.to_dict(),
        "calibration": proxy.calibration.to_dict() if proxy.calibration else None,
        "target_scale": proxy.target_scale.to_dict() if proxy.target_scale else None,
        "training": proxy.metadata,
    }
    return save_checkpoint(path, proxy.network, metadata={PROXY_METADATA_KEY: proxy_data})


def _proxy_data(source: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    data = metadata.get(PROXY_METADATA_KEY)
    if not isinstance(data, dict):
        raise ProxyCheckpointError(
            f"{source} is an afno checkpoint but not an abae proxy (no {PROXY_METADATA_KEY!r} "
            "metadata); save proxies with abae.proxy.save_proxy"
        )
    if data.get("version") not in READABLE_VERSIONS:
        raise ProxyCheckpointError(
            f"{source} holds a proxy of format version {data.get('version')!r}; this version of "
            f"abae reads versions {READABLE_VERSIONS}"
        )
    return data


def _kind(source: Path, data: dict[str, Any]) -> str:
    network = data.get("network", {"kind": AFNO_KIND})
    kind = network.get("kind") if isinstance(network, dict) else None
    if kind not in NETWORK_KINDS:
        raise ProxyCheckpointError(
            f"{source} holds a proxy network of kind {kind!r}; this version of abae reads "
            f"{NETWORK_KINDS}"
        )
    return str(kind)


def _spec(source: Path, data: dict[str, Any]) -> ImageSpec:
    try:
        return ImageSpec.from_dict(data["image_spec"])
    except (KeyError, TypeError, ValueError) as error:
        raise ProxyCheckpointError(f"{source} holds damaged proxy metadata: {error}") from error


def _check_network_reads(source: Path, network: nn.Module, spec: ImageSpec) -> None:
    """The network must read the images the spec names (size and channels)."""
    config = getattr(network, "config", {})
    reads: tuple[Any, ...] | None
    if isinstance(network, PixelLinearNetwork):
        reads = (config["height"], config["width"], config["channels"])
    else:
        size = config.get("img_size")
        reads = (*size, config.get("in_chans")) if isinstance(size, list | tuple) else None
    if reads is None or tuple(reads) != (spec.height, spec.width, spec.channels):
        raise ProxyCheckpointError(
            f"{source} is inconsistent: its network reads images {reads} (height, width, "
            f"channels) but its image spec says {spec.describe()}"
        )


def _proxy_from(source: Path, network: Any, data: Any) -> Proxy:
    try:
        task = data["task"]
        if task not in PROXY_TASKS:
            raise ValueError(f"unknown task {task!r}")
        calibration = data.get("calibration")
        target_scale = data.get("target_scale")
        return Proxy(
            network,
            ImageSpec.from_dict(data["image_spec"]),
            task=task,
            calibration=PlattCalibration.from_dict(calibration) if calibration else None,
            target_scale=TargetScale.from_dict(target_scale) if target_scale else None,
            name=str(data.get("name", "proxy")),
            metadata=dict(data.get("training") or {}),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ProxyCheckpointError(f"{source} holds damaged proxy metadata: {error}") from error


def load_proxy(path: str | os.PathLike[str], *, expected_spec: ImageSpec | None = None) -> Proxy:
    """Load a proxy saved by :func:`save_proxy`.

    Args:
        path: the checkpoint file.
        expected_spec: when given, the images the caller will score; a proxy made
            for other images is refused here rather than at the first batch.

    Raises:
        FileNotFoundError: no such file.
        afno.training.CheckpointError: corrupt, truncated or foreign file, or a
            config that asks for more than the weights it holds (names it).
        ProxyCheckpointError: an afno checkpoint that is not a proxy, a proxy with
            an implausible or inconsistent image spec, or a proxy for images other
            than ``expected_spec`` (names the file and both specs).
    """
    source = Path(path)
    payload = read_checkpoint(source)
    data = _proxy_data(source, payload["metadata"])
    spec = _spec(source, data)
    if _kind(source, data) == PIXEL_LINEAR_KIND:
        try:
            network: nn.Module = PixelLinearNetwork.from_config(payload["config"])
        except ValueError as error:
            raise ProxyCheckpointError(
                f"{source} holds a damaged network config: {error}"
            ) from error
        network = load_checkpoint(source, network).model
    else:
        network = load_checkpoint(source).model
    _check_network_reads(source, network, spec)
    proxy = _proxy_from(source, network, data)
    if expected_spec is not None and proxy.spec != expected_spec:
        raise ProxyCheckpointError(
            f"proxy checkpoint {source} reads {proxy.spec.describe()} images "
            f"({proxy.spec}), but these records are {expected_spec.describe()} ({expected_spec}); "
            "train a proxy on these images"
        )
    return proxy
