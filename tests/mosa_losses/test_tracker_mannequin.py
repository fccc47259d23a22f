"""DenseTracker on rendered mannequin clips (64 px) against the renderer's surface tracks, next to OpenCV LK."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinevid.data.cmu import CMUMocap
from kinevid.data.synth import SynthConfig, synthesize_clip
from kinevid.losses import DenseTracker, lucas_kanade_tracks, track_accuracy

TRIALS = ["02_01", "05_02", "13_29", "09_01", "16_15"]
NUM_CLIPS = 4


@pytest.fixture(scope="module")
def clips(cmu_root):
    trials = CMUMocap(cmu_root, trial_ids=TRIALS, fps=8, min_frames=17)
    config = SynthConfig(num_clips=NUM_CLIPS, num_frames=17, height=64, width=64, num_track_points=64, seed=3)
    return [synthesize_clip(trials, index, config)[0] for index in range(NUM_CLIPS)]


def _tracks_of_both(clip):
    """Ours and LK's tracks `(T, Q, 2)` of the points visible in frame 0, ground truth and its visibility."""
    visible = clip["track_visibility"].astype(bool)
    queries = clip["tracks"][0, visible[0]]
    video = torch.tensor(clip["frames"], dtype=torch.float32).permute(3, 0, 1, 2)[None] / 127.5 - 1
    with torch.no_grad():
        ours = DenseTracker()(video, torch.tensor(queries)[None])[0]
    lk, _ = lucas_kanade_tracks(clip["frames"], queries)
    scored = torch.tensor(visible[:, visible[0]])
    scored[0] = False  # the query frame is given, not tracked
    return ours, torch.tensor(lk), torch.tensor(clip["tracks"][:, visible[0]]), scored


def test_tracker_accuracy_on_mannequin_clips_is_on_par_with_lucas_kanade(clips):
    ours, lk, gt, scored = (torch.cat(parts, dim=1) for parts in zip(*map(_tracks_of_both, clips), strict=True))
    accuracy_ours = track_accuracy(ours, gt, scored)
    accuracy_lk = track_accuracy(lk, gt, scored)
    print(f"\nours {accuracy_ours}\nLK   {accuracy_lk}")
    assert accuracy_ours["count"] > 500
    assert accuracy_ours["median_px"] < 0.6
    assert accuracy_ours["within_2px"] > 0.8
    assert accuracy_ours["mean_px"] < 1.25 * accuracy_lk["mean_px"]
    assert accuracy_ours["within_1px"] > accuracy_lk["within_1px"] - 0.05


def test_track_accuracy_by_hand():
    predicted = torch.tensor([[[0.0, 0.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 0.5]]])  # (T=2, P=2, 2)
    gt = torch.zeros(2, 2, 2)
    visibility = torch.tensor([[True, True], [True, False]])
    accuracy = track_accuracy(predicted, gt, visibility, thresholds=(1.0, 6.0))
    assert accuracy["mean_px"] == pytest.approx(2.0) and accuracy["count"] == 3
    assert accuracy["within_1px"] == pytest.approx(1 / 3) and accuracy["within_6px"] == 1.0
    assert np.isclose(accuracy["median_px"], 1.0)
