"""Tiny EchoMotion / Wan configurations and seeded inputs shared by the EchoMotion tests."""

from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel

from kinevid.models.appearance import EchoMotionTransformer3DModel
from kinevid.motion.codecs.echomotion import MOTION_FEATURE_DIM

TINY_WAN_CONFIG = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 16,
    "freq_dim": 32,
    "ffn_dim": 32,
    "num_layers": 2,
    "cross_attn_norm": True,
    "rope_max_seq_len": 32,
}


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


@pytest.fixture(autouse=True, scope="module")
def single_threaded():
    """Tiny models run fastest on one thread; on a loaded machine two threads contend (40x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
