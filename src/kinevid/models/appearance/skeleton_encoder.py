"""MoSA's skeleton encoder: a skeleton-map video -> one feature vector per DiT video token.

A light Conv3d patch encoder (as UniAnimate-DiT feeds poses to Wan) with the video VAE's grid: time is
grouped causally like the VAE's encoder (pixel frame 0 alone, then frames 4i - 3 .. 4i for latent frame
i), space by f x f pixels per latent cell (f = the VAE's spatial factor, 8 by default), then the DiT's own
patch `(p_t, p_h, p_w)` per token. Tokens
come out in the DiT's order (frame, row, column; column fastest), so token `l` of the skeleton sits on
video token `l`. Why not the video VAE's encoder: see `benchmarks/bench_mosa.py` and the README (it costs
about as much as the whole DiT forward at Wan2.1 size and is trained on RGB, not on skeleton maps).

This module is the trunk shared by every HADC site; each site projects the tokens to the DiT width
with its own zero-initialised projection (`HADC.skeleton_proj`), the encoder's last projection.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InvalidInputError
from ..vae import VAE_SPATIAL_FACTOR, VAE_TEMPORAL_FACTOR


class SkeletonEncoder(nn.Module):
    r"""Skeleton maps `(B, C, T, H, W)` in [-1, 1] -> skeleton tokens `(B, L, out_dim)` on the DiT's token grid.

    Layers: `conv_in` Conv3d, kernel = stride = (4, f / 2, f / 2) (after repeating frame 0 three times in
    front, so frame 0 forms its own group, like the VAE's causal encoder) -> SiLU -> `conv_down` Conv3d
    (1, 3, 3), stride (1, 2, 2) (now on the latent grid: 4x time, f x space) -> SiLU -> `conv_patch` Conv3d,
    kernel = stride = the DiT's patch size -> tokens. The output is linear (no activation): each HADC site
    maps it through its own projections.

    Args:
        in_channels (`int`, defaults to 3): channels of the skeleton maps (RGB limb colours).
        hidden_dims (`Sequence[int]` of length 3, defaults to `(32, 64, 128)`): output channels of `conv_in`,
            `conv_down` and `conv_patch` (the last is the token width `out_dim`).
        patch_size (`tuple[int, int, int]`, defaults to `(1, 2, 2)`): the DiT's patch `(p_t, p_h, p_w)` on the
            latent grid.
        spatial_factor (`int`, defaults to 8): f, pixels per latent cell along each side (the video VAE's,
            `kinevid.models.vae.vae_spatial_factor`); a power of two >= 4.
    """

    def __init__(
        self,
        in_channels: int = 3,
        hidden_dims: Sequence[int] = (32, 64, 128),
        patch_size: Sequence[int] = (1, 2, 2),
        spatial_factor: int = VAE_SPATIAL_FACTOR,
    ) -> None:
        super().__init__()
        if len(hidden_dims) != 3:
            raise ValueError(f"`hidden_dims` must have 3 entries (conv_in, conv_down, tokens); got {list(hidden_dims)}")
        if len(patch_size) != 3:
            raise ValueError(f"`patch_size` must be (p_t, p_h, p_w); got {list(patch_size)}")
        factor_ok = isinstance(spatial_factor, int) and not isinstance(spatial_factor, bool) and spatial_factor >= 4
        if not factor_ok or spatial_factor & (spatial_factor - 1):
            raise ValueError(
                "`spatial_factor` must be a power of two >= 4 (the VAE's pixels per latent cell); "
                f"got {spatial_factor!r}"
            )
        self.in_channels = in_channels
        self.patch_size = tuple(int(p) for p in patch_size)
        self.out_dim = int(hidden_dims[-1])
        self.spatial_factor = spatial_factor
        first_stride = (VAE_TEMPORAL_FACTOR, spatial_factor // 2, spatial_factor // 2)
        self.conv_in = nn.Conv3d(in_channels, hidden_dims[0], kernel_size=first_stride, stride=first_stride)
        self.conv_down = nn.Conv3d(
            hidden_dims[0], hidden_dims[1], kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)
        )
        self.conv_patch = nn.Conv3d(hidden_dims[1], hidden_dims[2], kernel_size=patch_size, stride=patch_size)
        self.act = nn.SiLU()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """PyTorch's default initialisation of every layer (used when a checkpoint lacks the encoder)."""
        for layer in (self.conv_in, self.conv_down, self.conv_patch):
            layer.reset_parameters()

    def token_grid(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Token grid `(F_tok, H_tok, W_tok)` of a `(T, H, W)` skeleton video."""
        p_t, p_h, p_w = self.patch_size
        latent_frames = 1 + (num_frames - 1) // VAE_TEMPORAL_FACTOR
        return (
            latent_frames // p_t,
            height // (self.spatial_factor * p_h),
            width // (self.spatial_factor * p_w),
        )

    def check_input(self, skeleton_video: torch.Tensor) -> None:
        """Raise `InvalidInputError` unless `skeleton_video` is `(B, C, 4k + 1, H, W)` with H, W on the token grid."""
        if not isinstance(skeleton_video, torch.Tensor) or skeleton_video.ndim != 5:
            shape = tuple(skeleton_video.shape) if isinstance(skeleton_video, torch.Tensor) else type(skeleton_video)
            raise InvalidInputError(f"`skeleton_video` must be a (B, {self.in_channels}, T, H, W) tensor; got {shape}")
        _, channels, num_frames, height, width = skeleton_video.shape
        p_t, p_h, p_w = self.patch_size
        multiple_h, multiple_w = self.spatial_factor * p_h, self.spatial_factor * p_w
        latent_frames = 1 + (num_frames - 1) // VAE_TEMPORAL_FACTOR
        if (
            channels != self.in_channels
            or (num_frames - 1) % VAE_TEMPORAL_FACTOR
            or latent_frames % p_t
            or height % multiple_h
            or width % multiple_w
            or min(height, width) == 0
        ):
            raise InvalidInputError(
                f"`skeleton_video` must have shape (B, {self.in_channels}, 4k + 1, H, W) with k + 1 divisible by "
                f"{p_t}, H a multiple of {multiple_h} and W a multiple of {multiple_w}; "
                f"got {tuple(skeleton_video.shape)}"
            )
        if not skeleton_video.is_floating_point():
            raise InvalidInputError(f"`skeleton_video` must be a float tensor in [-1, 1]; got {skeleton_video.dtype}")

    def forward(self, skeleton_video: torch.Tensor) -> torch.Tensor:
        """
        Args:
            skeleton_video (`torch.Tensor` of shape `(B, C, T, H, W)`): skeleton maps in [-1, 1], T = 4k + 1,
                H and W multiples of f * patch.

        Returns:
            `torch.Tensor` of shape `(B, F_tok * H_tok * W_tok, out_dim)`: one token per DiT video token, in the
            DiT's order (`token_grid` gives the grid).
        """
        self.check_input(skeleton_video)
        dtype = self.conv_in.weight.dtype
        # Causal time grouping: three copies of frame 0 in front make frame 0 a group of its own.
        video = F.pad(skeleton_video.to(dtype), (0, 0, 0, 0, VAE_TEMPORAL_FACTOR - 1, 0), mode="replicate")
        features = self.act(self.conv_in(video))  # (B, h0, k + 1, 2H / f, 2W / f)
        features = self.act(self.conv_down(features))  # (B, h1, k + 1, H / f, W / f): the latent grid
        tokens = self.conv_patch(features)  # (B, out_dim, F_tok, H_tok, W_tok)
        return tokens.flatten(2).transpose(1, 2)  # (B, L, out_dim)
