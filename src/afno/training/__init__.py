"""Training utilities: a deterministic train/evaluate/predict loop and weights-only checkpoints."""

from afno.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from afno.training.data import TensorPairs, TrainingData
from afno.training.loop import EpochRecord, History, evaluate, fit, predict
from afno.training.objectives import LOSS_NAMES, LossName

__all__ = [
    "LOSS_NAMES",
    "Checkpoint",
    "CheckpointError",
    "CheckpointMismatchError",
    "EpochRecord",
    "History",
    "LossName",
    "TensorPairs",
    "TrainingData",
    "evaluate",
    "fit",
    "load_checkpoint",
    "predict",
    "read_checkpoint",
    "save_checkpoint",
]
