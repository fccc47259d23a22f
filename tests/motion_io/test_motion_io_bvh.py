"""BVH import (any skeleton, channel layout, naming) and export, against an independent reading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinevid.body import SMPL24, euler_to_matrix
from kinevid.errors import MotionFileError, UnknownJointError
from kinevid.motion import Motion
from kinevid.motion.io import detect_scale, load_motion, read_bvh, save_motion

MIXAMO_TO_SMPL = {
    "Hips": "pelvis", "Spine": "spine1", "Spine1": "spine2", "Spine2": "spine3", "Neck": "neck", "Head": "head",
    "LeftShoulder": "left_collar", "LeftArm": "left_shoulder", "LeftForeArm": "left_elbow", "LeftHand": "left_wrist",
    "LeftHand_End": "left_hand", "LeftUpLeg": "left_hip", "LeftLeg": "left_knee", "LeftFoot": "left_ankle",
    "LeftToeBase": "left_foot",
}  # fmt: skip
MIXAMO_TO_SMPL.update(
    {k.replace("Left", "Right"): v.replace("left_", "right_") for k, v in MIXAMO_TO_SMPL.items() if "Left" in k}
)
DAZ_TO_SMPL = {
    "chest": "spine3", "neck": "neck", "head": "head",
    **{f"{s}{bvh}": f"{side}_{smpl}" for s, side in (("l", "left"), ("r", "right")) for bvh, smpl in {
        "Thigh": "hip", "Shin": "knee", "Foot": "ankle", "Foot_End": "foot", "Shldr": "shoulder",
        "ForeArm": "elbow", "Hand": "wrist"}.items()},
}  # fmt: skip


def _max_error(motion: Motion, expected: dict[str, np.ndarray], names: dict[str, str], scale: float) -> float:
    joints = motion.joints.double().numpy()
    return max(
        float(np.linalg.norm(joints[:, SMPL24.index(smpl)] - expected[bvh] * scale, axis=-1).max())
        for bvh, smpl in names.items()
    )


def test_euler_channels_are_intrinsic_in_listed_order(bvh_builders):
    angles = torch.tensor([[30.0, -50.0, 75.0]], dtype=torch.float64)
    e = bvh_builders.elementary
    expected = e("Z", 30.0) @ e("X", -50.0) @ e("Y", 75.0)
    np.testing.assert_allclose(euler_to_matrix(angles, "ZXY")[0].numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("prefix", ["mixamorig:", ""])
def test_mixamo_rig_maps_onto_smpl_exactly(bvh_builders, write_text, prefix):
    specs = bvh_builders.mixamo_specs(prefix)
    frames = bvh_builders.random_frames(specs, 40, seed=1)
    path = write_text("mixamo.bvh", bvh_builders.bvh_text(specs, frames, 1 / 30))
    expected = {name.removeprefix(prefix): p for name, p in bvh_builders.reference_positions(specs, frames).items()}

    motion = load_motion(path)
    assert motion.fps == 30.0 and motion.num_frames == 40
    assert detect_scale(read_bvh(path)) == 0.01  # centimetres, from the size of the rig
    assert _max_error(motion, expected, MIXAMO_TO_SMPL, 0.01) < 1e-5
    # SMPL's tree: the file's own rotations are kept, e.g. the left knee's YXZ Euler angles.
    knee = motion.rotations[:, SMPL24.index("left_knee")].double()
    order = bvh_builders.ordered(specs)
    knee_index = [spec.name for spec in order].index(f"{prefix}LeftLeg")
    column = sum(len(spec.channels) for spec in order[:knee_index])
    e = bvh_builders.elementary
    reference = np.stack([e("Y", r[column]) @ e("X", r[column + 1]) @ e("Z", r[column + 2]) for r in frames])
    np.testing.assert_allclose(knee.numpy(), reference, atol=1e-6)


def test_smpl_named_rig_in_metres(bvh_builders, write_text):
    parents = SMPL24.parents
    names = [
        "Pelvis" if n == "pelvis" else n.replace("left_", "L_").replace("right_", "R_").title()
        for n in SMPL24.joint_names
    ]
    rest = Motion.rest(1).offsets.double().numpy()
    xyz = ("Xrotation", "Yrotation", "Zrotation")
    specs = [
        bvh_builders.JointSpec(
            names[j], None if parents[j] < 0 else names[parents[j]], tuple(rest[j]),
            ("Xposition", "Yposition", "Zposition", *xyz) if j == 0 else xyz,
            end_site=(0.0, 0.05, 0.0) if not SMPL24.children(j) else None,
        )
        for j in range(24)
    ]  # fmt: skip
    frames = bvh_builders.random_frames(specs, 25, seed=2, root_position=(0.1, 0.9, -0.3))
    path = write_text("smpl.bvh", bvh_builders.bvh_text(specs, frames, 1 / 20))
    expected = bvh_builders.reference_positions(specs, frames)

    motion = load_motion(path)
    assert detect_scale(read_bvh(path)) == 1.0
    assert _max_error(motion, expected, dict(zip(names, SMPL24.joint_names, strict=True)), 1.0) < 1e-6
    torch.testing.assert_close(motion.offsets, torch.as_tensor(rest, dtype=torch.float32))


def test_daz_rig_is_retargeted_through_placed_joints(bvh_builders, write_text):
    specs = bvh_builders.daz_specs()
    frames = bvh_builders.random_frames(specs, 30, seed=3)
    path = write_text("daz.bvh", bvh_builders.bvh_text(specs, frames, 1 / 120))
    expected = bvh_builders.reference_positions(specs, frames)

    motion = load_motion(path)
    assert motion.fps == 120.0
    # Joints with a BVH counterpart land where the file puts them; the rest is a rigid SMPL body.
    assert _max_error(motion, expected, DAZ_TO_SMPL, 0.01) < 1e-3
    lengths = (motion.joints[:, 1:] - motion.joints[:, list(SMPL24.parents[1:])]).norm(dim=-1)
    assert float((lengths - lengths[:1]).abs().max()) < 1e-5
    # SMPL's pelvis sits above the hip joints (Daz's `hip` joint is below them).
    pelvis_height = motion.joints[:, 0, 1] - motion.joints[:, [1, 2], 1].mean(1)
    assert float(pelvis_height.min()) > 0.05
    # Daz names the hand by its middle finger's root.
    hand = motion.joints[:, SMPL24.index("left_hand")].double().numpy()
    assert np.linalg.norm(hand - expected["lMid1"] * 0.01, axis=-1).max() < 1e-3


def test_missing_joints_are_placed(bvh_builders, write_text):
    # Mixamo rig with two spine joints and no toe joints: chest at the shoulders' branch point.
    specs = [s for s in bvh_builders.mixamo_specs("") if s.name not in ("Spine2", "LeftToeBase", "RightToeBase")]
    for spec in specs:
        if spec.parent == "Spine2":
            spec.parent = "Spine1"
        if spec.name.endswith("Foot"):
            spec.end_site = (0.0, -6.0, 15.0)
    frames = bvh_builders.random_frames(specs, 20, seed=8)
    path = write_text("mixamo_short.bvh", bvh_builders.bvh_text(specs, frames, 1 / 30))
    expected = bvh_builders.reference_positions(specs, frames)
    motion = load_motion(path)
    names = {k: v for k, v in MIXAMO_TO_SMPL.items() if "ToeBase" not in k and k not in ("Hips", "Spine1", "Spine2")}
    names.update({"Spine1": "spine3", "LeftFoot_End": "left_foot", "RightFoot_End": "right_foot"})
    assert _max_error(motion, expected, names, 0.01) < 1e-3
    joints = motion.joints.double().numpy()
    spine1, spine2, spine3 = (joints[:, SMPL24.index(n)] for n in ("spine1", "spine2", "spine3"))
    assert (
        np.linalg.norm(spine2 - spine1, axis=-1).min() > 0.02 and np.linalg.norm(spine3 - spine2, axis=-1).min() > 0.02
    )

    # Daz rig whose fingers the rules do not name: the hand is the mean of the finger roots.
    specs = bvh_builders.daz_specs()
    for spec in specs:
        spec.name = spec.name.replace("Mid1", "Middle1")
    frames = bvh_builders.random_frames(specs, 10, seed=9)
    path = write_text("daz_fingers.bvh", bvh_builders.bvh_text(specs, frames, 1 / 30))
    expected = bvh_builders.reference_positions(specs, frames)
    hand = load_motion(path).joints[:, SMPL24.index("right_hand")].double().numpy()
    fingers = 0.5 * (expected["rIndex1"] + expected["rMiddle1"]) * 0.01
    assert np.linalg.norm(hand - fingers, axis=-1).max() < 1e-3


def test_cmu_asf_rig(bvh_builders, write_text):
    specs = bvh_builders.cmu_asf_specs()
    frames = bvh_builders.random_frames(specs, 15, seed=10)
    path = write_text("asf.bvh", bvh_builders.bvh_text(specs, frames, 1 / 120))
    expected = bvh_builders.reference_positions(specs, frames)
    names = {
        "lowerback": "spine1", "upperback": "spine2", "thorax": "spine3", "lowerneck": "neck", "head": "head",
        **{f"{s}{bvh}": f"{side}_{smpl}" for s, side in (("l", "left"), ("r", "right")) for bvh, smpl in {
            "clavicle": "collar", "humerus": "shoulder", "radius": "elbow", "wrist": "wrist", "hand": "hand",
            "femur": "hip", "tibia": "knee", "foot": "ankle", "toes": "foot"}.items()},
    }  # fmt: skip
    assert _max_error(load_motion(path), expected, names, 0.01) < 1e-3


def test_smpl_named_rig_keeps_its_pelvis_on_the_fitted_path(bvh_builders, write_text):
    # Spine2 missing: not SMPL's tree, so the joints are fitted; the SMPL-named pelvis stays put.
    spec = bvh_builders.JointSpec
    six = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    specs = [
        spec("Pelvis", None, (0.0, 0.0, 0.0), six),
        spec("Spine1", "Pelvis", (0.0, 0.1, 0.0)),
        spec("Spine3", "Spine1", (0.0, 0.25, 0.0)),
        spec("Neck", "Spine3", (0.0, 0.2, 0.0)),
        spec("Head", "Neck", (0.0, 0.1, 0.0), end_site=(0.0, 0.1, 0.0)),
    ]  # fmt: skip
    for s, sign in (("L", 1.0), ("R", -1.0)):
        specs += [
            spec(f"{s}_Collar", "Spine3", (sign * 0.07, 0.1, 0.0)),
            spec(f"{s}_Shoulder", f"{s}_Collar", (sign * 0.1, 0.0, 0.0)),
            spec(f"{s}_Elbow", f"{s}_Shoulder", (sign * 0.28, 0.0, 0.0)),
            spec(f"{s}_Wrist", f"{s}_Elbow", (sign * 0.25, 0.0, 0.0), end_site=(sign * 0.1, 0.0, 0.0)),
            spec(f"{s}_Hip", "Pelvis", (sign * 0.09, -0.1, 0.0)),
            spec(f"{s}_Knee", f"{s}_Hip", (0.0, -0.4, 0.0)),
            spec(f"{s}_Ankle", f"{s}_Knee", (0.0, -0.42, 0.0), end_site=(0.0, -0.05, 0.15)),
        ]
    frames = bvh_builders.random_frames(specs, 10, seed=11, root_position=(0.0, 0.95, 0.0))
    path = write_text("smpl_partial.bvh", bvh_builders.bvh_text(specs, frames, 1 / 30))
    expected = bvh_builders.reference_positions(specs, frames)
    names = {spec.name: n for spec, n in zip(specs, ("pelvis", "spine1", "spine3", "neck", "head"), strict=False)}
    names.update({"L_Knee": "left_knee", "R_Wrist": "right_wrist", "L_Ankle_End": "left_foot"})
    assert _max_error(load_motion(path), expected, names, 1.0) < 1e-3


def test_scale_override(bvh_builders, write_text):
    specs = bvh_builders.daz_specs()
    frames = bvh_builders.random_frames(specs, 5, seed=4)
    path = write_text("daz.bvh", bvh_builders.bvh_text(specs, frames, 1 / 30))
    auto = load_motion(path)
    inches = load_motion(path, scale=0.0254)
    torch.testing.assert_close(inches.joints, auto.joints * 2.54, atol=1e-5, rtol=1e-5)


def test_unmapped_skeleton_lists_joints(bvh_builders, write_text):
    specs = bvh_builders.daz_specs(knee_name="KneeCustom")
    frames = bvh_builders.random_frames(specs, 5, seed=5)
    path = write_text("custom.bvh", bvh_builders.bvh_text(specs, frames, 1 / 30))
    with pytest.raises(UnknownJointError) as error:
        load_motion(path)
    message = str(error.value)
    assert str(path) in message
    assert "left_knee" in message and "right_knee" in message
    assert "lKneeCustom" in message and "rKneeCustom" in message
    # An explicit map completes it, and matches the standard names' result.
    motion = load_motion(path, joint_map={"lKneeCustom": "left_knee", "rKneeCustom": "right_knee"})
    expected = bvh_builders.reference_positions(specs, frames)
    names = {k.replace("Shin", "KneeCustom"): v for k, v in DAZ_TO_SMPL.items()}
    assert _max_error(motion, expected, names, 0.01) < 1e-3


def test_joint_map_errors(bvh_builders, write_text):
    specs = bvh_builders.daz_specs()
    path = write_text("daz.bvh", bvh_builders.bvh_text(specs, bvh_builders.random_frames(specs, 3, seed=6), 0.1))
    with pytest.raises(UnknownJointError, match="not_a_joint"):
        load_motion(path, joint_map={"not_a_joint": "left_knee"})
    with pytest.raises(UnknownJointError, match="left_kneecap"):
        load_motion(path, joint_map={"lShin": "left_kneecap"})


def test_export_reimports_within_a_millimetre(tmp_path):
    generator = torch.Generator().manual_seed(0)
    num_frames = 20
    rotations = torch.linalg.matrix_exp(_skew(torch.randn(num_frames, 24, 3, generator=generator) * 0.6))
    translation = torch.randn(num_frames, 3, generator=generator) * 0.5 + torch.tensor([0.0, 0.9, 0.0])
    motion = Motion(rotations=rotations, translation=translation, fps=25.0)
    save_motion(motion, tmp_path / "out.bvh")
    reloaded = load_motion(tmp_path / "out.bvh")
    assert reloaded.fps == 25.0 and reloaded.num_frames == num_frames
    error = (reloaded.joints - motion.joints).norm(dim=-1).max()
    assert float(error) < 1e-3
    torch.testing.assert_close(reloaded.offsets, motion.offsets, atol=1e-6, rtol=0)
    # Large random rotations: the matrices come back too (6-decimal degrees).
    torch.testing.assert_close(reloaded.rotations, motion.rotations, atol=1e-5, rtol=0)


def _skew(vectors: torch.Tensor) -> torch.Tensor:
    x, y, z = vectors.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack(
        [torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1), torch.stack([-y, x, zero], -1)], -2
    )


def _valid_text(bvh_builders) -> tuple[str, int]:
    specs = bvh_builders.daz_specs()
    text = bvh_builders.bvh_text(specs, bvh_builders.random_frames(specs, 6, seed=7), 1 / 30)
    return text, text.splitlines().index("MOTION") + 1  # 1-based line of MOTION


def test_truncated_bvh_names_file_and_line(bvh_builders, write_text):
    text, _ = _valid_text(bvh_builders)
    lines = text.splitlines()
    cut = write_text("cut.bvh", "\n".join(lines[:-2]) + "\n")  # two frames missing
    with pytest.raises(MotionFileError, match=rf"cut\.bvh:{len(lines) - 1}: truncated BVH: `Frames: 6`"):
        read_bvh(cut)
    hierarchy_only = write_text("half.bvh", "\n".join(lines[:20]) + "\n")
    with pytest.raises(MotionFileError, match=r"half\.bvh:20: .*MOTION"):
        read_bvh(hierarchy_only)
    partial_line = [*lines[:-1], " ".join(lines[-1].split()[:10])]
    short = write_text("short.bvh", "\n".join(partial_line) + "\n")
    with pytest.raises(MotionFileError, match=rf"short\.bvh:{len(lines)}: .*frame 5 has 10 values"):
        read_bvh(short)


def test_malformed_bvh_names_file_and_line(bvh_builders, write_text):
    text, motion_line = _valid_text(bvh_builders)
    lines = text.splitlines()
    bad_keyword = list(lines)
    bad_keyword[7] = bad_keyword[7].replace("OFFSET", "OFSET")
    assert "OFSET" in bad_keyword[7]
    with pytest.raises(MotionFileError, match=r"bad1\.bvh:8: malformed BVH: expected `OFFSET`, found `OFSET`"):
        read_bvh(write_text("bad1.bvh", "\n".join(bad_keyword)))
    bad_number = list(lines)
    bad_number[motion_line + 3] = bad_number[motion_line + 3].replace(" ", " abc ", 1)
    with pytest.raises(MotionFileError, match=rf"bad2\.bvh:{motion_line + 4}: "):
        read_bvh(write_text("bad2.bvh", "\n".join(bad_number)))
    bad_channel = list(lines)
    channel_line = next(i for i, line in enumerate(lines) if "CHANNELS 3" in line)
    bad_channel[channel_line] = bad_channel[channel_line].replace("Xrotation", "Wrotation")
    with pytest.raises(MotionFileError, match=rf"bad3\.bvh:{channel_line + 1}: .*unknown channel `Wrotation`"):
        read_bvh(write_text("bad3.bvh", "\n".join(bad_channel)))
    nan_frame = list(lines)
    nan_frame[motion_line + 2] = " ".join(["nan", *nan_frame[motion_line + 2].split()[1:]])
    with pytest.raises(MotionFileError, match=rf"bad4\.bvh:{motion_line + 3}: .*NaN"):
        read_bvh(write_text("bad4.bvh", "\n".join(nan_frame)))


def test_failing_bvh_write_leaves_no_file(tmp_path, monkeypatch):
    motion = Motion.rest(3)
    target = tmp_path / "out.bvh"
    original = type(target).write_text

    def failing_write(self, data, *args, **kwargs):
        original(self, data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(type(target), "write_text", failing_write)
    with pytest.raises(OSError, match="disk full"):
        save_motion(motion, target)
    assert list(tmp_path.iterdir()) == []
