"""lucas_kanade_tracks: a known shift, the forward-backward check, corners inside a mask, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mosa_losses_clips import shifted_clip, shifted_tracks, to_uint8

from kinevid.errors import InvalidInputError
from kinevid.losses import good_features, lucas_kanade_tracks


def test_known_shift_is_recovered():
    shift = (1.3, -0.7)
    frames = to_uint8(shifted_clip(shift, 7))
    points = np.random.default_rng(0).uniform(20, 44, (16, 2)).astype(np.float32)
    tracks, visibility = lucas_kanade_tracks(frames, points)
    expected = shifted_tracks(torch.tensor(points)[None], shift, 7)[0].numpy()
    assert tracks.shape == (7, 16, 2) and tracks.dtype == np.float32 and visibility.shape == (7, 16)
    assert visibility.all()
    assert np.abs(tracks - expected).max() < 0.25


def test_content_that_vanishes_fails_the_forward_backward_check():
    frames = to_uint8(shifted_clip((1.0, 0.0), 6))
    frames[3:] = to_uint8(shifted_clip((1.0, 0.0), 3, seed=9))  # frames 3.. show another texture
    _, visibility = lucas_kanade_tracks(frames, good_features(frames[0], max_points=40))
    assert visibility[:3].mean() > 0.9
    assert visibility[3:].mean() < 0.3
    assert not (visibility[4:] & ~visibility[3:4]).any()  # a lost point stays lost


def test_points_are_detected_inside_the_mask_when_none_are_given():
    frames = to_uint8(shifted_clip((0.5, 0.5), 3))
    mask = np.zeros((64, 64), dtype=bool)
    mask[10:30, 30:60] = True
    tracks, _ = lucas_kanade_tracks(frames, mask=mask, max_points=20)
    assert 5 <= tracks.shape[1] <= 20
    u, v = np.round(tracks[0]).astype(int).T
    assert mask[v, u].all()


def test_query_frame_in_the_middle():
    shift = (1.0, 0.5)
    frames = to_uint8(shifted_clip(shift, 5))
    points = np.array([[30.0, 30.0], [25.0, 35.0]], dtype=np.float32)
    tracks, visibility = lucas_kanade_tracks(frames, points, query_frame=2)
    expected = shifted_tracks(torch.tensor(points)[None] - 2 * torch.tensor(shift), shift, 5)[0].numpy()
    assert visibility.all() and np.abs(tracks - expected).max() < 0.25


def test_bad_input_raises_clear_errors():
    frames = to_uint8(shifted_clip((0.0, 0.0), 3, size=32))
    with pytest.raises(InvalidInputError, match="uint8 array of shape"):
        lucas_kanade_tracks(frames.astype(np.float32))
    with pytest.raises(InvalidInputError, match=r"`points` must be finite pixels of shape \(P, 2\)"):
        lucas_kanade_tracks(frames, np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="`mask` must have shape"):
        lucas_kanade_tracks(frames, mask=np.ones((16, 16), dtype=bool))
    with pytest.raises(InvalidInputError, match="`query_frame`"):
        lucas_kanade_tracks(frames, query_frame=5)
