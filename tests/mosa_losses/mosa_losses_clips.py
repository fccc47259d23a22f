"""Test clips for the tracker: an analytic texture shifted by a known sub-pixel amount per frame."""

from __future__ import annotations

import numpy as np
import torch


def texture(u: np.ndarray, v: np.ndarray, seed: int = 0) -> np.ndarray:
    """A smooth RGB texture in (-1, 1) defined everywhere (sums of random plane waves), `(..., 3)`."""
    rng = np.random.default_rng(seed)
    out = np.zeros((*u.shape, 3))
    for channel in range(3):
        for _ in range(12):
            fx, fy = rng.uniform(-0.6, 0.6, 2)
            out[..., channel] += np.cos(fx * u + fy * v + rng.uniform(0, 2 * np.pi))
    return np.tanh(out / 3)


def shifted_clip(shift: tuple[float, float], num_frames: int = 9, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Video `(1, 3, T, size, size)` whose content moves by `shift` = (du, dv) pixels per frame (exactly)."""
    v, u = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing="ij")
    frames = np.stack([texture(u - shift[0] * t, v - shift[1] * t, seed) for t in range(num_frames)])
    return torch.tensor(frames, dtype=torch.float32).permute(3, 0, 1, 2)[None]


def shifted_tracks(queries: torch.Tensor, shift: tuple[float, float], num_frames: int) -> torch.Tensor:
    """Tracks `(B, T, P, 2)` of points at `queries (B, P, 2)` in frame 0 moving by `shift` per frame."""
    steps = torch.arange(num_frames, dtype=queries.dtype)[None, :, None, None]
    return queries[:, None] + steps * torch.tensor(shift, dtype=queries.dtype)


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """`(1, 3, T, H, W)` in [-1, 1] -> `(T, H, W, 3)` uint8."""
    frames = ((video[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255)
    return frames.to(torch.uint8).numpy()
