"""MoSA's dense tracking loss L_track: the generated video should move the way the ground truth does.

Pairs. For a query frame t, the points visible at t are placed at their ground-truth positions
`gt[t]` in the *generated* video (the decoded x0 prediction) and tracked through it with a
differentiable tracker (`DenseTracker`); for every other frame t' the tracked position
`pred[t -> t']` is compared with `gt[t']`. Each (query frame t, frame t', point p) is one pair
term, counted when p is visible at both t and t':

    L_track = sum w(t, t') v_p(t) v_p(t') |pred[t -> t'] - gt[t']|_1 / sum w(t, t') v_p(t) v_p(t')

with `|.|_1 = |du| + |dv|` in pixels and MoSA's temporal weight `w(t, t') = exp(|t - t'| / 2)`
(frame indices of the video; `temporal_weighting=False` gives the ablation's static weight 1).

Cost control: `num_query_frames` query frames (drawn without replacement with `generator`, or
given as `query_frames`) and at most `max_points` points per query frame and sample (a random
subset of the visible ones). The tracker runs once per query frame over all T frames, so one call
costs `num_query_frames x (T - 1)` frame searches of `max_points` points and forms
`num_query_frames x (T - 1) x max_points` pairs per sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import InvalidInputError
from .tracker import check_video

TEMPORAL_SCALE = 2.0  # MoSA's exp(|t - t'| / 2)


def check_tracks(tracks: torch.Tensor, visibility: torch.Tensor, batch_size: int, num_frames: int) -> int:
    """Raise `InvalidInputError` unless tracks `(B, T, P, 2)` and visibility `(B, T, P)` fit; return P."""
    if not isinstance(tracks, torch.Tensor) or tracks.ndim != 4 or tracks.shape[:2] != (batch_size, num_frames):
        shape = tuple(tracks.shape) if isinstance(tracks, torch.Tensor) else type(tracks).__name__
        raise InvalidInputError(f"`gt_tracks` must have shape (B={batch_size}, T={num_frames}, P, 2), got {shape}.")
    if tracks.shape[-1] != 2:
        raise InvalidInputError(f"`gt_tracks` must end in (u, v) pixels, got shape {tuple(tracks.shape)}.")
    expected = tuple(tracks.shape[:3])
    if not isinstance(visibility, torch.Tensor) or tuple(visibility.shape) != expected:
        shape = tuple(visibility.shape) if isinstance(visibility, torch.Tensor) else type(visibility).__name__
        raise InvalidInputError(f"`visibility` must have shape {expected} (as `gt_tracks` without u, v), got {shape}.")
    return tracks.shape[2]


def pair_weights(
    query_frames: Sequence[int],
    num_frames: int,
    temporal_weighting: bool = True,
    temporal_scale: float = TEMPORAL_SCALE,
) -> torch.Tensor:
    """Weights `w(t, t')` `(Q, T)` of the pairs (query frame t, frame t'): 0 for t' = t, else
    `exp(|t - t'| / temporal_scale)` (MoSA) or 1 (`temporal_weighting=False`)."""
    frames = torch.arange(num_frames, dtype=torch.float64)
    queries = torch.as_tensor(list(query_frames), dtype=torch.float64)[:, None]
    gap = (frames[None, :] - queries).abs()  # (Q, T)
    weights = torch.exp(gap / temporal_scale) if temporal_weighting else torch.ones_like(gap)
    return torch.where(gap > 0, weights, torch.zeros_like(weights))


def sample_query_frames(num_frames: int, num_query_frames: int, generator: torch.Generator | None = None) -> list[int]:
    """`min(num_query_frames, T)` distinct frames, sorted, drawn with `generator`."""
    if num_query_frames < 1:
        raise InvalidInputError(f"`num_query_frames` must be positive, got {num_query_frames}.")
    order = torch.randperm(num_frames, generator=generator)[:num_query_frames]
    return sorted(order.tolist())


def select_points(visible: torch.Tensor, max_points: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices `(B, M)` of at most `max_points` points per sample, visible ones first in random order.

    Args:
        visible (`torch.Tensor` of shape `(B, P)`): bool, visibility at the query frame.
        max_points (`int`): M = min(max_points, P); samples with fewer visible points are filled with
            invisible ones (the caller masks them out).
    """
    keys = torch.rand(visible.shape, generator=generator).to(visible.device) + (~visible).float()
    return keys.argsort(dim=1)[:, : min(max_points, visible.shape[1])]


def tracking_loss(
    pred_video: torch.Tensor,
    gt_tracks: torch.Tensor,
    visibility: torch.Tensor,
    tracker: nn.Module,
    temporal_weighting: bool = True,
    num_query_frames: int = 2,
    max_points: int = 64,
    query_frames: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    temporal_scale: float = TEMPORAL_SCALE,
) -> torch.Tensor:
    """MoSA's L_track (pairs and normalisation in the module docstring).

    Args:
        pred_video (`torch.Tensor` of shape `(B, 3, T, H, W)`): the generated video in [-1, 1] (e.g. the
            decoded x0 prediction), part of the graph to train.
        gt_tracks (`torch.Tensor` of shape `(B, T, P, 2)`): ground-truth pixels `(u, v)`.
        visibility (`torch.Tensor` of shape `(B, T, P)`): bool, where the ground truth is seen.
        tracker (`nn.Module`): `tracker(video (B, 3, T, H, W), queries (B, M, 2), query_frame) -> (B, T, M, 2)`,
            e.g. `DenseTracker()`.
        temporal_weighting (`bool`, defaults to True): MoSA's `exp(|t - t'| / 2)`; False = static weight 1.
        num_query_frames (`int`, defaults to 2): query frames drawn when `query_frames` is None.
        max_points (`int`, defaults to 64): most points tracked per query frame and sample.
        query_frames (sequence of `int`, *optional*): the query frames (overrides the draw).
        generator (`torch.Generator`, *optional*): draws query frames and points.
        temporal_scale (`float`, defaults to 2.0): the 2 of `exp(|t - t'| / 2)`.

    Returns:
        `torch.Tensor`: scalar, pixels (0 with a gradient path when no pair is visible).
    """
    batch_size, _, num_frames, _, _ = check_video(pred_video, "pred_video")
    check_tracks(gt_tracks, visibility, batch_size, num_frames)
    if num_frames < 2:
        raise InvalidInputError(f"`pred_video` needs at least 2 frames for frame pairs, got {num_frames}.")
    if max_points < 1:
        raise InvalidInputError(f"`max_points` must be positive, got {max_points}.")
    if query_frames is None:
        query_frames = sample_query_frames(num_frames, num_query_frames, generator)
    query_frames = [int(frame) for frame in query_frames]
    if not query_frames or any(not 0 <= frame < num_frames for frame in query_frames):
        raise InvalidInputError(f"`query_frames` must be frames in [0, {num_frames - 1}], got {query_frames}.")
    visibility = visibility.bool() & torch.isfinite(gt_tracks).all(-1)
    gt_tracks = torch.nan_to_num(gt_tracks.float())  # pixels stay float32 for a half-precision video
    weights = pair_weights(query_frames, num_frames, temporal_weighting, temporal_scale)
    weights = weights.to(device=gt_tracks.device, dtype=torch.float32)  # (Q, T)

    total, weight_sum = gt_tracks.new_zeros(()), gt_tracks.new_zeros(())
    for index, frame in enumerate(query_frames):
        points = select_points(visibility[:, frame].cpu(), max_points, generator).to(gt_tracks.device)  # (B, M)
        tracks = gt_tracks.gather(2, points[:, None, :, None].expand(-1, num_frames, -1, 2))  # (B, T, M, 2)
        seen = visibility.gather(2, points[:, None, :].expand(-1, num_frames, -1))  # (B, T, M)
        predicted = tracker(pred_video, tracks[:, frame], query_frame=frame)  # (B, T, M, 2)
        pair_weight = weights[index][None, :, None] * (seen & seen[:, frame : frame + 1]).to(weights)  # (B, T, M)
        error = (predicted - tracks).abs().sum(-1)  # (B, T, M)
        total = total + (pair_weight * error).sum()
        weight_sum = weight_sum + pair_weight.sum()
    return total / weight_sum.clamp_min(1e-12)


def track_accuracy(
    predicted: torch.Tensor,
    gt_tracks: torch.Tensor,
    visibility: torch.Tensor,
    thresholds: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
) -> dict[str, float]:
    """Position accuracy of tracks against the ground truth where it is visible (TAP-Vid's `< delta`).

    Args:
        predicted (`torch.Tensor` of shape `(..., T, P, 2)`), gt_tracks (same shape): pixels `(u, v)`.
        visibility (`torch.Tensor` of shape `(..., T, P)`): bool, which positions count (e.g. ground truth
            visible, query frame excluded).
        thresholds (sequence of `float`): pixel distances for the `within_<d>px` fractions.

    Returns:
        `dict[str, float]`: `mean_px`, `median_px`, `within_<d>px` per threshold, and `count`.
    """
    if predicted.shape != gt_tracks.shape or tuple(visibility.shape) != tuple(gt_tracks.shape[:-1]):
        raise InvalidInputError(
            f"tracks {tuple(predicted.shape)} and {tuple(gt_tracks.shape)} and visibility "
            f"{tuple(visibility.shape)} must be (..., T, P, 2), (..., T, P, 2) and (..., T, P)."
        )
    errors = (predicted.double() - gt_tracks.double()).norm(dim=-1)[visibility.bool()]
    if errors.numel() == 0:
        raise InvalidInputError("`visibility` selects no position to score.")
    result = {"mean_px": float(errors.mean()), "median_px": float(errors.median())}
    result.update({f"within_{d:g}px": float((errors < d).double().mean()) for d in thresholds})
    result["count"] = errors.numel()
    return result
