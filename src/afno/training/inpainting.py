"""Self-supervised pretraining by masked inpainting: hide random patches, reconstruct their pixels.

The objective needs no labels, so a model can learn the look of a collection
of images before it sees a single label, and then be fine-tuned on a few:

- :class:`MaskedInpainting` is the objective :func:`afno.training.fit` optimises
  (``fit(model, images, loss=MaskedInpainting(patch=4))``): per batch it draws
  a random patch mask (:func:`afno.training.masking.random_patch_mask`), sets
  the hidden pixels to ``fill`` (0: the mean of standardised pixels), runs the
  model and takes the mean squared error over the hidden pixels only
  (:func:`masked_mse`);
- the model must map images ``(B, C, H, W)`` to a reconstruction of the same
  shape. Two heads turn the library's models into such reconstructors:
  :class:`TokenReconstructor` for an encoder whose ``forward_features`` gives a
  channels-last token grid (:class:`afno.AFNONet`, any mixer), and
  :class:`CellReconstructor` for a model whose output holds each cell's pixels
  as channels (:class:`afno.AFNOSegFormer` built with ``num_classes = C·s·s``).

After pretraining, the encoder's weights (everything but the reconstruction
head) are what a classifier or segmenter starts from.

Example:
    >>> import torch, afno
    >>> encoder = afno.create_model("afnonet_tiny", img_size=8, patch_size=4, in_chans=1,
    ...                             num_classes=1, embed_dim=8, depth=1, seed=0)
    >>> model = TokenReconstructor(encoder, seed=0)
    >>> images = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> history = afno.fit(model, images, loss=MaskedInpainting(patch=4), epochs=2,
    ...                    batch_size=8, progress=False)
    >>> len(history.train_loss), model(images).shape
    (2, torch.Size([16, 1, 8, 8]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

from afno.training.masking import random_patch_mask


def masked_mse(reconstruction: Tensor, images: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the hidden pixels (all channels) only; a scalar.

    Args:
        reconstruction: model output ``(B, C, H, W)``.
        images: the uncorrupted input ``(B, C, H, W)``.
        mask: bool ``(B, 1, H, W)`` (or ``(B, C, H, W)``), True where hidden.

    Raises:
        ValueError: if the reconstruction's shape differs from the images' or
            the mask hides nothing.
    """
    if reconstruction.shape != images.shape:
        raise ValueError(
            f"the reconstruction must have the images' shape: got {tuple(reconstruction.shape)} "
            f"for images {tuple(images.shape)}"
        )
    hidden = mask.expand_as(images)
    if not bool(hidden.any()):
        raise ValueError("the mask hides no pixel, so there is nothing to reconstruct")
    return functional.mse_loss(reconstruction[hidden], images[hidden].to(reconstruction.dtype))


@dataclass(frozen=True)
class MaskedInpainting:
    """The masked-inpainting objective for :func:`afno.training.fit` and :func:`~afno.training.evaluate`.

    Args:
        patch: side of a masked square in pixels; must divide the image size
            (a multiple of the model's patch size lines masks up with tokens).
        ratio: share of the squares hidden per image, in (0, 1).
        fill: the value hidden pixels are set to in the model's input
            (0 is the mean of standardised pixels).
        prepare: maps a raw input batch to the model's input before masking
            (e.g. uint8 pixels to standardised floats, so a large collection
            can stay uint8 in memory); ``None`` uses the batch as it is.
    """

    patch: int
    ratio: float = 0.5
    fill: float = 0.0
    prepare: Callable[[Tensor], Tensor] | None = None

    name = "masked_inpainting"
    needs_targets = False
    metric_names = ("loss",)

    def __post_init__(self) -> None:
        if not isinstance(self.patch, int) or self.patch < 1:
            raise ValueError(f"patch must be a positive int, got {self.patch!r}")
        if not 0.0 < self.ratio < 1.0:
            raise ValueError(f"ratio must be in (0, 1), got {self.ratio}")

    def batch_loss(
        self, model: nn.Module, inputs: Tensor, targets: Tensor, generator: torch.Generator
    ) -> Tensor:
        """Masked-pixel MSE of ``model`` on one batch (targets are ignored).

        Raises:
            ValueError: inputs that are not images ``(B, C, H, W)``, or a patch
                that does not divide their size.
        """
        del targets
        images = self.prepare(inputs) if self.prepare is not None else inputs
        if images.dim() != 4:
            raise ValueError(
                f"masked inpainting needs images (B, C, H, W), got shape {tuple(images.shape)}"
            )
        batch, _, height, width = images.shape
        mask = random_patch_mask(
            batch, height, width, patch=self.patch, ratio=self.ratio, generator=generator
        ).to(images.device)
        reconstruction = model(images.masked_fill(mask, self.fill))
        return masked_mse(reconstruction, images, mask)

    def batch_metrics(
        self, model: nn.Module, inputs: Tensor, targets: Tensor, generator: torch.Generator
    ) -> dict[str, float]:
        """``{"loss": masked-pixel MSE}`` of one batch (for :func:`afno.training.evaluate`)."""
        return {"loss": float(self.batch_loss(model, inputs, targets, generator))}


def _config_value(module: nn.Module, key: str, given: int | None) -> int:
    if given is not None:
        return given
    config: Any = getattr(module, "config", None)
    if isinstance(config, dict) and isinstance(config.get(key), int):
        return int(config[key])
    raise ValueError(
        f"cannot tell the encoder's {key}: pass {key}= (the encoder has no config[{key!r}])"
    )


class TokenReconstructor(nn.Module):
    """An encoder's token grid to pixels: ``(B, C, H, W) -> (B, C, H, W)``.

    A linear layer maps each token ``(D,)`` of ``encoder.forward_features(images)``
    (channels-last ``(B, H/p, W/p, D)``) to the ``C·p·p`` pixels of its patch.

    Args:
        encoder: a module with ``forward_features`` returning ``(B, H/p, W/p, D)``,
            such as :class:`afno.AFNONet` with any mixer.
        in_chans, embed_dim, patch_size: ``C``, ``D`` and ``p``; read from
            ``encoder.config`` when not given.
        seed: when given, the head's initial weights are drawn under
            ``torch.manual_seed(seed)`` in a forked RNG (so the same seed gives
            the same reconstructor and the caller's RNG is untouched).

    Attributes:
        encoder: the wrapped encoder (what to keep after pretraining).
        head: the per-token reconstruction layer (discarded after pretraining).
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        in_chans: int | None = None,
        embed_dim: int | None = None,
        patch_size: int | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not callable(getattr(encoder, "forward_features", None)):
            raise ValueError(
                f"{type(encoder).__name__} has no forward_features method returning a token grid"
            )
        self.encoder = encoder
        self.in_chans = _config_value(encoder, "in_chans", in_chans)
        self.patch_size = _config_value(encoder, "patch_size", patch_size)
        features = _config_value(encoder, "embed_dim", embed_dim)
        pixels = self.in_chans * self.patch_size * self.patch_size
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.head = nn.Linear(features, pixels)

    def forward(self, images: Tensor) -> Tensor:
        tokens: Tensor = self.encoder.forward_features(images)  # type: ignore[operator]
        if tokens.dim() != 4:
            raise ValueError(
                f"forward_features must return a grid (B, h, w, D), got {tuple(tokens.shape)}"
            )
        cells = self.head(tokens).permute(0, 3, 1, 2)
        pixels = functional.pixel_shuffle(cells, self.patch_size)
        if pixels.shape != images.shape:
            raise ValueError(
                f"the reconstruction {tuple(pixels.shape)} does not match the images "
                f"{tuple(images.shape)}: patch_size {self.patch_size} must tile the image"
            )
        return pixels


class CellReconstructor(nn.Module):
    """A model whose output holds each ``s×s`` cell's pixels as channels, to pixels.

    ``model(images)`` is ``(B, C·s·s, H/s, W/s)`` (e.g. :class:`afno.AFNOSegFormer`
    built with ``num_classes = 3 · 4 · 4`` at its output stride 4);
    ``pixel_shuffle`` turns it into ``(B, C, H, W)``.

    Args:
        model: the wrapped model (kept after pretraining, all but its output layer).
        stride: the output stride ``s``.
    """

    def __init__(self, model: nn.Module, stride: int) -> None:
        super().__init__()
        if stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride}")
        self.model = model
        self.stride = stride

    def forward(self, images: Tensor) -> Tensor:
        cells: Tensor = self.model(images)
        expected = images.shape[1] * self.stride * self.stride
        if cells.dim() != 4 or cells.shape[1] != expected:
            raise ValueError(
                f"the model must output {expected} channels (C·s·s) per stride-{self.stride} "
                f"cell, got {tuple(cells.shape)}; build it with num_classes={expected}"
            )
        return functional.pixel_shuffle(cells, self.stride)
