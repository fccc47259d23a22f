"""Skeleton definitions, their errors, and COCO-18 keypoints from SMPL-24."""

from __future__ import annotations

import pytest
import torch

from kinevid.body import (
    CMU20,
    COCO18_NAMES,
    SMPL24,
    Skeleton,
    axis_angle_to_matrix,
    default_offsets,
    forward_kinematics,
    smpl24_to_coco18,
)
from kinevid.errors import InvalidInputError, KinevidError, UnknownJointError

# OpenPose COCO-18 body keypoints and the SMPL-24 joint (index) each one is.
COCO_BODY_TO_SMPL = {
    "neck": 12, "right_shoulder": 17, "right_elbow": 19, "right_wrist": 21, "left_shoulder": 16, "left_elbow": 18,
    "left_wrist": 20, "right_hip": 2, "right_knee": 5, "right_ankle": 8, "left_hip": 1, "left_knee": 4,
    "left_ankle": 7,
}  # fmt: skip


def test_smpl24_table():
    assert SMPL24.num_joints == 24
    assert SMPL24.joint_names[:4] == ("pelvis", "left_hip", "right_hip", "spine1")
    assert SMPL24.parents == (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
    assert SMPL24.index("head") == 15 and SMPL24.index("right_hand") == 23
    assert CMU20.num_joints == 20 and all(name in SMPL24.joint_names for name in CMU20.joint_names)


def test_unknown_joint_lists_valid_names():
    with pytest.raises(UnknownJointError) as info:
        SMPL24.index("left_thumb")
    message = str(info.value)
    assert "left_thumb" in message and "smpl24" in message
    assert all(name in message for name in SMPL24.joint_names)
    assert isinstance(info.value, KinevidError) and isinstance(info.value, KeyError)


def test_invalid_skeletons():
    with pytest.raises(InvalidInputError, match="parents"):
        Skeleton("bad", ("a", "b"), (-1, 1))  # a joint cannot be its own parent
    with pytest.raises(InvalidInputError, match="parents"):
        Skeleton("bad", ("a", "b"), (0, -1))
    with pytest.raises(InvalidInputError, match="2 joint names but 3 parents"):
        Skeleton("bad", ("a", "b"), (-1, 0, 0))


def test_depth_levels_and_mirror_indices():
    levels = SMPL24.depth_levels
    assert sorted(j for level in levels for j in level) == list(range(24))
    depth = {j: d for d, level in enumerate(levels) for j in level}
    assert all(depth[j] == depth[p] + 1 for j, p in enumerate(SMPL24.parents) if p >= 0)
    assert levels[0] == [0] and levels[-1] == [22, 23]
    swap = SMPL24.mirror_indices
    assert [swap[s] for s in swap] == list(range(24))
    for j, name in enumerate(SMPL24.joint_names):
        other = SMPL24.joint_names[swap[j]]
        assert other == name.replace("left_", "RIGHT_").replace("right_", "left_").replace("RIGHT_", "right_")


def test_coco18_body_keypoints_are_smpl_joints():
    rotations = axis_angle_to_matrix(0.4 * torch.randn(2, 5, 24, 3))
    joints, _ = forward_kinematics(rotations, torch.randn(2, 5, 3), default_offsets(), SMPL24)
    keypoints = smpl24_to_coco18(joints)
    assert keypoints.shape == (2, 5, 18, 3) and len(COCO18_NAMES) == 18
    for name, smpl_index in COCO_BODY_TO_SMPL.items():
        torch.testing.assert_close(keypoints[..., COCO18_NAMES.index(name), :], joints[..., smpl_index, :])


def test_coco18_face_keypoints_in_tpose():
    """T-pose facing +Z with x to the body's left: the face is in front of the head, eyes on either side."""
    offsets = default_offsets()
    joints, _ = forward_kinematics(torch.eye(3).expand(24, 3, 3), torch.zeros(3), offsets, SMPL24)
    keypoints = dict(zip(COCO18_NAMES, smpl24_to_coco18(joints), strict=True))
    head = joints[15]
    assert keypoints["nose"][2] > head[2] + 0.05
    assert keypoints["left_eye"][0] > keypoints["nose"][0] > keypoints["right_eye"][0]
    assert keypoints["left_ear"][0] > keypoints["left_eye"][0] and keypoints["right_ear"][0] < keypoints["right_eye"][0]
    assert keypoints["left_eye"][1] > keypoints["nose"][1]
    # Turning the whole body turns the face with it.
    turn = axis_angle_to_matrix(torch.tensor([0.0, 1.2, 0.0]))
    torch.testing.assert_close(smpl24_to_coco18(joints @ turn.T), smpl24_to_coco18(joints) @ turn.T)


def test_coco18_bad_shape():
    with pytest.raises(InvalidInputError, match=r"\(\.\.\., 24, 3\)"):
        smpl24_to_coco18(torch.zeros(4, 22, 3))
