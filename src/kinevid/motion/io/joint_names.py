"""Joint-name rules that map the skeletons of common BVH sources onto SMPL-24.

Names are compared after normalisation: the namespace before the last `:` is dropped
(`mixamorig:LeftArm` -> `LeftArm`), a leading `mixamorig` / `mixamorig1_` / `CC_Base_` prefix too,
then the name is lower-cased and stripped of everything but letters and digits (`L_Hip` -> `lhip`).

Each naming convention is one table. The same name can mean different joints in different
conventions (Mixamo's `Spine1` is SMPL's `spine2`; Daz's `lHand` is the wrist, ASF's `lhand` the
hand), so a file is matched against every table and the one naming most of its joints wins.
Joints a table does not name (Daz's `lButtock`, ASF's `lhipjoint`, Character Creator's `Pelvis`
and twist bones, fingers, eyes) are left out; the SMPL joints they leave empty are placed by
`bvh_retarget`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ...body.skeleton import SMPL24
from ...errors import UnknownJointError


def _sided(table: Mapping[str, str]) -> dict[str, str]:
    """Expand `{"{s}collar": "{side}_collar"}` templates into both sides (`s` = l / r, `side` = left / right)."""
    expanded = {}
    for name, smpl_name in table.items():
        for short, side in (("l", "left"), ("r", "right")):
            expanded[name.format(s=short, side=side)] = smpl_name.format(side=side)
    return expanded


def _any_side_marker(table: Mapping[str, str]) -> dict[str, str]:
    """`{"upperarm": "{side}_shoulder"}` -> every side marking rigs use: `LeftUpperArm`, `L_UpperArm`,
    `UpperArm_L`, `upperarm.l`, `UpperArmLeft` (all normalised)."""
    return _sided(
        {form.format(name=name): smpl for name, smpl in table.items() for form in ("{{side}}{name}", "{{s}}{name}",
         "{name}{{s}}", "{name}{{side}}")}
    )  # fmt: skip


# CMU BVH as converted for Daz/Poser (the files in `data/bvh`), also used by many CMU BVH ports.
CMU_DAZ = {
    "hip": "pelvis", "hips": "pelvis", "abdomen": "spine1", "abdomen2": "spine2", "chest": "spine3",
    "neck": "neck", "head": "head",
    **_sided({
        "{s}collar": "{side}_collar", "{s}shldr": "{side}_shoulder", "{s}forearm": "{side}_elbow",
        "{s}hand": "{side}_wrist", "{s}thigh": "{side}_hip", "{s}shin": "{side}_knee", "{s}foot": "{side}_ankle",
        "{s}toe": "{side}_foot", "{s}mid1": "{side}_hand",
    }),
}  # fmt: skip

# CMU ASF/AMC bone names (the ASF files themselves, and BVH exported from them: amc2bvh and
# similar, whose root is `hip` or `hips`).
CMU_ASF = {
    "root": "pelvis", "hip": "pelvis", "hips": "pelvis", "lowerback": "spine1", "upperback": "spine2",
    "thorax": "spine3", "lowerneck": "neck", "head": "head",
    **_sided({
        "{s}clavicle": "{side}_collar", "{s}humerus": "{side}_shoulder", "{s}radius": "{side}_elbow",
        "{s}wrist": "{side}_wrist", "{s}hand": "{side}_hand", "{s}femur": "{side}_hip", "{s}tibia": "{side}_knee",
        "{s}foot": "{side}_ankle", "{s}toes": "{side}_foot",
    }),
}  # fmt: skip

# Mixamo (Adobe) rigs, with or without the `mixamorig:` namespace.
MIXAMO = {
    "hips": "pelvis", "spine": "spine1", "spine1": "spine2", "spine2": "spine3", "neck": "neck", "head": "head",
    **_sided({
        "{side}shoulder": "{side}_collar", "{side}arm": "{side}_shoulder", "{side}forearm": "{side}_elbow",
        "{side}hand": "{side}_wrist", "{side}handmiddle1": "{side}_hand", "{side}upleg": "{side}_hip",
        "{side}leg": "{side}_knee", "{side}foot": "{side}_ankle", "{side}toebase": "{side}_foot",
    }),
}  # fmt: skip

# iClone / Character Creator 3-4 (`CC_Base_` prefix, removed by `normalize_joint_name`). `Hip` is
# the root of body and legs; `Pelvis` below it only carries the thighs, like ASF's `hipjoint` (SMPL has one
# pelvis for both: a Pelvis turning against the Hip bends it, and the fit spreads that over the hips).
CHARACTER_CREATOR = {
    "hip": "pelvis", "waist": "spine1", "spine01": "spine2", "spine02": "spine3", "necktwist01": "neck",
    "head": "head",
    **_sided({
        "{s}clavicle": "{side}_collar", "{s}upperarm": "{side}_shoulder", "{s}forearm": "{side}_elbow",
        "{s}hand": "{side}_wrist", "{s}mid1": "{side}_hand", "{s}thigh": "{side}_hip", "{s}calf": "{side}_knee",
        "{s}foot": "{side}_ankle", "{s}toebase": "{side}_foot",
    }),
}  # fmt: skip

# "Hips / Spine / Chest": Unity's humanoid avatar and the mocap libraries named after it
# (Bandai Namco, Truebones, many game rigs); the side as a prefix or suffix in any spelling.
HIPS_SPINE_CHEST = {
    "hips": "pelvis", "spine": "spine1", "chest": "spine2", "upperchest": "spine3", "neck": "neck", "head": "head",
    **_any_side_marker({
        "shoulder": "{side}_collar", "upperarm": "{side}_shoulder", "lowerarm": "{side}_elbow", "hand": "{side}_wrist",
        "upperleg": "{side}_hip", "lowerleg": "{side}_knee", "foot": "{side}_ankle", "toes": "{side}_foot",
        "toe": "{side}_foot",
    }),
}  # fmt: skip

# SMPL's own names: `left_hip`, `Left_Hip`, `L_Hip`, `l_hip`, `Pelvis`, `Spine1`, ...
SMPL = {
    **{re.sub(r"[^a-z0-9]", "", name): name for name in SMPL24.joint_names},
    **{"l" + name[len("left_") :].replace("_", ""): name for name in SMPL24.joint_names if name.startswith("left_")},
    **{"r" + name[len("right_") :].replace("_", ""): name for name in SMPL24.joint_names if name.startswith("right_")},
}

NAMING_CONVENTIONS: dict[str, dict[str, str]] = {
    "smpl": SMPL,
    "mixamo": MIXAMO,
    "cmu_daz": CMU_DAZ,
    "cmu_asf": CMU_ASF,
    "character_creator": CHARACTER_CREATOR,
    "hips_spine_chest": HIPS_SPINE_CHEST,
}
"""Convention name -> {normalised BVH joint name: SMPL-24 joint name}."""


def normalize_joint_name(name: str) -> str:
    """`"mixamorig:LeftUpLeg"` -> `"leftupleg"`, `"L_Hip"` -> `"lhip"`, `"CC_Base_L_Thigh"` -> `"lthigh"`."""
    name = name.rsplit(":", 1)[-1]
    name = re.sub(r"^(mixamorig\d*_?|cc_base_)", "", name, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]", "", name.lower())


def map_joint_names(
    names: Sequence[str], joint_map: Mapping[str, str] | None = None
) -> tuple[dict[str, str], str | None]:
    """Match BVH joint names to SMPL-24 joints.

    Args:
        names (`Sequence[str]`): the BVH joint names (End Sites excluded), root first.
        joint_map (`Mapping[str, str]`, *optional*): explicit `{bvh_name: smpl_name}` pairs; they
            override the rules (a SMPL joint named here is taken from no other BVH joint).

    Returns:
        `(mapping, convention)`: `{bvh_name: smpl_name}` (each SMPL joint at most once, the first BVH
        joint in file order wins) and the name of the convention used (`None` when none matched).

    Raises:
        `UnknownJointError`: `joint_map` names a BVH joint the file lacks or a joint SMPL-24 lacks.
    """
    normalized = [normalize_joint_name(name) for name in names]
    scores = {
        convention: len({table[n] for n in normalized if n in table})
        for convention, table in NAMING_CONVENTIONS.items()
    }
    convention = max(scores, key=scores.get) if max(scores.values()) > 0 else None
    mapping: dict[str, str] = {}
    if convention is not None:
        table, taken = NAMING_CONVENTIONS[convention], set()
        for name, key in zip(names, normalized, strict=True):
            if key in table and table[key] not in taken:
                mapping[name] = table[key]
                taken.add(table[key])
    for bvh_name, smpl_name in (joint_map or {}).items():
        if bvh_name not in names:
            raise UnknownJointError(
                f"`joint_map` names BVH joint {bvh_name!r}, which the file does not have; its joints are {list(names)}."
            )
        if smpl_name not in SMPL24.joint_names:
            raise UnknownJointError(
                f"`joint_map` maps {bvh_name!r} to {smpl_name!r}, which is not a SMPL-24 joint; expected one of "
                f"{list(SMPL24.joint_names)}."
            )
        mapping = {name: smpl for name, smpl in mapping.items() if smpl != smpl_name and name != bvh_name}
        mapping[bvh_name] = smpl_name
    return mapping, convention
