"""Tiny EchoMotion / Wan configurations and seeded inputs shared by the EchoMotion tests."""

from __future__ import annotations

import torch
from diffusers import WanTransformer3DModel

from kinevid.models.appearance import EchoMotionTransformer3DModel
from kinevid.motion.codecs.echomotion import MOTION_FEATURE_DIM
from tiny_models import TINY_WAN_CONFIG, single_threaded  # noqa: F401 - autouse fixture, re-exported


def tiny_wan(seed: int = 0) -> WanTransformer3DModel:
    torch.manual_seed(seed)
    return WanTransformer3DModel(**TINY_WAN_CONFIG).eval()


def tiny_echomotion(seed: int = 0, **overrides) -> EchoMotionTransformer3DModel:
    torch.manual_seed(seed)
    return EchoMotionTransformer3DModel(**{**TINY_WAN_CONFIG, **overrides}).eval()


def dummy_inputs(batch_size: int = 2, latent_frames: int = 2, height: int = 4, width: int = 6, seed: int = 0) -> dict:
    """Video latents `(B, 4, F, H, W)`, motion `(B, 4 (F - 1) + 1, 235)`, text `(B, 5, 16)`, timesteps."""
    generator = torch.Generator().manual_seed(seed)
    motion_frames = 4 * (latent_frames - 1) + 1
    return {
        "hidden_states": torch.randn(batch_size, 4, latent_frames, height, width, generator=generator),
        "timestep": torch.rand(batch_size, generator=generator) * 1000,
        "encoder_hidden_states": torch.randn(batch_size, 5, 16, generator=generator),
        "motion_hidden_states": torch.randn(batch_size, motion_frames, MOTION_FEATURE_DIM, generator=generator),
        "motion_timestep": torch.rand(batch_size, generator=generator) * 1000,
    }
