"""HumanML3D 263-dim features: round trips, an independent decoder, the heading convention, and a
literal implementation of HumanML3D's `process_file` on CMU clips."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from kinevid.body import axis_angle_to_matrix
from kinevid.errors import InvalidInputError
from kinevid.motion import Motion
from kinevid.motion.codecs.humanml3d import (
    T2M_KINEMATIC_CHAINS,
    T2M_RAW_DIRECTIONS,
    decode_humanml3d,
    decode_humanml3d_joints,
    encode_humanml3d,
    encode_humanml3d_joints,
    humanml3d_joints,
)
from kinevid.motion.contacts import foot_contact_transitions

# ----------------------------------------------------------------------------- independent references


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w1, x1, y1, z1 = np.moveaxis(a, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )


def quaternion_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """q v q^-1 with v as a pure quaternion."""
    pure = np.concatenate([np.zeros((*v.shape[:-1], 1)), v], axis=-1)
    conjugate = q * np.array([1.0, -1.0, -1.0, -1.0])
    return quaternion_multiply(quaternion_multiply(q, pure), conjugate)[..., 1:]


def reference_decode(features: np.ndarray) -> np.ndarray:
    """anchors.md section 5, step by step with quaternions: (T, 263) -> (T, 22, 3)."""
    num_frames = len(features)
    angle = np.zeros(num_frames)
    for t in range(1, num_frames):
        angle[t] = angle[t - 1] + features[t - 1, 0]
    q = np.stack([np.cos(angle), np.zeros(num_frames), np.sin(angle), np.zeros(num_frames)], axis=-1)
    q_inverse = q * np.array([1.0, -1.0, -1.0, -1.0])
    root = np.zeros((num_frames, 3))
    for t in range(1, num_frames):
        step = quaternion_rotate(q_inverse[t], np.array([features[t - 1, 1], 0.0, features[t - 1, 2]]))
        root[t] = root[t - 1] + step
    root[:, 1] = features[:, 3]
    joints = np.zeros((num_frames, 22, 3))
    joints[:, 0] = root
    for t in range(num_frames):
        for j in range(21):
            local = features[t, 4 + 3 * j : 7 + 3 * j]
            joints[t, j + 1] = quaternion_rotate(q_inverse[t], local) + np.array([root[t, 0], 0.0, root[t, 2]])
    return joints


def column_6d_to_matrix(six: np.ndarray) -> np.ndarray:
    """HumanML3D's cont6d_to_matrix: the 6 numbers are the first two COLUMNS."""
    x = six[..., :3] / np.linalg.norm(six[..., :3], axis=-1, keepdims=True)
    z = np.cross(x, six[..., 3:])
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def reference_recover_from_rot(features: np.ndarray, bone_lengths: np.ndarray) -> np.ndarray:
    """HumanML3D's recover_from_rot written out: FK along its chains from the rotation channels."""
    num_frames = len(features)
    angle = np.concatenate([[0.0], np.cumsum(features[:-1, 0])])
    root_rotation = np.zeros((num_frames, 3, 3))  # quaternion (cos a, 0, sin a, 0) = rotation by 2a about +Y
    root_rotation[:, 0, 0] = root_rotation[:, 2, 2] = np.cos(2 * angle)
    root_rotation[:, 0, 2] = np.sin(2 * angle)
    root_rotation[:, 2, 0] = -np.sin(2 * angle)
    root_rotation[:, 1, 1] = 1.0
    local = column_6d_to_matrix(features[:, 67:193].reshape(num_frames, 21, 6))
    joints = np.zeros((num_frames, 22, 3))
    joints[:, 0] = reference_decode(features)[:, 0]
    directions = np.array(T2M_RAW_DIRECTIONS, dtype=np.float64)
    for chain in T2M_KINEMATIC_CHAINS:
        matrix = root_rotation
        for parent, joint in itertools.pairwise(chain):
            matrix = matrix @ local[:, joint - 1]
            joints[:, joint] = joints[:, parent] + matrix @ (directions[joint] * bone_lengths[joint])
    return joints


# ----------------------------------------------------------------------------- constructed motions


def walk(heading: float, speed: float = 1.2, fps: float = 30.0, seconds: float = 3.0, yaw_rate: float = 0.0):
    """The rest pose turned to `heading` (radians about +Y, 0 = +Z), walking forward at `speed`,
    turning at `yaw_rate` rad/s."""
    num_frames = round(seconds * fps) + 1
    time = torch.arange(num_frames, dtype=torch.float64) / fps
    yaw = heading + yaw_rate * time
    rotations = torch.eye(3, dtype=torch.float64).repeat(num_frames, 24, 1, 1)
    rotations[:, 0] = axis_angle_to_matrix(yaw[:, None] * torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    forward = torch.tensor([math.sin(heading), 0.0, math.cos(heading)], dtype=torch.float64)
    translation = (speed * time)[:, None] * forward
    translation[:, 1] = 1.0
    return Motion(rotations, translation, fps=fps, offsets=Motion.rest(1).offsets.double())


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("trial_id", ["07_01", "09_01", "13_10"])
def test_round_trip_on_cmu(cmu_motions, trial_id):
    motion = cmu_motions[trial_id]
    features = encode_humanml3d(motion.to(dtype=torch.float32))
    expected = humanml3d_joints(motion)
    assert features.shape == (expected.shape[0] - 1, 263) and features.dtype == torch.float32
    decoded = decode_humanml3d_joints(features)
    assert (decoded.double() - expected[:-1]).abs().max() < 1e-5
    as_motion = decode_humanml3d(features.double())
    assert as_motion.fps == 20.0 and as_motion.num_frames == features.shape[0]
    assert (as_motion.joints[:, :22] - expected[:-1]).abs().max() < 1e-5


def test_canonical_joints_are_the_motion_at_20_fps_floored_and_turned(cmu_motions):
    motion = cmu_motions["13_10"]
    source = motion.resample(20.0).joints[:, :22]
    joints = humanml3d_joints(motion)
    assert joints.shape == source.shape
    assert abs(float(joints[..., 1].min())) < 1e-12  # floor
    assert joints[0, 0, [0, 2]].abs().max() < 1e-12  # origin
    # A rigid yaw + shift of the source: fit the yaw from frame 0 and check every joint of every frame.
    centred_source = source - source[:1, :1]
    centred = joints - joints[:1, :1]
    cross = (centred_source[..., 2] * centred[..., 0] - centred_source[..., 0] * centred[..., 2]).sum()
    dot = (centred_source[..., 0] * centred[..., 0] + centred_source[..., 2] * centred[..., 2]).sum()
    yaw = torch.atan2(cross, dot)
    rotated = centred_source @ axis_angle_to_matrix(yaw * torch.tensor([0.0, 1.0, 0.0]).double()).T
    assert (rotated - centred).abs().max() < 1e-9


def test_retargeting_onto_a_reference_body(cmu_motions):
    motion = cmu_motions["07_01"]
    # A body 10% larger in every bone: joints scale by 1.1 about the floor/origin, so do positions.
    larger = motion.offsets * 1.1
    assert torch.allclose(humanml3d_joints(motion, offsets=larger), 1.1 * humanml3d_joints(motion), atol=1e-9)
    features = encode_humanml3d(motion, offsets=larger)
    assert torch.allclose(features[:, 4:67], 1.1 * encode_humanml3d(motion)[:, 4:67], atol=1e-9)
    # Another body shape: the rotation channels rebuild its joints with its bone lengths.
    other = Motion.rest(1).offsets.double()
    expected = humanml3d_joints(motion, offsets=other).numpy()[:-1]
    rebuilt = reference_recover_from_rot(encode_humanml3d(motion, offsets=other).numpy(), other.norm(dim=-1).numpy())
    assert np.abs(rebuilt - expected).max() < 1e-5
    with pytest.raises(InvalidInputError, match=r"\(24, 3\)"):
        encode_humanml3d(motion, offsets=torch.zeros(22, 3))


def test_decoder_matches_a_literal_quaternion_implementation(cmu_motions):
    features = encode_humanml3d(cmu_motions["09_01"])
    assert np.abs(decode_humanml3d_joints(features).numpy() - reference_decode(features.numpy())).max() < 1e-9
    # Arbitrary feature values, as a network would produce them, batched.
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(2, 15, 263, generator=generator, dtype=torch.float64) * 0.3
    decoded = decode_humanml3d_joints(noise)
    assert decoded.shape == (2, 15, 22, 3)
    for index in range(2):
        assert np.abs(decoded[index].numpy() - reference_decode(noise[index].numpy())).max() < 1e-9


@pytest.mark.parametrize("trial_id", ["07_01", "13_10"])
def test_rotation_channels_rebuild_the_joints_through_humanml3d_fk(cmu_motions, trial_id):
    motion = cmu_motions[trial_id]
    features = encode_humanml3d(motion).numpy()
    expected = humanml3d_joints(motion).numpy()[:-1]
    bone_lengths = np.linalg.norm(motion.offsets.numpy(), axis=-1)
    rebuilt = reference_recover_from_rot(features, bone_lengths)
    assert np.abs(rebuilt - expected).max() < 1e-5
    # Reading the 6D as rows (kinevid's convention) instead of columns does not rebuild them.
    transposed = features.copy()
    six = transposed[:, 67:193].reshape(len(features), 21, 6)
    matrices = column_6d_to_matrix(six)
    transposed[:, 67:193] = np.concatenate([matrices[..., 0, :], matrices[..., 1, :]], axis=-1).reshape(
        len(features), -1
    )
    assert np.abs(reference_recover_from_rot(transposed, bone_lengths) - expected).max() > 0.05


def test_straight_walk_facing_plus_z_has_no_root_rotation():
    features = encode_humanml3d(walk(heading=0.0, speed=1.2))
    pelvis_height = float(humanml3d_joints(walk(heading=0.0))[0, 0, 1])
    assert features[:, 0].abs().max() < 1e-12
    assert features[:, 1].abs().max() < 1e-9
    assert torch.allclose(features[:, 2], torch.full_like(features[:, 2], 1.2 / 20.0))  # metres per 20 fps frame
    assert torch.allclose(features[:, 3], torch.full_like(features[:, 3], pelvis_height))
    # The same walk facing +X (or any heading) gives the same features: clips are turned to face +Z.
    for heading in (math.pi / 2, 2.5):
        assert torch.allclose(encode_humanml3d(walk(heading=heading, speed=1.2)), features, atol=1e-9)


def test_root_rotation_velocity_is_half_the_yaw_change():
    yaw_rate = 1.0  # rad/s, turning left (towards +X from +Z)
    features = encode_humanml3d(walk(heading=0.0, speed=0.0, seconds=12.0, yaw_rate=yaw_rate))
    interior = features[80:-80, 0]  # away from the ends, where the heading smoothing is symmetric
    assert torch.allclose(interior, torch.full_like(interior, -yaw_rate / 20.0 / 2.0), atol=1e-6)


def test_spinning_through_180_degrees_round_trips():
    motion = walk(heading=0.3, speed=0.8, seconds=10.0, yaw_rate=2.0)  # ~3 full turns
    features = encode_humanml3d(motion, heading_smoothing=0.0)
    assert torch.allclose(features[:, 0], torch.full_like(features[:, 0], -2.0 / 20.0 / 2.0), atol=1e-9)
    expected = humanml3d_joints(motion, heading_smoothing=0.0)[:-1]
    assert (decode_humanml3d_joints(features) - expected).abs().max() < 1e-9
    smoothed = encode_humanml3d(motion)
    assert (decode_humanml3d_joints(smoothed) - humanml3d_joints(motion)[:-1]).abs().max() < 1e-9


def test_velocity_and_contact_channels(cmu_motions):
    motion = cmu_motions["07_01"]
    features = encode_humanml3d(motion)
    joints = humanml3d_joints(motion)
    # Velocities: per-frame joint displacement in the heading frame of the earlier frame.
    angle = torch.cat([torch.zeros(1).double(), features[:-1, 0].cumsum(0)])
    to_world = axis_angle_to_matrix((-2 * angle)[:, None] * torch.tensor([0.0, 1.0, 0.0]).double())
    velocities = features[:, 193:259].reshape(-1, 22, 3) @ to_world.transpose(-1, -2)
    assert (velocities - (joints[1:] - joints[:-1])).abs().max() < 1e-9
    assert torch.equal(features[:, 259:263], foot_contact_transitions(joints, 20.0).double())
    assert set(features[:, 259:263].unique().tolist()) == {0.0, 1.0}


def test_bad_input():
    with pytest.raises(InvalidInputError, match="263"):
        decode_humanml3d_joints(torch.zeros(5, 235))
    with pytest.raises(InvalidInputError, match="NaN"):
        decode_humanml3d_joints(torch.full((5, 263), float("nan")))
    with pytest.raises(InvalidInputError, match="at least 2 frames"):
        encode_humanml3d(Motion.rest(1, fps=30.0))
    with pytest.raises(InvalidInputError, match="one clip"):
        decode_humanml3d(torch.zeros(2, 5, 263))


# ----------------------------------------------------------------------------- HumanML3D's own recipe


def quaternion_between(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """HumanML3D's `qbetween`: the unit quaternion rotating v0 onto v1 (w = |v0||v1| + v0.v1)."""
    w = np.sqrt((v0**2).sum(-1) * (v1**2).sum(-1)) + (v0 * v1).sum(-1)
    q = np.concatenate([w[..., None], np.cross(v0, v1)], axis=-1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def humanml3d_process_file(positions: np.ndarray, feet_threshold: float = 0.002) -> tuple[np.ndarray, np.ndarray]:
    """HumanML3D's `process_file` + `Skeleton.inverse_kinematics_np(smooth_forward=True)`, step by
    step with quaternions (EricGuo5513/HumanML3D `motion_representation.py`, `common/skeleton.py`),
    without `uniform_skeleton`: `(T, 22, 3)` -> features `(T - 1, 263)` and `global_positions` `(T, 22, 3)`."""
    from scipy.ndimage import gaussian_filter1d

    positions = positions.copy()
    positions[:, :, 1] -= positions.min(axis=0).min(axis=0)[1]  # put on floor
    root_pos_init = positions[0]
    positions = positions - root_pos_init[0] * np.array([1, 0, 1])  # XZ at origin
    r_hip, l_hip, sdr_r, sdr_l = 2, 1, 17, 16  # face_joint_indx
    across = (root_pos_init[r_hip] - root_pos_init[l_hip]) + (root_pos_init[sdr_r] - root_pos_init[sdr_l])
    across = across / np.linalg.norm(across)
    forward_init = np.cross(np.array([0, 1, 0]), across)
    forward_init = forward_init / np.linalg.norm(forward_init)
    root_quat_init = quaternion_between(forward_init, np.array([0.0, 0.0, 1.0]))
    positions = quaternion_rotate(np.broadcast_to(root_quat_init, (*positions.shape[:-1], 4)), positions)
    global_positions = positions.copy()

    def foot(indices):
        step = ((positions[1:, indices] - positions[:-1, indices]) ** 2).sum(-1)
        return (step < feet_threshold).astype(np.float64)

    feet_l, feet_r = foot([7, 10]), foot([8, 11])

    # inverse_kinematics_np unpacks face_joint_indx as (l_hip, r_hip, sdr_r, sdr_l) = (2, 1, 17, 16).
    ik_l_hip, ik_r_hip = 2, 1
    across = (positions[:, ik_r_hip] - positions[:, ik_l_hip]) + (positions[:, 17] - positions[:, 16])
    across = across / np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.cross(np.array([[0, 1, 0]]), across, axis=-1)
    forward = gaussian_filter1d(forward, 20, axis=0, mode="nearest")
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    root_quat = quaternion_between(forward, np.array([[0.0, 0.0, 1.0]]).repeat(len(forward), 0))
    root_quat[0] = np.array([1.0, 0.0, 0.0, 0.0])
    quat_params = np.zeros((*positions.shape[:-1], 4))
    quat_params[:, 0] = root_quat
    raw = np.array(T2M_RAW_DIRECTIONS, dtype=np.float64)
    inverse = np.array([1.0, -1.0, -1.0, -1.0])
    for chain in T2M_KINEMATIC_CHAINS:
        rotation = root_quat
        for parent, joint in itertools.pairwise(chain):
            bone = positions[:, joint] - positions[:, parent]
            rot_u_v = quaternion_between(
                raw[joint][None].repeat(len(bone), 0), bone / np.linalg.norm(bone, axis=-1, keepdims=True)
            )
            local = quaternion_multiply(rotation * inverse, rot_u_v)
            quat_params[:, joint] = local
            rotation = quaternion_multiply(rotation, local)
    matrices = quaternion_to_matrix(quat_params)
    cont_6d = np.concatenate([matrices[..., 0], matrices[..., 1]], axis=-1)
    r_rot = quat_params[:, 0]
    velocity = quaternion_rotate(r_rot[1:], positions[1:, 0] - positions[:-1, 0])
    r_velocity = quaternion_multiply(r_rot[1:], r_rot[:-1] * inverse)

    positions[..., 0] -= positions[:, 0:1, 0]  # get_rifke
    positions[..., 2] -= positions[:, 0:1, 2]
    positions = quaternion_rotate(np.repeat(r_rot[:, None], positions.shape[1], axis=1), positions)
    root_data = np.concatenate([np.arcsin(r_velocity[:, 2:3]), velocity[:, [0, 2]], positions[:-1, 0, 1:2]], axis=-1)
    local_vel = quaternion_rotate(
        np.repeat(r_rot[:-1, None], global_positions.shape[1], axis=1), global_positions[1:] - global_positions[:-1]
    )
    num_frames = len(positions)
    data = np.concatenate(
        [
            root_data,
            positions[:-1, 1:].reshape(num_frames - 1, -1),
            cont_6d[:-1, 1:].reshape(num_frames - 1, -1),
            local_vel.reshape(num_frames - 1, -1),
            feet_l,
            feet_r,
        ],
        axis=-1,
    )
    return data, global_positions


@pytest.mark.parametrize("trial_id", ["07_01", "13_10"])
def test_features_match_humanml3d_recipe_on_cmu(cmu_motions, trial_id):
    motion = cmu_motions[trial_id]
    positions = motion.resample(20.0).joints[:, :22].numpy()
    expected, new_joints = humanml3d_process_file(positions)

    # Joints alone: every one of the 263 channels, HumanML3D's rotation channels included.
    from_joints = encode_humanml3d_joints(positions)
    assert isinstance(from_joints, np.ndarray) and from_joints.shape == expected.shape
    assert np.abs(from_joints - expected).max() < 1e-6
    # From the Motion: the same except the rotation channels (ours carry the twist about each bone).
    features = encode_humanml3d(motion).numpy()
    others = np.r_[0:67, 193:263]
    assert np.abs(features[:, others] - expected[:, others]).max() < 1e-6
    # HumanML3D's decoded joints are the turned clip itself; ours are the same, and decode to it.
    assert np.abs(humanml3d_joints(motion).numpy() - new_joints).max() < 1e-6
    assert np.abs(decode_humanml3d_joints(expected) - new_joints[:-1]).max() < 1e-6


def test_smoothed_first_frame_is_the_earlier_convention(cmu_motions):
    motion = cmu_motions["13_10"]
    default, smoothed = humanml3d_joints(motion), humanml3d_joints(motion, first_frame="smoothed")
    assert (
        decode_humanml3d_joints(encode_humanml3d(motion, first_frame="smoothed")) - smoothed[:-1]
    ).abs().max() < 1e-9
    # The two canonical frames differ by a constant yaw: the smoothed heading of frame 0.
    centred_default, centred_smoothed = default - default[:1, :1], smoothed - smoothed[:1, :1]
    cross = (
        centred_default[..., 2] * centred_smoothed[..., 0] - centred_default[..., 0] * centred_smoothed[..., 2]
    ).sum()
    dot = (
        centred_default[..., 0] * centred_smoothed[..., 0] + centred_default[..., 2] * centred_smoothed[..., 2]
    ).sum()
    yaw = torch.atan2(cross, dot)
    rotated = centred_default @ axis_angle_to_matrix(yaw * torch.tensor([0.0, 1.0, 0.0]).double()).T
    assert (rotated - centred_smoothed).abs().max() < 1e-9 and abs(float(yaw)) > 1e-3
    with pytest.raises(InvalidInputError, match="first_frame"):
        encode_humanml3d(motion, first_frame="first")


def test_decoder_takes_numpy_and_names_wrong_types(cmu_motions):
    features = encode_humanml3d(cmu_motions["09_01"])
    decoded = decode_humanml3d_joints(features.numpy())
    assert isinstance(decoded, np.ndarray)
    np.testing.assert_allclose(decoded, decode_humanml3d_joints(features).numpy(), atol=1e-12)
    assert decode_humanml3d(features.numpy().astype(np.float32)).num_frames == len(features)
    with pytest.raises(InvalidInputError, match=r"torch\.Tensor or numpy\.ndarray, got list"):
        decode_humanml3d_joints(features.tolist())
    with pytest.raises(InvalidInputError, match=r"\(T, 22, 3\)"):
        encode_humanml3d_joints(np.zeros((5, 24, 3)))
