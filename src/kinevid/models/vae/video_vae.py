"""Loading, encoding and decoding with an `AutoencoderKLWan`, and latent normalisation (Wan's rule)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from diffusers import AutoencoderKLWan

from ...errors import InvalidInputError, MissingWeightsError
from ...utils.weights import load_pretrained
from .fast_conv3d import use_onednn_conv3d

SHIPPED_VAE_DIR = Path(__file__).resolve().parents[2] / "assets" / "vae"
_WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors")


def tiny_vae_config() -> dict:
    """Config of a tiny `AutoencoderKLWan` (about 0.3M parameters) with Wan's latent layout, for tests."""
    return {
        "base_dim": 8,
        "z_dim": 16,
        "dim_mult": [1, 2, 2, 2],
        "num_res_blocks": 1,
        "attn_scales": [],
        "temperal_downsample": [False, True, True],
        "dropout": 0.0,
    }


def load_video_vae(path: str | os.PathLike[str] | None = None, dtype: torch.dtype = torch.float32) -> AutoencoderKLWan:
    """An `AutoencoderKLWan` in eval mode, its 3D convolutions on oneDNN on the CPU (`use_onednn_conv3d`).

    Args:
        path (`str` or `Path`, *optional*): a diffusers `AutoencoderKLWan` directory (`config.json` +
            safetensors weights), or a pipeline directory with a `vae/` subfolder (Wan2.1's layout).
            Defaults to the VAE shipped with kinevid.
        dtype (`torch.dtype`, defaults to float32).
    """
    root = Path(path) if path is not None else SHIPPED_VAE_DIR
    if (root / "vae" / "config.json").is_file():
        root = root / "vae"
    if not (root / "config.json").is_file() or not any((root / name).is_file() for name in _WEIGHT_FILES):
        hint = "" if path is not None else " (the shipped VAE is missing from this install)"
        raise MissingWeightsError(
            f"{root}: expected an AutoencoderKLWan directory with config.json and {_WEIGHT_FILES[0]}{hint}."
        )
    vae = load_pretrained(AutoencoderKLWan, root, what="AutoencoderKLWan", torch_dtype=dtype).eval()
    use_onednn_conv3d(vae)
    return vae


def _statistics(latents: torch.Tensor, config) -> tuple[torch.Tensor, torch.Tensor]:
    z_dim = int(config.z_dim)
    if latents.ndim != 5 or latents.shape[1] != z_dim:
        raise InvalidInputError(f"`latents` must have shape (B, {z_dim}, T', H', W'), got {tuple(latents.shape)}.")
    shape = (1, z_dim, 1, 1, 1)
    mean = torch.tensor(config.latents_mean, dtype=latents.dtype, device=latents.device).view(shape)
    std = torch.tensor(config.latents_std, dtype=latents.dtype, device=latents.device).view(shape)
    return mean, std


def normalize_latents(latents: torch.Tensor, vae_config) -> torch.Tensor:
    """`(z - latents_mean) / latents_std` per channel, as Wan's pipelines normalise VAE latents.

    Args:
        latents (`torch.Tensor` of shape `(B, 16, T', H', W')`): posterior means.
        vae_config: the VAE's config (`vae.config`), holding `z_dim`, `latents_mean`, `latents_std`.
    """
    mean, std = _statistics(latents, vae_config)
    return (latents - mean) / std


def denormalize_latents(latents: torch.Tensor, vae_config) -> torch.Tensor:
    """Inverse of `normalize_latents`."""
    mean, std = _statistics(latents, vae_config)
    return latents * std + mean


def _check_video(video: torch.Tensor, in_channels: int) -> None:
    if not isinstance(video, torch.Tensor) or video.ndim != 5 or video.shape[1] != in_channels:
        shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
        raise InvalidInputError(f"`video` must be a (B, {in_channels}, T, H, W) tensor in [-1, 1], got {shape}.")


def encode_video(
    vae: AutoencoderKLWan, video: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Normalised latents of a video.

    Args:
        vae (`AutoencoderKLWan`).
        video (`torch.Tensor` of shape `(B, 3, T, H, W)`): values in [-1, 1], T = 4k + 1.
        sample (`bool`, defaults to False): draw from the posterior instead of taking its mode.

    Returns:
        `torch.Tensor` of shape `(B, 16, k + 1, H / f, W / f)` (f = `vae_spatial_factor(vae)`), in the VAE's dtype.
    """
    _check_video(video, int(vae.config.in_channels))
    posterior = vae.encode(video.to(vae.dtype)).latent_dist
    latents = posterior.sample(generator) if sample else posterior.mode()
    return normalize_latents(latents, vae.config)


def decode_latents(vae: AutoencoderKLWan, latents: torch.Tensor) -> torch.Tensor:
    """Video `(B, 3, T, H, W)` in [-1, 1] from normalised latents `(B, 16, T', H', W')`."""
    latents = denormalize_latents(latents.to(vae.dtype), vae.config)
    return vae.decode(latents).sample.clamp(-1.0, 1.0)


def vae_identity(vae: AutoencoderKLWan) -> dict:
    """What identifies a VAE for caches: its class, config (JSON) and a SHA-256 of its weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(vae.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    config = {key: value for key, value in dict(vae.config).items() if not key.startswith("_")}
    return {"class": type(vae).__name__, "config": json.loads(json.dumps(config)), "weights_sha256": digest.hexdigest()}
