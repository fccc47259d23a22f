"""How the video VAE's grid relates to pixels: 4k + 1 frames -> k + 1 latent frames (the first frame
alone, then groups of four, as the causal encoder sees them), f x f pixels -> one latent cell, with f the
VAE's spatial factor (`vae_spatial_factor`; 8 for Wan2.1's layout and the shipped VAE, the default)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError

VAE_TEMPORAL_FACTOR = 4
VAE_SPATIAL_FACTOR = 8
"""Wan2.1's factors (and the shipped VAE's): the defaults wherever a factor is not read from a VAE."""


def vae_spatial_factor(vae_or_config: Any) -> int:
    """Pixels per latent cell along each side, f, of a video VAE.

    Args:
        vae_or_config: a VAE (anything with `.config`), its config (diffusers `FrozenDict` or any object with
            attributes) or a plain `dict` (e.g. a cache's `vae_identity(...)["config"]`).

    Returns:
        `int`: for `AutoencoderKLWan` `2 ** len(temperal_downsample)` (one spatial halving per down block;
        times `patch_size` when the config patchifies pixels first, as Wan2.2's VAE does); for VAEs with
        `block_out_channels` (CogVideoX, `AutoencoderKL`) `2 ** (len(block_out_channels) - 1)`.

    Raises:
        `InvalidInputError`: the config has neither field.
    """
    config = getattr(vae_or_config, "config", vae_or_config)

    def get(name: str) -> Any:
        return config.get(name) if isinstance(config, Mapping) else getattr(config, name, None)

    if get("temperal_downsample") is not None:
        factor = 2 ** len(get("temperal_downsample"))
        return int(factor * (get("patch_size") or 1))
    if get("block_out_channels") is not None:
        return int(2 ** (len(get("block_out_channels")) - 1))
    raise InvalidInputError(
        f"cannot tell the spatial factor of {type(vae_or_config).__name__}: its config has neither "
        "`temperal_downsample` (AutoencoderKLWan) nor `block_out_channels`"
    )


def _check_factor(spatial_factor: int) -> int:
    if isinstance(spatial_factor, bool) or not isinstance(spatial_factor, int) or spatial_factor < 1:
        raise InvalidInputError(f"`spatial_factor` must be a positive integer, got {spatial_factor!r}.")
    return spatial_factor


def latent_shape(
    num_frames: int, height: int, width: int, spatial_factor: int = VAE_SPATIAL_FACTOR
) -> tuple[int, int, int]:
    """`(T', H', W')` of the latents of a `(T, H, W)` video: `(1 + (T - 1) // 4, H // f, W // f)`, f =
    `spatial_factor` (the VAE's, `vae_spatial_factor`; defaults to 8)."""
    spatial_factor = _check_factor(spatial_factor)
    return (
        1 + (num_frames - 1) // VAE_TEMPORAL_FACTOR,
        height // spatial_factor,
        width // spatial_factor,
    )


def check_video_geometry(num_frames: int, height: int, width: int, multiple: int = 16, name: str = "video") -> None:
    """Raise `InvalidInputError` unless `num_frames` is 4k + 1 and `height`, `width` are multiples of `multiple`
    (16 = the VAE's 8 x the DiT's 2 x 2 patch, or a 4x VAE x a 4 x 4 patch)."""
    if num_frames < 1 or (num_frames - 1) % VAE_TEMPORAL_FACTOR:
        raise InvalidInputError(f"`{name}` must have 4k + 1 frames (1, 5, 9, 13, 17, ...), got {num_frames}.")
    if height < multiple or width < multiple or height % multiple or width % multiple:
        raise InvalidInputError(
            f"`{name}` height and width must be positive multiples of {multiple}, got {height} x {width}."
        )


def pool_to_latent_grid(x: torch.Tensor, spatial_factor: int = VAE_SPATIAL_FACTOR) -> torch.Tensor:
    """Area mean of a pixel-grid signal over the VAE's cells.

    Latent frame 0 is pixel frame 0; latent frame i >= 1 averages pixel frames 4i - 3 .. 4i; spatially each
    latent cell averages its f x f pixels (f = `spatial_factor`). Used for masks (MoSA's mask loss) and any
    per-pixel target.

    Args:
        x (`torch.Tensor` of shape `(B, C, T, H, W)`): T = 4k + 1, H and W multiples of f.
        spatial_factor (`int`, defaults to 8): f, the VAE's spatial factor (`vae_spatial_factor`).

    Returns:
        `torch.Tensor` of shape `(B, C, k + 1, H / f, W / f)`, the dtype of `x` (float).
    """
    spatial_factor = _check_factor(spatial_factor)
    if x.ndim != 5:
        raise InvalidInputError(f"expected a (B, C, T, H, W) tensor, got shape {tuple(x.shape)}.")
    _, _, num_frames, height, width = x.shape
    check_video_geometry(num_frames, height, width, multiple=spatial_factor, name="x")
    x = x.float() if not x.is_floating_point() else x
    first = F.avg_pool3d(x[:, :, :1], kernel_size=(1, spatial_factor, spatial_factor))
    if num_frames == 1:
        return first
    rest = F.avg_pool3d(x[:, :, 1:], kernel_size=(VAE_TEMPORAL_FACTOR, spatial_factor, spatial_factor))
    return torch.cat([first, rest], dim=2)
