"""Models built from token mixers: the AFNONet classifier and the AFNO SegFormer.

Create them by name with :func:`create_model` (see :func:`list_models`), or
from their classes directly.
"""

from afno.models.afnonet import AFNONet
from afno.models.configured import ConfiguredModel
from afno.models.layers import (
    DropPath,
    FeedForward,
    MixerBlock,
    MixFeedForward,
    OverlappingPatchEmbedding,
    PatchEmbedding,
)
from afno.models.registry import ModelSpec, create_model, list_models, model_spec, register_model
from afno.models.segformer import AFNOSegFormer

__all__ = [
    "AFNONet",
    "AFNOSegFormer",
    "ConfiguredModel",
    "DropPath",
    "FeedForward",
    "MixFeedForward",
    "MixerBlock",
    "ModelSpec",
    "OverlappingPatchEmbedding",
    "PatchEmbedding",
    "create_model",
    "list_models",
    "model_spec",
    "register_model",
]
