"""The training loop on accelerate (`Trainer`, `TrainConfig`) and task recipes."""

from .engine import TrainConfig, Trainer, TrainingDivergedError

__all__ = ["TrainConfig", "Trainer", "TrainingDivergedError"]
