"""Tiny Wan / CogVideoX / MoSA configurations and seeded inputs shared by the MoSA model tests."""

from __future__ import annotations

import torch
from diffusers import CogVideoXTransformer3DModel, WanTransformer3DModel

from kinevid.models.appearance import MoSACogVideoXTransformer3DModel, MoSAWanTransformer3DModel, is_mosa_parameter
from tiny_models import single_threaded, tiny_wan_config  # noqa: F401 - autouse fixture, re-exported

TINY_WAN_CONFIG = tiny_wan_config(num_layers=3)

TINY_COGVIDEOX_CONFIG = {
    "num_attention_heads": 2,
    "attention_head_dim": 8,
    "in_channels": 4,
    "out_channels": 4,
    "time_embed_dim": 8,
    "text_embed_dim": 12,
    "num_layers": 3,
    "sample_width": 8,
    "sample_height": 8,
    "sample_frames": 9,
    "patch_size": 2,
    "temporal_compression_ratio": 4,
    "max_text_seq_length": 6,
}

TINY_MOSA = {"skeleton_encoder_dims": (4, 8, 8)}


def tiny_wan(seed: int = 0) -> WanTransformer3DModel:
    torch.manual_seed(seed)
    return WanTransformer3DModel(**TINY_WAN_CONFIG).eval()


def tiny_mosa_wan(seed: int = 0, **overrides) -> MoSAWanTransformer3DModel:
    torch.manual_seed(seed)
    return MoSAWanTransformer3DModel(**{**TINY_WAN_CONFIG, **TINY_MOSA, **overrides}).eval()


def tiny_cogvideox(seed: int = 0) -> CogVideoXTransformer3DModel:
    torch.manual_seed(seed)
    return CogVideoXTransformer3DModel(**TINY_COGVIDEOX_CONFIG).eval()


def tiny_mosa_cogvideox(seed: int = 0, **overrides) -> MoSACogVideoXTransformer3DModel:
    torch.manual_seed(seed)
    return MoSACogVideoXTransformer3DModel(**{**TINY_COGVIDEOX_CONFIG, **TINY_MOSA, **overrides}).eval()


def wan_inputs(batch_size: int = 2, latent_frames: int = 2, height: int = 4, width: int = 6, seed: int = 0) -> dict:
    """Wan latents `(B, 4, F, H, W)`, text `(B, 5, 16)`, timesteps `(B,)`, skeleton `(B, 3, 4(F-1)+1, 8H, 8W)`."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "hidden_states": torch.randn(batch_size, 4, latent_frames, height, width, generator=generator),
        "timestep": torch.rand(batch_size, generator=generator) * 1000,
        "encoder_hidden_states": torch.randn(batch_size, 5, 16, generator=generator),
        "skeleton_video": skeleton_video(batch_size, latent_frames, height, width, generator),
    }


def cogvideox_inputs(batch_size: int = 2, latent_frames: int = 2, height: int = 4, width: int = 4, seed: int = 0):
    """CogVideoX latents `(B, F, 4, H, W)`, text `(B, 6, 12)`, integer timesteps, skeleton video."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "hidden_states": torch.randn(batch_size, latent_frames, 4, height, width, generator=generator),
        "encoder_hidden_states": torch.randn(batch_size, 6, 12, generator=generator),
        "timestep": torch.randint(0, 1000, (batch_size,), generator=generator),
        "skeleton_video": skeleton_video(batch_size, latent_frames, height, width, generator),
    }


def skeleton_video(
    batch_size: int, latent_frames: int, height: int, width: int, generator: torch.Generator
) -> torch.Tensor:
    """Random skeleton-like maps in [-1, 1]: `(B, 3, 4(F - 1) + 1, 8H, 8W)`."""
    shape = (batch_size, 3, 4 * (latent_frames - 1) + 1, 8 * height, 8 * width)
    return torch.rand(shape, generator=generator) * 2 - 1


def backbone_kwargs(inputs: dict) -> dict:
    return {key: value for key, value in inputs.items() if key != "skeleton_video"}


def assert_backbone_loaded_and_mosa_initialised(backbone, model, info: dict) -> None:
    """Every backbone weight equal to the checkpoint's; every MoSA weight reported new and freshly initialised."""
    backbone_state, state = backbone.state_dict(), model.state_dict()
    for name, value in backbone_state.items():
        assert torch.equal(state[name], value), name
    mosa_names = {name for name in state if is_mosa_parameter(name)}
    assert set(info["missing_keys"]) == mosa_names and not info["unexpected_keys"]
    assert mosa_names == set(state) - set(backbone_state)
    for name in mosa_names:
        assert not state[name].is_meta and torch.isfinite(state[name]).all(), name
        if ".skeleton_proj." in name:
            assert torch.count_nonzero(state[name]) == 0, name
        elif name.endswith("weight"):
            fan_in = state[name][0].numel()
            bound = 1 / fan_in**0.5  # PyTorch's default init: |w| <= 1 / sqrt(fan_in)
            assert state[name].abs().max() <= bound + 1e-6 and state[name].std() > bound / 4, name
