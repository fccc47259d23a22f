"""DenseTracker: known sub-pixel shifts, gradients to the pixels (through a tiny conv "DiT"), bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from mosa_losses_clips import shifted_clip, shifted_tracks
from torch import nn

from kinevid.errors import InvalidInputError
from kinevid.losses import DenseTracker

NUM_FRAMES = 9


def _queries(count: int = 24, low: float = 12.0, high: float = 40.0, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(1, count, 2, generator=generator)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (1.37, -0.61), (-2.6, 1.9)])
def test_known_shift_gives_known_tracks(shift):
    video = shifted_clip(shift, NUM_FRAMES)
    queries = _queries(low=-10.0, high=10.0) + 31.5 - torch.tensor(shift) * (NUM_FRAMES - 1) / 2  # stay inside
    with torch.no_grad():
        tracks = DenseTracker()(video, queries)
    expected = shifted_tracks(queries, shift, NUM_FRAMES)
    assert tracks.shape == (1, NUM_FRAMES, 24, 2)
    torch.testing.assert_close(tracks[:, 0], queries)
    assert (tracks - expected).norm(dim=-1).max() < 0.25


def test_query_frame_in_the_middle_tracks_both_ways():
    shift = (1.1, 0.4)
    video = shifted_clip(shift, NUM_FRAMES)
    queries = _queries() + 4 * torch.tensor(shift)  # positions at frame 4
    with torch.no_grad():
        tracks = DenseTracker()(video, queries, query_frame=4)
    expected = shifted_tracks(queries - 4 * torch.tensor(shift), shift, NUM_FRAMES)
    assert (tracks - expected).norm(dim=-1).max() < 0.25


def test_detached_and_full_chains_give_the_same_tracks():
    video, queries = shifted_clip((0.7, 0.3), 5), _queries(8)
    detached = DenseTracker(detach_coordinates=True)(video, queries)
    full = DenseTracker(detach_coordinates=False)(video, queries)
    torch.testing.assert_close(detached, full)


def test_gradients_reach_the_parameters_of_the_module_making_the_video():
    torch.manual_seed(0)
    clip = shifted_clip((1.0, 0.5), 5)
    generator = nn.Conv3d(3, 3, kernel_size=3, padding=1)  # the "DiT": any module producing the video
    video = torch.tanh(generator(clip) + clip)
    queries = _queries(8)
    tracks = DenseTracker()(video, queries)
    loss = (tracks[:, 1:] - shifted_tracks(queries, (1.0, 0.5), 5)[:, 1:]).abs().sum()
    loss.backward()
    assert generator.weight.grad is not None
    assert torch.isfinite(generator.weight.grad).all() and generator.weight.grad.abs().sum() > 0


def _translate(frames: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Frames `(N, 3, H, W)` moved right by `shift` pixels (bilinear, differentiable in `shift`)."""
    height, width = frames.shape[-2:]
    v, u = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    source = torch.stack([(u - shift + 0.5) * 2 / width - 1, (v + 0.5) * 2 / height - 1], dim=-1)
    return F.grid_sample(frames, source.expand(len(frames), -1, -1, -1), padding_mode="border", align_corners=False)


def test_moving_the_pixels_moves_the_track_the_way_the_gradient_says():
    clip, queries = shifted_clip((1.0, 0.0), 3), _queries(6)
    shift = torch.zeros((), requires_grad=True)
    later = _translate(clip[0, :, 1:].transpose(0, 1), shift).transpose(0, 1)[None]  # frames 1, 2 moved
    video = torch.cat([clip[:, :, :1], later], dim=2)
    tracks = DenseTracker()(video, queries)
    tracks[:, 1:, :, 0].mean().backward()
    assert shift.grad == pytest.approx(1.0, abs=0.15)  # d u / d shift = 1 for a pure translation


def test_bad_input_raises_clear_errors():
    tracker = DenseTracker()
    video, queries = shifted_clip((0.0, 0.0), 3, size=32), _queries(4, 4, 20)
    with pytest.raises(InvalidInputError, match=r"`video` must have shape \(B, 3, T, H, W\)"):
        tracker(video[:, :2], queries)
    with pytest.raises(InvalidInputError, match="NaN"):
        tracker(video * float("nan"), queries)
    with pytest.raises(InvalidInputError, match="`queries` must have shape"):
        tracker(video, queries[0])
    with pytest.raises(InvalidInputError, match="`query_frame`"):
        tracker(video, queries, query_frame=3)
    with pytest.raises(InvalidInputError, match="`radius`"):
        DenseTracker(radius=0)
    with pytest.raises(InvalidInputError, match="`temperature`"):
        DenseTracker(temperature=0.0)


def test_half_precision_video_is_tracked_in_float32():
    video, queries = shifted_clip((1.0, 0.0), 3), _queries(4)
    tracks = DenseTracker()(video.bfloat16(), queries)
    assert tracks.dtype == torch.float32
    assert (tracks - shifted_tracks(queries, (1.0, 0.0), 3)).norm(dim=-1).max() < 0.5  # bf16 pixels, 8-bit mantissa
