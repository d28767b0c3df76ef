"""afno: Adaptive Fourier Neural Operator token mixers, models and a small training loop.

A PyTorch model library that knows nothing of the query engine:

- token mixers on grids ``(B, *spatial, C)``: :class:`AFNO` and its peers
  :class:`SelfAttention`, :class:`GlobalFilter` and :class:`FNO`, built by name
  with :func:`build_mixer` (names in :data:`MIXER_NAMES`);
- models by name with :func:`create_model` (:func:`list_models`): the
  :class:`AFNONet` classifier and the hierarchical :class:`AFNOSegFormer`,
  each taking any mixer;
- :func:`fit`, :func:`evaluate` and :func:`predict`, deterministic given a seed,
  and weights-only checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`);
- deployment (:mod:`afno.export`): :func:`export_program` (``torch.export``,
  dynamic batch and image sizes, runs with grad), :func:`export_onnx` and
  :class:`OnnxModel` (ONNX with the FFTs as ``DFT`` operators, run by
  onnxruntime). ``torch.compile`` works on the mixers and models as they are.

Example:
    >>> import torch, afno
    >>> model = afno.create_model("afnonet_tiny", img_size=28, patch_size=4,
    ...                           in_chans=1, num_classes=10, seed=0)
    >>> model(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""

from afno.export import OnnxModel, export_onnx, export_program, relative_difference
from afno.mixers import AFNO, FNO, MIXER_NAMES, GlobalFilter, SelfAttention, build_mixer
from afno.models import (
    AFNONet,
    AFNOSegFormer,
    ConfiguredModel,
    create_model,
    list_models,
    register_model,
)
from afno.training import (
    Checkpoint,
    CheckpointError,
    CheckpointMismatchError,
    History,
    evaluate,
    fit,
    load_checkpoint,
    predict,
    save_checkpoint,
)

__all__ = [
    "AFNO",
    "FNO",
    "MIXER_NAMES",
    "AFNONet",
    "AFNOSegFormer",
    "Checkpoint",
    "CheckpointError",
    "CheckpointMismatchError",
    "ConfiguredModel",
    "GlobalFilter",
    "History",
    "OnnxModel",
    "SelfAttention",
    "build_mixer",
    "create_model",
    "evaluate",
    "export_onnx",
    "export_program",
    "fit",
    "list_models",
    "load_checkpoint",
    "predict",
    "register_model",
    "relative_difference",
    "save_checkpoint",
]
