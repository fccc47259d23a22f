"""EchoMotion's 235-dim layout: channel meaning, round trips, token split."""

from __future__ import annotations

import pytest
import torch

from kinevid.body import matrix_to_rotation_6d, rotation_6d_to_matrix
from kinevid.errors import InvalidInputError
from kinevid.motion import Motion
from kinevid.motion.codecs import (
    MOTION_FEATURE_DIM,
    TOKENS_PER_FRAME,
    decode_echomotion,
    encode_echomotion,
    features_to_joints,
    merge_motion_tokens,
    split_motion_tokens,
)


def test_sizes():
    assert MOTION_FEATURE_DIM == 235 and TOKENS_PER_FRAME == 51


def test_channels_hold_what_the_layout_says(cmu_motions):
    motion = cmu_motions["07_01"]
    motion.betas = torch.linspace(-1, 1, 10, dtype=torch.float64)
    features = encode_echomotion(motion)
    num_frames = motion.num_frames
    assert features.shape == (num_frames, 235) and features.dtype == torch.float64
    assert torch.equal(features[:, 0:3], motion.translation)
    assert torch.allclose(features[:, 3:75], motion.joints.reshape(num_frames, 72))
    # 6D = first two ROWS of each matrix, row-major (checked element by element, and against kinevid.body).
    rotations = features[:, 75:219].reshape(num_frames, 24, 6)
    assert torch.equal(rotations[..., 0:3], motion.rotations[..., 0, :])
    assert torch.equal(rotations[..., 3:6], motion.rotations[..., 1, :])
    assert torch.equal(rotations, matrix_to_rotation_6d(motion.rotations))
    # gamma: identity at frame 0, then R_t = gamma_t R_{t-1} for the global orientation.
    gamma = rotation_6d_to_matrix(features[:, 219:225])
    assert torch.allclose(gamma[0], torch.eye(3, dtype=torch.float64))
    for t in range(1, num_frames, 17):
        assert torch.allclose(gamma[t] @ motion.rotations[t - 1, 0], motion.rotations[t, 0], atol=1e-12)
    assert torch.equal(features[:, 225:235], motion.betas.expand(num_frames, 10))


@pytest.mark.parametrize("trial_id", ["07_01", "09_01", "13_10"])
def test_encode_decode_round_trip_on_cmu(cmu_motions, trial_id):
    motion = cmu_motions[trial_id]
    features = encode_echomotion(motion.to(dtype=torch.float32))
    decoded = decode_echomotion(features, fps=motion.fps, offsets=motion.offsets)
    assert decoded.fps == motion.fps and decoded.num_frames == motion.num_frames
    assert (decoded.joints.double() - motion.joints).abs().max() < 1e-5
    # The auxiliary joint channels agree with forward kinematics of the rotation channels.
    assert (
        features_to_joints(features, motion.offsets.float()) - features[:, 3:75].unflatten(-1, (24, 3))
    ).abs().max() < 1e-5
    decoded.validate()


def test_decode_accepts_unnormalised_6d_and_defaults():
    motion = Motion.rest(5, fps=16.0)
    features = encode_echomotion(motion)
    features[:, 75:219] *= 3.0  # scaled 6D halves still decode to the same rotations
    decoded = decode_echomotion(features, fps=16.0)
    assert torch.allclose(decoded.joints, motion.joints, atol=1e-6)
    assert decoded.betas.shape == (10,)


def test_split_merge_round_trip_batched(cmu_motions):
    features = torch.stack([encode_echomotion(m.slice(0, 10)) for m in cmu_motions.values()])  # (3, 10, 235)
    tokens = split_motion_tokens(features)
    assert tokens["position"].shape == (3, 10, 25, 3)
    assert tokens["rotation"].shape == (3, 10, 25, 6)
    assert tokens["shape"].shape == (3, 10, 1, 10)
    assert sum(t.shape[-2] for t in tokens.values()) == TOKENS_PER_FRAME
    assert torch.equal(tokens["position"][..., 0, :], features[..., 0:3])  # root translation first
    assert torch.equal(tokens["position"][..., 1:, :].flatten(-2), features[..., 3:75])
    assert torch.equal(tokens["rotation"][..., 24, :], features[..., 219:225])  # orientation change last
    assert torch.equal(merge_motion_tokens(tokens), features)
    assert torch.equal(merge_motion_tokens(split_motion_tokens(features[0, 0])), features[0, 0])


def test_bad_shapes_raise():
    with pytest.raises(InvalidInputError, match="235"):
        split_motion_tokens(torch.zeros(4, 234))
    with pytest.raises(InvalidInputError, match="235"):
        decode_echomotion(torch.zeros(4, 263), fps=20.0)
    with pytest.raises(InvalidInputError, match="NaN"):
        decode_echomotion(torch.full((4, 235), float("nan")), fps=20.0)
    tokens = split_motion_tokens(torch.zeros(2, 235))
    with pytest.raises(InvalidInputError, match="lacks"):
        merge_motion_tokens({"position": tokens["position"]})
    tokens["shape"] = torch.zeros(3, 1, 10)
    with pytest.raises(InvalidInputError, match="shape"):
        merge_motion_tokens(tokens)
