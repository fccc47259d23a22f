"""Constructed videos for the video-metric tests: textures, exact shifts."""

from __future__ import annotations

import cv2
import numpy as np


def textured_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (uint8 RGB), good for optical flow."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(height // 4 + 2, width // 4 + 2, 3)).astype(np.float32)
    return np.clip(cv2.resize(coarse, (width + 8, height + 8), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)[
        4 : 4 + height, 4 : 4 + width
    ]


def moving_video(num_frames: int, height: int, width: int, step: int, seed: int = 0) -> np.ndarray:
    """A texture sliding `step` px to the right per frame (exact integer shifts, no borders)."""
    margin = abs(step) * num_frames
    base = textured_frame(height, width + margin, seed)
    starts = [margin - step * t if step >= 0 else -step * t for t in range(num_frames)]
    return np.stack([base[:, start : start + width] for start in starts])
