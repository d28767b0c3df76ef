"""Labelled data for the training loop, batched deterministically.

The loop accepts either a pair ``(inputs, targets)`` of tensors or NumPy arrays
with the same leading length ``N``, or any :class:`torch.utils.data.Dataset`
whose items are ``(input, target)`` pairs. Tensor pairs are batched by slicing
(fast, no per-item collation); other datasets go through a
:class:`~torch.utils.data.DataLoader`. Either way the order of a shuffled epoch
comes from the ``torch.Generator`` passed in, so it is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeAlias

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

TrainingData: TypeAlias = (
    "tuple[Tensor | np.ndarray[Any, Any], Tensor | np.ndarray[Any, Any]] | Dataset[Any]"
    " | Tensor | np.ndarray[Any, Any]"
)
"""What :func:`afno.training.fit` and friends accept as data: ``(inputs, targets)``, a
Dataset of pairs, or (for a self-supervised objective only) a bare batch of inputs."""


class TensorPairs(Dataset[tuple[Tensor, Tensor]]):
    """Inputs ``(N, ...)`` and targets ``(N, ...)`` held as two tensors.

    Args:
        inputs: model inputs, leading axis ``N`` (e.g. images ``(N, C, H, W)``).
        targets: one target per input, leading axis ``N``.

    Raises:
        ValueError: if either is 0-dimensional, the lengths differ, or ``N`` is 0.
    """

    def __init__(self, inputs: Tensor, targets: Tensor) -> None:
        if inputs.dim() == 0 or targets.dim() == 0:
            raise ValueError(
                f"inputs and targets need a leading sample axis, got shapes "
                f"{tuple(inputs.shape)} and {tuple(targets.shape)}"
            )
        if inputs.shape[0] != targets.shape[0]:
            raise ValueError(
                f"inputs and targets must have the same number of samples, got "
                f"inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)}"
            )
        if inputs.shape[0] == 0:
            raise ValueError("the data holds no samples (leading axis of length 0)")
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.inputs[index], self.targets[index]


def as_dataset(data: TrainingData, *, targets_required: bool = True) -> Dataset[Any]:
    """Wrap a ``(inputs, targets)`` pair as :class:`TensorPairs`; pass a Dataset through.

    NumPy arrays become tensors without copying where possible. When
    ``targets_required`` is False (a self-supervised objective), a bare batch of
    inputs ``(N, ...)`` is accepted too and gets empty targets ``(N, 0)``.

    Raises:
        ValueError: for anything that is neither a pair nor a Dataset (nor, when
            allowed, a bare batch of inputs).
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple | list) and len(data) == 2:
        inputs, targets = (torch.as_tensor(part) for part in data)
        return TensorPairs(inputs, targets)
    if not targets_required and isinstance(data, Tensor | np.ndarray):
        inputs = torch.as_tensor(data)
        if inputs.dim() == 0:
            raise ValueError("the inputs need a leading sample axis, got a 0-dimensional value")
        return TensorPairs(inputs, torch.empty(inputs.shape[0], 0))
    bare = " (a bare batch of inputs works only with a self-supervised objective)"
    raise ValueError(
        "data must be a pair (inputs, targets) of tensors/arrays or a "
        f"torch.utils.data.Dataset of (input, target) pairs, got {type(data).__name__}"
        + (bare if isinstance(data, Tensor | np.ndarray) else "")
    )


def dataset_length(dataset: Dataset[Any]) -> int:
    """Number of samples; raises ValueError for a dataset without ``len`` or an empty one."""
    try:
        length = len(dataset)  # type: ignore[arg-type]
    except TypeError as error:
        raise ValueError(
            f"the dataset {type(dataset).__name__} has no len(); "
            "use a map-style Dataset or an (inputs, targets) pair"
        ) from error
    if length == 0:
        raise ValueError("the dataset holds no samples")
    return int(length)


def count_batches(dataset: Dataset[Any], batch_size: int) -> int:
    """Number of batches of ``batch_size`` in one pass (the last one may be short)."""
    return -(-dataset_length(dataset) // batch_size)


def iterate_batches(
    dataset: Dataset[Any],
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(inputs, targets)`` batches of at most ``batch_size`` samples.

    Args:
        dataset: a :class:`TensorPairs` (sliced directly) or any map-style Dataset
            of ``(input, target)`` pairs (collated by a DataLoader).
        batch_size: samples per batch, at least 1.
        shuffle: visit the samples in a random order drawn from ``generator``.
        generator: the source of the shuffled order; required when shuffling.

    Raises:
        ValueError: for a batch size below 1 or shuffling without a generator.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if shuffle and generator is None:
        raise ValueError("shuffling needs a torch.Generator so the order is reproducible")
    length = dataset_length(dataset)
    order = torch.randperm(length, generator=generator) if shuffle else None
    if isinstance(dataset, TensorPairs):
        for start in range(0, length, batch_size):
            if order is None:
                yield (
                    dataset.inputs[start : start + batch_size],
                    dataset.targets[start : start + batch_size],
                )
            else:
                index = order[start : start + batch_size]
                yield dataset.inputs[index], dataset.targets[index]
        return
    # The same order as the tensor path: one permutation from the generator.
    sampler = range(length) if order is None else order.tolist()
    # Its own generator, so the loader does not draw a base seed from the global RNG.
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, generator=torch.Generator().manual_seed(0)
    )
    for batch in loader:
        if not isinstance(batch, list | tuple) or len(batch) != 2:
            raise ValueError(
                f"dataset items must be (input, target) pairs; a collated batch was {type(batch).__name__}"
                + (f" of length {len(batch)}" if isinstance(batch, list | tuple) else "")
            )
        yield batch[0], batch[1]
