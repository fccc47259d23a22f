"""Ground-truth tracks of any real video: OpenCV pyramidal Lucas-Kanade with a forward-backward check.

Points are tracked frame to frame from `query_frame` forwards and backwards
(`cv2.calcOpticalFlowPyrLK`). A step t -> t + 1 is accepted when LK reports success, the point
lands inside the frame, and tracking the new position back to frame t returns within
`max_forward_backward_error` pixels of where it started (Kalal et al.'s forward-backward error).
LK cannot re-detect a point, so a point that fails once stays invisible for the rest of the clip in
that direction; LK keeps following it from its failed estimate (positions finite, not meaningful).

Pixel convention (OpenCV's and `kinevid.render.camera`'s): `(u, v)` = (column, row), the centre of
pixel `(row i, column j)` at `(j, i)`.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InvalidInputError

DEFAULT_MAX_POINTS = 256


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Raise `InvalidInputError` unless `frames` is a non-empty uint8 `(T, H, W, 3)` array; return it."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        dtype = getattr(frames, "dtype", type(frames).__name__)
        raise InvalidInputError(f"`frames` must be a uint8 array of shape (T, H, W, 3), got {shape} {dtype}.")
    if len(frames) < 1:
        raise InvalidInputError("`frames` must hold at least one frame.")
    return frames


def check_points(points: np.ndarray) -> np.ndarray:
    """Raise `InvalidInputError` unless `points` are finite pixels `(P, 2)`; return them as float32."""
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[-1] != 2 or not np.isfinite(points).all():
        raise InvalidInputError(f"`points` must be finite pixels of shape (P, 2), got {points.shape}.")
    return points


def good_features(
    frame: np.ndarray,
    mask: np.ndarray | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    quality_level: float = 0.01,
    min_distance: float = 2.0,
) -> np.ndarray:
    """Corners worth tracking in one RGB frame (`cv2.goodFeaturesToTrack`, Shi-Tomasi).

    Args:
        frame (`np.ndarray` of shape `(H, W, 3)`): uint8 RGB.
        mask (`np.ndarray` of shape `(H, W)`, *optional*): bool; only corners inside it.
        max_points (`int`): most corners returned (strongest first).
        quality_level (`float`): minimal corner quality relative to the best corner.
        min_distance (`float`): minimal distance between corners, pixels.

    Returns:
        `np.ndarray` of shape `(P, 2)`, float32 `(u, v)`; `P` may be 0.
    """
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    cv_mask = None
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != gray.shape:
            raise InvalidInputError(f"`mask` must have shape (H, W) = {gray.shape}, got {mask.shape}.")
        cv_mask = mask.astype(np.uint8) * 255
    corners = cv2.goodFeaturesToTrack(
        gray, maxCorners=int(max_points), qualityLevel=quality_level, minDistance=min_distance, mask=cv_mask
    )
    if corners is None:
        return np.zeros((0, 2), dtype=np.float32)
    return corners.reshape(-1, 2).astype(np.float32)


def lucas_kanade_tracks(
    frames: np.ndarray,
    points: np.ndarray | None = None,
    query_frame: int = 0,
    mask: np.ndarray | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    window_size: int = 9,
    num_levels: int = 3,
    max_forward_backward_error: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Track points through a video with pyramidal Lucas-Kanade and a forward-backward check.

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`): uint8 RGB.
        points (`np.ndarray` of shape `(P, 2)`, *optional*): pixels `(u, v)` at `query_frame`; when
            None, `good_features` of that frame (inside `mask` if given).
        query_frame (`int`, defaults to 0): the frame the points are given in.
        mask (`np.ndarray` of shape `(H, W)`, *optional*): bool; where to look for points when
            `points` is None.
        max_points (`int`): most points detected when `points` is None.
        window_size (`int`, defaults to 9): LK window side, pixels (at each pyramid level).
        num_levels (`int`, defaults to 3): pyramid levels (OpenCV's `maxLevel` = levels - 1).
        max_forward_backward_error (`float`, defaults to 0.5): pixels.

    Returns:
        `(tracks, visibility)`: `tracks` (`np.ndarray` of shape `(T, P, 2)`, float32) and
        `visibility` (`np.ndarray` of shape `(T, P)`, bool; True at `query_frame` for points inside
        the frame, then while every step passed the checks).
    """
    frames = check_frames(frames)
    num_frames, height, width = frames.shape[:3]
    if not 0 <= int(query_frame) < num_frames:
        raise InvalidInputError(f"`query_frame` must be in [0, {num_frames - 1}], got {query_frame}.")
    query_frame = int(query_frame)
    if points is None:
        points = good_features(frames[query_frame], mask, max_points)
    points = check_points(points)
    if window_size < 3 or num_levels < 1:
        raise InvalidInputError(f"`window_size` must be >= 3 and `num_levels` >= 1, got {window_size}, {num_levels}.")

    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    lk = dict(
        winSize=(int(window_size), int(window_size)),
        maxLevel=int(num_levels) - 1,
        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
    )
    tracks = np.zeros((num_frames, len(points), 2), dtype=np.float32)
    visibility = np.zeros((num_frames, len(points)), dtype=bool)
    tracks[query_frame] = points
    visibility[query_frame] = _inside(points, height, width)
    if len(points) == 0:
        return tracks, visibility
    for direction in (1, -1):
        alive = visibility[query_frame].copy()
        frame = query_frame + direction
        while 0 <= frame < num_frames:
            source, previous = gray[frame - direction], tracks[frame - direction]
            forward, status, _ = cv2.calcOpticalFlowPyrLK(source, gray[frame], previous, None, **lk)
            backward, back_status, _ = cv2.calcOpticalFlowPyrLK(gray[frame], source, forward, None, **lk)
            error = np.linalg.norm(backward - previous, axis=-1)
            ok = (status[:, 0] == 1) & (back_status[:, 0] == 1) & (error <= max_forward_backward_error)
            alive &= ok & _inside(forward, height, width)
            tracks[frame], visibility[frame] = forward, alive
            frame += direction
    return tracks, visibility


def _inside(points: np.ndarray, height: int, width: int) -> np.ndarray:
    u, v = points[:, 0], points[:, 1]
    return (u >= -0.5) & (u <= width - 0.5) & (v >= -0.5) & (v <= height - 0.5)
