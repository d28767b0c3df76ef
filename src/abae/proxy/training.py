"""Train a proxy from pilot labels: an AFNO network, then its calibration.

The pilot is split once, at random: most of it trains the network, the rest is
held out to fit the calibration (classifier) and to report how well the proxy
ranks (AUC) or predicts (correlation) records it has not seen. Everything is
seeded: the same images, targets and seed give bitwise the same proxy.

The network is any :func:`afno.create_model` classifier (``afnonet_tiny`` by
default) with one output: a logit for a predicate, trained with binary
cross-entropy, or a standardised statistic, trained with squared error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

import afno
from abae.proxy.backbone import PROXY_MODEL, PROXY_SIZE, default_patch_size
from abae.proxy.calibration import PlattCalibration
from abae.proxy.image_spec import ImageSpec
from abae.proxy.ranking_quality import roc_auc
from abae.proxy.scoring import score_batch, score_in_batches
from abae.proxy.trained_proxy import PROXY_TASKS, Proxy, ProxyTask, TargetScale
from afno.training import fit


class PixelInput(nn.Module):
    """Runs ``network`` on uint8 pixels ``(N, C, H, W)``, normalising them on the fly.

    Training keeps the pilot as uint8 (4× less memory than float32, which
    matters for thousands of 256×256 RGB frames) and normalises batch by batch.
    """

    def __init__(self, network: nn.Module, spec: ImageSpec) -> None:
        super().__init__()
        self.network = network
        self.spec = spec

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.network(self.spec.normalise(pixels))
        return outputs


def _check_targets(targets: ArrayLike, n_images: int, task: ProxyTask) -> NDArray[np.float64]:
    values = np.asarray(targets)
    if values.shape != (n_images,):
        raise ValueError(
            f"need one target per image: {n_images} images but targets of shape {values.shape}"
        )
    if task == "classify":
        if values.dtype != np.bool_ and not np.all((values == 0) | (values == 1)):
            raise ValueError("classifier targets must be bool or 0/1 (the predicate's labels)")
    elif not np.all(np.isfinite(values.astype(np.float64))):
        raise ValueError("regressor targets hold NaN or infinite values")
    return values.astype(np.float64)


def _split(
    n_images: int, calibration_share: float, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    if not 0.0 < calibration_share < 1.0:
        raise ValueError(f"calibration_share must be in (0, 1), got {calibration_share}")
    n_held_out = round(n_images * calibration_share)
    if n_held_out < 2 or n_images - n_held_out < 2:
        raise ValueError(
            f"{n_images} pilot images are too few to split with calibration_share "
            f"{calibration_share}: need at least 2 to train on and 2 held out"
        )
    order = np.random.default_rng(seed).permutation(n_images)
    return np.sort(order[n_held_out:]), np.sort(order[:n_held_out])


def train_proxy(
    images: NDArray[Any],
    targets: ArrayLike,
    *,
    task: ProxyTask = "classify",
    name: str = "afno_proxy",
    model: str = PROXY_MODEL,
    mixer: str = "afno",
    patch_size: int | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    epochs: int = 8,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 0.05,
    calibration_share: float = 0.2,
    seed: int = 0,
    progress: bool = True,
) -> Proxy:
    """Train a proxy on pilot images and their oracle labels.

    Args:
        images: uint8 pilot images ``(N, H, W)`` (grey) or ``(N, H, W, C)``; the
            proxy will read images of exactly this size and mode.
        targets: (N,) the predicate per image (bool/0-1) for ``task="classify"``,
            or the statistic (float) for ``task="regress"``.
        task: ``"classify"`` or ``"regress"``.
        name: the proxy's name (and score column name).
        model: an :func:`afno.list_models` classifier name.
        mixer: its token mixer: ``"afno"``, or a peer (``"attention"``, ``"gfn"``, ``"fno"``).
        patch_size: patch side; default :func:`default_patch_size`.
        model_kwargs: :func:`afno.create_model` arguments (``embed_dim``, ``depth``, ...)
            on top of :data:`PROXY_SIZE`.
        epochs, batch_size, lr, weight_decay: training (AdamW, cosine schedule).
        calibration_share: share of the pilot held out for calibration and evaluation.
        seed: seeds the split, the initial weights and the shuffling.
        progress: show tqdm progress bars.

    Returns:
        The :class:`~abae.proxy.trained_proxy.Proxy`; ``proxy.metadata`` holds the
        held-out AUC (classifier) or correlation (regressor) and the training setup.

    Raises:
        ValueError: bad images or targets, a pilot too small to split, or a
            classifier pilot whose training or held-out part lacks a class.
    """
    if task not in PROXY_TASKS:
        raise ValueError(f"task must be one of {PROXY_TASKS}, got {task!r}")
    spec = ImageSpec.of_batch(np.asarray(images))
    batch = spec.check_batch(np.asarray(images), what="pilot images")
    values = _check_targets(targets, batch.shape[0], task)
    train_rows, held_out_rows = _split(batch.shape[0], calibration_share, seed)
    if task == "classify":
        for part, rows in (("training", train_rows), ("held-out", held_out_rows)):
            positives = int(values[rows].sum())
            if positives in (0, rows.size):
                raise ValueError(
                    f"the {part} part of the pilot ({rows.size} images) has {positives} "
                    "positives; a classifier needs both classes: label more pilot records"
                )

    patch = patch_size if patch_size is not None else default_patch_size(spec.height, spec.width)
    network = afno.create_model(
        model,
        seed=seed,
        img_size=(spec.height, spec.width),
        patch_size=patch,
        in_chans=spec.channels,
        num_classes=1,
        mixer=mixer,
        **{**PROXY_SIZE, **dict(model_kwargs or {})},
    )
    pixels = spec.to_pixels(batch)
    scale = None
    train_targets = values[train_rows]
    if task == "regress":
        spread = float(train_targets.std())
        scale = TargetScale(float(train_targets.mean()), spread if spread > 0 else 1.0)
        train_targets = (train_targets - scale.mean) / scale.std
    trainable = PixelInput(network, spec)
    history = fit(
        trainable,
        (pixels[train_rows], torch.as_tensor(train_targets, dtype=torch.float32)),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        loss="bce" if task == "classify" else "mse",
        seed=seed,
        schedule="cosine",
        warmup_steps=min(20, epochs * max(1, train_rows.size // batch_size) // 10),
        progress=progress,
    )
    network.eval()
    held_out_raw = score_in_batches(
        batch[held_out_rows],
        lambda chunk: score_batch(network, spec.to_tensor(chunk)).numpy().astype(np.float64),
        batch_size=512,
        progress=False,
    )
    metadata: dict[str, Any] = {
        "model": model,
        "mixer": mixer,
        "pilot_size": int(batch.shape[0]),
        "held_out_size": int(held_out_rows.size),
        "epochs": epochs,
        "seed": seed,
        "final_train_loss": history.train_loss[-1],
    }
    if task == "classify":
        held_out_labels = values[held_out_rows].astype(bool)
        metadata["held_out_auc"] = roc_auc(held_out_raw, held_out_labels)
        calibration = PlattCalibration.fit(held_out_raw, held_out_labels)
        if not calibration.informative:
            metadata["warnings"] = [
                f"the proxy ranks the {held_out_rows.size} held-out pilot labels no better than "
                "chance; its scores sit near the base rate: label more pilot records or train longer"
            ]
        return Proxy(
            network, spec, task=task, calibration=calibration, name=name, metadata=metadata
        )
    assert scale is not None
    predicted = held_out_raw * scale.std + scale.mean
    truth = values[held_out_rows]
    if np.std(predicted) > 0 and np.std(truth) > 0:
        metadata["held_out_correlation"] = float(np.corrcoef(predicted, truth)[0, 1])
    metadata["held_out_rmse"] = float(np.sqrt(np.mean((predicted - truth) ** 2)))
    return Proxy(network, spec, task=task, target_scale=scale, name=name, metadata=metadata)
