"""Flow matching (noise levels, shift, targets, losses), guidance, and EchoMotion's training recipe."""

from .flow_matching import (
    NUM_TRAIN_TIMESTEPS,
    add_noise,
    masked_mean,
    per_sample_mse,
    sample_sigmas,
    shift_sigmas,
    sigmas_to_timesteps,
    velocity_target,
)
from .guidance import classifier_free_guidance, motion_to_video_guidance

__all__ = [
    "NUM_TRAIN_TIMESTEPS",
    "add_noise",
    "classifier_free_guidance",
    "masked_mean",
    "motion_to_video_guidance",
    "per_sample_mse",
    "sample_sigmas",
    "shift_sigmas",
    "sigmas_to_timesteps",
    "velocity_target",
]
