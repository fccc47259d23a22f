"""Evaluator motion features: a per-frame explicit computation, invariances, mirroring, padding."""

from __future__ import annotations

import math

import pytest
import torch

from kinevid.body.skeleton import SMPL24
from kinevid.errors import InvalidInputError
from kinevid.eval.motion_features import (
    MOTION_FEATURE_DIM,
    joint_motion_features,
    mirror_joint_motion_features,
    pad_feature_sequences,
)
from kinevid.motion.motion import Motion


def _walking_joints(num_frames: int = 30, fps: float = 12.0) -> torch.Tensor:
    """A rest body translated forward along a curving path while turning, with swinging arms."""
    motion = Motion.rest(num_frames, fps)
    time = torch.arange(num_frames) / fps
    yaw = 0.3 * time
    cos, sin = torch.cos(yaw), torch.sin(yaw)
    rotation = torch.zeros(num_frames, 3, 3)
    rotation[:, 0, 0], rotation[:, 0, 2], rotation[:, 1, 1], rotation[:, 2, 0], rotation[:, 2, 2] = (
        cos,
        sin,
        1,
        -sin,
        cos,
    )
    rotations = motion.rotations.clone()
    rotations[:, 0] = rotation
    swing = 0.5 * torch.sin(2 * math.pi * time)
    rotations[:, 16] = torch.stack(
        [torch.stack([torch.cos(swing), -torch.sin(swing), 0 * swing], -1),
         torch.stack([torch.sin(swing), torch.cos(swing), 0 * swing], -1),
         torch.tensor([0.0, 0.0, 1.0]).expand(num_frames, 3)], dim=-2,
    )  # fmt: skip
    translation = motion.translation + torch.stack([torch.sin(yaw), 0 * yaw, 1.2 * time], -1)
    return Motion(rotations, translation, fps, offsets=motion.offsets).joints


def _frame_features_by_hand(joints: torch.Tensor, t: int, fps: float) -> list[float]:
    """Features of frame t computed joint by joint with scalar trigonometry."""

    def heading(frame: torch.Tensor) -> float:
        across = (frame[1] - frame[2]) + (frame[16] - frame[17])
        return math.atan2(-float(across[2]), float(across[0]))

    def to_heading(vector: torch.Tensor, angle: float) -> tuple[float, float, float]:
        # rotate by -angle about +Y: x' = cos x - sin z, z' = sin x + cos z
        x, y, z = (float(v) for v in vector)
        return math.cos(angle) * x - math.sin(angle) * z, y, math.sin(angle) * x + math.cos(angle) * z

    angle, next_angle = heading(joints[t]), heading(joints[t + 1])
    step = (next_angle - angle + math.pi) % (2 * math.pi) - math.pi
    root, next_root = joints[t, 0], joints[t + 1, 0]
    velocity = to_heading((next_root - root) * fps, angle)
    values = [step * fps, velocity[0], velocity[2], float(root[1])]
    for joint in range(1, 24):
        relative = joints[t, joint] - torch.tensor([float(root[0]), 0.0, float(root[2])])
        values += list(to_heading(relative, angle))
    for joint in range(24):
        values += list(to_heading((joints[t + 1, joint] - joints[t, joint]) * fps, angle))
    return values


def test_features_match_a_per_joint_computation():
    joints = _walking_joints().double()
    features = joint_motion_features(joints, fps=12.0)
    assert features.shape == (29, MOTION_FEATURE_DIM)
    for t in (0, 7, 28):
        torch.testing.assert_close(
            features[t], torch.tensor(_frame_features_by_hand(joints, t, 12.0), dtype=torch.float64)
        )


def test_features_are_invariant_to_start_position_and_facing():
    joints = _walking_joints().double()
    angle = torch.tensor(2.1, dtype=torch.float64)
    rotation = torch.tensor(
        [[math.cos(angle), 0, math.sin(angle)], [0, 1, 0], [-math.sin(angle), 0, math.cos(angle)]], dtype=torch.float64
    )
    moved = joints @ rotation.T + torch.tensor([4.0, 0.0, -3.0], dtype=torch.float64)
    torch.testing.assert_close(joint_motion_features(moved, 12.0), joint_motion_features(joints, 12.0))


def test_mirrored_features_equal_features_of_the_mirrored_motion():
    joints = _walking_joints()
    mirrored = (joints * torch.tensor([-1.0, 1.0, 1.0]))[:, SMPL24.mirror_indices]
    torch.testing.assert_close(
        mirror_joint_motion_features(joint_motion_features(joints, 12.0), SMPL24.mirror_indices),
        joint_motion_features(mirrored, 12.0),
        atol=1e-5,
        rtol=1e-5,
    )


def test_velocities_scale_with_fps():
    joints = _walking_joints()
    slow, fast = joint_motion_features(joints, 12.0), joint_motion_features(joints, 24.0)
    torch.testing.assert_close(fast[:, 73:], 2 * slow[:, 73:])
    torch.testing.assert_close(fast[:, 4:73], slow[:, 4:73])


@pytest.mark.parametrize(
    ("joints", "fps", "message"),
    [
        (torch.zeros(5, 22, 3), 12.0, "shape"),
        (torch.zeros(1, 24, 3), 12.0, "at least 2 frames"),
        (torch.full((4, 24, 3), float("nan")), 12.0, "NaN"),
        (torch.zeros(4, 24, 3), 0.0, "fps"),
    ],
)
def test_bad_input_raises(joints, fps, message):
    with pytest.raises(InvalidInputError, match=message):
        joint_motion_features(joints, fps)


def test_pad_feature_sequences():
    features, mask = pad_feature_sequences([torch.ones(3, 2), torch.ones(5, 2)])
    assert features.shape == (2, 5, 2)
    assert mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert features[0, 3:].abs().sum() == 0
