"""BVH files from other tools: CMU's ASF-named conversions in ASF units, Character Creator and
"Hips/Spine/Chest" rigs, inches, wrong frame times, rest poses that are not a T-pose.

Every check compares with the independent per-joint FK of `conftest.reference_positions`.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from kinevid.body import SMPL24, default_offsets
from kinevid.cli.main import main
from kinevid.motion.io import UNIT_SCALES, detect_scale, load_motion, read_bvh

ASF_UNIT = 0.0254 / 0.45
CM = 0.01


def _max_error(motion, expected, names, scale):
    joints = motion.joints.double().numpy()
    return max(
        float(np.linalg.norm(joints[:, SMPL24.index(smpl)] - expected[name] * scale, axis=-1).max())
        for name, smpl in names.items()
    )


def _scaled(specs, factor):
    for spec in specs:
        spec.offset = tuple(v * factor for v in spec.offset)
        if spec.end_site is not None:
            spec.end_site = tuple(v * factor for v in spec.end_site)
    return specs


def cmu_asf_bvh_specs(builders):
    """CMU's ASF skeleton as BVH converters write it: root `hip`, ASF bone names, ASF length units."""
    return _scaled(builders.cmu_asf_specs(root="hip"), CM / ASF_UNIT)  # drawn in centimetres, written in ASF units


ASF_NAMES = {
    "lowerback": "spine1", "upperback": "spine2", "thorax": "spine3", "lowerneck": "neck",
    **{f"{s}{bvh}": f"{side}_{smpl}" for s, side in (("l", "left"), ("r", "right")) for bvh, smpl in {
        "clavicle": "collar", "humerus": "shoulder", "radius": "elbow", "wrist": "wrist", "hand": "hand",
        "femur": "hip", "tibia": "knee", "foot": "ankle", "toes": "foot"}.items()},
}  # fmt: skip


def test_cmu_asf_named_bvh_with_hip_root_in_asf_units(bvh_builders, write_text):
    specs = cmu_asf_bvh_specs(bvh_builders)
    frames = bvh_builders.random_frames(specs, 20, seed=1, root_position=(0.0, 95 * CM / ASF_UNIT, 0.0))
    path = write_text("86_01.bvh", bvh_builders.bvh_text(specs, frames, 1 / 120))
    assert detect_scale(read_bvh(path)) == pytest.approx(ASF_UNIT)  # not centimetres: a 24 cm person
    motion = load_motion(path, fps=12.0)
    assert _max_error(motion, bvh_builders.reference_positions(specs, frames), ASF_NAMES, ASF_UNIT) < 1e-3
    thigh = (motion.joints[:, SMPL24.index("left_knee")] - motion.joints[:, SMPL24.index("left_hip")]).norm(dim=-1)
    assert abs(float(thigh.mean()) - 0.42) < 0.01  # metres
    # --scale overrides the detection.
    torch.testing.assert_close(load_motion(path, scale=2 * ASF_UNIT, fps=12.0).joints, 2 * motion.joints)


def test_units_come_from_limb_proportions(bvh_builders, write_text):
    specs = _scaled(bvh_builders.daz_specs(), 1 / 2.54)  # centimetre rig written in inches
    frames = bvh_builders.random_frames(specs, 5, seed=2, root_position=(0.0, 95 / 2.54, 0.0))
    path = write_text("inches.bvh", bvh_builders.bvh_text(specs, frames, 1 / 30))
    assert detect_scale(read_bvh(path)) == UNIT_SCALES["inch"]
    # A child-sized rig in centimetres stays centimetres.
    small = _scaled(bvh_builders.daz_specs(), 0.65)
    path = write_text("child.bvh", bvh_builders.bvh_text(small, bvh_builders.random_frames(small, 5, seed=3), 1 / 30))
    assert detect_scale(read_bvh(path)) == UNIT_SCALES["cm"]


def character_creator_specs(builders):
    """An iClone / Character Creator rig (`CC_Base_` names, Hip root, Pelvis carrying the thighs, twist bones).

    The Pelvis holds still here: SMPL has one pelvis for legs and spine, so a Pelvis turning against
    the Hip bends what SMPL keeps rigid (the hips then land within the bend, not exactly).
    """
    spec = builders.JointSpec
    six = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    p = "CC_Base_"
    specs = [
        spec(f"{p}Hip", None, (0.0, 0.0, 0.0), six),
        spec(f"{p}Pelvis", f"{p}Hip", (0.0, 0.0, 0.0), ()),
        spec(f"{p}Waist", f"{p}Hip", (0.0, 9.0, -1.0)),
        spec(f"{p}Spine01", f"{p}Waist", (0.0, 12.0, 0.0)),
        spec(f"{p}Spine02", f"{p}Spine01", (0.0, 14.0, 0.5)),
        spec(f"{p}NeckTwist01", f"{p}Spine02", (0.0, 18.0, -1.0)),
        spec(f"{p}NeckTwist02", f"{p}NeckTwist01", (0.0, 4.0, 0.5)),
        spec(f"{p}Head", f"{p}NeckTwist02", (0.0, 5.0, 0.5), end_site=(0.0, 18.0, 0.0)),
    ]
    for s, sign in (("L", 1.0), ("R", -1.0)):
        specs += [
            spec(f"{p}{s}_Clavicle", f"{p}Spine02", (sign * 3.0, 14.0, -1.0)),
            spec(f"{p}{s}_Upperarm", f"{p}{s}_Clavicle", (sign * 13.0, 0.0, -1.0)),
            spec(f"{p}{s}_UpperarmTwist01", f"{p}{s}_Upperarm", (sign * 9.0, 0.0, 0.0), end_site=(sign, 0.0, 0.0)),
            spec(f"{p}{s}_Forearm", f"{p}{s}_Upperarm", (sign * 27.0, 0.0, 0.0)),
            spec(f"{p}{s}_Hand", f"{p}{s}_Forearm", (sign * 24.0, 0.0, 0.0)),
            spec(f"{p}{s}_Mid1", f"{p}{s}_Hand", (sign * 9.0, 0.0, 1.0), end_site=(sign * 4.0, 0.0, 0.0)),
            spec(f"{p}{s}_Thumb1", f"{p}{s}_Hand", (sign * 3.0, -1.0, 3.0), end_site=(sign * 3.0, 0.0, 1.0)),
            spec(f"{p}{s}_Thigh", f"{p}Pelvis", (sign * 9.0, -8.0, 0.0)),
            spec(f"{p}{s}_Calf", f"{p}{s}_Thigh", (0.0, -42.0, 0.0)),
            spec(f"{p}{s}_Foot", f"{p}{s}_Calf", (0.0, -41.0, -1.0)),
            spec(f"{p}{s}_ToeBase", f"{p}{s}_Foot", (0.0, -6.0, 13.0), end_site=(0.0, 0.0, 5.0)),
        ]
    return specs


def test_character_creator_rig(bvh_builders, write_text):
    specs = character_creator_specs(bvh_builders)
    frames = bvh_builders.random_frames(specs, 15, seed=4)
    path = write_text("cc.bvh", bvh_builders.bvh_text(specs, frames, 1 / 30))
    names = {"CC_Base_Waist": "spine1", "CC_Base_Spine01": "spine2", "CC_Base_Spine02": "spine3"}
    names["CC_Base_NeckTwist01"] = "neck"
    for s, side in (("L", "left"), ("R", "right")):
        for bone, smpl in {
            "Clavicle": "collar", "Upperarm": "shoulder", "Forearm": "elbow", "Hand": "wrist", "Mid1": "hand",
            "Thigh": "hip", "Calf": "knee", "Foot": "ankle", "ToeBase": "foot",
        }.items():  # fmt: skip
            names[f"CC_Base_{s}_{bone}"] = f"{side}_{smpl}"
    motion = load_motion(path, fps=12.0)
    assert _max_error(motion, bvh_builders.reference_positions(specs, frames), names, CM) < 1e-3


def hips_spine_chest_specs(builders, suffix_style: bool = True):
    spec = builders.JointSpec
    six = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    specs = [
        spec("Hips", None, (0.0, 0.0, 0.0), six),
        spec("Spine", "Hips", (0.0, 11.0, -1.0)),
        spec("Chest", "Spine", (0.0, 25.0, 0.0)),
        spec("Neck", "Chest", (0.0, 19.0, -1.0)),
        spec("Head", "Neck", (0.0, 9.0, 1.0), end_site=(0.0, 18.0, 0.0)),
    ]
    for s, side, sign in (("L", "Left", 1.0), ("R", "Right", -1.0)):

        def name(bone: str, s=s, side=side) -> str:
            return f"{bone}_{s}" if suffix_style else f"{side}{bone}"

        specs += [
            spec(name("Shoulder"), "Chest", (sign * 4.0, 14.0, -1.0)),
            spec(name("UpperArm"), name("Shoulder"), (sign * 12.0, 0.0, 0.0)),
            spec(name("LowerArm"), name("UpperArm"), (sign * 27.0, 0.0, 0.0)),
            spec(name("Hand"), name("LowerArm"), (sign * 24.0, 0.0, 0.0), end_site=(sign * 9.0, 0.0, 0.0)),
            spec(name("UpperLeg"), "Hips", (sign * 9.0, -7.0, 0.0)),
            spec(name("LowerLeg"), name("UpperLeg"), (0.0, -42.0, 0.0)),
            spec(name("Foot"), name("LowerLeg"), (0.0, -41.0, -1.0)),
            spec(name("Toes"), name("Foot"), (0.0, -6.0, 13.0), end_site=(0.0, 0.0, 5.0)),
        ]
    return specs


@pytest.mark.parametrize("suffix_style", [True, False])
def test_hips_spine_chest_rig(bvh_builders, write_text, suffix_style):
    specs = hips_spine_chest_specs(bvh_builders, suffix_style)
    frames = bvh_builders.random_frames(specs, 15, seed=5)
    path = write_text("unity.bvh", bvh_builders.bvh_text(specs, frames, 1 / 30))
    names = {"Chest": "spine3", "Neck": "neck"}  # the arms branch at Chest: it is the chest
    for s, side in (("L", "Left"), ("R", "Right")):
        for bone, smpl in {
            "Shoulder": "collar", "UpperArm": "shoulder", "LowerArm": "elbow", "Hand": "wrist",
            "UpperLeg": "hip", "LowerLeg": "knee", "Foot": "ankle", "Toes": "foot",
        }.items():  # fmt: skip
            names[f"{bone}_{s}" if suffix_style else f"{side}{bone}"] = f"{side.lower()}_{smpl}"
    motion = load_motion(path, fps=12.0)
    assert _max_error(motion, bvh_builders.reference_positions(specs, frames), names, CM) < 1e-3


def _a_pose(specs, degrees: float = 45.0):
    """Turn the upper arms' rest offsets (and everything below them) down by `degrees`."""
    angle = math.radians(degrees)
    by_name = {spec.name: spec for spec in specs}
    arm_roots = [s.name for s in specs if s.parent and "Shoulder" in s.parent and "Arm" in s.name]
    for root in arm_roots:
        sign = 1.0 if by_name[root].offset[0] > 0 else -1.0
        rotation = np.array(
            [[math.cos(angle), sign * math.sin(angle), 0], [-sign * math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
        )
        queue = [c.name for c in specs if c.parent == root]
        while queue:
            child = by_name[queue.pop()]
            child.offset = tuple(rotation @ np.array(child.offset))
            if child.end_site is not None:
                child.end_site = tuple(rotation @ np.array(child.end_site))
            queue += [c.name for c in specs if c.parent == child.name]
    return specs


@pytest.mark.parametrize("rig", ["mixamo", "hips_spine_chest"])
def test_a_pose_rest_is_retargeted_onto_a_t_pose_with_a_warning(bvh_builders, write_text, rig):
    specs = bvh_builders.mixamo_specs("") if rig == "mixamo" else hips_spine_chest_specs(bvh_builders, False)
    specs = _a_pose(specs)
    frames = bvh_builders.random_frames(specs, 15, seed=6)
    path = write_text("apose.bvh", bvh_builders.bvh_text(specs, frames, 1 / 30))
    with pytest.warns(UserWarning, match=r"rest pose is not a T-pose .*(elbow|wrist) is 45 degrees"):
        motion = load_motion(path, fps=12.0)
    expected = bvh_builders.reference_positions(specs, frames)
    names = {"LeftArm": "left_shoulder", "LeftForeArm": "left_elbow", "LeftHand": "left_wrist"}
    if rig == "hips_spine_chest":
        names = {"LeftUpperArm": "left_shoulder", "LeftLowerArm": "left_elbow", "LeftHand": "left_wrist"}
    names.update({"LeftUpLeg" if rig == "mixamo" else "LeftUpperLeg": "left_hip"})
    assert _max_error(motion, expected, names, CM) < 1e-3  # the file's joints, frame by frame
    # The motion's rest pose is a T-pose: the upper arm points along +X as the default body's.
    upper_arm = motion.offsets[SMPL24.index("left_elbow")]
    default = default_offsets()[SMPL24.index("left_elbow")]
    assert torch.nn.functional.cosine_similarity(upper_arm, default, dim=0) > 0.99


def test_wrong_frame_time_warns_and_input_fps_fixes_it(bvh_dir, tmp_path, capsys):
    walk = tmp_path / "walk.bvh"
    text = (bvh_dir / "02_01.bvh").read_text().replace("Frame Time:\t0.00833333", "Frame Time:\t0.0333333")
    walk.write_text(text)
    with pytest.warns(UserWarning, match=r"declared frame rate \(30 fps\) looks too low"):
        load_motion(walk)
    assert main(["convert", str(walk), str(tmp_path / "a.npz")]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("kinevid convert: warning:") and len(captured.err.splitlines()) == 1
    assert main(["convert", str(walk), str(tmp_path / "b.npz"), "--input-fps", "120"]) == 0
    assert "at 120 fps" in capsys.readouterr().out
    assert load_motion(tmp_path / "b.npz").fps == 120.0


@pytest.mark.parametrize("trial", ["02_01", "02_04", "05_01", "09_01", "13_10"])
def test_bundled_trials_at_their_true_rate_do_not_warn(bvh_dir, tmp_path, trial, recwarn):
    shutil.copy(bvh_dir / f"{trial}.bvh", tmp_path / "t.bvh")
    load_motion(tmp_path / "t.bvh")
    assert not [w for w in recwarn if "frame rate" in str(w.message)]
