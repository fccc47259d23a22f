"""Chunk-frame motion features: round trip, invariance to position and heading, FK joints."""

from __future__ import annotations

import math

import torch

from kinevid.body.rotations import axis_angle_to_matrix, yaw_matrix
from kinevid.models.structure.representation import (
    CONTACTS,
    FEATURE_DIM,
    JOINTS,
    PELVIS,
    ChunkFrame,
    encode_features,
    features_to_world,
)
from kinevid.motion.motion import Motion, heading_angle


def random_motion(num_frames: int = 10, seed: int = 0) -> Motion:
    generator = torch.Generator().manual_seed(seed)
    rotations = axis_angle_to_matrix(0.4 * torch.randn(num_frames, 24, 3, generator=generator))
    translation = torch.randn(num_frames, 3, generator=generator) * 0.3 + torch.tensor([0.5, 0.9, -1.0])
    return Motion(rotations, translation, fps=12.0)


def as_batch(motion: Motion):
    pelvis = (motion.translation + motion.offsets[0])[None]
    return motion.rotations[None], pelvis, motion.offsets[None]


def test_encode_then_decode_recovers_the_world_motion():
    motion = random_motion()
    rotations, pelvis, offsets = as_batch(motion)
    frame = ChunkFrame.from_joints(motion.joints[None, 2])
    contacts = torch.randint(0, 2, (1, 10, 4)).float()
    features = encode_features(rotations, pelvis, offsets, frame, contacts)
    assert features.shape == (1, 10, FEATURE_DIM)
    torch.testing.assert_close(features[..., CONTACTS], contacts)
    world_rotations, world_pelvis, world_joints = features_to_world(features, frame, offsets)
    torch.testing.assert_close(world_rotations[0], motion.rotations, atol=1e-5, rtol=0)
    torch.testing.assert_close(world_pelvis, pelvis, atol=1e-5, rtol=0)
    torch.testing.assert_close(world_joints[0], motion.joints, atol=1e-5, rtol=0)


def test_chunk_frame_puts_the_anchor_at_the_origin_facing_plus_z():
    motion = random_motion()
    rotations, pelvis, offsets = as_batch(motion)
    frame = ChunkFrame.from_joints(motion.joints[None, 4])
    features = encode_features(rotations, pelvis, offsets, frame)
    joints = features[0, :, JOINTS].reshape(10, 24, 3)
    assert abs(float(heading_angle(joints[4]))) < 1e-5
    torch.testing.assert_close(features[0, 4, PELVIS][[0, 2]], torch.zeros(2), atol=1e-6, rtol=0)
    # Height is kept: the floor stays at y = 0.
    torch.testing.assert_close(features[0, :, PELVIS][:, 1], pelvis[0, :, 1], atol=1e-6, rtol=0)
    # The joint channels are the per-joint FK positions, rotated and shifted like any point.
    expected = (motion.joints - frame.origin) @ frame.rotation[0].T
    torch.testing.assert_close(joints, expected, atol=1e-5, rtol=0)


def test_features_do_not_depend_on_where_the_person_stands_or_faces():
    motion = random_motion()
    turn = yaw_matrix(torch.tensor(1.1))
    shift = torch.tensor([3.0, 0.0, -2.0])
    rotations = motion.rotations.clone()
    rotations[:, 0] = turn @ rotations[:, 0]
    pelvis = (motion.translation + motion.offsets[0]) @ turn.T + shift
    moved = Motion(rotations, pelvis - motion.offsets[0], fps=12.0)
    features = []
    for m in (motion, moved):
        r, p, o = as_batch(m)
        features.append(encode_features(r, p, o, ChunkFrame.from_joints(m.joints[None, -1])))
    torch.testing.assert_close(features[0], features[1], atol=1e-5, rtol=0)


def test_chunk_frame_point_maps_are_inverse_and_rigid():
    frame = ChunkFrame(rotation=yaw_matrix(torch.tensor([0.3, -2.0])), origin=torch.tensor([[1.0, 0, 2], [0, 0, -1]]))
    points = torch.randn(2, 5, 24, 3)
    back = frame.points_to_world(frame.points_to_chunk(points))
    torch.testing.assert_close(back, points, atol=1e-5, rtol=0)
    # By hand for one point: rotate about +Y by 0.3 (right-handed) after subtracting the origin.
    point = points[0, 0, 0] - frame.origin[0]
    angle = 0.3
    expected = torch.stack(
        [
            math.cos(angle) * point[0] + math.sin(angle) * point[2],
            point[1],
            -math.sin(angle) * point[0] + math.cos(angle) * point[2],
        ]
    )
    torch.testing.assert_close(frame.points_to_chunk(points)[0, 0, 0], expected, atol=1e-5, rtol=0)
