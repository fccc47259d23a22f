"""tracking_loss: MoSA's pair weights and normalisation against loops, the known loss of a known shift, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from mosa_losses_clips import shifted_clip, shifted_tracks
from torch import nn

from kinevid.errors import InvalidInputError
from kinevid.losses import DenseTracker, pair_weights, tracking_loss

T, P = 6, 5


def test_pair_weights_are_mosas_exponential_and_static_ones():
    weights = pair_weights([0, 3], T)
    static = pair_weights([0, 3], T, temporal_weighting=False)
    for row, t in enumerate([0, 3]):
        for t2 in range(T):
            expected = 0.0 if t2 == t else math.exp(abs(t - t2) / 2)
            assert float(weights[row, t2]) == pytest.approx(expected, rel=1e-12)
            assert float(static[row, t2]) == (0.0 if t2 == t else 1.0)


class OffsetTracker(nn.Module):
    """Returns the ground truth plus a known error `offset(t, t', p)`: tests the loss's arithmetic alone."""

    def __init__(self, gt_tracks: torch.Tensor):
        super().__init__()
        self.gt_tracks = gt_tracks

    @staticmethod
    def offset(query_frame: int, frame: int, point: torch.Tensor) -> torch.Tensor:
        return torch.stack([0.3 * (frame - query_frame) + 0.1 * point, -0.2 * point * (frame != query_frame)], -1)

    def forward(self, video, queries, query_frame=0):
        # Identify each query by its ground-truth position at the query frame.
        distance = (queries[:, :, None] - self.gt_tracks[:, query_frame, None]).norm(dim=-1)  # (B, M, P)
        points = distance.argmin(-1)  # (B, M)
        gathered = self.gt_tracks.gather(2, points[:, None, :, None].expand(-1, T, -1, 2))
        frames = torch.arange(T)[None, :, None]
        return gathered + self.offset(query_frame, frames, points[:, None, :].float())


def test_loss_equals_the_weighted_mean_over_visible_pairs():
    generator = torch.Generator().manual_seed(0)
    gt = 10 + 40 * torch.rand(2, T, P, 2, generator=generator)
    visibility = torch.rand(2, T, P, generator=generator) > 0.3
    video = torch.zeros(2, 3, T, 16, 16)
    for temporal_weighting in (True, False):
        loss = tracking_loss(
            video, gt, visibility, OffsetTracker(gt), temporal_weighting, max_points=P, query_frames=[1, 4]
        )
        total = weight_sum = 0.0
        for b in range(2):
            for t in (1, 4):
                for t2 in range(T):
                    for p in range(P):
                        if t2 == t or not (visibility[b, t, p] and visibility[b, t2, p]):
                            continue
                        w = math.exp(abs(t - t2) / 2) if temporal_weighting else 1.0
                        error = OffsetTracker.offset(t, t2, torch.tensor(float(p))).abs().sum()
                        total, weight_sum = total + w * float(error), weight_sum + w
        assert float(loss) == pytest.approx(total / weight_sum, rel=1e-5)


def test_known_shift_gives_the_known_loss():
    video_shift, gt_shift = (1.2, 0.0), (1.0, 0.5)
    video = shifted_clip(video_shift, 7)
    queries = 16 + 20 * torch.rand(1, 12, 2, generator=torch.Generator().manual_seed(2))
    gt = shifted_tracks(queries, gt_shift, 7)
    visibility = torch.ones(1, 7, 12, dtype=torch.bool)
    loss = tracking_loss(video, gt, visibility, DenseTracker(), query_frames=[0, 3], max_points=12)
    # Tracked from t, a point is off by |t' - t| * (|1.2 - 1.0| + |0.0 - 0.5|) = 0.7 |t' - t| at t'.
    weights = pair_weights([0, 3], 7)
    gaps = (torch.arange(7)[None] - torch.tensor([[0], [3]])).abs()
    expected = float((weights * 0.7 * gaps).sum() / weights.sum())
    assert float(loss) == pytest.approx(expected, abs=0.05)
    same = tracking_loss(video, shifted_tracks(queries, video_shift, 7), visibility, DenseTracker(), query_frames=[0])
    assert float(same) < 0.1


def test_points_and_query_frames_are_drawn_from_the_generator():
    gt = 10 + 40 * torch.rand(1, T, 20, 2, generator=torch.Generator().manual_seed(3))
    visibility = torch.ones(1, T, 20, dtype=torch.bool)
    video = torch.zeros(1, 3, T, 16, 16)

    def run(seed):
        return tracking_loss(video, gt, visibility, OffsetTracker(gt), max_points=4,
                             generator=torch.Generator().manual_seed(seed))  # fmt: skip

    assert float(run(5)) == float(run(5))
    assert len({float(run(seed)) for seed in range(6)}) > 1


def test_gradients_reach_the_module_making_the_video():
    clip = shifted_clip((1.0, 0.0), 5)
    queries = 20 + 10 * torch.rand(1, 6, 2, generator=torch.Generator().manual_seed(4))
    conv = nn.Conv3d(3, 3, 3, padding=1)
    video = torch.tanh(clip + conv(clip))
    loss = tracking_loss(video, shifted_tracks(queries, (1.5, 0.0), 5), torch.ones(1, 5, 6, dtype=torch.bool),
                         DenseTracker(), query_frames=[0])  # fmt: skip
    loss.backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_bad_input_raises_clear_errors():
    video, gt = torch.zeros(1, 3, T, 16, 16), torch.zeros(1, T, P, 2)
    visibility = torch.ones(1, T, P, dtype=torch.bool)
    tracker = DenseTracker()
    with pytest.raises(InvalidInputError, match="`gt_tracks` must have shape"):
        tracking_loss(video, gt[:, :-1], visibility, tracker)
    with pytest.raises(InvalidInputError, match="`visibility` must have shape"):
        tracking_loss(video, gt, visibility[..., :-1], tracker)
    with pytest.raises(InvalidInputError, match="`pred_video`"):
        tracking_loss(video[:, :1], gt, visibility, tracker)
    with pytest.raises(InvalidInputError, match="`query_frames`"):
        tracking_loss(video, gt, visibility, tracker, query_frames=[T])


def _translate(frames: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Frames `(N, 3, H, W)` each moved right by `shifts[n]` pixels (bilinear, differentiable in `shifts`)."""
    count, _, height, width = frames.shape
    v, u = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    source_u = (u[None] - shifts[:, None, None] + 0.5) * 2 / width - 1
    source_v = ((v + 0.5) * 2 / height - 1).expand(count, -1, -1)
    grid = torch.stack([source_u, source_v], dim=-1)
    return torch.nn.functional.grid_sample(frames, grid, padding_mode="border", align_corners=False)


def test_descending_the_loss_gives_the_video_the_ground_truth_motion():
    """A clip whose content moves `speed` px per frame; the ground truth moves 1 px per frame."""
    image = shifted_clip((0.0, 0.0), 1)[0, :, 0]  # (3, H, W)
    queries = 22 + 20 * torch.rand(1, 8, 2, generator=torch.Generator().manual_seed(0))
    gt, visibility = shifted_tracks(queries, (1.0, 0.0), 5), torch.ones(1, 5, 8, dtype=torch.bool)
    speed = torch.tensor(0.3, requires_grad=True)
    optimizer = torch.optim.Adam([speed], lr=0.1)
    losses = []
    for _ in range(20):
        video = _translate(image.expand(5, -1, -1, -1), speed * torch.arange(5)).transpose(0, 1)[None]
        loss = tracking_loss(video, gt, visibility, DenseTracker(), query_frames=[0])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert abs(speed.item() - 1.0) < 0.15
    assert min(losses[-5:]) < 0.2 * losses[0]
