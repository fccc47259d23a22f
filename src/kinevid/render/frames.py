"""Conversions between uint8 frame stacks (file edges) and model video tensors."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidInputError


def frames_to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """`(T, H, W, C)` uint8 frames -> `(C, T, H, W)` float32 in [-1, 1]."""
    frames = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
    if frames.dtype != torch.uint8 or frames.ndim != 4:
        raise InvalidInputError(
            f"`frames` must be uint8 of shape (T, H, W, C), got {frames.dtype} {tuple(frames.shape)}."
        )
    return frames.permute(3, 0, 1, 2).to(torch.float32).div(127.5).sub(1.0)


def tensor_to_frames(video: torch.Tensor) -> np.ndarray:
    """`(C, T, H, W)` float video in [-1, 1] -> `(T, H, W, C)` uint8 (values outside [-1, 1] are clipped)."""
    if not isinstance(video, torch.Tensor) or video.ndim != 4 or not video.is_floating_point():
        shape = tuple(video.shape) if hasattr(video, "shape") else type(video).__name__
        raise InvalidInputError(f"`video` must be a float tensor of shape (C, T, H, W), got {shape}.")
    scaled = ((video.detach().to(torch.float32).cpu().clamp(-1, 1) + 1) * 127.5).round()
    return scaled.to(torch.uint8).permute(1, 2, 3, 0).contiguous().numpy()
