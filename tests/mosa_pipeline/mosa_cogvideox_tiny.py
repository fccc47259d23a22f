"""Tiny CogVideoX components for the `MoSACogVideoXPipeline` tests (CPU, seconds): a two-block CogVideoX DiT,
a tiny T5 with its tokenizer, a tiny `AutoencoderKLCogVideoX`, CogVideoX-2b's scheduler config, and a tiny
directory laid out like THUDM/CogVideoX-2b with MoSA weights for its transformer."""

from __future__ import annotations

import torch
from diffusers import (
    AutoencoderKLCogVideoX,
    CogVideoXDDIMScheduler,
    CogVideoXDPMScheduler,
    CogVideoXPipeline,
    CogVideoXTransformer3DModel,
)
from mosa_pipeline_tiny import _tokenizer, shipped_structure, single_threaded  # noqa: F401 - fixture re-exported
from transformers import T5Config, T5EncoderModel

from kinevid.models.appearance import MoSACogVideoXTransformer3DModel
from kinevid.pipelines import MoSACogVideoXPipeline

HEIGHT = WIDTH = 32
NUM_FRAMES = 9  # 3 latent frames: CogVideoX's VAE needs an odd count
FPS = 8.0
T5_DIM = 16

TINY_COGVIDEOX = {
    "num_attention_heads": 2,
    "attention_head_dim": 16,  # CogVideoX's 3D RoPE splits a head into 4 + 6 + 6 (t, h, w) dims
    "in_channels": 4,
    "out_channels": 4,
    "time_embed_dim": 8,
    "text_embed_dim": T5_DIM,
    "num_layers": 2,
    "sample_width": WIDTH // 8,
    "sample_height": HEIGHT // 8,
    "sample_frames": NUM_FRAMES,
    "patch_size": 2,
    "temporal_compression_ratio": 4,
    "max_text_seq_length": 8,
}
"""CogVideoX-2b's structure (sincos positions, 1.0 patch) at tiny size."""

VARIANTS = {
    "2b": {},
    "5b": {"use_rotary_positional_embeddings": True},  # CogVideoX 1.0 with 3D RoPE (cropped grid)
    "1.5": {"use_rotary_positional_embeddings": True, "patch_size_t": 2, "patch_bias": False},  # sliced RoPE
}
"""Tiny versions of the CogVideoX generations' positional schemes."""

TINY_MOSA = {"skeleton_encoder_dims": [4, 8, 8]}

# CogVideoX-2b's scheduler/scheduler_config.json
SCHEDULER_CONFIG = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "clip_sample": False,
    "num_train_timesteps": 1000, "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
    "set_alpha_to_one": True, "snr_shift_scale": 3.0, "steps_offset": 0, "timestep_spacing": "trailing",
}  # fmt: skip


def scheduler(kind: str = "ddim") -> CogVideoXDDIMScheduler | CogVideoXDPMScheduler:
    return (CogVideoXDDIMScheduler if kind == "ddim" else CogVideoXDPMScheduler)(**SCHEDULER_CONFIG)


def tiny_backbone(variant: str = "2b", seed: int = 0) -> CogVideoXTransformer3DModel:
    torch.manual_seed(seed)
    return CogVideoXTransformer3DModel(**TINY_COGVIDEOX, **VARIANTS[variant]).eval()


def tiny_mosa(variant: str = "2b", seed: int = 0, randomize_mosa: bool = True) -> MoSACogVideoXTransformer3DModel:
    """The tiny backbone's weights in a MoSA model; `randomize_mosa` replaces the zero-initialised MoSA weights
    by random ones, so the skeleton changes the output (a fresh model ignores it by design)."""
    model = MoSACogVideoXTransformer3DModel(**TINY_COGVIDEOX, **VARIANTS[variant], **TINY_MOSA)
    missing, unexpected = model.load_state_dict(tiny_backbone(variant, seed).state_dict(), strict=False)
    assert not unexpected and set(missing) == {name for name, _ in model.named_parameters()} - set(
        tiny_backbone(variant, seed).state_dict()
    )
    if randomize_mosa:
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for parameter in model.mosa_parameters():
                parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def tiny_t5(seed: int = 0):
    """`(tokenizer, T5EncoderModel)` of width `T5_DIM`."""
    tokenizer = _tokenizer()
    torch.manual_seed(seed)
    t5 = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer), d_model=T5_DIM, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
        relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
    ))  # fmt: skip
    return tokenizer, t5.eval()


def tiny_vae(seed: int = 0) -> AutoencoderKLCogVideoX:
    torch.manual_seed(seed)
    return AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
    ).eval()  # fmt: skip


def tiny_pipeline(
    variant: str = "2b", structure: bool = True, randomize_mosa: bool = True, scheduler_kind: str = "ddim"
) -> MoSACogVideoXPipeline:
    tokenizer, t5 = tiny_t5()
    pipeline = MoSACogVideoXPipeline(
        tokenizer, t5, tiny_vae(), tiny_mosa(variant, randomize_mosa=randomize_mosa), scheduler(scheduler_kind),
        structure=shipped_structure() if structure else None,
    )  # fmt: skip
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_tiny_cogvideox_with_mosa_weights(root):
    """A tiny `CogVideoXPipeline` directory laid out like THUDM/CogVideoX-2b (saved by diffusers), and MoSA
    weights (non-zero, as if trained) for its transformer: `(cogvideox_dir, weights_dir, components)`, the
    components of a `MoSACogVideoXPipeline` equal to what the two hold (the tokenizer's training is not
    bit-reproducible across runs, so tests reuse these objects instead of building new ones)."""
    tokenizer, t5 = tiny_t5()
    vae = tiny_vae()
    cogvideox = CogVideoXPipeline(
        tokenizer=tokenizer, text_encoder=t5, vae=vae, transformer=tiny_backbone(), scheduler=scheduler()
    )
    cogvideox_dir = root / "CogVideoX-tiny"
    cogvideox.save_pretrained(cogvideox_dir)
    mosa = MoSACogVideoXTransformer3DModel.from_pretrained(cogvideox_dir / "transformer", **TINY_MOSA)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in mosa.mosa_parameters():
            parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    mosa.save_mosa_weights(root / "mosa_weights")
    components = {"tokenizer": tokenizer, "text_encoder": t5, "vae": vae, "transformer": mosa.eval()}
    return cogvideox_dir, root / "mosa_weights", components
