"""`Motion` methods checked against constructions with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kinevid.body import SMPL24, axis_angle_to_matrix, default_offsets, forward_kinematics, yaw_matrix
from kinevid.errors import InvalidInputError
from kinevid.motion import Motion, heading_angle

DTYPE = torch.float64


def posed_motion(num_frames=10, fps=12.0, seed=0):
    """A walking-like motion: small random joint rotations, a turned and moving root."""
    generator = torch.Generator().manual_seed(seed)
    axis_angle = 0.3 * torch.randn(num_frames, 24, 3, generator=generator, dtype=DTYPE)
    axis_angle[:, 0] = torch.tensor([0.05, 0.7, -0.03], dtype=DTYPE)  # root: turned about +Y, nearly upright
    translation = torch.randn(num_frames, 3, generator=generator, dtype=DTYPE) * 0.05
    translation[:, 2] += torch.arange(num_frames, dtype=DTYPE) * 0.1
    return Motion(axis_angle_to_matrix(axis_angle), translation, fps, offsets=default_offsets(dtype=DTYPE))


def turned(motion, yaw, shift):
    """The same motion turned by `yaw` about +Y (about the world origin) and shifted by `shift`."""
    rotation = yaw_matrix(torch.tensor(yaw, dtype=DTYPE))
    rotations = motion.rotations.clone()
    rotations[:, 0] = rotation @ rotations[:, 0]
    pelvis = motion.translation + motion.offsets[0]
    translation = pelvis @ rotation.T + torch.tensor(shift, dtype=DTYPE) - motion.offsets[0]
    return Motion(rotations, translation, motion.fps, offsets=motion.offsets)


def test_joints_are_forward_kinematics():
    motion = posed_motion()
    expected, _ = forward_kinematics(motion.rotations, motion.translation, motion.offsets, SMPL24)
    torch.testing.assert_close(motion.joints, expected)
    assert motion.num_frames == len(motion) == 10 and motion.duration == pytest.approx(10 / 12)


# ------------------------------------------------------------------------------------ resample
def test_resample_frame_count_and_constant_velocity():
    num_frames, velocity = 13, torch.tensor([0.4, 0.0, -1.3], dtype=DTYPE)
    translation = torch.arange(num_frames, dtype=DTYPE)[:, None] / 12.0 * velocity + 0.2
    rotations = torch.eye(3, dtype=DTYPE).expand(num_frames, 24, 3, 3).clone()
    motion = Motion(rotations, translation, 12.0, offsets=default_offsets(dtype=DTYPE))
    for fps in (30.0, 20.0, 7.0, 12.0):
        resampled = motion.resample(fps)
        expected_count = sum(1 for k in range(1000) if k / fps <= (num_frames - 1) / 12.0 + 1e-12)
        assert resampled.num_frames == expected_count and resampled.fps == fps
        times = torch.arange(expected_count, dtype=DTYPE)[:, None] / fps
        torch.testing.assert_close(resampled.translation, times * velocity + 0.2)
    with pytest.raises(InvalidInputError, match="fps"):
        motion.resample(0.0)


@pytest.mark.parametrize("angle", [1.0, 2.9, -2.9])
def test_resample_slerps_rotations(angle):
    axis = torch.nn.functional.normalize(torch.tensor([0.2, 1.0, -0.4], dtype=DTYPE), dim=0)
    rotations = torch.eye(3, dtype=DTYPE).expand(2, 24, 3, 3).clone()
    rotations[1, 0] = axis_angle_to_matrix(angle * axis)
    rotations[1, 18] = axis_angle_to_matrix(torch.tensor([2 * math.pi - 0.4, 0.0, 0.0], dtype=DTYPE))  # = -0.4 rad
    motion = Motion(rotations, torch.zeros(2, 3, dtype=DTYPE), 1.0, offsets=default_offsets(dtype=DTYPE))
    middle = motion.resample(4.0).rotations[2]  # t = 0.5 s
    torch.testing.assert_close(middle[0], axis_angle_to_matrix(0.5 * angle * axis))
    torch.testing.assert_close(middle[18], axis_angle_to_matrix(torch.tensor([-0.2, 0.0, 0.0], dtype=DTYPE)))
    quarter = motion.resample(4.0).rotations[1]
    torch.testing.assert_close(quarter[0], axis_angle_to_matrix(0.25 * angle * axis))


# ------------------------------------------------------------------------------------ slice
def test_slice():
    motion = posed_motion()
    part = motion.slice(2, 5)
    assert part.num_frames == 3 and part.fps == motion.fps
    torch.testing.assert_close(part.joints, motion.joints[2:5])
    torch.testing.assert_close(motion.slice(-3).joints, motion.joints[-3:])
    with pytest.raises(InvalidInputError, match="empty"):
        motion.slice(5, 5)


# ------------------------------------------------------------------------------------ canonicalize
def test_canonicalize_puts_frame_0_at_origin_on_floor_facing_z():
    canonical = posed_motion().canonicalize()
    joints = canonical.joints
    torch.testing.assert_close(joints[0, 0, [0, 2]], torch.zeros(2, dtype=DTYPE))
    assert abs(float(joints[..., 1].min())) < 1e-12
    across = (joints[0, 1] - joints[0, 2]) + (joints[0, 16] - joints[0, 17])  # right -> left
    forward = torch.linalg.cross(across, torch.tensor([0.0, 1.0, 0.0], dtype=DTYPE))  # left x up = forward
    assert abs(float(forward[0])) < 1e-9 and float(forward[2]) > 0
    assert abs(float(heading_angle(joints[0]))) < 1e-9


@pytest.mark.parametrize("yaw", [0.9, -2.5, math.pi])
def test_canonicalize_undoes_a_known_yaw_and_shift(yaw):
    motion = posed_motion()
    moved = turned(motion, yaw, [1.5, 0.3, -4.0])
    heading_before = heading_angle(motion.joints[0])
    heading_after = heading_angle(moved.joints[0])
    assert math.remainder(float(heading_after - heading_before) - yaw, 2 * math.pi) == pytest.approx(0, abs=1e-9)
    torch.testing.assert_close(moved.canonicalize().joints, motion.canonicalize().joints)
    # Bone lengths and the pose relative to the pelvis (up to the yaw) are unchanged.
    rotation = yaw_matrix(-heading_before)
    relative = (motion.joints - motion.joints[:, :1]) @ rotation.T
    canonical = motion.canonicalize().joints
    torch.testing.assert_close(canonical - canonical[:, :1], relative)


# ------------------------------------------------------------------------------------ mirror
def test_mirror_swaps_sides_and_negates_x():
    motion = posed_motion()
    mirrored = motion.mirror()
    swap = SMPL24.mirror_indices
    expected = motion.joints[:, swap] * torch.tensor([-1.0, 1.0, 1.0], dtype=DTYPE)
    torch.testing.assert_close(mirrored.joints, expected)
    assert swap[SMPL24.index("left_wrist")] == SMPL24.index("right_wrist")
    twice = mirrored.mirror()
    torch.testing.assert_close(twice.joints, motion.joints)
    torch.testing.assert_close(twice.rotations, motion.rotations)
    torch.testing.assert_close(twice.offsets, motion.offsets)
    assert torch.linalg.det(mirrored.rotations).sub(1).abs().max() < 1e-9  # still proper rotations


# ------------------------------------------------------------------------------------ validate, to
def test_validate_accepts_a_good_motion():
    motion = posed_motion()
    assert motion.validate() is motion


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m.rotations.__setitem__((3, 5, 0, 0), float("nan")), "rotations"),
        (lambda m: m.translation.__setitem__((0, 1), float("inf")), "translation"),
        (lambda m: setattr(m, "translation", m.translation[:-1]), "translation"),
        (lambda m: setattr(m, "rotations", m.rotations[:, :22]), "rotations"),
        (lambda m: setattr(m, "offsets", m.offsets[:20]), "offsets"),
        (lambda m: setattr(m, "betas", torch.zeros(16, dtype=DTYPE)), "betas"),
        (lambda m: setattr(m, "fps", 0.0), "fps"),
        (lambda m: setattr(m, "fps", float("nan")), "fps"),
        (lambda m: m.rotations.__setitem__((2, 4), 1.5 * m.rotations[2, 4]), "rotations"),
        (lambda m: m.rotations.__setitem__((2, 4), -m.rotations[2, 4]), "rotations"),
    ],
)
def test_validate_names_the_field(change, field):
    motion = posed_motion()
    change(motion)
    with pytest.raises(InvalidInputError, match=field):
        motion.validate("walk.npz")


def test_validate_varying_bone_lengths():
    """With one (24, 3) offset table and proper rotations bone lengths cannot vary; a near-rotation
    that passes the orthonormality check (scale 1 + 4e-4) on a huge body makes them drift."""
    motion = posed_motion()
    motion = Motion(motion.rotations.clone(), motion.translation, motion.fps, offsets=motion.offsets * 20)
    motion.rotations[5] *= 1 + 4e-4
    with pytest.raises(InvalidInputError, match="bone lengths"):
        motion.validate("walk.npz")


def test_to_dtype():
    motion = posed_motion()
    single = motion.to(dtype=torch.float32)
    for name in ("rotations", "translation", "offsets", "betas"):
        assert getattr(single, name).dtype == torch.float32
    assert single.joints.dtype == torch.float32
    torch.testing.assert_close(single.joints.double(), motion.joints, atol=1e-5, rtol=0)
    assert motion.dtype == torch.float64  # the original is untouched


@pytest.mark.parametrize("sigma", [0.7, 1.0, 1.5])
def test_smooth_matches_scipy_filter_and_rotation_mean(sigma):
    """Translation: `scipy.ndimage.gaussian_filter1d(mode="nearest", truncate=3)`; rotations: scipy's weighted
    (Markley) rotation mean over the same window and weights, computed independently."""
    from scipy.ndimage import gaussian_filter1d
    from scipy.spatial.transform import Rotation

    motion = posed_motion(num_frames=16)
    smoothed = motion.smooth(sigma)
    expected = gaussian_filter1d(motion.translation.numpy(), sigma, axis=0, mode="nearest", truncate=3.0)
    torch.testing.assert_close(smoothed.translation, torch.from_numpy(expected), rtol=0, atol=1e-12)
    impulse = np.zeros(41)
    impulse[20] = 1.0
    kernel = gaussian_filter1d(impulse, sigma, mode="constant", truncate=3.0)
    taps = np.nonzero(kernel)[0] - 20
    for frame in (0, 5, 15):
        window = np.clip(frame + taps, 0, motion.num_frames - 1)
        for joint in (0, 7, 23):
            mean = Rotation.from_matrix(motion.rotations[window, joint].numpy()).mean(weights=kernel[taps + 20])
            torch.testing.assert_close(
                smoothed.rotations[frame, joint], torch.from_numpy(mean.as_matrix()), atol=1e-9, rtol=0
            )


def test_smooth_keeps_constant_motion_and_lowers_jerk():
    still = Motion.rest(num_frames=9, fps=12.0)
    torch.testing.assert_close(still.smooth(1.5).rotations, still.rotations)
    motion = posed_motion(num_frames=30)
    assert torch.equal(motion.smooth(0).rotations, motion.rotations)
    # A root moving at constant velocity stays on its line away from the edges.
    velocity = torch.tensor([0.1, 0.0, 0.05], dtype=DTYPE)
    line = Motion(motion.rotations, torch.arange(30, dtype=DTYPE)[:, None] * velocity, 12.0, offsets=motion.offsets)
    torch.testing.assert_close(line.smooth(1.0).translation[4:-4], line.translation[4:-4])

    def jerk(m: Motion) -> float:
        joints = m.joints
        return float((joints[3:] - 3 * joints[2:-1] + 3 * joints[1:-2] - joints[:-3]).norm(dim=-1).mean())

    assert jerk(motion.smooth(1.0)) < 0.5 * jerk(motion)
    rotations = motion.smooth(1.0).rotations
    torch.testing.assert_close(rotations @ rotations.transpose(-1, -2), torch.eye(3, dtype=DTYPE).expand_as(rotations))
    assert torch.allclose(torch.linalg.det(rotations), torch.ones((), dtype=DTYPE))


@pytest.mark.parametrize("sigma", [-1.0, float("nan"), float("inf")])
def test_smooth_rejects_bad_sigma(sigma):
    with pytest.raises(InvalidInputError, match="sigma"):
        posed_motion().smooth(sigma)
