"""The optional CoTracker3 adapter: layout conversions against a stand-in predictor, missing package / weights."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from kinevid.errors import MissingWeightsError
from kinevid.losses import CoTrackerAdapter, cotracker_tracks, load_cotracker3, tracking_loss


class StandIn(nn.Module):
    """Follows CoTracker's interface: every point moves +1 px in x per frame from its query (t, x, y)."""

    def forward(self, video, queries):
        self.seen = (video.detach().clone(), queries.clone())
        batch_size, num_frames = video.shape[:2]
        frames = torch.arange(num_frames, dtype=video.dtype)[None, :, None]
        tracks = queries[:, None, :, 1:].expand(-1, num_frames, -1, -1).clone()
        tracks[..., 0] += frames - queries[:, None, :, 0]
        visibility = torch.ones(batch_size, num_frames, queries.shape[1], dtype=torch.bool)
        visibility[:, -1, 0] = False
        return tracks, visibility


def test_adapter_converts_layouts_both_ways():
    stand_in = StandIn()
    video = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    queries = torch.tensor([[[3.0, 4.0], [5.0, 6.0]]]).expand(2, -1, -1)
    tracks = CoTrackerAdapter(stand_in)(video, queries, query_frame=2)
    frames, sent = stand_in.seen
    torch.testing.assert_close(frames, (video.transpose(1, 2) + 1) * 127.5)  # (B, T, 3, H, W) in [0, 255]
    assert torch.equal(sent[..., 0], torch.full((2, 2), 2.0)) and torch.equal(sent[..., 1:], queries)
    assert tracks.shape == (2, 5, 2, 2)
    torch.testing.assert_close(tracks[:, 2], queries)
    torch.testing.assert_close(tracks[:, 4, :, 0], queries[..., 0] + 2)
    loss = tracking_loss(
        video, tracks, torch.ones(2, 5, 2, dtype=torch.bool), CoTrackerAdapter(stand_in), query_frames=[2]
    )
    assert float(loss) == 0.0  # it tracks into its own tracks


def test_cotracker_tracks_of_uint8_frames():
    frames = np.zeros((4, 16, 16, 3), dtype=np.uint8)
    tracks, visibility = cotracker_tracks(frames, np.array([[1.0, 2.0]]), StandIn())
    assert tracks.shape == (4, 1, 2) and tracks.dtype == np.float32 and visibility.dtype == bool
    np.testing.assert_allclose(tracks[:, 0, 0], [1.0, 2.0, 3.0, 4.0])
    assert not visibility[-1, 0] and visibility[:-1].all()


def test_missing_checkpoint_or_package_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(MissingWeightsError, match="checkpoint not found"):
        load_cotracker3(tmp_path / "scaled_offline.pth")
    checkpoint = tmp_path / "scaled_offline.pth"
    checkpoint.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "cotracker", None)  # import fails as if not installed
    with pytest.raises(MissingWeightsError, match="`cotracker` package"):
        load_cotracker3(checkpoint)
