"""Batch inference of a proxy network: the pure step and the batched driver.

:func:`score_batch` is the unit of work an executor runs (in process here; as
Ray batch inference later): a network and one batch of model input in, one raw
output per image out, no state touched. :func:`score_in_batches` walks any
number of images through a per-batch function with a tqdm progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from tqdm.auto import tqdm


class ImageSource(Protocol):
    """Anything holding N images that slices into uint8 batches: a NumPy array
    ``(N, H, W[, C])``, a memory map, or a lazy view such as
    :attr:`abae.datasets.street_scenes.StreetScenes.frames`."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: slice, /) -> Any: ...


def score_batch(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Raw outputs of ``model`` for one batch, one value per image.

    Args:
        model: a network in eval mode whose output is ``(N,)`` or ``(N, 1)``
            (a logit for a classifier, a standardised value for a regressor).
        images: model input, float32 ``(N, C, H, W)``.

    Returns:
        float32 ``(N,)`` on the CPU.

    Raises:
        ValueError: if the model is in training mode or its output does not hold
            one value per image.
    """
    if model.training:
        raise ValueError("score_batch needs the model in eval mode; call model.eval() first")
    with torch.inference_mode():
        outputs: torch.Tensor = model(images)
    if outputs.shape[0] != images.shape[0] or outputs.numel() != images.shape[0]:
        raise ValueError(
            f"a proxy network must output one value per image: input {tuple(images.shape)}, "
            f"output {tuple(outputs.shape)}"
        )
    return outputs.reshape(-1).float().cpu()


def score_in_batches(
    images: ImageSource,
    score: Callable[[NDArray[Any]], NDArray[np.float64]],
    *,
    batch_size: int = 1024,
    progress: bool = True,
    description: str = "proxy scores",
) -> NDArray[np.float64]:
    """Apply ``score`` to consecutive batches of ``images`` and concatenate the results.

    Args:
        images: N images, sliced ``images[start:stop]`` one batch at a time, so a
            lazy source never holds more than one batch in memory.
        score: maps a batch (n, ...) to float64 scores (n,).
        batch_size: images per batch.
        progress: show a tqdm bar counting images.
        description: the bar's label.

    Returns:
        float64 (N,) scores in the order of ``images``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    total = len(images)
    scores = np.empty(total, dtype=np.float64)
    with tqdm(total=total, desc=description, unit="img", disable=not progress) as bar:
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            batch_scores = np.asarray(score(images[start:stop]), dtype=np.float64)
            if batch_scores.shape != (stop - start,):
                raise ValueError(
                    f"scoring images {start}..{stop - 1} gave shape {batch_scores.shape}, "
                    f"expected ({stop - start},)"
                )
            scores[start:stop] = batch_scores
            bar.update(stop - start)
    return scores
