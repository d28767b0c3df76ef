"""The proxy network, and its backbone pretrained on a collection's own images.

Labels are paid for; images are free. Before a proxy sees a pilot label, its
AFNO network learns the look of the collection by masked inpainting
(:class:`afno.training.MaskedInpainting`: random patches hidden, their pixels
reconstructed from the rest; no oracle call). Every proxy of that collection
then starts from those weights and fine-tunes on its pilot labels.

The pretrained backbone is cached beside the store, at
``<db>.proxies/<collection>/backbone-<key>.pt`` (a weights-only ``afno``
checkpoint). The key is a hash of the collection's content (record ids, image
references, a digest of every stored image and the size and modification time
of every image file), the network's configuration and the pretraining
settings, so a changed collection or setting gets a new backbone instead of a
stale one, and a second proxy (or a second run) on the same collection reuses
the first one's for free.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

import afno
from abae.proxy.image_spec import ImageSpec
from abae.proxy.record_images import read_collection_images
from abae.store.connection import Store
from abae.store.identifiers import quote
from abae.store.records import RecordCollection
from afno.training import (
    CheckpointError,
    MaskedInpainting,
    TokenReconstructor,
    fit,
    load_checkpoint,
    save_checkpoint,
)

PROXY_MODEL = "afnonet_tiny"
PROXY_SIZE: dict[str, Any] = {"embed_dim": 32, "depth": 2, "global_pool": "max"}
"""Default network: ``afnonet_tiny`` narrowed to 32 channels and 2 blocks, with
max-pooled tokens. A proxy must score millions of records quickly (≥ 3000 28×28
images/s on 2 cores) and learn from a pilot of a few hundred labels, so it is
smaller than the registry's tiny classifier. Max pooling because a predicate about
a small object (a 15-pixel traffic light in a 256×256 frame) lives in one token and
a mean over 256 tokens dilutes it (held-out AUC 0.61 with mean pooling, 0.97 with
max, same pilot and epochs). Pass ``model_kwargs`` to change any of it."""
BACKBONE_METADATA_KEY = "abae_backbone"
BACKBONE_FORMAT_VERSION = 1


def default_patch_size(height: int, width: int) -> int:
    """The largest patch side dividing both sides, at most 4 up to 64 px, 8 up to 128 px, else 16.

    That gives 7×7 tokens at 28×28 and 16×16 tokens at 256×256.
    """
    longest = max(height, width)
    cap = 4 if longest <= 64 else 8 if longest <= 128 else 16
    common = int(np.gcd(height, width))
    return max(p for p in range(1, cap + 1) if common % p == 0)


@dataclass(frozen=True)
class ProxyNetwork:
    """Which AFNO network a proxy uses (one output: a logit or a standardised value).

    Args:
        model: an :func:`afno.list_models` classifier name.
        mixer: its token mixer (``"afno"``, ``"attention"``, ``"gfn"``, ``"fno"``).
        patch_size: patch side; ``None``: :func:`default_patch_size`.
        model_kwargs: :func:`afno.create_model` arguments over :data:`PROXY_SIZE`.
    """

    model: str = PROXY_MODEL
    mixer: str = "afno"
    patch_size: int | None = None
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def arguments(self, spec: ImageSpec) -> dict[str, Any]:
        """The :func:`afno.create_model` arguments for images of ``spec``."""
        patch = self.patch_size or default_patch_size(spec.height, spec.width)
        return {
            "img_size": (spec.height, spec.width),
            "patch_size": patch,
            "in_chans": spec.channels,
            "num_classes": 1,
            "mixer": self.mixer,
            **PROXY_SIZE,
            **dict(self.model_kwargs),
        }

    def build(self, spec: ImageSpec, seed: int) -> nn.Module:
        """A freshly initialised network for images of ``spec`` (weights drawn from ``seed``)."""
        return afno.create_model(self.model, seed=seed, **self.arguments(spec))


@dataclass(frozen=True)
class Pretraining:
    """How the backbone learns a collection's images (masked inpainting, no labels).

    Args:
        epochs: passes over the pretraining images.
        max_images: most images used (a uniform sample of the collection).
        max_megabytes: most memory the decoded images may take (uint8), which
            caps the sample for large images (256×256 RGB: 1,365 images in 256 MB).
        batch_size, lr, weight_decay: AdamW with cosine decay.
        mask_ratio: share of the patches hidden per image.
        mask_patch: side of a hidden square; ``None``: the network's patch size,
            so a hidden square is exactly one token.
        seed: seeds the sample, the initial weights, the masks and the shuffling.
    """

    epochs: int = 2
    max_images: int = 20_000
    max_megabytes: int = 256
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    mask_ratio: float = 0.5
    mask_patch: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.max_images < 2 or self.batch_size < 1:
            raise ValueError(f"pretraining needs epochs >= 1, images >= 2, batch >= 1: {self}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")

    def image_count(self, spec: ImageSpec, available: int) -> int:
        """Images to pretrain on: at most ``max_images``, ``max_megabytes`` and ``available``."""
        by_memory = (self.max_megabytes << 20) // (spec.pixels * spec.channels)
        return int(max(2, min(available, self.max_images, by_memory)))


@dataclass(frozen=True)
class PretrainedBackbone:
    """A pretrained proxy network (its head untrained) and where it came from.

    Attributes:
        network: the network, in eval mode; copy it before fine-tuning.
        path: its cached checkpoint.
        key: the cache key (collection content, network, settings).
        reused: True when it was loaded from the cache rather than trained now.
        images: images it was pretrained on.
        seconds: wall time of the pretraining (when it was trained, even if reused now).
        loss: masked-pixel loss per epoch.
    """

    network: nn.Module
    path: Path
    key: str
    reused: bool
    images: int
    seconds: float
    loss: list[float]


def collection_ids(store: Store, collection: str) -> NDArray[np.int64]:
    """All record ids of ``collection``, sorted (without reading any image)."""
    name = RecordCollection(store, collection).name
    with store.transaction() as con:
        data = con.execute(f"SELECT id FROM {quote(name)} ORDER BY id").fetchnumpy()
    return np.asarray(data["id"], dtype=np.int64)


def _file_signature(path: str) -> str:
    try:
        status = os.stat(path)
    except OSError:
        return "-"
    return f"{status.st_size}:{status.st_mtime_ns}"


def collection_fingerprint(store: Store, collection: str) -> str:
    """A digest of ``collection``'s content: its record count, ids and image references, an
    MD5 of every stored image, and the size and modification time of every image file that
    a record without stored bytes points at. Equal fingerprints: the same images."""
    name = RecordCollection(store, collection).name
    with store.transaction() as con:
        row = con.execute(
            "SELECT count(*), md5(coalesce(string_agg(concat(id::VARCHAR, ':', "
            "coalesce(image, ''), ':', coalesce(md5(image_blob), '-')), ',' ORDER BY id), '')) "
            f"FROM {quote(name)}"
        ).fetchone()
        files = con.execute(
            f"SELECT image FROM {quote(name)} WHERE image_blob IS NULL AND image IS NOT NULL "
            "ORDER BY id"
        ).fetchall()
    assert row is not None
    digest = hashlib.sha256(f"{row[0]}|{row[1]}".encode())
    for (path,) in files:
        digest.update(f"|{path}={_file_signature(str(path))}".encode())
    return digest.hexdigest()


def backbone_key(
    fingerprint: str, spec: ImageSpec, network: ProxyNetwork, pretraining: Pretraining
) -> str:
    """The cache key: a hash of the collection's fingerprint, the network and the settings."""
    described = {
        "version": BACKBONE_FORMAT_VERSION,
        "collection": fingerprint,
        "spec": spec.to_dict(),
        "model": network.model,
        "arguments": network.arguments(spec),
        "pretraining": asdict(pretraining),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=list).encode()).hexdigest()


def proxies_folder(store: Store, collection: str) -> Path:
    """``<db folder>/<db name>.proxies/<collection>``: beside the database (created if needed)."""
    folder = store.path.parent / f"{store.path.name}.proxies" / collection
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def backbone_path(store: Store, collection: str, key: str) -> Path:
    """Where the backbone with cache ``key`` lives."""
    return proxies_folder(store, collection) / f"backbone-{key[:16]}.pt"


def pretrain_backbone(
    network: nn.Module,
    pixels: torch.Tensor,
    spec: ImageSpec,
    pretraining: Pretraining,
    *,
    progress: bool = False,
) -> list[float]:
    """Train ``network`` (in place) to inpaint masked patches of ``pixels``; the loss per epoch.

    Args:
        network: an :class:`afno.AFNONet` (its ``forward_features`` token grid is
            decoded to pixels by a temporary linear head).
        pixels: uint8 ``(n, C, H, W)`` images of ``spec`` (kept uint8; each batch
            is standardised on the fly).
        spec: the images' spec (standardisation).
        pretraining: the settings.
        progress: show a progress bar per epoch.
    """
    patch = pretraining.mask_patch or int(network.config["patch_size"])  # type: ignore[index]
    reconstructor = TokenReconstructor(network, seed=pretraining.seed)
    history = fit(
        reconstructor,
        pixels,
        loss=MaskedInpainting(patch=patch, ratio=pretraining.mask_ratio, prepare=spec.normalise),
        epochs=pretraining.epochs,
        batch_size=pretraining.batch_size,
        lr=pretraining.lr,
        weight_decay=pretraining.weight_decay,
        schedule="cosine",
        warmup_steps=min(
            50, pretraining.epochs * max(1, pixels.shape[0] // pretraining.batch_size) // 10
        ),
        seed=pretraining.seed,
        progress=progress,
    )
    network.eval()
    return history.train_loss


def _load_cached(path: Path, key: str) -> PretrainedBackbone | None:
    if not path.is_file():
        return None
    try:
        checkpoint = load_checkpoint(path)
    except (CheckpointError, OSError):
        return None  # damaged or foreign: pretrain again and overwrite it
    info = checkpoint.metadata.get(BACKBONE_METADATA_KEY)
    if not isinstance(info, dict) or info.get("key") != key:
        return None
    return PretrainedBackbone(
        checkpoint.model.eval(),
        path,
        key,
        True,
        int(info.get("images", 0)),
        float(info.get("seconds", 0.0)),
        [float(v) for v in info.get("loss", [])],
    )


def collection_backbone(
    store: Store,
    collection: str,
    spec: ImageSpec,
    *,
    network: ProxyNetwork | None = None,
    pretraining: Pretraining | None = None,
    progress: bool = True,
) -> PretrainedBackbone:
    """The collection's pretrained backbone: from the cache when its key matches, else
    pretrained now (on a uniform sample of the collection's images) and cached.

    Args:
        spec: the collection's images.
        network: the proxy network (default :class:`ProxyNetwork`).
        pretraining: the settings (default :class:`Pretraining`).
        progress: show progress bars.

    Raises:
        abae.proxy.ImageInputError: a sampled record's image cannot be read (names it).
    """
    network = network or ProxyNetwork()
    pretraining = pretraining or Pretraining()
    key = backbone_key(collection_fingerprint(store, collection), spec, network, pretraining)
    path = backbone_path(store, collection, key)
    cached = _load_cached(path, key)
    if cached is not None:
        return cached
    started = time.perf_counter()
    ids = collection_ids(store, collection)
    count = pretraining.image_count(spec, ids.size)
    rng = np.random.default_rng(pretraining.seed)
    chosen = np.sort(rng.choice(ids, size=count, replace=False))
    images = read_collection_images(RecordCollection(store, collection), chosen, spec)
    model = network.build(spec, seed=pretraining.seed)
    loss = pretrain_backbone(model, spec.to_pixels(images), spec, pretraining, progress=progress)
    seconds = time.perf_counter() - started
    info = {
        "key": key,
        "collection": collection,
        "images": int(count),
        "seconds": round(seconds, 2),
        "loss": [round(v, 5) for v in loss],
        "pretraining": asdict(pretraining),
    }
    for stale in path.parent.glob("backbone-*.pt"):
        if stale != path:
            stale.unlink(missing_ok=True)
    save_checkpoint(path, model, metadata={BACKBONE_METADATA_KEY: info})
    return PretrainedBackbone(model, path, key, False, int(count), seconds, loss)
