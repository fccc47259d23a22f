"""Foot contact labels against a literal re-implementation of HumanML3D's `foot_detect`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.motion.contacts import foot_contact_transitions, foot_contacts


def humanml3d_foot_detect(positions: np.ndarray, threshold: float = 0.002) -> np.ndarray:
    """HumanML3D's rule written out per joint and frame: (T - 1, 4) for joints 7, 10, 8, 11."""
    labels = np.zeros((len(positions) - 1, 4), dtype=bool)
    for column, joint in enumerate((7, 10, 8, 11)):
        for t in range(len(positions) - 1):
            dx, dy, dz = positions[t + 1, joint] - positions[t, joint]
            labels[t, column] = dx * dx + dy * dy + dz * dz < threshold
    return labels


def random_walk(num_frames: int = 60, step: float = 0.045, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    steps = torch.randn(num_frames, 24, 3, generator=generator, dtype=torch.float64) * step / np.sqrt(3)
    return steps.cumsum(0)


def test_matches_humanml3d_at_20_fps():
    joints = random_walk()
    expected = humanml3d_foot_detect(joints.numpy())
    assert 0.1 < expected.mean() < 0.9  # both labels occur
    labels = foot_contact_transitions(joints, fps=20.0)
    assert labels.shape == (59, 4)
    assert np.array_equal(labels.numpy(), expected)
    per_frame = foot_contacts(joints, fps=20.0)
    assert per_frame.shape == (60, 4)
    assert torch.equal(per_frame[:-1], labels) and torch.equal(per_frame[-1], labels[-1])


def test_labels_follow_speed_not_frame_rate():
    # A foot moving at 0.5 m/s is in contact (bound ~0.894 m/s), one at 1.2 m/s is not, at any fps.
    for fps in (12.0, 20.0, 60.0):
        for speed, expected in ((0.5, True), (1.2, False)):
            time = torch.arange(30, dtype=torch.float64) / fps
            joints = torch.zeros(30, 24, 3, dtype=torch.float64)
            joints[:, :, 2] = speed * time[:, None]
            assert bool(foot_contacts(joints, fps).all()) is expected


def test_height_threshold_and_batches():
    joints = torch.zeros(2, 10, 24, 3)
    joints[1, :, :, 1] = 0.3  # second sequence: feet 30 cm up, still
    labels = foot_contacts(joints, 20.0, height_threshold=0.1)
    assert labels.shape == (2, 10, 4)
    assert labels[0].all() and not labels[1].any()
    assert foot_contacts(joints[:, :1], 20.0).all()  # a single frame counts as contact


def test_bad_input():
    with pytest.raises(InvalidInputError, match="shape"):
        foot_contacts(torch.zeros(10, 3), 20.0)
    with pytest.raises(InvalidInputError, match="fps"):
        foot_contacts(torch.zeros(10, 24, 3), -1.0)
