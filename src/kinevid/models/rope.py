"""3D rotary position embeddings shared by kinevid's Wan-based DiTs, including EchoMotion's MVS-RoPE.

Wan2.1 rotates each attention head by three 1D RoPEs on the (t, h, w) position of a token: the head
dimension splits into `h_dim = w_dim = 2 * (head_dim // 6)` and `t_dim = head_dim - h_dim - w_dim`,
and adjacent channel pairs `(2k, 2k + 1)` rotate by `position * theta ** (-2k / dim)`. diffusers
precomputes this table for integer positions (`WanRotaryPosEmbed`); the functions here evaluate it at
arbitrary, possibly fractional, positions with `diffusers.models.embeddings.get_1d_rotary_pos_embed`,
so both modalities of EchoMotion share one coordinate system.

MVS-RoPE (EchoMotion): video token (t, h, w) keeps Wan's position; motion token `j` of motion frame
`f` sits at `(f / r, H + j, W + j)`, with `r` the VAE's temporal compression and `(H, W)` the patch
grid. Motion frames therefore line up with the latent frame they fall in, and the diagonal spatial
offset keeps motion positions off the video grid.

EchoMotion's ablation of MVS-RoPE (`colliding_motion_positions`): motion token `j` of frame `f` at
`(f, j, j)`, plain RoPE indices with neither the temporal scaling nor the spatial offset, so motion
tokens sit on the video grid's diagonal and out of step with the latent frames.
"""

from __future__ import annotations

import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed


def rope_axis_dims(attention_head_dim: int) -> tuple[int, int, int]:
    """Wan's split of a head's channels into the (t, h, w) axes.

    Args:
        attention_head_dim (`int`): channels per attention head (even).

    Returns:
        `tuple[int, int, int]`: `(t_dim, h_dim, w_dim)`, e.g. `(44, 42, 42)` for 128.
    """
    h_dim = w_dim = 2 * (attention_head_dim // 6)
    t_dim = attention_head_dim - h_dim - w_dim
    return t_dim, h_dim, w_dim


def rotary_embedding_3d(
    positions: torch.Tensor, attention_head_dim: int, theta: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and sine tables of Wan's 3D RoPE at arbitrary (t, h, w) positions.

    Args:
        positions (`torch.Tensor` of shape `(N, 3)`): float (t, h, w) positions of `N` tokens.
        attention_head_dim (`int`): channels per attention head.
        theta (`float`, defaults to 10000): RoPE base.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: `(freqs_cos, freqs_sin)`, each float32 of shape
        `(1, N, 1, attention_head_dim)` (the layout `WanAttnProcessor` expects), each angle repeated
        for the two channels of its pair.
    """
    if positions.ndim != 2 or positions.shape[-1] != 3:
        raise ValueError(f"`positions` must have shape (N, 3) as (t, h, w); got {tuple(positions.shape)}")
    # float64 like diffusers' Wan table on CPU/CUDA; MPS has no float64.
    freqs_dtype = torch.float32 if positions.device.type == "mps" else torch.float64
    positions = positions.to(freqs_dtype)
    cos_parts, sin_parts = [], []
    for axis, dim in enumerate(rope_axis_dims(attention_head_dim)):
        cos, sin = get_1d_rotary_pos_embed(
            dim, positions[:, axis], theta, use_real=True, repeat_interleave_real=True, freqs_dtype=freqs_dtype
        )
        cos_parts.append(cos)
        sin_parts.append(sin)
    freqs_cos = torch.cat(cos_parts, dim=-1)[None, :, None, :]
    freqs_sin = torch.cat(sin_parts, dim=-1)[None, :, None, :]
    return freqs_cos, freqs_sin


def video_positions(num_frames: int, height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """Integer (t, h, w) positions of a patch grid in Wan's token order (t slowest, w fastest).

    Args:
        num_frames (`int`), height (`int`), width (`int`): the patch grid `(F, H, W)`.

    Returns:
        `torch.Tensor` of shape `(F * H * W, 3)`, float32.
    """
    grid = torch.meshgrid(
        torch.arange(num_frames, device=device),
        torch.arange(height, device=device),
        torch.arange(width, device=device),
        indexing="ij",
    )
    return torch.stack(grid, dim=-1).reshape(-1, 3).float()


def mvs_motion_positions(
    num_motion_frames: int,
    tokens_per_frame: int,
    grid_height: int,
    grid_width: int,
    temporal_compression: int,
    device: torch.device | None = None,
) -> torch.Tensor:
    """MVS-RoPE positions of motion tokens: token `j` of motion frame `f` at `(f / r, H + j, W + j)`.

    Args:
        num_motion_frames (`int`): motion frames `T` (full frame rate).
        tokens_per_frame (`int`): motion tokens per frame (51 for EchoMotion).
        grid_height (`int`), grid_width (`int`): the video patch grid `(H, W)`.
        temporal_compression (`int`): the VAE's temporal compression `r` (4 for Wan).

    Returns:
        `torch.Tensor` of shape `(T * tokens_per_frame, 3)`, float32, frame-major (token order of
        `EchoMotionTransformer3DModel`).
    """
    frame = torch.arange(num_motion_frames, device=device, dtype=torch.float32) / temporal_compression
    token = torch.arange(tokens_per_frame, device=device, dtype=torch.float32)
    t = frame[:, None].expand(num_motion_frames, tokens_per_frame)
    h = (grid_height + token)[None, :].expand(num_motion_frames, tokens_per_frame)
    w = (grid_width + token)[None, :].expand(num_motion_frames, tokens_per_frame)
    return torch.stack([t, h, w], dim=-1).reshape(-1, 3)


def colliding_motion_positions(
    num_motion_frames: int, tokens_per_frame: int, device: torch.device | None = None
) -> torch.Tensor:
    """Positions without MVS-RoPE: token `j` of motion frame `f` at `(f, j, j)`.

    Motion token `j` of frame `f` then shares its position with video token `(f, j, j)` whenever `f` is a
    latent frame and `j` lies inside the patch grid, and motion frame `f` is aligned with latent frame `f`
    rather than `f / r`.

    Args:
        num_motion_frames (`int`): motion frames `T` (full frame rate).
        tokens_per_frame (`int`): motion tokens per frame.

    Returns:
        `torch.Tensor` of shape `(T * tokens_per_frame, 3)`, float32, frame-major.
    """
    frame = torch.arange(num_motion_frames, device=device, dtype=torch.float32)
    token = torch.arange(tokens_per_frame, device=device, dtype=torch.float32)
    t = frame[:, None].expand(num_motion_frames, tokens_per_frame)
    j = token[None, :].expand(num_motion_frames, tokens_per_frame)
    return torch.stack([t, j, j], dim=-1).reshape(-1, 3)


MOTION_ROPES = ("mvs", "colliding")
"""Motion-token positions: EchoMotion's MVS-RoPE, or the ablation's colliding `(f, j, j)`."""


def motion_positions(
    kind: str,
    num_motion_frames: int,
    tokens_per_frame: int,
    grid_height: int,
    grid_width: int,
    temporal_compression: int,
    device: torch.device | None = None,
) -> torch.Tensor:
    """`mvs_motion_positions` (`kind="mvs"`) or `colliding_motion_positions` (`kind="colliding"`), `(T * n, 3)`."""
    if kind == "mvs":
        return mvs_motion_positions(
            num_motion_frames, tokens_per_frame, grid_height, grid_width, temporal_compression, device=device
        )
    if kind == "colliding":
        return colliding_motion_positions(num_motion_frames, tokens_per_frame, device=device)
    raise ValueError(f"`kind` of motion positions must be one of {MOTION_ROPES}; got {kind!r}")


def apply_rotary_emb(hidden_states: torch.Tensor, freqs_cos: torch.Tensor, freqs_sin: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent channel pairs `(2k, 2k + 1)` by the tabulated angles (Wan's convention).

    Args:
        hidden_states (`torch.Tensor` of shape `(B, S, heads, head_dim)`): queries or keys.
        freqs_cos (`torch.Tensor` of shape `(1, S, 1, head_dim)`), freqs_sin (same): from
            `rotary_embedding_3d` or `WanRotaryPosEmbed`.

    Returns:
        `torch.Tensor` of the shape and dtype of `hidden_states`.
    """
    x1, x2 = hidden_states.unflatten(-1, (-1, 2)).unbind(-1)
    cos = freqs_cos[..., 0::2]
    sin = freqs_sin[..., 1::2]
    rotated = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)
    return rotated.type_as(hidden_states)
