"""Pictures of paired data to look at: each clip as a row of video, mask, depth, skeleton maps and tracks."""

from __future__ import annotations

import cv2
import numpy as np

from ..render.grid import make_grid
from .paired import SyntheticPairedDataset

PANELS = ("video", "mask", "depth", "skeleton", "tracks")


def depth_to_frames(depth: np.ndarray) -> np.ndarray:
    """`(T, H, W)` metres (0 = nothing) -> `(T, H, W, 3)` uint8 of inverse depth, near bright, far dark (one scale
    per clip; inverse depth so the person stands out against a floor reaching the horizon)."""
    valid = depth > 0
    if not valid.any():
        return np.zeros((*depth.shape, 3), dtype=np.uint8)
    inverse = np.where(valid, 1.0 / np.where(valid, depth, 1.0), 0.0)
    low, high = np.percentile(inverse[valid], [1, 99.5])
    scaled = np.clip((inverse - low) / max(high - low, 1e-6), 0, 1) * 255
    frames = np.stack([cv2.applyColorMap(frame.astype(np.uint8), cv2.COLORMAP_VIRIDIS) for frame in scaled])
    frames = frames[..., ::-1]  # OpenCV colour maps are BGR
    return np.where(valid[..., None], frames, 0).astype(np.uint8)


def draw_tracks(frames: np.ndarray, tracks: np.ndarray, visibility: np.ndarray, trail: int = 4) -> np.ndarray:
    """Frames `(T, H, W, 3)` with each visible track point `(T, P, 2)` drawn as a dot and a short trail."""
    out = frames.copy()
    colors = cv2.applyColorMap(np.linspace(0, 255, tracks.shape[1]).astype(np.uint8)[:, None], cv2.COLORMAP_HSV)
    colors = colors[:, 0, ::-1].tolist()
    for t in range(len(frames)):
        for p in np.flatnonzero(visibility[t]):
            for s in range(max(0, t - trail), t):
                if visibility[s, p] and visibility[s + 1, p]:
                    start, end = tracks[s, p].round().astype(int), tracks[s + 1, p].round().astype(int)
                    cv2.line(out[t], tuple(start.tolist()), tuple(end.tolist()), colors[p], 1)
            cv2.circle(out[t], tuple(tracks[t, p].round().astype(int).tolist()), 1, colors[p], -1)
    return out


def preview_synthetic(dataset: SyntheticPairedDataset, indices: list[int], tile_height: int = 128) -> np.ndarray:
    """A grid video `(T, H, W, 3)` uint8: one row per clip of `PANELS`, captioned with the action and the parts of
    the scene caption."""
    videos, captions = [], []
    for index in indices:
        arrays, info = dataset.arrays(index), dataset.info(index)
        frames = arrays["frames"]
        mask = arrays["masks"].astype(bool)[..., None]
        overlay = np.where(mask, (0.5 * frames + 0.5 * np.array([255, 60, 60])).astype(np.uint8), frames // 2)
        videos += [
            frames,
            overlay,
            depth_to_frames(arrays["depth"]),
            arrays["skeleton_maps"],
            draw_tracks(frames, arrays["tracks"], arrays["track_visibility"].astype(bool)),
        ]
        # The scene caption's parts (person, place, light, view) over the other panels, so each stays readable.
        parts = (info["scene_caption"].split(", ") + [""] * 4)[:4]
        captions += [f"{index}: {info['action_caption']}", *parts]
    return make_grid(videos, captions, columns=len(PANELS), tile_height=tile_height)
