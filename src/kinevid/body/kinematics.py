"""Batched forward and inverse kinematics for any `Skeleton`.

Conventions: `local_rotations[..., j]` rotates joint j's frame relative to its parent's (the
root's is the global orientation); joint j sits at `offsets[j]` in its parent's frame; the
root sits at `translation + offsets[0]`, so the root rotation pivots about the root joint as
in SMPL.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import torch

from ..errors import InvalidInputError
from .rotations import rotation_between
from .skeleton import Skeleton


@dataclass(frozen=True)
class _LevelPlan:
    """How forward kinematics walks one tree depth: which joints (a slice of the level-sorted
    order) and where their parents sit in the previous level's output."""

    joints: slice
    parents: slice | torch.Tensor  # a slice when the parents are contiguous (or one joint, broadcast)


@functools.lru_cache(maxsize=64)
def _forward_plan(skeleton: Skeleton, device: torch.device) -> tuple[torch.Tensor | None, list[_LevelPlan]]:
    """`(order, levels)`: the joint order sorted by depth (`None` when it is already sorted, as
    for SMPL-24) and per level below the root its `_LevelPlan`."""
    levels = skeleton.depth_levels
    order = [j for level in levels for j in level]
    plans, start = [], 1
    for previous, level in itertools.pairwise(levels):
        position_in_previous = {joint: k for k, joint in enumerate(previous)}
        local_parents = [position_in_previous[skeleton.parents[j]] for j in level]
        first = local_parents[0]
        if all(p == first for p in local_parents):
            parents = slice(first, first + 1)  # one parent for the whole level: broadcast it
        elif local_parents == list(range(first, first + len(level))):
            parents = slice(first, first + len(level))
        else:
            parents = torch.tensor(local_parents, device=device)
        plans.append(_LevelPlan(joints=slice(start, start + len(level)), parents=parents))
        start += len(level)
    sorted_order = None if order == list(range(skeleton.num_joints)) else torch.tensor(order, device=device)
    return sorted_order, plans


def forward_kinematics(
    local_rotations: torch.Tensor,
    translation: torch.Tensor,
    offsets: torch.Tensor,
    skeleton: Skeleton,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Global joint positions and orientations.

    Each joint's local rigid transform `[[R_j, o_j], [0, 1]]` is composed with its parent's global
    `[R_p | t_p]` (3x4) in one matrix product, and joints of one tree depth are composed together,
    so the Python loop runs once per level (8 for SMPL-24) rather than once per joint.

    Args:
        local_rotations (`torch.Tensor` of shape `(..., J, 3, 3)`): local rotation matrices.
        translation (`torch.Tensor` of shape `(..., 3)`): root translation.
        offsets (`torch.Tensor` of shape `(J, 3)` or `(..., J, 3)`): rest offsets from each parent.
        skeleton (`Skeleton`): the tree, with `J` joints.

    Returns:
        `(positions, orientations)` of shapes `(..., J, 3)` and `(..., J, 3, 3)`, in the dtype of
        `local_rotations`.
    """
    num_joints = skeleton.num_joints
    if local_rotations.shape[-3:] != (num_joints, 3, 3):
        raise InvalidInputError(
            f"`local_rotations` must have shape (..., {num_joints}, 3, 3), got {tuple(local_rotations.shape)}."
        )
    if offsets.shape[-2:] != (num_joints, 3):
        raise InvalidInputError(f"`offsets` must have shape (..., {num_joints}, 3), got {tuple(offsets.shape)}.")
    batch_shape = local_rotations.shape[:-3]
    order, levels = _forward_plan(skeleton, local_rotations.device)
    offsets = offsets.to(local_rotations).expand(*batch_shape, num_joints, 3)
    root = (translation.to(local_rotations) + offsets[..., 0, :])[..., None, :]
    columns = torch.cat([root, offsets[..., 1:, :]], dim=-2)  # (..., J, 3): the root's is its position
    if order is not None:
        local_rotations, columns = local_rotations[..., order, :, :], columns[..., order, :]
    bottom_row = local_rotations.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(*batch_shape, num_joints, 1, 4)
    local = torch.cat([torch.cat([local_rotations, columns[..., None]], dim=-1), bottom_row], dim=-2)  # (..., J, 4, 4)

    transforms = [local[..., :1, :3, :]]  # per level: global [R | t] (..., n, 3, 4)
    for level in levels:
        previous = transforms[-1]
        parent = (
            previous[..., level.parents, :, :]
            if isinstance(level.parents, slice)
            else previous.index_select(-3, level.parents)
        )
        transforms.append(parent @ local[..., level.joints, :, :])
    transforms = torch.cat(transforms, dim=-3)  # (..., J, 3, 4) in level order
    if order is not None:
        transforms = torch.empty_like(transforms).index_copy_(-3, order, transforms)
    return transforms[..., 3], transforms[..., :3]


def _fit_rotation(rest: torch.Tensor, observed: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Rotation R minimising sum_i w_i |R rest_i - observed_i|^2 (Kabsch).

    Args:
        rest (`torch.Tensor` of shape `(..., n, 3)`): vectors in the joint's rest frame.
        observed (`torch.Tensor` of shape `(..., n, 3)`): the same vectors as observed.
        weights (`torch.Tensor` of shape `(n,)`): non-negative weight per vector.

    Returns:
        `torch.Tensor` of shape `(..., 3, 3)`.
    """
    covariance = (observed * weights[:, None]).transpose(-1, -2) @ rest  # (..., 3, 3)
    u, _, vh = torch.linalg.svd(covariance)
    sign = torch.sign(torch.linalg.det(u @ vh))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    correction = torch.ones(*sign.shape, 3, dtype=rest.dtype, device=rest.device)
    correction[..., 2] = sign
    return u @ torch.diag_embed(correction) @ vh


def inverse_kinematics(
    positions: torch.Tensor,
    offsets: torch.Tensor,
    skeleton: Skeleton,
    joint_weights: dict[str, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Local rotations and root translation that place `skeleton` (with `offsets`) on `positions`.

    Joints are solved from the root outwards. A joint with one child gets the smallest rotation,
    in its parent's frame, that points the rest bone at the observed child (no twist about the
    bone, as HumanML3D's IK); a joint with several children gets the rotation that best aligns
    all its rest bones with the observed ones (Kabsch); a leaf keeps the identity. Bones aim from
    where the solved skeleton has placed the joint, not from the joint's observed position, so an
    unavoidable misfit of one joint (a bone whose length varies in the data, siblings that do not
    move rigidly) is not handed down to its descendants. When the positions come from this
    skeleton (constant bone lengths, rigid sibling geometry), forward kinematics of the result
    reproduces them exactly; otherwise each joint's error is about its own bone's departure from
    a rigid skeleton.

    Args:
        positions (`torch.Tensor` of shape `(..., J, 3)`): global joint positions.
        offsets (`torch.Tensor` of shape `(J, 3)` or `(..., J, 3)`): rest offsets of the skeleton to fit,
            shared or per batch element (so that sequences of different bodies can be solved together).
        skeleton (`Skeleton`): the tree.
        joint_weights (`dict[str, float]`, *optional*): weight of a joint's bone where its parent has
            several children (default 1). Lower it for a child that does not move rigidly with its
            siblings, so that the error stays on that child instead of tilting the whole parent.

    Returns:
        `(local_rotations, translation)` of shapes `(..., J, 3, 3)` and `(..., 3)`.
    """
    num_joints = skeleton.num_joints
    if positions.shape[-2:] != (num_joints, 3):
        raise InvalidInputError(f"`positions` must have shape (..., {num_joints}, 3), got {tuple(positions.shape)}.")
    if offsets.shape[-2:] != (num_joints, 3):
        raise InvalidInputError(f"`offsets` must have shape (..., {num_joints}, 3), got {tuple(offsets.shape)}.")
    offsets = offsets.to(positions)
    batch_shape = positions.shape[:-2]
    weights = positions.new_ones(num_joints)
    for name, weight in (joint_weights or {}).items():
        weights[skeleton.index(name)] = weight
    eye = torch.eye(3, dtype=positions.dtype, device=positions.device)
    local_rotations = eye.expand(*batch_shape, num_joints, 3, 3).clone()
    orientations = local_rotations.clone()
    fitted = positions.clone()  # where the solved skeleton puts each joint, filled root outwards
    for joint in range(num_joints):
        parent = skeleton.parents[joint]
        if parent >= 0:
            parent_orientation = orientations[..., parent, :, :]
            fitted[..., joint, :] = fitted[..., parent, :] + (parent_orientation @ offsets[..., joint, :, None])[..., 0]
        else:
            parent_orientation = eye.expand(*batch_shape, 3, 3)
        children = [c for c in skeleton.children(joint) if offsets[..., c, :].norm(dim=-1).amax() > 1e-8]
        if children:
            # Bones aim from where the joint was placed (not where it was observed) at the observed
            # children, so a misfit of one joint is not handed down the chain; in the parent's frame,
            # the local rotation maps the rest bones onto them.
            observed = positions[..., children, :] - fitted[..., joint : joint + 1, :]
            observed = (parent_orientation.transpose(-1, -2)[..., None, :, :] @ observed[..., None]).squeeze(-1)
            rest = offsets[..., children, :].expand_as(observed)
            if len(children) == 1:
                local = rotation_between(rest[..., 0, :], observed[..., 0, :])
            else:
                local = _fit_rotation(rest, observed, weights[children])
            local_rotations[..., joint, :, :] = local
        orientations[..., joint, :, :] = parent_orientation @ local_rotations[..., joint, :, :]
    translation = positions[..., 0, :] - offsets[..., 0, :]
    return local_rotations, translation
