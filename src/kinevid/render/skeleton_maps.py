"""OpenPose COCO-18 skeleton maps drawn from projected 3D joints, limbs ordered far to near.

The maps follow the OpenPose body style that pose-guided video models (ControlNet-OpenPose, Animate
Anyone, Champ) are trained on: limbs are filled ellipses and joints filled circles, in the fixed
OpenPose colours, on black. Unlike 2D pose estimators we know each limb's depth, so limbs are
painted far to near and an occluded limb lies behind the one in front of it (MoSA's reason for
going through 3D).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from ..body import smpl24_to_coco18
from ..errors import InvalidInputError
from .camera import Camera
from .frames import frames_to_tensor

# OpenPose limbs as 0-based COCO-18 keypoint pairs (the first 17 of OpenPose's list are drawn).
COCO18_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip

# RGB; limb i and keypoint i share colour i.
COCO18_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip

REFERENCE_RESOLUTION = 512  # OpenPose draws half-width 4 px limbs and radius 4 px joints at 512 px
REFERENCE_WIDTH = 4.0

_SUBPIXEL_BITS = 4  # cv2 fixed-point shift: coordinates in 1/16 pixel
_SUBPIXEL = 1 << _SUBPIXEL_BITS


def stroke_width(height: int, width: int) -> float:
    """Limb half-width and joint radius in pixels for an image of this size (4 px at 512 px, >= 1)."""
    return max(1.0, REFERENCE_WIDTH * min(height, width) / REFERENCE_RESOLUTION)


def draw_skeleton_maps(
    keypoints_2d: torch.Tensor | np.ndarray,
    depth: torch.Tensor | np.ndarray,
    size: tuple[int, int],
    visibility: torch.Tensor | np.ndarray | None = None,
) -> np.ndarray:
    """Draw COCO-18 skeleton maps, far to near.

    Every limb and every keypoint disc is one drawing item with a depth (a limb's is the mean of its
    two keypoints'); items are painted in order of decreasing depth, so nearer ones cover farther
    ones.

    Args:
        keypoints_2d (`torch.Tensor` of shape `(T, 18, 2)`): pixel coordinates `(u, v)` (see
            `kinevid.render.camera`).
        depth (`torch.Tensor` of shape `(T, 18)`): camera-space depth of each keypoint, metres.
        size (`tuple[int, int]`): `(height, width)` of the maps.
        visibility (`torch.Tensor` of shape `(T, 18)`, *optional*): bool; keypoints marked False (and
            any keypoint behind the camera) are not drawn, nor are limbs touching them.

    Returns:
        `np.ndarray` of shape `(T, H, W, 3)`, uint8 RGB.
    """
    keypoints_2d = _to_numpy(keypoints_2d, "keypoints_2d", np.float64)
    depth = _to_numpy(depth, "depth", np.float64)
    if keypoints_2d.ndim != 3 or keypoints_2d.shape[1:] != (18, 2):
        raise InvalidInputError(f"`keypoints_2d` must have shape (T, 18, 2), got {keypoints_2d.shape}.")
    if depth.shape != keypoints_2d.shape[:2]:
        raise InvalidInputError(f"`depth` must have shape {keypoints_2d.shape[:2]}, got {depth.shape}.")
    height, width = int(size[0]), int(size[1])
    if height < 1 or width < 1:
        raise InvalidInputError(f"`size` must be positive (height, width), got {size}.")
    drawable = np.isfinite(keypoints_2d).all(-1) & np.isfinite(depth) & (depth > 0)
    if visibility is not None:
        visibility = _to_numpy(visibility, "visibility", bool)
        if visibility.shape != depth.shape:
            raise InvalidInputError(f"`visibility` must have shape {depth.shape}, got {visibility.shape}.")
        drawable &= visibility

    # Keep coordinates in a range cv2's int32 fixed-point arithmetic handles; clipping happens in cv2.
    limit = 4.0 * max(height, width) + 16
    fixed = np.round(np.clip(np.nan_to_num(keypoints_2d), -limit, limit) * _SUBPIXEL).astype(np.int64)
    radius = stroke_width(height, width)
    radius_fixed = round(radius * _SUBPIXEL)
    limbs = np.asarray(COCO18_LIMBS)
    limb_depth = depth[:, limbs].mean(-1)  # (T, 17)
    limb_drawable = drawable[:, limbs].all(-1)

    maps = np.zeros((len(keypoints_2d), height, width, 3), dtype=np.uint8)
    for frame, canvas in enumerate(maps):
        # Items 0..16 are limbs, 17..34 keypoint discs; stable sort keeps limbs under equal-depth discs.
        item_depth = np.concatenate([limb_depth[frame], depth[frame]])
        item_drawable = np.concatenate([limb_drawable[frame], drawable[frame]])
        order = np.argsort(-np.where(item_drawable, item_depth, -np.inf), kind="stable")
        for item in order[: int(item_drawable.sum())]:
            if item < len(limbs):
                start, end = limbs[item]
                _fill_limb(canvas, fixed[frame, start], fixed[frame, end], radius, COCO18_COLORS[item])
            else:
                joint = item - len(limbs)
                center = (int(fixed[frame, joint, 0]), int(fixed[frame, joint, 1]))
                # A filled ellipse with equal axes: cv2.circle with a sub-pixel shift is about 8x slower.
                axes = (radius_fixed, radius_fixed)
                cv2.ellipse(canvas, center, axes, 0, 0, 360, COCO18_COLORS[joint], -1, cv2.LINE_8, _SUBPIXEL_BITS)
    return maps


def _fill_limb(canvas: np.ndarray, start: np.ndarray, end: np.ndarray, half_width: float, color) -> None:
    """A filled ellipse from `start` to `end` (fixed-point pixels) with minor half-axis `half_width`."""
    delta = (end - start) / _SUBPIXEL
    half_length = 0.5 * math.hypot(delta[0], delta[1])
    angle = math.degrees(math.atan2(delta[1], delta[0]))
    center = ((start + end) // 2).tolist()
    axes = (max(1, round(half_length * _SUBPIXEL)), max(1, round(half_width * _SUBPIXEL)))
    cv2.ellipse(canvas, center, axes, angle, 0, 360, color, -1, cv2.LINE_8, _SUBPIXEL_BITS)


def render_skeleton_maps(
    joints: torch.Tensor, camera: Camera, visibility: torch.Tensor | None = None
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Project SMPL-24 joints through `camera` and draw COCO-18 maps at the camera's image size.

    Args:
        joints (`torch.Tensor` of shape `(T, 24, 3)`): world joint positions, metres (e.g. `motion.joints`).
        camera (`Camera`): the view.
        visibility (`torch.Tensor` of shape `(T, 18)`, *optional*): see `draw_skeleton_maps`.

    Returns:
        `(maps, keypoints_2d, depth)`: maps `(T, H, W, 3)` uint8, COCO-18 pixels `(T, 18, 2)` and
        depths `(T, 18)` (float32).
    """
    keypoints = smpl24_to_coco18(torch.as_tensor(joints))
    keypoints_2d, depth = camera.project(keypoints.to(torch.float64))
    maps = draw_skeleton_maps(keypoints_2d, depth, camera.size, visibility=visibility)
    return maps, keypoints_2d.to(torch.float32), depth.to(torch.float32)


def skeleton_maps_to_tensor(maps: np.ndarray) -> torch.Tensor:
    """`(T, H, W, 3)` uint8 maps -> `(3, T, H, W)` float32 in [-1, 1], the layout models take."""
    return frames_to_tensor(maps)


def _to_numpy(array, name: str, dtype) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    try:
        return np.asarray(array, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"`{name}` must be a numeric array: {error}") from error
