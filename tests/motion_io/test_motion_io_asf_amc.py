"""ASF/AMC import against an independent reading of the format.

The fixture is a CMU-style skeleton (CMU's bone names, hierarchy, `:units length 0.45`, bone
frames with non-zero `axis` angles, dofs subsets as in CMU's files) with smooth random frames. The
reference joint positions are computed here from the Acclaim definition with scipy's rotations,
bone by bone: G_b = G_parent C_b M_b C_b^-1, end = start + length G_b direction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kinevid.body import SMPL24
from kinevid.cli.main import main
from kinevid.errors import MotionFileError
from kinevid.motion import Motion
from kinevid.motion.io import find_asf, load_motion, read_asf

METRES_PER_UNIT = 0.0254 / 0.45
# (name, parent, direction, length, axis angles, axis order, dofs): CMU subject 02's layout, rounded.
BONES = [
    ("lhipjoint", "root", (0.61, -0.74, 0.28), 2.4, (0, 0, 0), "XYZ", ()),
    ("lfemur", "lhipjoint", (0.34, -0.94, 0.0), 7.2, (0, 0, 20), "XYZ", ("rx", "ry", "rz")),
    ("ltibia", "lfemur", (0.34, -0.94, 0.0), 7.4, (0, 0, 20), "XYZ", ("rx",)),
    ("lfoot", "ltibia", (0.1, -0.2, 0.97), 2.3, (-90, 7, 20), "XYZ", ("rx", "rz")),
    ("ltoes", "lfoot", (0.0, 0.0, 1.0), 1.2, (-90, 7, 20), "XYZ", ("rx",)),
    ("rhipjoint", "root", (-0.61, -0.74, 0.28), 2.4, (0, 0, 0), "XYZ", ()),
    ("rfemur", "rhipjoint", (-0.34, -0.94, 0.0), 7.2, (0, 0, -20), "XYZ", ("rx", "ry", "rz")),
    ("rtibia", "rfemur", (-0.34, -0.94, 0.0), 7.4, (0, 0, -20), "XYZ", ("rx",)),
    ("rfoot", "rtibia", (-0.1, -0.2, 0.97), 2.3, (-90, -7, -20), "XYZ", ("rx", "rz")),
    ("rtoes", "rfoot", (0.0, 0.0, 1.0), 1.2, (-90, -7, -20), "XYZ", ("rx",)),
    ("lowerback", "root", (0.0, 1.0, -0.05), 2.1, (0, 0, 0), "XYZ", ("rx", "ry", "rz")),
    ("upperback", "lowerback", (0.0, 1.0, 0.02), 2.1, (0, 0, 0), "XYZ", ("rx", "ry", "rz")),
    ("thorax", "upperback", (0.0, 1.0, 0.0), 2.1, (0, 0, 0), "XYZ", ("rx", "ry", "rz")),
    ("lowerneck", "thorax", (0.0, 0.95, -0.3), 1.6, (5, 0, 10), "ZYX", ("rz", "rx", "ry")),
    ("upperneck", "lowerneck", (0.0, 0.99, 0.1), 1.6, (0, 0, 0), "XYZ", ("rx", "ry", "rz")),
    ("head", "upperneck", (0.0, 1.0, 0.05), 1.6, (0, 0, 0), "XYZ", ("rx", "ry", "rz")),
    ("lclavicle", "thorax", (0.92, 0.38, 0.0), 3.5, (0, 0, -20), "XYZ", ("ry", "rz")),
    ("lhumerus", "lclavicle", (1.0, 0.0, 0.0), 5.0, (0, 0, -90), "XYZ", ("rx", "ry", "rz")),
    ("lradius", "lhumerus", (1.0, 0.0, 0.0), 3.4, (0, 0, -90), "XYZ", ("rx",)),
    ("lwrist", "lradius", (1.0, 0.0, 0.0), 1.7, (0, 0, -90), "XYZ", ("ry",)),
    ("lhand", "lwrist", (1.0, 0.0, 0.0), 0.7, (0, 0, -90), "XYZ", ("rx", "rz")),
    ("rclavicle", "thorax", (-0.92, 0.38, 0.0), 3.5, (0, 0, 20), "XYZ", ("ry", "rz")),
    ("rhumerus", "rclavicle", (-1.0, 0.0, 0.0), 5.0, (0, 0, 90), "XYZ", ("rx", "ry", "rz")),
    ("rradius", "rhumerus", (-1.0, 0.0, 0.0), 3.4, (0, 0, 90), "XYZ", ("rx",)),
    ("rwrist", "rradius", (-1.0, 0.0, 0.0), 1.7, (0, 0, 90), "XYZ", ("ry",)),
    ("rhand", "rwrist", (-1.0, 0.0, 0.0), 0.7, (0, 0, 90), "XYZ", ("rx", "rz")),
]
# SMPL joint -> the bone whose START it is (bone starts are joints).
SMPL_TO_BONE_START = {
    "left_hip": "lfemur", "right_hip": "rfemur", "left_knee": "ltibia", "right_knee": "rtibia",
    "left_ankle": "lfoot", "right_ankle": "rfoot", "left_foot": "ltoes", "right_foot": "rtoes",
    "spine1": "lowerback", "spine2": "upperback", "spine3": "thorax", "neck": "lowerneck",
    "left_collar": "lclavicle", "right_collar": "rclavicle", "left_shoulder": "lhumerus",
    "right_shoulder": "rhumerus", "left_elbow": "lradius", "right_elbow": "rradius", "left_wrist": "lwrist",
    "right_wrist": "rwrist", "left_hand": "lhand", "right_hand": "rhand",
}  # fmt: skip
# The head is the start of `head`, but `upperneck` rotates between it and the neck, which SMPL
# models as one bone: it lands within about a bone's bend of the file's head, not exactly.
HEAD_TOLERANCE = 0.03  # metres
ROOT_ORDER = ("TX", "TY", "TZ", "RZ", "RX", "RY")  # not CMU's: checks the order is read as declared
ROOT_AXIS = "ZXY"


def asf_text(angle_unit: str = "deg") -> str:
    convert = (lambda a: a) if angle_unit == "deg" else np.radians
    lines = [
        "# CMU-style test skeleton", ":version 1.10", ":name VICON", ":units", "  mass 1.0", "  length 0.45",
        f"  angle {angle_unit}", ":documentation", "   made for kinevid's tests", ":root",
        f"   order {' '.join(ROOT_ORDER)}", f"   axis {ROOT_AXIS}", "   position 0 0 0",
        f"   orientation 0 {convert(10.0)} 0", ":bonedata",
    ]  # fmt: skip
    for index, (name, _, direction, length, axis, order, dofs) in enumerate(BONES, 1):
        lines += ["  begin", f"     id {index}", f"     name {name}", f"     direction {' '.join(map(str, direction))}"]
        lines += [f"     length {length}", f"     axis {' '.join(str(convert(a)) for a in axis)} {order}"]
        if dofs:
            lines += [f"    dof {' '.join(dofs)}", "    limits " + "\n           ".join("(-180.0 180.0)" for _ in dofs)]
        lines.append("  end")
    lines += [":hierarchy", "  begin"]
    parents = [parent for _, parent, *_ in BONES]
    for parent in dict.fromkeys(parents):
        lines.append(f"    {parent} {' '.join(name for name, p, *_ in BONES if p == parent)}")
    lines.append("  end")
    return "\n".join(lines) + "\n"


def random_frames(num_frames: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Root values (T, 6) in ROOT_ORDER (ASF units, degrees) and {bone: (T, dofs)} degrees."""
    rng = np.random.default_rng(seed)
    time = np.linspace(0.0, 1.0, num_frames)[:, None]

    def smooth(count: int, amplitude: float) -> np.ndarray:
        phase = rng.uniform(0, 2 * np.pi, count)
        return amplitude * rng.uniform(0.3, 1.0, count) * np.sin(2 * np.pi * time + phase)

    translation = np.concatenate([smooth(1, 3.0), 17.0 + smooth(1, 0.5), -10.0 + 8.0 * time], axis=1)
    rotation = smooth(3, 30.0)
    values = {"TX": translation[:, 0], "TY": translation[:, 1], "TZ": translation[:, 2]}
    values.update({f"R{axis}": rotation[:, i] for i, axis in enumerate("XYZ")})
    root = np.stack([values[channel] for channel in ROOT_ORDER], axis=1)
    bones = {name: smooth(len(dofs), 35.0) for name, *_, dofs in BONES if dofs}
    return root, bones


def amc_text(root: np.ndarray, bones: dict[str, np.ndarray], angle_unit: str = "deg") -> str:
    convert = (lambda a: a) if angle_unit == "deg" else np.radians
    lines = ["#!OML:ASF test.asf", ":FULLY-SPECIFIED", ":DEGREES" if angle_unit == "deg" else ":RADIANS"]
    rotation_columns = [i for i, c in enumerate(ROOT_ORDER) if c.startswith("R")]
    for t in range(len(root)):
        row = root[t].copy()
        row[rotation_columns] = convert(row[rotation_columns])
        lines += [str(t + 1), "root " + " ".join(repr(float(v)) for v in row)]
        lines += [f"{name} " + " ".join(repr(float(v)) for v in convert(values[t])) for name, values in bones.items()]
    return "\n".join(lines) + "\n"


def reference_bone_starts(root: np.ndarray, bones: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Start of every bone `(T, 3)` in ASF units, from the Acclaim definition with scipy."""
    channel = {name: i for i, name in enumerate(ROOT_ORDER)}
    root_frame = Rotation.from_euler(ROOT_AXIS.lower(), _in_order((0.0, 10.0, 0.0), ROOT_AXIS), degrees=True)
    starts: dict[str, np.ndarray] = {}
    for t in range(len(root)):
        angles = [root[t, channel[f"R{axis}"]] for axis in ROOT_AXIS]
        motion = Rotation.from_euler(ROOT_AXIS.lower(), angles, degrees=True)
        global_rotation = {"root": (root_frame * motion * root_frame.inv()).as_matrix()}
        end = {"root": root[t, [channel["TX"], channel["TY"], channel["TZ"]]]}
        for name, parent, direction, length, axis, order, dofs in BONES:
            frame = Rotation.from_euler(order.lower(), _in_order(axis, order), degrees=True).as_matrix()
            full = dict(zip(dofs, bones[name][t], strict=True)) if dofs else {"rx": 0.0}
            dofs = dofs or ("rx",)
            dof_order = "".join(d[1] for d in dofs)
            motion = Rotation.from_euler(dof_order, [full[d] for d in dofs], degrees=True).as_matrix()
            global_rotation[name] = global_rotation[parent] @ frame @ motion @ frame.T
            starts.setdefault(name, np.zeros((len(root), 3)))[t] = end[parent]
            unit = np.asarray(direction) / np.linalg.norm(direction)
            end[name] = end[parent] + length * global_rotation[name] @ unit
    return starts


def _in_order(angles_xyz, order: str) -> list[float]:
    """Angles about X, Y, Z (as ASF lists them) in the order of application `order`."""
    return [angles_xyz["XYZ".index(axis)] for axis in order]


@pytest.fixture
def cmu_style_files(tmp_path: Path):
    def write(angle_unit: str = "deg", num_frames: int = 12, seed: int = 0, stem: str = "02_01"):
        root, bones = random_frames(num_frames, seed)
        asf = tmp_path / "02.asf"
        amc = tmp_path / f"{stem}.amc"
        asf.write_text(asf_text(angle_unit))
        amc.write_text(amc_text(root, bones, angle_unit))
        return asf, amc, reference_bone_starts(root, bones)

    return write


def _max_error(motion: Motion, starts: dict[str, np.ndarray]) -> float:
    joints = motion.joints.double().numpy()
    return max(
        float(np.linalg.norm(joints[:, SMPL24.index(smpl)] - starts[bone] * METRES_PER_UNIT, axis=-1).max())
        for smpl, bone in SMPL_TO_BONE_START.items()
    )


@pytest.mark.parametrize("angle_unit", ["deg", "rad"])
def test_amc_joints_match_an_independent_reading(cmu_style_files, angle_unit):
    asf, amc, starts = cmu_style_files(angle_unit)
    motion = Motion.load(amc, skeleton=asf, fps=12.0)  # the random swings are too fast for 120 fps
    assert motion.fps == 12.0 and motion.num_frames == 12
    assert _max_error(motion, starts) < 1e-3  # metres
    head = motion.joints[:, SMPL24.index("head")].double().numpy()
    assert np.linalg.norm(head - starts["head"] * METRES_PER_UNIT, axis=-1).max() < HEAD_TOLERANCE
    # The declared units: a femur of 7.2 ASF units is 0.41 m.
    thigh = (motion.joints[:, SMPL24.index("left_knee")] - motion.joints[:, SMPL24.index("left_hip")]).norm(dim=-1)
    assert abs(float(thigh.mean()) - 7.2 * METRES_PER_UNIT) < 1e-4


def test_asf_is_found_beside_the_amc_and_options_apply(cmu_style_files):
    asf, amc, _ = cmu_style_files()
    assert find_asf(amc) == asf  # CMU's <subject>.asf for <subject>_<trial>.amc
    with pytest.warns(UserWarning, match=r"declared frame rate \(120 fps\) looks too high"):
        assert load_motion(amc).fps == 120.0  # CMU's capture rate by default
    motion = load_motion(amc, fps=12.0, scale=2 * METRES_PER_UNIT)
    assert motion.fps == 12.0
    reference = load_motion(amc, skeleton=asf, fps=12.0)
    assert float((motion.joints - 2 * reference.joints).abs().max()) < 1e-5


def test_convert_amc_on_the_command_line(cmu_style_files, tmp_path, capsys):
    asf, amc, starts = cmu_style_files()
    out = tmp_path / "out.npz"
    assert main(["convert", str(amc), str(out), "--asf", str(asf), "--input-fps", "12"]) == 0
    assert "12 frames at 12 fps" in capsys.readouterr().out
    assert _max_error(load_motion(out), starts) < 1e-3
    assert main(["convert", str(amc), str(tmp_path / "x.npz"), "--asf", str(tmp_path / "absent.asf")]) == 1
    assert "absent.asf: no such skeleton" in capsys.readouterr().err
    bvh = tmp_path / "walk.bvh"
    bvh.write_text("")
    assert main(["convert", str(bvh), str(tmp_path / "y.npz"), "--asf", str(asf)]) == 1
    assert "AMC" in capsys.readouterr().err


def test_missing_skeleton_and_malformed_files(cmu_style_files, tmp_path):
    asf, amc, _ = cmu_style_files()
    lonely = tmp_path / "lonely" / "07_01.amc"
    lonely.parent.mkdir()
    lonely.write_text(amc.read_text())
    with pytest.raises(MotionFileError, match=r"no skeleton found .*--asf"):
        load_motion(lonely)

    lines = amc.read_text().splitlines()
    truncated = tmp_path / "cut.amc"
    truncated.write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(MotionFileError, match=r"cut\.amc:\d+: malformed AMC: frame 12 lacks bones"):
        load_motion(truncated, skeleton=asf)
    unknown = tmp_path / "unknown.amc"
    unknown.write_text("\n".join(lines).replace("lradius ", "lulna ", 1) + "\n")
    with pytest.raises(MotionFileError, match=r"unknown\.amc:\d+: .*unknown bone `lulna`"):
        load_motion(unknown, skeleton=asf)
    wide = tmp_path / "wide.amc"
    wide.write_text("\n".join(line + " 0" if line.startswith("ltibia") else line for line in lines) + "\n")
    with pytest.raises(MotionFileError, match=r"`ltibia` has 2 values; the ASF declares 1"):
        load_motion(wide, skeleton=asf)

    text = asf.read_text()
    bad = tmp_path / "bad.asf"
    bad.write_text(text.replace("direction 0.34 -0.94 0.0", "direction 0.34 nan 0.0", 1))
    with pytest.raises(MotionFileError, match=r"bad\.asf:\d+: malformed ASF: `lfemur` direction"):
        read_asf(bad)
    bad.write_text(text.replace("    thorax lowerneck", "    thorax lowerneck lulna"))
    with pytest.raises(MotionFileError, match=r"hierarchy names bone `lulna`"):
        read_asf(bad)
    bad.write_text(text.split(":hierarchy")[0])
    with pytest.raises(MotionFileError, match=r"no `:hierarchy` section"):
        read_asf(bad)
