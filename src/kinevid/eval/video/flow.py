"""Weight-free optical flow (OpenCV DIS) and flow-warping frame interpolation.

They stand in for RAFT and AMT in VBench's dynamic degree and motion smoothness when no weights
are at hand, and are reported under their own names (`dynamic_degree_dis`,
`motion_smoothness_flowwarp`), never as VBench's: the formulas are VBench's, the networks are not,
so the numbers are not comparable with published VBench scores.

Flow-warping interpolation: with DIS flows `F_01` (previous -> next) and `F_10`, the middle frame
is `0.5 I_0(x - 0.5 F_01(x)) + 0.5 I_1(x - 0.5 F_10(x))` (bilinear sampling, border replicated):
each pixel is fetched half-way back along the flow through it, assuming locally constant motion.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...errors import InvalidInputError


def _gray(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise InvalidInputError(f"flow needs uint8 RGB frames (H, W, 3), got {frame.dtype} {frame.shape}.")
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def dis_flow(frame: np.ndarray, next_frame: np.ndarray) -> np.ndarray:
    """Dense flow `(H, W, 2)` (pixels, `(dx, dy)`) from `frame` to `next_frame`, uint8 RGB `(H, W, 3)`,
    by OpenCV's DIS (medium preset)."""
    estimator = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return estimator.calc(_gray(frame), _gray(next_frame), None)


def _warp(frame: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """Sample `frame` at `x + displacement(x)` (bilinear, border replicated), float32."""
    height, width = frame.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x, map_y = grid_x + displacement[..., 0], grid_y + displacement[..., 1]
    return cv2.remap(frame.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def flow_warp_interpolate(previous: np.ndarray, next_frame: np.ndarray) -> np.ndarray:
    """The middle frame between uint8 RGB frames `(H, W, 3)` by DIS flow warping (see the module doc)."""
    forward = dis_flow(previous, next_frame)
    backward = dis_flow(next_frame, previous)
    middle = 0.5 * _warp(previous, -0.5 * forward) + 0.5 * _warp(next_frame, -0.5 * backward)
    return np.clip(np.round(middle), 0, 255).astype(np.uint8)
