"""Forward and inverse kinematics against a per-joint loop and on the real CMU data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinevid.body import (
    CMU20,
    SMPL24,
    Skeleton,
    axis_angle_to_matrix,
    default_offsets,
    forward_kinematics,
    inverse_kinematics,
)
from kinevid.errors import InvalidInputError
from kinevid.motion import retarget_cmu20_to_smpl24


def naive_forward_kinematics(rotations, translation, offsets, skeleton):
    """One joint at a time, straight from the definition (parents before children)."""
    positions, orientations = [], []
    for joint, parent in enumerate(skeleton.parents):
        if parent < 0:
            orientations.append(rotations[..., joint, :, :])
            positions.append(translation + offsets[..., joint, :])
        else:
            orientations.append(orientations[parent] @ rotations[..., joint, :, :])
            bone = (orientations[parent] @ offsets[..., joint, :].unsqueeze(-1)).squeeze(-1)
            positions.append(positions[parent] + bone)
    return torch.stack(positions, dim=-2), torch.stack(orientations, dim=-3)


def random_rotations(*shape, dtype=torch.float64, scale=1.5):
    return axis_angle_to_matrix(scale * torch.randn(*shape, 3, dtype=dtype))


def cmu20_offsets(dtype=torch.float64):
    """CMU20 rest offsets from the SMPL-24 T-pose: each CMU joint relative to its CMU parent."""
    smpl = default_offsets(dtype=dtype)
    tpose, _ = naive_forward_kinematics(torch.eye(3, dtype=dtype).expand(24, 3, 3), smpl[0] * 0, smpl, SMPL24)
    cmu = tpose[[SMPL24.index(n) for n in CMU20.joint_names]]
    parents = [max(p, 0) for p in CMU20.parents]
    return cmu - cmu[parents] * torch.tensor([0.0] + [1.0] * 19, dtype=dtype)[:, None]


# ------------------------------------------------------------------------------------ forward kinematics
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [(), (7,), (2, 5)])
def test_forward_kinematics_matches_per_joint_loop(dtype, batch):
    rotations = random_rotations(*batch, 24, dtype=dtype)
    translation = torch.randn(*batch, 3, dtype=dtype)
    offsets = default_offsets(dtype=dtype) + 0.01 * torch.randn(24, 3, dtype=dtype)
    positions, orientations = forward_kinematics(rotations, translation, offsets, SMPL24)
    expected_positions, expected_orientations = naive_forward_kinematics(rotations, translation, offsets, SMPL24)
    assert positions.dtype == orientations.dtype == dtype
    assert positions.shape == (*batch, 24, 3) and orientations.shape == (*batch, 24, 3, 3)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(positions, expected_positions, atol=tolerance, rtol=0)
    torch.testing.assert_close(orientations, expected_orientations, atol=tolerance, rtol=0)


def test_forward_kinematics_per_frame_offsets_and_other_skeleton():
    rotations = random_rotations(4, 20)
    translation = torch.randn(4, 3, dtype=torch.float64)
    offsets = cmu20_offsets() * (1 + 0.1 * torch.rand(4, 1, 1, dtype=torch.float64))  # a body per frame
    positions, _ = forward_kinematics(rotations, translation, offsets, CMU20)
    expected, _ = naive_forward_kinematics(rotations, translation, offsets, CMU20)
    torch.testing.assert_close(positions, expected, atol=1e-12, rtol=0)


def test_forward_kinematics_rest_pose_is_cumulative_offsets():
    offsets = default_offsets(dtype=torch.float64)
    positions, _ = forward_kinematics(
        torch.eye(3, dtype=torch.float64).expand(24, 3, 3), torch.zeros(3), offsets, SMPL24
    )
    for joint, parent in enumerate(SMPL24.parents[1:], start=1):
        torch.testing.assert_close(positions[joint] - positions[parent], offsets[joint])


def test_forward_kinematics_gradcheck():
    skeleton = Skeleton("chain", ("a", "b", "c", "d"), (-1, 0, 1, 1))
    rotations = random_rotations(2, 4).requires_grad_()
    translation = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    offsets = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)

    def positions_and_orientations(r, t, o):
        return forward_kinematics(r, t, o, skeleton)

    assert torch.autograd.gradcheck(positions_and_orientations, (rotations, translation, offsets))


def test_forward_kinematics_bad_shapes():
    with pytest.raises(InvalidInputError, match=r"local_rotations.*\(\.\.\., 24, 3, 3\)"):
        forward_kinematics(torch.zeros(5, 23, 3, 3), torch.zeros(5, 3), default_offsets(), SMPL24)
    with pytest.raises(InvalidInputError, match="offsets"):
        forward_kinematics(torch.zeros(5, 24, 3, 3), torch.zeros(5, 3), torch.zeros(20, 3), SMPL24)


# ------------------------------------------------------------------------------------ inverse kinematics
@pytest.mark.parametrize("skeleton", [SMPL24, CMU20], ids=lambda s: s.name)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inverse_kinematics_round_trip(skeleton, dtype):
    offsets = (default_offsets() if skeleton is SMPL24 else cmu20_offsets()).to(dtype)
    rotations = random_rotations(64, skeleton.num_joints, dtype=dtype)
    translation = torch.randn(64, 3, dtype=dtype)
    positions, _ = forward_kinematics(rotations, translation, offsets, skeleton)
    solved_rotations, solved_translation = inverse_kinematics(positions, offsets, skeleton)
    again, orientations = forward_kinematics(solved_rotations, solved_translation, offsets, skeleton)
    assert (again - positions).norm(dim=-1).max() < 1e-5
    eye = torch.eye(3, dtype=dtype)
    assert (solved_rotations @ solved_rotations.transpose(-1, -2) - eye).abs().max() < 1e-5
    assert (torch.linalg.det(solved_rotations) - 1).abs().max() < 1e-5
    # Joints whose children fix their frame (several children) get back the original global orientation.
    _, true_orientations = forward_kinematics(rotations, translation, offsets, skeleton)
    branching = [j for j in range(skeleton.num_joints) if len(skeleton.children(j)) > 1]
    torch.testing.assert_close(orientations[:, branching], true_orientations[:, branching], atol=1e-4, rtol=0)


def test_inverse_kinematics_shared_and_per_frame_offsets_agree():
    offsets = default_offsets(dtype=torch.float64)
    positions, _ = forward_kinematics(random_rotations(8, 24), torch.randn(8, 3, dtype=torch.float64), offsets, SMPL24)
    shared = inverse_kinematics(positions, offsets, SMPL24)
    per_frame = inverse_kinematics(positions, offsets.expand(8, 24, 3), SMPL24)
    for a, b in zip(shared, per_frame, strict=True):
        torch.testing.assert_close(a, b)


def test_inverse_kinematics_single_child_has_no_twist():
    """A one-child joint gets the smallest rotation taking the rest bone to the observed bone."""
    skeleton = Skeleton("arm", ("root", "elbow", "hand"), (-1, 0, 1))
    offsets = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    positions = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    rotations, _ = inverse_kinematics(positions, offsets, skeleton)
    quarter_about_z = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    quarter_about_minus_y = torch.tensor([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(rotations[0], quarter_about_z)
    # Elbow: in the root's frame the bone (0, 0, 1) is reached from (1, 0, 0) by a turn about -y.
    torch.testing.assert_close(rotations[1], quarter_about_minus_y)
    torch.testing.assert_close(rotations[2], torch.eye(3, dtype=torch.float64))


def test_inverse_kinematics_bad_shapes():
    with pytest.raises(InvalidInputError, match="positions"):
        inverse_kinematics(torch.zeros(3, 20, 3), default_offsets(), SMPL24)
    with pytest.raises(InvalidInputError, match="offsets"):
        inverse_kinematics(torch.zeros(3, 24, 3), torch.zeros(3, 3), SMPL24)


# ------------------------------------------------------------------------------------ real CMU trials
RIGID_JOINTS = [
    "pelvis", "spine3", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
]  # fmt: skip
# The chest's three children (neck and, through the collars, the shoulders) do not move rigidly
# together in the data; the chest's fit shares that misfit between them.
CHEST_CHILDREN = ["neck", "left_shoulder", "right_shoulder"]
# Joints whose bone spans several bones of the capture skeleton, so its length varies in the data.
COMPOUND_BONES = {"left_hand": "left_wrist", "right_hand": "right_wrist", "left_foot": "left_ankle",
                  "right_foot": "right_ankle"}  # fmt: skip


@pytest.fixture(scope="module")
def cmu_ik(cmu_root):
    """Every 25th CMU trial (101 trials, ~15k frames): retargeted positions, offsets, FK(IK(positions))."""
    with np.load(cmu_root / "cmu_joints20_mm.npz", allow_pickle=False) as archive:
        trials = [torch.from_numpy(archive[t].astype(np.float64)) / 1000 for t in sorted(archive.files)[::25]]
    retargeted = [retarget_cmu20_to_smpl24(t) for t in trials]
    positions = torch.cat([p for p, _ in retargeted])
    offsets = torch.cat([o.expand(len(p), 24, 3) for p, o in retargeted])
    rotations, translation = inverse_kinematics(positions, offsets, SMPL24)
    fitted, _ = forward_kinematics(rotations, translation, offsets, SMPL24)
    return positions, offsets, fitted


def test_cmu_round_trip_on_rigid_joints(cmu_ik):
    positions, _, fitted = cmu_ik
    error = (fitted - positions).norm(dim=-1)  # (N, 24) metres
    for name in RIGID_JOINTS:
        joint_error = error[:, SMPL24.index(name)]
        # int16 millimetres put ~0.35 mm of rounding noise on every bone.
        assert joint_error.mean() < 0.6e-3, name
        assert joint_error.quantile(0.95) < 1e-3, name
        assert joint_error.max() < 10e-3, name
    for name in CHEST_CHILDREN:
        joint_error = error[:, SMPL24.index(name)]
        assert joint_error.mean() < (5e-3 if name == "neck" else 0.6e-3), name
    cmu_joints = [SMPL24.index(n) for n in CMU20.joint_names]
    assert error[:, cmu_joints].mean() < 1.5e-3  # over the 20 CMU joints (the brief asks < 5 mm)


def test_cmu_round_trip_error_on_compound_bones_is_their_length_change(cmu_ik):
    """Bones are aimed from the solved parent joint, so a child's error is the bone's length change
    in the data, up to the parent's own (sub-millimetre) misfit: | |e_child| - |dL| | <= |e_parent|."""
    positions, offsets, fitted = cmu_ik
    error = (fitted - positions).norm(dim=-1)
    for child_name, parent_name in COMPOUND_BONES.items():
        child, parent = SMPL24.index(child_name), SMPL24.index(parent_name)
        length_change = (positions[:, child] - positions[:, parent]).norm(dim=-1) - offsets[:, child].norm(dim=-1)
        slack = error[:, parent] + 1e-9
        assert ((error[:, child] - length_change.abs()).abs() <= slack).all(), child_name
        assert error[:, child].mean() < 5e-3, child_name
