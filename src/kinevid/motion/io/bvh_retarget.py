"""BVH <-> SMPL-24 `Motion`.

Import (`bvh_to_motion`) works for any hierarchy:

1. Global joint positions are computed with the file's own hierarchy and channels (`BvhFile`).
2. BVH joints are matched to SMPL-24 joints by name (`joint_names`: CMU/Daz, CMU ASF, Mixamo and
   SMPL names; an explicit `joint_map` overrides). A SMPL leaf (head, feet, hands) with no named
   counterpart is taken from its parent's only `End Site`.
3. Units: BVH has none. Unless `scale` is given, the skeleton's proportions decide: the lengths
   of thighs, shins, upper arms and forearms (in file units) are compared with the default adult
   body's, and the known unit closest (in log scale) to their median ratio wins: metres,
   centimetres, millimetres, inches, or CMU's ASF length unit (1/0.45 inch, about 0.0564 m, the
   unit of BVH converted from CMU's ASF/AMC). Bones are used rather than the overall size, which
   fingers, end sites and the rest pose inflate; a skeleton whose limbs cannot be named falls back
   to the rest pose's largest extent (a person is 1-2 m tall). Any other unit needs an explicit
   `scale` (metres per unit). The file is assumed to be Y-up (as CMU, Mixamo and Blender's
   exporter write it).
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
   The rest pose of the file becomes the motion's rest pose (`offsets`) when it is a T-pose
   facing +Z, as kinevid's default body and CMU, Mixamo and SMPL rigs. A rest pose that is not
   (an A-pose, arms down, limbs pointing along +Y as some exporters write bones) is detected from
   the directions of the limb and spine bones (more than 30 degrees from the T-pose's); the motion
   is then retargeted onto a T-pose body with the file's bone lengths: the joint positions of every
   frame are the file's, fitted by inverse kinematics on that body, and a warning says so.
5. Frame rate: the file's `Frame Time` unless `fps` is given. Files sometimes declare the wrong
   one (30 fps for a 120 fps capture); `check_frame_rate` warns when the resulting speeds are
   implausible for a person.

Export (`motion_to_bvh`) writes the SMPL-24 hierarchy with the motion's offsets in centimetres,
channels `Xposition Yposition Zposition Zrotation Xrotation Yrotation` on the pelvis and
`Zrotation Xrotation Yrotation` (R = R_Z R_X R_Y) on every other joint, and an End Site after
each leaf (half the leaf's own bone further along). Importing such a file takes the direct path
above and reproduces the motion's joints to float precision.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping

import numpy as np
import torch

from ...body.kinematics import forward_kinematics, inverse_kinematics
from ...body.rotations import matrix_to_euler
from ...body.skeleton import SMPL24, Skeleton, default_offsets
from ...errors import InvalidInputError, UnknownJointError
from ..motion import Motion, fit_offsets
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
# Unit detection: metres per unit of the units files come in; the one whose reading of the limb
# bones (or, without named limbs, of a 1.7 m rest pose) is closest in log scale wins.
ASF_LENGTH_UNIT = 0.0254 / 0.45  # CMU's ASF files: `:units length 0.45`, i.e. 1/0.45 inch
UNIT_SCALES = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "asf": ASF_LENGTH_UNIT}
_TYPICAL_EXTENT_M = 1.7
_SCALE_BONES = (
    ("left_hip", "left_knee"), ("right_hip", "right_knee"), ("left_knee", "left_ankle"),
    ("right_knee", "right_ankle"), ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"),
)  # fmt: skip
# Rest-pose check: bones whose direction must be within this angle of the T-pose's.
_TPOSE_TOLERANCE_DEGREES = 30.0
_TPOSE_BONES = (*_SCALE_BONES, ("pelvis", "neck"), ("left_shoulder", "right_shoulder"))
# Frame-rate check, calibrated on the 2,323 CMU trials of 2 s or more at their true rate: their
# fastest joint's 95th-percentile speed is 0.03-16 m/s; among the 1,548 that travel more than 2 m
# it is below 1.2 m/s in 1 % of the trials (a typical walk declared at a quarter of its rate: 0.9).
_MAX_PLAUSIBLE_SPEED = 20.0  # m/s
_MIN_LOCOMOTION_SPEED = 1.2  # m/s, fastest joint (95th percentile) of a clip travelling >= 2 m
_LOCOMOTION_TRAVEL = 2.0  # m
# Tolerance (file units) under which a joint's per-frame position channels count as a constant offset.
_CONSTANT_OFFSET_TOLERANCE = 1e-6

EXPORT_ROTATION_ORDER = "ZXY"
EXPORT_UNITS_PER_METRE = 100.0  # centimetres


def _rest_positions(offsets: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """`(J, 3)` joint positions of the rest pose (all rotations identity) from rest offsets `(J, 3)`."""
    eye = torch.eye(3, dtype=offsets.dtype).expand(1, skeleton.num_joints, 3, 3)
    return forward_kinematics(eye, offsets.new_zeros(1, 3), offsets, skeleton)[0][0]


def detect_scale(bvh: BvhFile, counterparts: Mapping[str, int] | None = None) -> float:
    """Metres per file unit from the skeleton's limb bones, else its size (see the module docstring).

    Args:
        bvh (`BvhFile`): the parsed file.
        counterparts (`Mapping[str, int]`, *optional*): `{smpl_name: joint_index}`; by default found
            with the joint-name rules.
    """
    positions = _rest_positions(torch.as_tensor(bvh.rest_offsets(), dtype=torch.float64), bvh.skeleton())
    if counterparts is None:
        names = [joint.name for joint in bvh.joints if not joint.is_end_site]
        mapping, _ = map_joint_names(names)
        counterparts = {smpl: bvh.joint_names.index(name) for name, smpl in mapping.items()}
    reference = _rest_positions(default_offsets(dtype=torch.float64), SMPL24)
    ratios = [
        float((reference[SMPL24.index(b)] - reference[SMPL24.index(a)]).norm())
        / float((positions[counterparts[b]] - positions[counterparts[a]]).norm())
        for a, b in _SCALE_BONES
        if a in counterparts
        and b in counterparts
        and float((positions[counterparts[b]] - positions[counterparts[a]]).norm()) > 0
    ]
    if ratios:
        estimate = float(np.median(ratios))
    else:
        extent = float((positions.amax(0) - positions.amin(0)).max())
        if not extent > 0:
            return 1.0
        estimate = _TYPICAL_EXTENT_M / extent
    return min(UNIT_SCALES.values(), key=lambda s: abs(math.log(estimate / s)))


def check_frame_rate(motion: Motion, source: str | os.PathLike[str] = "motion") -> str | None:
    """A warning message when `motion`'s speeds are implausible for its declared frame rate, else `None`.

    Too high a rate shows as a joint faster than 20 m/s (95th percentile over frames); too low a
    rate as a clip whose root travels 2 m or more while its fastest joint moves at under 1.2 m/s
    (thresholds from the CMU trials at their true rate, see `_MIN_LOCOMOTION_SPEED`).
    """
    if motion.num_frames < 3:
        return None
    joints = motion.joints.detach().double()
    speeds = (joints[1:] - joints[:-1]).norm(dim=-1).amax(-1) * motion.fps  # (T - 1,) fastest joint
    fastest = float(torch.quantile(speeds, 0.95))
    travel = float((joints[1:, 0, [0, 2]] - joints[:-1, 0, [0, 2]]).norm(dim=-1).sum())
    if fastest > _MAX_PLAUSIBLE_SPEED:
        verdict = "too high"
    elif travel >= _LOCOMOTION_TRAVEL and fastest < _MIN_LOCOMOTION_SPEED:
        verdict = "too low"
    else:
        return None
    return (
        f"{source}: the declared frame rate ({motion.fps:g} fps) looks {verdict} for the motion: its fastest joint "
        f"moves at {fastest:.2f} m/s (95th percentile) while the root travels {travel:.1f} m. If the file's frame "
        f"time is wrong, pass the true rate (`fps=`, CLI --input-fps)."
    )


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


def _tpose_departure(rest: torch.Tensor) -> tuple[float, str]:
    """Largest angle (degrees) between a limb/spine bone of SMPL-24 rest positions `(24, 3)` and the
    default T-pose's, and the bone it is on."""
    reference = _rest_positions(default_offsets(dtype=rest.dtype), SMPL24)
    worst, worst_bone = 0.0, ""
    for a, b in _TPOSE_BONES:
        ours = rest[SMPL24.index(b)] - rest[SMPL24.index(a)]
        theirs = reference[SMPL24.index(b)] - reference[SMPL24.index(a)]
        cosine = float(torch.nn.functional.cosine_similarity(ours, theirs, dim=0).clamp(-1.0, 1.0))
        angle = math.degrees(math.acos(cosine)) if float(ours.norm()) > 0 else 180.0
        if angle > worst:
            worst, worst_bone = angle, f"{a} -> {b}"
    return worst, worst_bone


def bvh_to_motion(
    bvh: BvhFile,
    joint_map: Mapping[str, str] | None = None,
    scale: float | None = None,
    source: str | os.PathLike[str] = "BVH",
    fps: float | None = None,
) -> Motion:
    """Map a parsed BVH onto a SMPL-24 `Motion` (see the module docstring for the rules).

    Args:
        bvh (`BvhFile`): the parsed file.
        joint_map (`Mapping[str, str]`, *optional*): `{bvh_joint_name: smpl_joint_name}` overriding the name rules.
        scale (`float`, *optional*): metres per file unit; detected from the skeleton's proportions when omitted.
        source (`str` or `os.PathLike`): how to name the file in error and warning messages.
        fps (`float`, *optional*): the true frame rate, overriding the file's `Frame Time`.

    Returns:
        `Motion` (float32) at the file's frame rate (or `fps`).

    Raises:
        `UnknownJointError`: required SMPL joints have no counterpart; the message lists them and the
            BVH joints that were not mapped.
        `InvalidInputError`: `scale` or `fps` is not a positive number.

    Warns:
        `UserWarning` when the rest pose is not a T-pose facing +Z (the motion is retargeted onto one).
    """
    for name, value in (("scale", scale), ("fps", fps)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InvalidInputError(f"`{name}` must be a positive number, got {value}.")
    fps = bvh.fps if fps is None else float(fps)
    counterparts, convention = _smpl_counterparts(bvh, joint_map, str(source))
    scale = detect_scale(bvh, counterparts) if scale is None else float(scale)
    tpose = True
    if _has_smpl_tree(bvh, counterparts):
        indices = [counterparts[name] for name in SMPL24.joint_names]
        rest_offsets = torch.as_tensor(bvh.rest_offsets()[indices], dtype=torch.float64)
        tpose = _tpose_departure(_rest_positions(rest_offsets, SMPL24))[0] <= _TPOSE_TOLERANCE_DEGREES
    if tpose and _has_smpl_tree(bvh, counterparts):
        indices = [counterparts[name] for name in SMPL24.joint_names]
        rotations, translations = bvh.local_transforms(torch.float64, indices)
        # Position channels below the root must hold still to be bone offsets (as Blender writes them).
        if (translations[:, 1:] - translations[:1, 1:]).abs().max() <= _CONSTANT_OFFSET_TOLERANCE:
            translations = translations * scale
            offsets = translations[0].clone()
            offsets[0] = torch.as_tensor(bvh.joints[0].offset, dtype=torch.float64) * scale
            motion = Motion(rotations=rotations, translation=translations[:, 0] - offsets[0], fps=fps, offsets=offsets)
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
    departure, bone = _tpose_departure(smpl_rest)
    if departure <= _TPOSE_TOLERANCE_DEGREES:
        offsets = smpl_rest - smpl_rest[list(SMPL24.parents)]
        offsets[0] = 0.0
    else:
        warnings.warn(
            f"{source}: the rest pose is not a T-pose facing +Z (bone {bone} is {departure:.0f} degrees from it); "
            "the motion was retargeted onto a T-pose body with the file's bone lengths (joint positions are the "
            "file's, rotations are relative to the T-pose).",
            stacklevel=2,
        )
        offsets = fit_offsets(smpl_positions)
    local_rotations, translation = inverse_kinematics(smpl_positions, offsets, SMPL24)
    motion = Motion(rotations=local_rotations, translation=translation, fps=fps, offsets=offsets)
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
