"""The video VAE: diffusers' `AutoencoderKLWan` (Wan2.1's latent layout: 16 channels, 4x time, 8x space;
`vae_spatial_factor` reads the spatial factor of any config, e.g. 4 for a VAE with two down blocks),
the small one kinevid trains and ships, and the helpers every model uses around it (including
`use_onednn_conv3d`: its 3D convolutions on oneDNN on the CPU, 3-4x faster than PyTorch's choice there).

Latents are normalised exactly as Wan's pipelines do, with the VAE config's per-channel
`latents_mean` / `latents_std`: `z_norm = (mu - mean) / std`. The shipped VAE stores the statistics of
its own training set there, so the same code serves it and Wan2.1's VAE.
"""

from .fast_conv3d import use_onednn_conv3d, use_pytorch_conv3d, uses_onednn_conv3d
from .geometry import (
    VAE_SPATIAL_FACTOR,
    VAE_TEMPORAL_FACTOR,
    check_video_geometry,
    latent_shape,
    pool_to_latent_grid,
    vae_spatial_factor,
)
from .video_vae import (
    SHIPPED_VAE_DIR,
    decode_latents,
    denormalize_latents,
    encode_video,
    load_video_vae,
    normalize_latents,
    tiny_vae_config,
    vae_identity,
)

__all__ = [
    "SHIPPED_VAE_DIR",
    "VAE_SPATIAL_FACTOR",
    "VAE_TEMPORAL_FACTOR",
    "check_video_geometry",
    "decode_latents",
    "denormalize_latents",
    "encode_video",
    "latent_shape",
    "load_video_vae",
    "normalize_latents",
    "pool_to_latent_grid",
    "tiny_vae_config",
    "use_onednn_conv3d",
    "use_pytorch_conv3d",
    "uses_onednn_conv3d",
    "vae_identity",
    "vae_spatial_factor",
]
