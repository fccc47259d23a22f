"""Video files and grids: mp4/GIF round trips, atomic writes, grid layout."""

from __future__ import annotations

import numpy as np
import pytest

from kinevid.errors import InvalidInputError
from kinevid.render.grid import make_grid
from kinevid.render.video import read_video, write_video


def _smooth_frames(num_frames: int = 9, height: int = 48, width: int = 64) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    frames = [
        np.stack([(cols * 4 + 8 * t) % 256, rows * 5 % 256, np.full_like(rows, 128)], -1) for t in range(num_frames)
    ]
    return np.stack(frames).astype(np.uint8)


def test_mp4_round_trip_keeps_count_and_size(tmp_path):
    frames = _smooth_frames()
    path = write_video(frames, tmp_path / "clip.mp4", fps=8)
    decoded = read_video(path)
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 6


def test_gif_round_trip(tmp_path):
    frames = _smooth_frames(5)
    decoded = read_video(write_video(frames, tmp_path / "clip.gif", fps=5))
    assert decoded.shape == frames.shape


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(InvalidInputError, match="even"):
        write_video(_smooth_frames(3, 47, 64), tmp_path / "odd.mp4", fps=8)
    with pytest.raises(InvalidInputError, match="uint8"):
        write_video(np.zeros((3, 8, 8, 3), dtype=np.float32), tmp_path / "bad.mp4", fps=8)
    with pytest.raises(InvalidInputError, match="suffix"):
        write_video(_smooth_frames(2), tmp_path / "clip.avi", fps=8)
    assert list(tmp_path.iterdir()) == []


def test_read_rejects_non_video(tmp_path):
    path = tmp_path / "not_a_video.mp4"
    path.write_bytes(b"hello")
    with pytest.raises(InvalidInputError, match="not_a_video"):
        read_video(path)


def test_grid_layout_and_padding():
    first = np.full((4, 32, 32, 3), 200, dtype=np.uint8)
    second = np.full((2, 16, 24, 3), 50, dtype=np.uint8)
    grid = make_grid([first, second], captions=["video", "skeleton"], gap=2)
    caption = max(12, 32 // 10)
    # Second tile is scaled to height 32 (width 48); the grid is padded to even sizes.
    assert grid.shape == (4, 32 + caption, 48 * 2 + 2, 3)
    assert (grid[:, caption:, 8:40] == 200).all()  # first tile, centred in a 48-wide cell
    assert (grid[3, caption:, 50:98] == 50).all()  # second tile holds its last frame
    # Caption text is drawn: bright anti-aliased strokes on the dark bar (OpenCV 5 no longer reaches
    # full white at this size, so no exact value is asserted).
    bar = grid[0, :caption, 8:40]  # the bar spans its tile
    assert bar.min() == 32 and bar.max() > 200
    assert (bar.max(axis=-1) > 128).sum() >= 20
