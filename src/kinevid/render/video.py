"""Video files: mp4 (H.264, yuv420p, through PyAV) and GIF, written atomically; mp4/GIF read back to frames."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InvalidInputError
from ..utils import atomic_write

VIDEO_SUFFIXES = (".mp4", ".gif")


def write_video(frames: np.ndarray, path: str | os.PathLike[str], fps: float, crf: int = 18) -> Path:
    """Write frames to `.mp4` (H.264, yuv420p) or `.gif`, chosen by the suffix of `path`.

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`): uint8 RGB; for mp4, H and W must be even
            (yuv420p halves the chroma resolution).
        path (`str`): output file; written atomically (nothing appears under `path` on failure).
        fps (`float`): frames per second.
        crf (`int`): H.264 constant rate factor (0 lossless ... 51 worst); 18 is visually lossless.

    Returns:
        `Path` of the written file.
    """
    path = Path(path)
    frames = _check_frames(frames)
    if not (fps > 0 and np.isfinite(fps)):
        raise InvalidInputError(f"`fps` must be a positive number, got {fps}.")
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise InvalidInputError(f"{path}: unsupported video suffix {path.suffix!r}; expected one of {VIDEO_SUFFIXES}.")
    height, width = frames.shape[1:3]
    if suffix == ".mp4" and (height % 2 or width % 2):
        raise InvalidInputError(f"{path}: H.264 mp4 needs even width and height, got {width}x{height}.")
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_write(path) as tmp, av.open(str(tmp), mode="w") as container:
        if suffix == ".mp4":
            stream = container.add_stream("libx264", rate=rate)
            stream.pix_fmt = "yuv420p"
            # x264's macroblock-tree rate control (mbtree) reads state that differs between calls in one process
            # (seen with PyAV 18's x264 after MediaPipe ran): the same frames then encode differently. Without it
            # the same frames always give the same file, which `--seed` promises; at crf 18 the cost is small.
            stream.options = {"crf": str(crf), "x264-params": "mbtree=0"}
        else:
            stream = container.add_stream("gif", rate=rate)
            stream.pix_fmt = "rgb8"
        stream.width, stream.height = width, height
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# PyAV decodes a container's metadata as UTF-8, so a damaged file can also fail with UnicodeDecodeError.
_DECODE_ERRORS = (av.error.FFmpegError, IndexError, UnicodeDecodeError)


def read_video(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode a video file to frames `(T, H, W, 3)` uint8 RGB."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such video file.")
    try:
        with av.open(str(path)) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except _DECODE_ERRORS as error:
        raise InvalidInputError(f"{path}: cannot decode as a video: {error}") from error
    if not frames:
        raise InvalidInputError(f"{path}: the video has no frames.")
    return np.stack(frames)


def video_frame_rate(path: str | os.PathLike[str]) -> float:
    """Frames per second of a video file's first video stream (its average rate)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such video file.")
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
    except _DECODE_ERRORS as error:
        raise InvalidInputError(f"{path}: cannot read as a video: {error}") from error
    if not rate or not float(rate) > 0:
        raise InvalidInputError(f"{path}: the video stream has no frame rate.")
    return float(rate)


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise InvalidInputError(
            f"`frames` must be uint8 of shape (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}."
        )
    return np.ascontiguousarray(frames)
