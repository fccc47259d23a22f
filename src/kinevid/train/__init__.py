"""The training loop on accelerate (`Trainer`, `TrainConfig`); the recipes using it live in `kinevid.recipes`."""

from .engine import TrainConfig, Trainer, TrainingDivergedError

__all__ = ["TrainConfig", "Trainer", "TrainingDivergedError"]
