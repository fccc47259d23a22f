"""Video sets on disk (a directory of mp4/GIF files), their prompts, and the resizing the metrics share.

A *video set* is a directory of `.mp4` / `.gif` files; a video's name is its file stem. Companion
files use the same stem: a prompts JSON maps stems to prompts, a pose directory holds
`<stem>.npz` with the conditioning keypoints (see `kinevid.eval.video.pose_judge`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InvalidInputError
from ...render.video import VIDEO_SUFFIXES, read_video


@dataclass
class VideoItem:
    """One video of a set.

    Args:
        name (`str`): the file stem.
        frames (`np.ndarray` of shape `(T, H, W, 3)`): uint8 RGB.
        fps (`float`): frames per second (from the container; 8 when it has none).
        path (`Path`, *optional*): the file it came from.
    """

    name: str
    frames: np.ndarray
    fps: float
    path: Path | None = None


DEFAULT_FPS = 8.0


def video_fps(path: str | os.PathLike[str]) -> float:
    """Frame rate of the first video stream of `path` (`DEFAULT_FPS` when the container gives none)."""
    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate
    except (av.error.FFmpegError, IndexError, UnicodeDecodeError) as error:  # damaged metadata fails to decode
        raise InvalidInputError(f"{path}: cannot read as a video: {error}") from error
    return float(rate) if rate else DEFAULT_FPS


def list_videos(directory: str | os.PathLike[str]) -> list[Path]:
    """The `.mp4` / `.gif` files of `directory`, sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidInputError(f"{directory}: not a directory of videos.")
    paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not paths:
        raise InvalidInputError(f"{directory}: no video files ({', '.join(VIDEO_SUFFIXES)}) found.")
    stems = [p.stem for p in paths]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise InvalidInputError(f"{directory}: several videos share the name(s) {duplicates} (one suffix per name).")
    return paths


def load_video_set(directory: str | os.PathLike[str]) -> list[VideoItem]:
    """Read every video of `directory` (sorted by name)."""
    return [VideoItem(p.stem, read_video(p), video_fps(p), p) for p in list_videos(directory)]


def read_prompts(path: str | os.PathLike[str], names: list[str]) -> dict[str, str]:
    """Prompts of the videos `names` from a JSON object `{video name: prompt}`.

    Every name must have a non-empty prompt; extra entries are ignored.
    """
    path = Path(path)
    try:
        prompts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"{path}: not a readable JSON file of prompts: {error}") from None
    if not isinstance(prompts, dict) or not all(isinstance(v, str) for v in prompts.values()):
        raise InvalidInputError(f"{path}: expected a JSON object mapping video names to prompt strings.")
    missing = [name for name in names if not prompts.get(name, "").strip()]
    if missing:
        raise InvalidInputError(
            f"{path}: no prompt for the video(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}."
        )
    return {name: prompts[name] for name in names}


def frames_to_float(frames: np.ndarray) -> torch.Tensor:
    """uint8 `(T, H, W, 3)` -> float32 `(T, 3, H, W)` in [0, 1]."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise InvalidInputError(f"`frames` must be uint8 of shape (T, H, W, 3), got {frames.dtype} {frames.shape}.")
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float32) / 255.0


def resize_shorter_side(
    images: torch.Tensor, size: int, mode: str = "bilinear", antialias: bool = False, round_up: bool = False
) -> torch.Tensor:
    """Resize `(N, C, H, W)` so that the shorter side becomes `size`, keeping the aspect ratio.

    The longer side becomes `floor(L * size / S)` as in torchvision's `Resize(int)` (VBench's
    transforms), or `ceil(...)` with `round_up` (the FVD ports).
    """
    height, width = images.shape[-2:]
    shorter, longer = min(height, width), max(height, width)
    scaled = longer * size / shorter
    longer_size = max(size, int(np.ceil(scaled)) if round_up else int(scaled))
    target = (size, longer_size) if height <= width else (longer_size, size)
    if target == (height, width):
        return images
    align = None if mode in ("nearest", "area") else False
    return F.interpolate(images, size=target, mode=mode, align_corners=align, antialias=antialias)


def resize_uint8_frames(frames: np.ndarray, size: int, mode: str) -> torch.Tensor:
    """uint8 frames `(T, H, W, 3)` -> `(T, 3, H', W')` in [0, 1] with the shorter side `size`, resized as
    torchvision's `Resize(size, antialias=False)` does on uint8 tensors (VBench's transforms): interpolate,
    then round and clamp back to 8-bit levels."""
    images = resize_shorter_side(frames_to_float(frames) * 255.0, size, mode=mode, antialias=False)
    return images.round().clamp(0.0, 255.0) / 255.0


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """Central `size` x `size` window of `(N, C, H, W)` (H, W >= size)."""
    height, width = images.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top : top + size, left : left + size]
