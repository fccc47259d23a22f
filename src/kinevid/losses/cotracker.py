"""Optional CoTracker3 adapter (MoSA's tracker) for ground-truth tracks of real videos.

CoTracker3 is not on PyPI and its licence is non-commercial, so kinevid never requires it: install
it from its repository (`pip install git+https://github.com/facebookresearch/co-tracker`) and pass
a local checkpoint (e.g. `scaled_offline.pth`). Its predictor runs without gradients, so it serves
as a source of ground-truth tracks; the differentiable tracker of `tracking_loss` stays
`DenseTracker`.

`CoTrackerAdapter` gives any CoTracker-style predictor `DenseTracker`'s call: CoTracker takes
`video (B, T, 3, H, W)` in [0, 255] and `queries (B, N, 3)` rows `(t, x, y)`, and returns
`tracks (B, T, N, 2)` and `visibility (B, T, N)`; its pixel coordinates put pixel centres at
integers, as kinevid's do.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InvalidInputError, MissingWeightsError
from .lucas_kanade import check_frames, check_points
from .tracker import check_video


def load_cotracker3(checkpoint: str | os.PathLike[str], offline: bool = True, window_len: int = 60) -> nn.Module:
    """CoTracker3's predictor from a local checkpoint (needs the `cotracker` package).

    Args:
        checkpoint (`str` or `os.PathLike`): the `.pth` file (`scaled_offline.pth` / `scaled_online.pth`).
        offline (`bool`, defaults to True): the offline model (whole clip at once).
        window_len (`int`, defaults to 60): CoTracker's window length.

    Raises:
        `MissingWeightsError`: the checkpoint file or the `cotracker` package is missing.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise MissingWeightsError(f"CoTracker3 checkpoint not found: {path} (expected e.g. scaled_offline.pth).")
    try:
        from cotracker.predictor import CoTrackerPredictor
    except ImportError as error:
        raise MissingWeightsError(
            "CoTracker3 needs the `cotracker` package, which is not on PyPI: "
            "pip install git+https://github.com/facebookresearch/co-tracker (non-commercial licence)"
        ) from error
    return CoTrackerPredictor(checkpoint=str(path), offline=offline, window_len=window_len).eval()


class CoTrackerAdapter(nn.Module):
    """A CoTracker-style predictor behind `DenseTracker`'s interface.

    Args:
        predictor (`nn.Module`): `predictor(video (B, T, 3, H, W) in [0, 255], queries=(B, N, 3) (t, x, y))
            -> (tracks (B, T, N, 2), visibility (B, T, N))`, e.g. `load_cotracker3(path)`.
    """

    def __init__(self, predictor: nn.Module) -> None:
        super().__init__()
        self.predictor = predictor

    def track(
        self, video: torch.Tensor, queries: torch.Tensor, query_frame: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tracks `(B, T, P, 2)` and visibility `(B, T, P)` bool of `queries (B, P, 2)` given at `query_frame`.

        Args:
            video (`torch.Tensor` of shape `(B, 3, T, H, W)`): frames in [-1, 1].
            queries (`torch.Tensor` of shape `(B, P, 2)`): pixels `(u, v)` at `query_frame`.
            query_frame (`int`, defaults to 0): the frame the queries are given in.
        """
        batch_size, _, num_frames, _, _ = check_video(video)
        if queries.ndim != 3 or queries.shape[0] != batch_size or queries.shape[-1] != 2:
            raise InvalidInputError(f"`queries` must have shape (B={batch_size}, P, 2), got {tuple(queries.shape)}.")
        if not 0 <= int(query_frame) < num_frames:
            raise InvalidInputError(f"`query_frame` must be in [0, {num_frames - 1}], got {query_frame}.")
        frames = (video.transpose(1, 2) + 1) * 127.5  # (B, T, 3, H, W) in [0, 255]
        times = queries.new_full((*queries.shape[:2], 1), float(query_frame))
        tracks, visibility = self.predictor(frames, queries=torch.cat([times, queries.to(frames)], dim=-1))
        expected = (batch_size, num_frames, queries.shape[1])
        if tuple(tracks.shape) != (*expected, 2):
            raise InvalidInputError(f"the predictor returned tracks {tuple(tracks.shape)}, expected {(*expected, 2)}.")
        return tracks, visibility.reshape(expected).bool()

    def forward(self, video: torch.Tensor, queries: torch.Tensor, query_frame: int = 0) -> torch.Tensor:
        """Tracks `(B, T, P, 2)` (as `DenseTracker.forward`)."""
        return self.track(video, queries, query_frame)[0]


def cotracker_tracks(
    frames: np.ndarray, points: np.ndarray, predictor: nn.Module, query_frame: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth tracks of a real video with CoTracker3 (the counterpart of `lucas_kanade_tracks`).

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`): uint8 RGB.
        points (`np.ndarray` of shape `(P, 2)`): pixels `(u, v)` at `query_frame`.
        predictor (`nn.Module`): e.g. `load_cotracker3(path)`.
        query_frame (`int`, defaults to 0): the frame the points are given in.

    Returns:
        `(tracks, visibility)`: `(T, P, 2)` float32 and `(T, P)` bool.
    """
    frames, points = check_frames(frames), check_points(points)
    video = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    with torch.no_grad():
        tracks, visibility = CoTrackerAdapter(predictor).track(video, torch.from_numpy(points)[None], query_frame)
    return tracks[0].float().numpy(), visibility[0].numpy()
