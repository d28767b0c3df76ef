"""Training utilities: a deterministic train/evaluate/predict loop, self-supervised
masked-inpainting pretraining, early stopping and weights-only checkpoints."""

from afno.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from afno.training.data import TensorPairs, TrainingData
from afno.training.early_stopping import EarlyStopping
from afno.training.inpainting import (
    CellReconstructor,
    MaskedInpainting,
    TokenReconstructor,
    masked_mse,
)
from afno.training.loop import EpochRecord, History, evaluate, fit, predict
from afno.training.masking import random_patch_mask
from afno.training.objectives import LOSS_NAMES, LossName, Objective

__all__ = [
    "LOSS_NAMES",
    "CellReconstructor",
    "Checkpoint",
    "CheckpointError",
    "CheckpointMismatchError",
    "EarlyStopping",
    "EpochRecord",
    "History",
    "LossName",
    "MaskedInpainting",
    "Objective",
    "TensorPairs",
    "TokenReconstructor",
    "TrainingData",
    "evaluate",
    "fit",
    "load_checkpoint",
    "masked_mse",
    "predict",
    "random_patch_mask",
    "read_checkpoint",
    "save_checkpoint",
]
