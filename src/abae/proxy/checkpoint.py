"""Save and load proxies as weights-only ``afno`` checkpoints.

The file is an :func:`afno.training.save_checkpoint` checkpoint (weights plus
the network's registry name and config, loaded with ``weights_only=True`` so no
pickled code runs) whose metadata holds the proxy's side under ``"abae_proxy"``::

    {"version": 1, "name": "afno_proxy", "task": "classify",
     "image_spec": {"height": 28, "width": 28, "channels": 1, "mean": .5, "std": .25},
     "calibration": {"method": "platt", "slope": ..., "intercept": ...} | None,
     "target_scale": {"mean": ..., "std": ...} | None,
     "training": {...}}

So ``abae proxy score`` can run with a checkpoint trained elsewhere: the file
alone rebuilds the network, checks the images, and calibrates the scores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from abae.errors import AbaeError
from abae.proxy.calibration import PlattCalibration
from abae.proxy.image_spec import ImageSpec
from abae.proxy.trained_proxy import PROXY_TASKS, Proxy, TargetScale
from afno.training import load_checkpoint, save_checkpoint

PROXY_METADATA_KEY = "abae_proxy"
PROXY_CHECKPOINT_VERSION = 1


class ProxyCheckpointError(AbaeError, ValueError):
    """A checkpoint that is not a usable proxy, or a proxy for other images; names the file."""


def save_proxy(path: str | os.PathLike[str], proxy: Proxy) -> Path:
    """Write ``proxy`` to ``path`` (atomically); returns the path."""
    proxy_data: dict[str, Any] = {
        "version": PROXY_CHECKPOINT_VERSION,
        "name": proxy.name,
        "task": proxy.task,
        "image_spec": proxy.spec.to_dict(),
        "calibration": proxy.calibration.to_dict() if proxy.calibration else None,
        "target_scale": proxy.target_scale.to_dict() if proxy.target_scale else None,
        "training": proxy.metadata,
    }
    return save_checkpoint(path, proxy.network, metadata={PROXY_METADATA_KEY: proxy_data})


def _proxy_from(source: Path, network: Any, data: Any) -> Proxy:
    if not isinstance(data, dict):
        raise ProxyCheckpointError(
            f"{source} is an afno checkpoint but not an abae proxy (no {PROXY_METADATA_KEY!r} "
            "metadata); save proxies with abae.proxy.save_proxy"
        )
    if data.get("version") != PROXY_CHECKPOINT_VERSION:
        raise ProxyCheckpointError(
            f"{source} holds a proxy of format version {data.get('version')!r}; this version of "
            f"abae reads version {PROXY_CHECKPOINT_VERSION}"
        )
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
        afno.training.CheckpointError: corrupt, truncated or foreign file (names it).
        ProxyCheckpointError: an afno checkpoint that is not a proxy, or a proxy
            for images other than ``expected_spec`` (names the file and both specs).
    """
    source = Path(path)
    checkpoint = load_checkpoint(source)
    proxy = _proxy_from(source, checkpoint.model, checkpoint.metadata.get(PROXY_METADATA_KEY))
    if expected_spec is not None and proxy.spec != expected_spec:
        raise ProxyCheckpointError(
            f"proxy checkpoint {source} reads {proxy.spec.describe()} images "
            f"({proxy.spec}), but these records are {expected_spec.describe()} ({expected_spec}); "
            "train a proxy on these images"
        )
    return proxy
