"""Floating of planted feet, on constructed motions: a still foot above its contact height floats."""

from __future__ import annotations

import json

import pytest
import torch

from kinevid.motion.contacts import FOOT_JOINTS, contact_height_record, contact_heights
from kinevid.motion.metrics import FLOAT_MARGIN, foot_skating_ratio, planted_foot_floating

FPS = 12.0
LEFT, RIGHT = (0, 1), (2, 3)  # ankle, toe positions in FOOT_JOINTS


def feet_at(lifts: tuple[float, float], num_frames: int = 13, right_speed: float = 0.0) -> torch.Tensor:
    """Joints `(T, 24, 3)`: both feet's ankle and toe at their contact height plus `lifts` (left, right)
    metres; the right foot optionally gliding along +Z at `right_speed` m/s; other joints at 1 m."""
    joints = torch.zeros(num_frames, 24, 3, dtype=torch.float64)
    joints[..., 1] = 1.0
    heights = contact_heights()
    for (ankle, toe), lift in zip((LEFT, RIGHT), lifts, strict=True):
        for position in (ankle, toe):
            joints[:, FOOT_JOINTS[position], 1] = heights[position] + lift
            joints[:, FOOT_JOINTS[position], 0] = 0.1 if position < 2 else -0.1
    time = torch.arange(num_frames, dtype=torch.float64) / FPS
    for position in RIGHT:
        joints[:, FOOT_JOINTS[position], 2] = right_speed * time
    return joints


def test_a_still_foot_three_cm_above_its_contact_height_floats():
    assert FLOAT_MARGIN < 0.03
    assert float(planted_foot_floating(feet_at((0.03, 0.03)), FPS)) == pytest.approx(1.0)
    assert float(planted_foot_floating(feet_at((0.03, 0.0)), FPS)) == pytest.approx(0.5)  # one foot of two


def test_a_foot_on_the_floor_does_not_float():
    assert float(planted_foot_floating(feet_at((0.0, 0.0)), FPS)) == 0.0
    assert float(planted_foot_floating(feet_at((0.01, -0.02)), FPS)) == 0.0  # within the margin, or sunk


def test_a_moving_foot_is_not_planted():
    # The right foot hovers but glides at 1 m/s: not planted, so only the left (on the floor) counts.
    assert float(planted_foot_floating(feet_at((0.0, 0.05), right_speed=1.0), FPS)) == 0.0
    assert torch.isnan(planted_foot_floating(feet_at((0.05, 0.05), right_speed=1.0)[:, :], FPS, speed_threshold=0.0))


def test_tiptoe_is_planted_on_the_toe():
    joints = feet_at((0.0, 0.0))
    ankle = FOOT_JOINTS[LEFT[0]]
    joints[:, ankle, 1] += 0.08  # heel raised 8 cm, toe still on the floor
    assert float(planted_foot_floating(joints, FPS)) == 0.0


def test_the_skating_metric_does_not_see_a_hovering_foot():
    joints = feet_at((0.06, 0.06))  # toes 11 cm up: above the skating metric's 5 cm contact height
    joints[..., 2] += (0.8 * torch.arange(joints.shape[0], dtype=torch.float64) / FPS)[:, None]
    assert float(foot_skating_ratio(joints, FPS)) == 0.0
    assert float(planted_foot_floating(feet_at((0.06, 0.06)), FPS)) == 1.0


def test_contact_heights_are_measured_and_documented():
    record = contact_height_record()
    ankle, toe = contact_heights()[:2]
    assert 0.05 < toe < ankle < 0.15  # metres: the toe sits lower than the ankle on a planted foot
    assert record["provenance"]["script"] == "scripts/derive_contact_heights.py"
    assert all(stats["transitions"] > 1000 for stats in record["statistics"].values())
    json.dumps(record)


def test_batched_shapes():
    batch = torch.stack([feet_at((0.03, 0.03)), feet_at((0.0, 0.0))])
    torch.testing.assert_close(planted_foot_floating(batch, FPS), torch.tensor([1.0, 0.0], dtype=torch.float64))
