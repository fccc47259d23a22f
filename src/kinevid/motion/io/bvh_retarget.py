"""BVH <-> SMPL-24 `Motion`.

Import (`bvh_to_motion`) works for any hierarchy:

1. Global joint positions are computed with the file's own hierarchy and channels (`BvhFile`).
2. BVH joints are matched to SMPL-24 joints by name (`joint_names`: CMU/Daz, CMU ASF, Mixamo and
   SMPL names; an explicit `joint_map` overrides). A SMPL leaf (head, feet, hands) with no named
   counterpart is taken from its parent's only `End Site`.
3. Units: BVH has none. Unless `scale` is given, the rest pose's largest extent decides: below 17
   units the file is taken to be in metres, below 1,700 in centimetres, above in millimetres
   (a person is 1-2 m tall). Inches or other units need an explicit `scale` (metres per unit).
   The file is assumed to be Y-up (as CMU, Mixamo and Blender's exporter write it).
4. Rotations on SMPL-24:
   - when every SMPL joint has a counterpart and their hierarchy is SMPL's (each joint's BVH
     parent is its SMPL parent, the pelvis is the BVH root, bone offsets are constant), the file's
     own local rotations and offsets are taken as they are: no fitting, nothing lost (this is the
     case for files `motion_to_bvh` writes, for SMPL-named and for complete Mixamo rigs);
   - otherwise every SMPL joint is made a point fixed in the frame of one BVH joint (its
     counterpart, or the joint it is placed from), so the SMPL body moves rigidly with the file's
     bones; rest offsets are those points in the file's rest pose, and inverse kinematics
     (`kinevid.body.inverse_kinematics`) turns the per-frame points into SMPL rotations. Joints
     with a counterpart land exactly where the file puts them (unless BVH joints between two SMPL
     joints rotate, which bends what SMPL models as one bone).
   Placement of SMPL joints without a counterpart, in the rest pose:
   - pelvis: rigs put their root anywhere around the hips (Daz's `hip` 3 cm below the hip
     joints, Mixamo's `Hips` about 7 cm above, CMU's ASF root 10 cm above); SMPL's pelvis is
     placed above the hip joints' midpoint by the default body's pelvis height per hip width
     (about 11 cm for a 18 cm hip width), fixed in the frame of the root joint (SMPL-named files
     and a pelvis given in `joint_map` keep their own);
   - spine3 (chest): the branching point of the shoulders (their deepest common ancestor; when
     that joint is named as spine1 or spine2, it is taken as the chest instead);
   - neck: the first BVH joint between chest and head, else their midpoint; head: the mean of the
     neck's children (End Site);
   - spine1, spine2: along the chain between the nearest placed joints below and above, at the
     default body's proportions, fixed in the frame of the one below;
   - collars: 40 % of the way from the chest to the shoulder, fixed in the chest's frame;
   - hands and toes: the mean of the wrist's / ankle's children (finger roots, End Site).
   The rest pose of the file becomes the motion's rest pose (`offsets`): CMU, Mixamo and SMPL
   rigs rest in a T-pose facing +Z, as kinevid's default body.

Export (`motion_to_bvh`) writes the SMPL-24 hierarchy with the motion's offsets in centimetres,
channels `Xposition Yposition Zposition Zrotation Xrotation Yrotation` on the pelvis and
`Zrotation Xrotation Yrotation` (R = R_Z R_X R_Y) on every other joint, and an End Site after
each leaf (half the leaf's own bone further along). Importing such a file takes the direct path
above and reproduces the motion's joints to float precision.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np
import torch

from ...body.kinematics import forward_kinematics, inverse_kinematics
from ...body.rotations import matrix_to_euler
from ...body.skeleton import SMPL24, Skeleton, default_offsets
from ...errors import UnknownJointError
from ..motion import Motion
from .bvh import END_SITE_SUFFIX, POSITION_CHANNELS, BvhFile, BvhJoint
from .joint_names import map_joint_names

# SMPL joints a BVH skeleton must name (or, for the leaves, end in) to be imported.
REQUIRED_JOINTS = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)  # fmt: skip
# SMPL leaves that may come from the parent's End Site: leaf -> parent.
_LEAF_PARENTS = {
    "head": "neck",
    "left_foot": "left_ankle",
    "right_foot": "right_ankle",
    "left_hand": "left_wrist",
    "right_hand": "right_wrist",
}
# Collars sit this far along chest -> shoulder when the file has none (as `kinevid.motion.retarget`).
_COLLAR_FRACTION = 0.4
# Unit detection: a rest pose spans about 1.7 m; the unit whose reading is closest (in log scale) wins.
_UNIT_SCALES = {"m": 1.0, "cm": 0.01, "mm": 0.001}
_TYPICAL_EXTENT_M = 1.7
# Tolerance (file units) under which a joint's per-frame position channels count as a constant offset.
_CONSTANT_OFFSET_TOLERANCE = 1e-6

EXPORT_ROTATION_ORDER = "ZXY"
EXPORT_UNITS_PER_METRE = 100.0  # centimetres


def _rest_positions(offsets: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """`(J, 3)` joint positions of the rest pose (all rotations identity) from rest offsets `(J, 3)`."""
    eye = torch.eye(3, dtype=offsets.dtype).expand(1, skeleton.num_joints, 3, 3)
    return forward_kinematics(eye, offsets.new_zeros(1, 3), offsets, skeleton)[0][0]


def detect_scale(bvh: BvhFile) -> float:
    """Metres per file unit from the size of the rest pose (see the module docstring)."""
    positions = _rest_positions(torch.as_tensor(bvh.rest_offsets(), dtype=torch.float64), bvh.skeleton())
    extent = float((positions.amax(0) - positions.amin(0)).max())
    if not extent > 0:
        return 1.0
    return min(_UNIT_SCALES.values(), key=lambda s: abs(math.log(extent * s / _TYPICAL_EXTENT_M)))


def _smpl_counterparts(
    bvh: BvhFile, joint_map: Mapping[str, str] | None, source: str
) -> tuple[dict[str, int], str | None]:
    """`{smpl_name: bvh_index}` for every SMPL joint with a counterpart, and the naming convention;
    raises when required joints are missing."""
    names = [joint.name for joint in bvh.joints if not joint.is_end_site]
    name_to_index = {joint.name: index for index, joint in enumerate(bvh.joints)}
    mapping, convention = map_joint_names(names, joint_map)
    counterparts = {smpl: name_to_index[name] for name, smpl in mapping.items()}
    for leaf, parent in _LEAF_PARENTS.items():
        if leaf in counterparts or parent not in counterparts:
            continue
        children = [i for i, joint in enumerate(bvh.joints) if joint.parent == counterparts[parent]]
        if len(children) == 1 and bvh.joints[children[0]].is_end_site:
            counterparts[leaf] = children[0]
    missing = [name for name in REQUIRED_JOINTS if name not in counterparts]
    if "neck" not in counterparts and "head" not in counterparts:
        missing.append("neck or head")
    if missing:
        unmapped = [name for name in names if name not in mapping]
        raise UnknownJointError(
            f"{source}: cannot map the BVH skeleton onto SMPL-24 (naming convention: {convention or 'none found'}). "
            f"SMPL joints missing: {missing}. BVH joints not mapped: {unmapped}. Pass a `joint_map` "
            f"{{bvh_name: smpl_name}} (CLI: --joint-map FILE.json) for the missing ones."
        )
    return counterparts, convention


def _has_smpl_tree(bvh: BvhFile, counterparts: dict[str, int]) -> bool:
    """Whether every SMPL joint has a counterpart, the pelvis is the BVH root and each joint's BVH
    parent is the counterpart of its SMPL parent."""
    if len(counterparts) != SMPL24.num_joints or counterparts["pelvis"] != 0:
        return False
    return all(
        bvh.joints[counterparts[SMPL24.joint_names[joint]]].parent == counterparts[SMPL24.joint_names[parent]]
        for joint, parent in enumerate(SMPL24.parents[1:], 1)
    )


def _chain(bvh: BvhFile, start: int, end: int) -> list[int]:
    """BVH joints strictly between ancestor `start` and descendant `end` (empty when `start` is not an ancestor)."""
    path = []
    index = bvh.joints[end].parent
    while index not in (start, -1):
        path.append(index)
        index = bvh.joints[index].parent
    return list(reversed(path)) if index == start else []


def _ancestors(bvh: BvhFile, index: int) -> list[int]:
    """`index` and its ancestors up to the root."""
    chain = [index]
    while bvh.joints[chain[-1]].parent >= 0:
        chain.append(bvh.joints[chain[-1]].parent)
    return chain


def _spine_fractions() -> dict[str, float]:
    """Height of spine1, spine2, spine3 along pelvis -> neck in the default body (0 = pelvis, 1 = neck)."""
    offsets = default_offsets(dtype=torch.float64)
    lengths = [float(offsets[SMPL24.index(name)].norm()) for name in ("spine1", "spine2", "spine3", "neck")]
    total = sum(lengths)
    return {name: sum(lengths[: i + 1]) / total for i, name in enumerate(("spine1", "spine2", "spine3"))}


def _smpl_placements(
    bvh: BvhFile, counterparts: dict[str, int], rest: torch.Tensor, keep_pelvis: bool
) -> list[tuple[int, torch.Tensor]]:
    """Where each SMPL-24 joint sits: `(anchor, point)` = a BVH joint and a point fixed in its frame.

    The joint's position in any frame is `p[anchor] + R[anchor] @ point`; at rest (identity
    rotations) it is `rest[anchor] + point`. Joints with a BVH counterpart are their counterpart
    (`point` = 0); the others are placed by the rules of the module docstring, in the rest pose.

    Args:
        rest (`torch.Tensor` of shape `(J, 3)`): BVH rest-pose joint positions, metres.
        keep_pelvis (`bool`): take the pelvis's counterpart as it is (SMPL-named files, explicit
            `joint_map`) instead of placing SMPL's pelvis above the hip joints.
    """
    placements: dict[str, tuple[int, torch.Tensor]] = {
        name: (index, rest.new_zeros(3)) for name, index in counterparts.items()
    }

    def rest_position(name: str) -> torch.Tensor:
        anchor, point = placements[name]
        return rest[anchor] + point

    def place(name: str, anchor: int, rest_point: torch.Tensor) -> None:
        placements[name] = (anchor, rest_point - rest[anchor])  # rest orientations are the identity

    if not keep_pelvis:
        # Above the hips' midpoint by the default body's pelvis height per hip width.
        default_hip = default_offsets(dtype=rest.dtype)[SMPL24.index("left_hip")]
        left, right = rest_position("left_hip"), rest_position("right_hip")
        lift = float(-default_hip[1] / default_hip[0].abs()) * 0.5 * (left - right).norm()
        place("pelvis", counterparts["pelvis"], 0.5 * (left + right) + lift * rest.new_tensor([0.0, 1.0, 0.0]))
    # Chest: where the arms branch off (deepest common ancestor of the shoulders) unless named. A
    # rig with fewer spine joints (Mixamo's Spine, Spine1 without Spine2) branches at a joint the
    # names call spine1 or spine2: it becomes the chest, and the joints below it are placed.
    if "spine3" not in placements:
        right_chain = set(_ancestors(bvh, counterparts["right_shoulder"]))
        branch = next(i for i in _ancestors(bvh, counterparts["left_shoulder"]) if i in right_chain)
        for name in ("spine1", "spine2"):
            if placements.get(name, (None,))[0] == branch:
                del placements[name]
        place("spine3", branch, rest[branch])
    if "head" not in placements:
        place("head", *_children_mean(bvh, placements["neck"][0], rest, "head"))
    if "neck" not in placements:
        chest, head = placements["spine3"][0], placements["head"][0]
        between = _chain(bvh, chest, head)
        if between:
            place("neck", between[0], rest[between[0]])
        else:
            place("neck", chest, 0.5 * (rest_position("spine3") + rest_position("head")))
    # Spine1/spine2: along the chain between the nearest placed joints below and above.
    chain = ("pelvis", "spine1", "spine2", "spine3", "neck")
    heights = {"pelvis": 0.0, **_spine_fractions(), "neck": 1.0}
    for name in ("spine1", "spine2"):
        if name in placements:
            continue
        below = next(n for n in reversed(chain[: chain.index(name)]) if n in placements)
        above = next(n for n in chain[chain.index(name) + 1 :] if n in placements)
        weight = (heights[name] - heights[below]) / (heights[above] - heights[below])
        point = torch.lerp(rest_position(below), rest_position(above), weight)
        place(name, placements[below][0], point)
    # Collars: part of the way from the chest to the shoulder, fixed in the chest's frame.
    for side in ("left", "right"):
        if f"{side}_collar" not in placements:
            chest, shoulder = rest_position("spine3"), rest_position(f"{side}_shoulder")
            place(f"{side}_collar", placements["spine3"][0], torch.lerp(chest, shoulder, _COLLAR_FRACTION))
    # Hands and toes: the mean of the wrist's / ankle's children (fingers, End Site).
    for leaf, parent in _LEAF_PARENTS.items():
        if leaf not in placements:
            place(leaf, *_children_mean(bvh, placements[parent][0], rest, leaf))
    return [placements[name] for name in SMPL24.joint_names]


def _children_mean(bvh: BvhFile, anchor: int, rest: torch.Tensor, leaf: str) -> tuple[int, torch.Tensor]:
    children = [i for i, joint in enumerate(bvh.joints) if joint.parent == anchor]
    if not children:
        raise UnknownJointError(
            f"cannot place SMPL joint `{leaf}`: BVH joint `{bvh.joints[anchor].name}` has no child or End Site; "
            f"name one with `joint_map`."
        )
    return anchor, rest[children].mean(0)


def bvh_to_motion(
    bvh: BvhFile,
    joint_map: Mapping[str, str] | None = None,
    scale: float | None = None,
    source: str | os.PathLike[str] = "BVH",
) -> Motion:
    """Map a parsed BVH onto a SMPL-24 `Motion` (see the module docstring for the rules).

    Args:
        bvh (`BvhFile`): the parsed file.
        joint_map (`Mapping[str, str]`, *optional*): `{bvh_joint_name: smpl_joint_name}` overriding the name rules.
        scale (`float`, *optional*): metres per file unit; detected from the skeleton's size when omitted.
        source (`str` or `os.PathLike`): how to name the file in error messages.

    Returns:
        `Motion` (float32) at the file's frame rate.

    Raises:
        `UnknownJointError`: required SMPL joints have no counterpart; the message lists them and the
            BVH joints that were not mapped.
    """
    counterparts, convention = _smpl_counterparts(bvh, joint_map, str(source))
    scale = detect_scale(bvh) if scale is None else float(scale)
    if _has_smpl_tree(bvh, counterparts):
        indices = [counterparts[name] for name in SMPL24.joint_names]
        rotations, translations = bvh.local_transforms(torch.float64, indices)
        # Position channels below the root must hold still to be bone offsets (as Blender writes them).
        if (translations[:, 1:] - translations[:1, 1:]).abs().max() <= _CONSTANT_OFFSET_TOLERANCE:
            translations = translations * scale
            offsets = translations[0].clone()
            offsets[0] = torch.as_tensor(bvh.joints[0].offset, dtype=torch.float64) * scale
            motion = Motion(
                rotations=rotations, translation=translations[:, 0] - offsets[0], fps=bvh.fps, offsets=offsets
            )
            return motion.to(dtype=torch.float32)

    skeleton = bvh.skeleton()
    rest = _rest_positions(torch.as_tensor(bvh.rest_offsets(), dtype=torch.float64) * scale, skeleton)
    keep_pelvis = convention == "smpl" or "pelvis" in (joint_map or {}).values()
    placements = _smpl_placements(bvh, counterparts, rest, keep_pelvis)
    anchors = [anchor for anchor, _ in placements]
    points = torch.stack([point for _, point in placements])  # (24, 3)
    # Forward kinematics on the anchors and their ancestors only (not fingers, eyes, ...).
    needed = sorted(set().union(*(_ancestors(bvh, anchor) for anchor in anchors)))
    position_of = {index: position for position, index in enumerate(needed)}
    subtree = Skeleton(
        name="bvh_subtree",
        joint_names=tuple(bvh.joints[i].name for i in needed),
        parents=tuple(position_of.get(bvh.joints[i].parent, -1) for i in needed),
    )
    rotations, translations = bvh.local_transforms(torch.float64, needed)
    zero = translations.new_zeros(bvh.num_frames, 3)
    positions, orientations = forward_kinematics(rotations, zero, translations * scale, subtree)
    anchor_positions = [position_of[anchor] for anchor in anchors]
    smpl_positions = positions[:, anchor_positions] + (orientations[:, anchor_positions] @ points[:, :, None]).squeeze(
        -1
    )
    smpl_rest = rest[anchors] + points
    offsets = smpl_rest - smpl_rest[list(SMPL24.parents)]
    offsets[0] = 0.0
    local_rotations, translation = inverse_kinematics(smpl_positions, offsets, SMPL24)
    motion = Motion(rotations=local_rotations, translation=translation, fps=bvh.fps, offsets=offsets)
    return motion.to(dtype=torch.float32)


def motion_to_bvh(motion: Motion) -> BvhFile:
    """The SMPL-24 hierarchy of `motion` as a `BvhFile` (centimetres, ZXY Euler; see the module docstring)."""
    units = EXPORT_UNITS_PER_METRE
    offsets = motion.offsets.detach().cpu().double() * units
    rotations = motion.rotations.detach().cpu().double()
    root_position = (motion.translation.detach().cpu().double() + motion.offsets.detach().cpu().double()[0]) * units
    order = EXPORT_ROTATION_ORDER
    channels = tuple(f"{axis}rotation" for axis in order)
    euler = matrix_to_euler(rotations, order, degrees=True)  # (T, 24, 3)

    joints: list[BvhJoint] = []
    columns: list[torch.Tensor] = []

    def emit(smpl_index: int, parent: int) -> None:
        index = len(joints)
        is_root = parent < 0
        joints.append(
            BvhJoint(
                name=SMPL24.joint_names[smpl_index],
                parent=parent,
                offset=offsets[smpl_index].numpy(),
                channels=(POSITION_CHANNELS + channels) if is_root else channels,
            )
        )
        if is_root:
            columns.append(root_position)
        columns.append(euler[:, smpl_index])
        children = SMPL24.children(smpl_index)
        for child in children:
            emit(child, index)
        if not children:
            end = 0.5 * offsets[smpl_index].numpy()
            joints.append(
                BvhJoint(name=joints[index].name + END_SITE_SUFFIX, parent=index, offset=end, is_end_site=True)
            )

    emit(0, -1)
    frames = torch.cat(columns, dim=1).numpy()
    return BvhFile(joints=joints, frame_time=1.0 / motion.fps, frames=np.ascontiguousarray(frames))
