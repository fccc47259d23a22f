"""How the video VAE's grid relates to pixels: 4k + 1 frames -> k + 1 latent frames (the first frame
alone, then groups of four, as the causal encoder sees them), 8 x 8 pixels -> one latent cell."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError

VAE_TEMPORAL_FACTOR = 4
VAE_SPATIAL_FACTOR = 8


def latent_shape(num_frames: int, height: int, width: int) -> tuple[int, int, int]:
    """`(T', H', W')` of the latents of a `(T, H, W)` video: `(1 + (T - 1) // 4, H // 8, W // 8)`."""
    return (
        1 + (num_frames - 1) // VAE_TEMPORAL_FACTOR,
        height // VAE_SPATIAL_FACTOR,
        width // VAE_SPATIAL_FACTOR,
    )


def check_video_geometry(num_frames: int, height: int, width: int, multiple: int = 16, name: str = "video") -> None:
    """Raise `InvalidInputError` unless `num_frames` is 4k + 1 and `height`, `width` are multiples of `multiple`
    (16 = the VAE's 8 x the DiT's 2 x 2 patch)."""
    if num_frames < 1 or (num_frames - 1) % VAE_TEMPORAL_FACTOR:
        raise InvalidInputError(f"`{name}` must have 4k + 1 frames (1, 5, 9, 13, 17, ...), got {num_frames}.")
    if height < multiple or width < multiple or height % multiple or width % multiple:
        raise InvalidInputError(
            f"`{name}` height and width must be positive multiples of {multiple}, got {height} x {width}."
        )


def pool_to_latent_grid(x: torch.Tensor) -> torch.Tensor:
    """Area mean of a pixel-grid signal over the VAE's cells.

    Latent frame 0 is pixel frame 0; latent frame i >= 1 averages pixel frames 4i - 3 .. 4i; spatially each
    latent cell averages its 8 x 8 pixels. Used for masks (MoSA's mask loss) and any per-pixel target.

    Args:
        x (`torch.Tensor` of shape `(B, C, T, H, W)`): T = 4k + 1, H and W multiples of 8.

    Returns:
        `torch.Tensor` of shape `(B, C, k + 1, H / 8, W / 8)`, the dtype of `x` (float).
    """
    if x.ndim != 5:
        raise InvalidInputError(f"expected a (B, C, T, H, W) tensor, got shape {tuple(x.shape)}.")
    _, _, num_frames, height, width = x.shape
    check_video_geometry(num_frames, height, width, multiple=VAE_SPATIAL_FACTOR, name="x")
    x = x.float() if not x.is_floating_point() else x
    first = F.avg_pool3d(x[:, :, :1], kernel_size=(1, VAE_SPATIAL_FACTOR, VAE_SPATIAL_FACTOR))
    if num_frames == 1:
        return first
    rest = F.avg_pool3d(x[:, :, 1:], kernel_size=(VAE_TEMPORAL_FACTOR, VAE_SPATIAL_FACTOR, VAE_SPATIAL_FACTOR))
    return torch.cat([first, rest], dim=2)
