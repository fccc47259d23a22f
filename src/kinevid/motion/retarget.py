"""Retargeting position-only skeletons onto SMPL-24.

The CMU 20-joint set lacks SMPL's spine1, spine2 and collar joints. They are placed so that the
result is a rigid SMPL-24 body: spine1 rigidly in the pelvis frame (pelvis and hips form a rigid
triangle in the data), spine2 as the middle joint of a two-bone chain of fixed lengths between
spine1 and the chest (the data's pelvis-chest distance changes as the back bends), and the collars
rigidly in the chest frame (chest and shoulders form a rigid triangle). Rest offsets are measured
from the trial itself, so each trial keeps its subject's proportions.
"""

from __future__ import annotations

import torch

from ..body.skeleton import CMU20, SMPL24
from ..errors import InvalidInputError

# Fractions that shape the synthesized joints (SMPL-like proportions).
_SPINE1_FRACTION = 0.3  # pelvis->spine1 as a fraction of the median pelvis-chest distance
_SPINE_SLACK = 1.02  # spine1->spine2->spine3 total length over the largest spine1-chest distance
_COLLAR_FRACTION = 0.4  # chest->collar as a fraction of the chest->shoulder vector

# Rest directions of single-child bones in SMPL-24 T-pose (x to the body's left, y up, z forward).
_LEFT, _RIGHT, _UP, _DOWN = (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)
_FOOT = (0.0, -0.35, 1.0)
_REST_DIRECTIONS = {
    "left_knee": _DOWN, "right_knee": _DOWN, "left_ankle": _DOWN, "right_ankle": _DOWN,
    "left_foot": _FOOT, "right_foot": _FOOT, "spine2": _UP, "spine3": _UP, "head": _UP,
    "left_shoulder": _LEFT, "left_elbow": _LEFT, "left_wrist": _LEFT, "left_hand": _LEFT,
    "right_shoulder": _RIGHT, "right_elbow": _RIGHT, "right_wrist": _RIGHT, "right_hand": _RIGHT,
}  # fmt: skip


def _triangle_frame(origin: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Frame `(..., 3, 3)` (columns x, y, z) of a rigid triangle: x from `right` to `left`,
    y from `origin` towards the midpoint of left/right's opposite side, orthogonalised, z = x cross y."""
    x_axis = torch.nn.functional.normalize(left - right, dim=-1)
    y_axis = origin - 0.5 * (left + right)
    y_axis = torch.nn.functional.normalize(y_axis - (y_axis * x_axis).sum(-1, keepdim=True) * x_axis, dim=-1)
    return torch.stack([x_axis, y_axis, torch.linalg.cross(x_axis, y_axis, dim=-1)], dim=-1)


def _place_middle_joint(
    start: torch.Tensor, end: torch.Tensor, length_a: float, length_b: float, bend: torch.Tensor
) -> torch.Tensor:
    """Middle joint of a two-bone chain with bone lengths `length_a`, `length_b` between `start`
    and `end` (both `(..., 3)`), bent towards direction `bend`."""
    axis = end - start
    distance = axis.norm(dim=-1, keepdim=True).clamp(1e-6, length_a + length_b - 1e-6)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    along = (distance**2 + length_a**2 - length_b**2) / (2 * distance)
    across = (length_a**2 - along**2).clamp_min(0.0).sqrt()
    perpendicular = bend - (bend * axis).sum(-1, keepdim=True) * axis
    perpendicular = torch.nn.functional.normalize(perpendicular, dim=-1)
    return start + along * axis + across * perpendicular


def retarget_cmu20_to_smpl24(joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Place one CMU 20-joint trial onto a rigid SMPL-24 body.

    Args:
        joints (`torch.Tensor` of shape `(T, 20, 3)`): CMU joints in metres (order of `CMU20`).

    Returns:
        `(positions, offsets)`: SMPL-24 joint positions `(T, 24, 3)` to hand to inverse kinematics,
        and the trial's rest offsets `(24, 3)` (T-pose facing +Z, offset 0 is zero).
    """
    if joints.ndim != 3 or joints.shape[1:] != (20, 3):
        raise InvalidInputError(f"CMU joints must have shape (T, 20, 3), got {tuple(joints.shape)}.")
    if not torch.isfinite(joints).all():
        raise InvalidInputError("CMU joints contain NaN or infinite values.")
    num_frames = joints.shape[0]
    cmu = {name: joints[:, i] for i, name in enumerate(CMU20.joint_names)}
    positions = joints.new_zeros(num_frames, 24, 3)
    for name, value in cmu.items():
        positions[:, SMPL24.index(name)] = value

    def median_length(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).norm(dim=-1).median())

    def in_frame(frame: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        return (frame.transpose(-1, -2) @ vector[..., None]).squeeze(-1)

    # Pelvis: rigid triangle with the hips; spine1 fixed above the pelvis in that frame.
    pelvis, chest = cmu["pelvis"], cmu["spine3"]
    pelvis_frame = _triangle_frame(pelvis, cmu["left_hip"], cmu["right_hip"])
    spine1_offset = joints.new_tensor([0.0, _SPINE1_FRACTION * median_length(chest, pelvis), 0.0])
    spine1 = pelvis + (pelvis_frame @ spine1_offset[:, None]).squeeze(-1)
    # Spine2: two bones of equal fixed length from spine1 to the chest, bent backwards.
    half = 0.5 * _SPINE_SLACK * float((chest - spine1).norm(dim=-1).max())
    spine2 = _place_middle_joint(spine1, chest, half, half, bend=-pelvis_frame[..., 2])
    # Collars: fixed in the chest frame (chest and shoulders form a rigid triangle).
    chest_frame = _triangle_frame(chest, cmu["left_shoulder"], cmu["right_shoulder"])
    collar_rest = {
        side: _COLLAR_FRACTION * in_frame(chest_frame, cmu[f"{side}_shoulder"] - chest).mean(0)
        for side in ("left", "right")
    }
    positions[:, SMPL24.index("spine1")] = spine1
    positions[:, SMPL24.index("spine2")] = spine2
    for side, rest in collar_rest.items():
        positions[:, SMPL24.index(f"{side}_collar")] = chest + (chest_frame @ rest[:, None]).squeeze(-1)

    # Rest offsets: rigid groups measured in their frames, single-child bones along T-pose directions.
    offsets = joints.new_zeros(24, 3)
    for name in ("left_hip", "right_hip"):
        offsets[SMPL24.index(name)] = in_frame(pelvis_frame, cmu[name] - pelvis).mean(0)
    offsets[SMPL24.index("spine1")] = spine1_offset
    offsets[SMPL24.index("neck")] = in_frame(chest_frame, cmu["neck"] - chest).mean(0)
    for side, rest in collar_rest.items():
        offsets[SMPL24.index(f"{side}_collar")] = rest
    for name, direction in _REST_DIRECTIONS.items():
        joint = SMPL24.index(name)
        parent = SMPL24.parents[joint]
        length = half if name in ("spine2", "spine3") else median_length(positions[:, joint], positions[:, parent])
        offsets[joint] = length * torch.nn.functional.normalize(joints.new_tensor(direction), dim=0)
    return positions, offsets
