"""Skeleton definitions: SMPL-24, the CMU 20-joint set, and COCO-18 keypoints from SMPL-24.

A `Skeleton` is topology only (names and parents). Rest offsets belong to a body, not to a
topology, so they travel with each `Motion`; `default_offsets()` gives an adult body derived
from the CMU mocap set.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources

import torch

from ..errors import InvalidInputError, UnknownJointError


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree.

    Args:
        name (`str`): short identifier, e.g. `"smpl24"`.
        joint_names (`tuple[str, ...]`): one name per joint; parents come before children.
        parents (`tuple[int, ...]`): parent index per joint, `-1` for the root (joint 0).
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.joint_names) != len(self.parents):
            raise InvalidInputError(
                f"Skeleton `{self.name}`: {len(self.joint_names)} joint names but {len(self.parents)} parents."
            )
        if self.parents[0] != -1 or any(not (0 <= p < j) for j, p in enumerate(self.parents) if j > 0):
            raise InvalidInputError(
                f"Skeleton `{self.name}`: `parents` must be -1 for joint 0 and smaller than each joint's own "
                f"index otherwise, got {self.parents}."
            )
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.joint_names)})

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint_name: str) -> int:
        """Index of `joint_name`; raises `UnknownJointError` listing the valid names."""
        try:
            return self._index[joint_name]
        except KeyError:
            raise UnknownJointError(
                f"Unknown joint {joint_name!r} for skeleton `{self.name}`; expected one of {list(self.joint_names)}."
            ) from None

    def children(self, joint: int) -> list[int]:
        return [j for j, p in enumerate(self.parents) if p == joint]

    @functools.cached_property
    def depth_levels(self) -> list[list[int]]:
        """Joints grouped by tree depth (level 0 is the root): each level depends only on earlier ones."""
        depth = [0] * self.num_joints
        for j in range(1, self.num_joints):
            depth[j] = depth[self.parents[j]] + 1
        return [[j for j in range(self.num_joints) if depth[j] == d] for d in range(max(depth) + 1)]

    @functools.cached_property
    def mirror_indices(self) -> list[int]:
        """For each joint, the index of its left/right counterpart (itself on the midline)."""
        swapped = []
        for name in self.joint_names:
            if name.startswith("left_"):
                other = "right_" + name[len("left_") :]
            elif name.startswith("right_"):
                other = "left_" + name[len("right_") :]
            else:
                other = name
            swapped.append(self.index(other))
        return swapped


SMPL24 = Skeleton(
    name="smpl24",
    joint_names=(
        "pelvis",
        "left_hip",
        "right_hip",
        "spine1",
        "left_knee",
        "right_knee",
        "spine2",
        "left_ankle",
        "right_ankle",
        "spine3",
        "left_foot",
        "right_foot",
        "neck",
        "left_collar",
        "right_collar",
        "head",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hand",
        "right_hand",
    ),
    parents=(-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21),
)

CMU20 = Skeleton(
    name="cmu20",
    joint_names=(
        "pelvis",
        "spine3",
        "neck",
        "head",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "left_hand",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "right_hand",
        "left_hip",
        "left_knee",
        "left_ankle",
        "left_foot",
        "right_hip",
        "right_knee",
        "right_ankle",
        "right_foot",
    ),
    parents=(-1, 0, 1, 2, 1, 4, 5, 6, 1, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18),
)
"""The 20-joint CMU set of `data/cmu_mocap`. Names are the SMPL-24 joints each one corresponds to
(CMU's "spine / chest" is SMPL's `spine3`, its toe is SMPL's `foot`)."""

COCO18_NAMES = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
)

# Head keypoints in the head frame (x left, y up, z forward), metres from SMPL's head joint.
_HEAD_KEYPOINT_OFFSETS = {
    "nose": (0.0, -0.01, 0.10),
    "right_eye": (-0.035, 0.02, 0.085),
    "left_eye": (0.035, 0.02, 0.085),
    "right_ear": (-0.075, 0.0, 0.0),
    "left_ear": (0.075, 0.0, 0.0),
}


def head_frame(joints: torch.Tensor) -> torch.Tensor:
    """Orientation of the head from SMPL-24 joints (columns: left, up, forward).

    Args:
        joints (`torch.Tensor` of shape `(..., 24, 3)`): global SMPL-24 joint positions.

    Returns:
        `torch.Tensor` of shape `(..., 3, 3)`: rotation whose columns are the head's left, up and forward axes.
    """
    up = torch.nn.functional.normalize(joints[..., 15, :] - joints[..., 12, :], dim=-1)
    left = joints[..., 16, :] - joints[..., 17, :]
    left = torch.nn.functional.normalize(left - (left * up).sum(-1, keepdim=True) * up, dim=-1)
    forward = torch.linalg.cross(left, up, dim=-1)
    return torch.stack([left, up, forward], dim=-1)


def smpl24_to_coco18(joints: torch.Tensor) -> torch.Tensor:
    """OpenPose COCO-18 keypoints from SMPL-24 joints.

    Body keypoints are SMPL joints; nose, eyes and ears are fixed offsets in the head frame
    (up from neck to head, left from the right to the left shoulder), as SMPL has no face joints.

    Args:
        joints (`torch.Tensor` of shape `(..., 24, 3)`): global SMPL-24 joint positions, metres.

    Returns:
        `torch.Tensor` of shape `(..., 18, 3)` in COCO-18 order (`COCO18_NAMES`).
    """
    if joints.shape[-2:] != (24, 3):
        raise InvalidInputError(f"`joints` must have shape (..., 24, 3), got {tuple(joints.shape)}.")
    frame = head_frame(joints)
    head = joints[..., 15, :]
    keypoints = []
    for name in COCO18_NAMES:
        if name in _HEAD_KEYPOINT_OFFSETS:
            offset = torch.tensor(_HEAD_KEYPOINT_OFFSETS[name], dtype=joints.dtype, device=joints.device)
            keypoints.append(head + (frame @ offset[:, None])[..., 0])
        else:
            keypoints.append(joints[..., SMPL24.index(name), :])
    return torch.stack(keypoints, dim=-2)


@functools.lru_cache(maxsize=1)
def _default_offsets_list() -> list[list[float]]:
    text = resources.files("kinevid.body").joinpath("assets/smpl24_rest_offsets.json").read_text()
    return json.loads(text)["offsets"]


def default_offsets(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Rest offsets `(24, 3)` of an average adult in SMPL-24 T-pose (facing +Z, x to the body's left).

    Derived from the CMU mocap set by `scripts/derive_rest_offsets.py`; offset 0 is the root's
    position relative to the translation (zero here).
    """
    return torch.tensor(_default_offsets_list(), dtype=dtype, device=device)
