"""Side-by-side video grids with captions (e.g. video | skeleton | mannequin)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import InvalidInputError


def make_grid(
    videos: Sequence[np.ndarray],
    captions: Sequence[str] | None = None,
    columns: int | None = None,
    tile_height: int | None = None,
    gap: int = 2,
) -> np.ndarray:
    """Tile videos in a grid, each with an optional caption bar above it.

    Videos are resized to a common height (keeping aspect ratio); a shorter video holds its last
    frame. Width and height of the result are rounded up to even numbers (mp4-ready).

    Args:
        videos (`list` of `np.ndarray` of shape `(T_i, H_i, W_i, 3)`): uint8 RGB.
        captions (`list[str]`, *optional*): one per video.
        columns (`int`, *optional*): tiles per row; defaults to all in one row.
        tile_height (`int`, *optional*): height of every tile; defaults to the tallest video's.
        gap (`int`): pixels between tiles.

    Returns:
        `np.ndarray` of shape `(max T_i, H, W, 3)`, uint8.
    """
    if not videos:
        raise InvalidInputError("`videos` must hold at least one video.")
    for index, video in enumerate(videos):
        if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
            raise InvalidInputError(f"`videos[{index}]` must be uint8 (T, H, W, 3), got {video.dtype} {video.shape}.")
    if captions is not None and len(captions) != len(videos):
        raise InvalidInputError(f"got {len(captions)} captions for {len(videos)} videos.")
    columns = len(videos) if columns is None else max(1, int(columns))
    tile_height = int(tile_height or max(video.shape[1] for video in videos))
    tiles = [_resize(video, tile_height) for video in videos]
    caption_height = max(12, tile_height // 10) if captions else 0
    tile_width = max(tile.shape[2] for tile in tiles)
    num_frames = max(len(tile) for tile in tiles)
    rows = -(-len(tiles) // columns)
    height = rows * (tile_height + caption_height) + (rows - 1) * gap
    width = columns * tile_width + (columns - 1) * gap
    grid = np.zeros((num_frames, height + height % 2, width + width % 2, 3), dtype=np.uint8)
    for index, tile in enumerate(tiles):
        top = (index // columns) * (tile_height + caption_height + gap)
        left = (index % columns) * (tile_width + gap) + (tile_width - tile.shape[2]) // 2
        frame_index = np.minimum(np.arange(num_frames), len(tile) - 1)
        grid[:, top + caption_height : top + caption_height + tile_height, left : left + tile.shape[2]] = tile[
            frame_index
        ]
        if captions:
            bar = _caption_bar(captions[index], caption_height, tile.shape[2])
            grid[:, top : top + caption_height, left : left + tile.shape[2]] = bar
    return grid


def _resize(video: np.ndarray, height: int) -> np.ndarray:
    if video.shape[1] == height:
        return video
    width = max(1, round(video.shape[2] * height / video.shape[1]))
    interpolation = cv2.INTER_AREA if height < video.shape[1] else cv2.INTER_NEAREST
    return np.stack([cv2.resize(frame, (width, height), interpolation=interpolation) for frame in video])


def _caption_bar(text: str, height: int, width: int) -> np.ndarray:
    """White text on dark grey, shrunk to fit the bar (and cut with '...' if still too long)."""
    bar = np.full((height, width, 3), 32, dtype=np.uint8)
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1
    scale = height / 30.0
    while True:
        (text_width, text_height), _ = cv2.getTextSize(text, font, scale, thickness)
        if text_width <= width - 4 or len(text) <= 4:
            break
        if scale > 0.3:
            scale *= 0.9
        else:
            text = text[: max(1, len(text) - 4)] + "..."
    baseline_y = (height + text_height) // 2
    cv2.putText(bar, text, (2, baseline_y), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return bar
