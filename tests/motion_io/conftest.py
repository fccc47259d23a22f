"""Test-side BVH builders: hand-written hierarchies, BVH text and an independent per-joint FK.

Nothing here uses kinevid: the text is written and the joints computed from scratch, so the
importer is checked against an independent reading of the format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest


@dataclass
class JointSpec:
    name: str
    parent: str | None
    offset: tuple[float, float, float]
    channels: tuple[str, ...] = ("Zrotation", "Xrotation", "Yrotation")
    end_site: tuple[float, float, float] | None = None
    children: list[str] = field(default_factory=list)


def _elementary(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    if axis == "X":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "Y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _ordered(specs: list[JointSpec]) -> list[JointSpec]:
    by_name = {spec.name: spec for spec in specs}
    for spec in specs:
        spec.children = [s.name for s in specs if s.parent == spec.name]
    order: list[JointSpec] = []

    def visit(name: str) -> None:
        order.append(by_name[name])
        for child in by_name[name].children:
            visit(child)

    visit(next(s.name for s in specs if s.parent is None))
    return order


def bvh_text(specs: list[JointSpec], frames: np.ndarray, frame_time: float) -> str:
    """BVH text for `specs` (depth-first order is derived) with `frames` (T, C) in that order."""
    order = _ordered(specs)
    by_name = {spec.name: spec for spec in specs}
    lines = ["HIERARCHY"]

    def emit(name: str, depth: int) -> None:
        spec, pad = by_name[name], "  " * depth
        lines.append(f"{pad}{'ROOT' if spec.parent is None else 'JOINT'} {name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {' '.join(repr(float(v)) for v in spec.offset)}")
        lines.append(f"{pad}  CHANNELS {len(spec.channels)} {' '.join(spec.channels)}")
        for child in spec.children:
            emit(child, depth + 1)
        if spec.end_site is not None:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {' '.join(map(str, spec.end_site))}"])
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")

    emit(order[0].name, 0)
    lines.extend(["MOTION", f"Frames: {len(frames)}", f"Frame Time: {frame_time}"])
    lines.extend(" ".join(repr(float(v)) for v in row) for row in frames)
    return "\n".join(lines) + "\n"


def channel_count(specs: list[JointSpec]) -> int:
    return sum(len(spec.channels) for spec in specs)


def reference_positions(specs: list[JointSpec], frames: np.ndarray) -> dict[str, np.ndarray]:
    """Global positions `(T, 3)` per joint (and `<name>_End` per End Site), one joint at a time."""
    order = _ordered(specs)
    columns, start = {}, 0
    for spec in order:
        columns[spec.name] = range(start, start + len(spec.channels))
        start += len(spec.channels)
    positions: dict[str, np.ndarray] = {}
    for t, row in enumerate(frames):
        rotation_of: dict[str, np.ndarray] = {}
        for spec in order:
            local_translation = np.array(spec.offset, dtype=float)
            local_rotation = np.eye(3)
            for channel, column in zip(spec.channels, columns[spec.name], strict=True):
                if channel.endswith("position"):
                    local_translation["XYZ".index(channel[0])] = row[column]
                else:
                    local_rotation = local_rotation @ _elementary(channel[0], row[column])
            if spec.parent is None:
                world_rotation, world_position = local_rotation, local_translation
            else:
                parent_rotation = rotation_of[spec.parent]
                world_position = positions[spec.parent][t] + parent_rotation @ local_translation
                world_rotation = parent_rotation @ local_rotation
            rotation_of[spec.name] = world_rotation
            positions.setdefault(spec.name, np.zeros((len(frames), 3)))[t] = world_position
            if spec.end_site is not None:
                end = world_position + world_rotation @ np.array(spec.end_site)
                positions.setdefault(spec.name + "_End", np.zeros((len(frames), 3)))[t] = end
    return positions


def random_frames(specs: list[JointSpec], num_frames: int, seed: int, root_position=(0.0, 95.0, 0.0)) -> np.ndarray:
    """Smooth random channel values: angles within +-35 degrees, root moving forward, constant
    values for non-root position channels (their offsets)."""
    rng = np.random.default_rng(seed)
    order = _ordered(specs)
    time = np.linspace(0, 1, num_frames)[:, None]
    columns = []
    for spec in order:
        for channel in spec.channels:
            if channel.endswith("position"):
                axis = "XYZ".index(channel[0])
                base = root_position[axis] if spec.parent is None else spec.offset[axis]
                drift = 0.5 * root_position[1] * time[:, 0] if (spec.parent is None and axis == 2) else 0.0
                columns.append(np.full(num_frames, base) + drift)
            else:
                phase, amplitude = rng.uniform(0, 2 * np.pi), rng.uniform(5, 35)
                columns.append(amplitude * np.sin(2 * np.pi * time[:, 0] + phase))
    return np.stack(columns, axis=1)


def mixamo_specs(prefix: str = "mixamorig:") -> list[JointSpec]:
    """A Mixamo rig in centimetres with SMPL's tree; the spine has 6 channels (as Blender exports)
    and the legs use another Euler order."""
    p = prefix
    six = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    yxz = ("Yrotation", "Xrotation", "Zrotation")
    specs = [
        JointSpec(f"{p}Hips", None, (0.0, 0.0, 0.0), six),
        JointSpec(f"{p}Spine", f"{p}Hips", (0.0, 10.0, -1.0), six),
        JointSpec(f"{p}Spine1", f"{p}Spine", (0.0, 12.0, 0.0)),
        JointSpec(f"{p}Spine2", f"{p}Spine1", (0.0, 13.0, 0.5)),
        JointSpec(f"{p}Neck", f"{p}Spine2", (0.0, 16.0, -1.0)),
        JointSpec(f"{p}Head", f"{p}Neck", (0.0, 9.0, 1.0), end_site=(0.0, 18.0, 0.0)),
    ]
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        specs += [
            JointSpec(f"{p}{side}Shoulder", f"{p}Spine2", (sign * 5.0, 11.0, -1.0)),
            JointSpec(f"{p}{side}Arm", f"{p}{side}Shoulder", (sign * 12.0, 0.0, 0.0)),
            JointSpec(f"{p}{side}ForeArm", f"{p}{side}Arm", (sign * 27.0, 0.0, 0.0)),
            JointSpec(f"{p}{side}Hand", f"{p}{side}ForeArm", (sign * 24.0, 0.0, 0.0), end_site=(sign * 9.0, 0.0, 0.0)),
            JointSpec(f"{p}{side}UpLeg", f"{p}Hips", (sign * 9.0, -7.0, 0.0), yxz),
            JointSpec(f"{p}{side}Leg", f"{p}{side}UpLeg", (0.0, -42.0, 0.0), yxz),
            JointSpec(f"{p}{side}Foot", f"{p}{side}Leg", (0.0, -41.0, -1.0), yxz),
            JointSpec(f"{p}{side}ToeBase", f"{p}{side}Foot", (0.0, -6.0, 13.0), yxz, end_site=(0.0, 0.0, 5.0)),
        ]
    return specs


def daz_specs(knee_name: str = "Shin") -> list[JointSpec]:
    """A CMU/Daz-style rig in centimetres (not SMPL's tree: buttocks, fingers, no toe joints)."""
    six = ("Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation")
    specs = [
        JointSpec("hip", None, (0.0, 0.0, 0.0), six),
        JointSpec("abdomen", "hip", (0.0, 20.0, -0.7)),
        JointSpec("chest", "abdomen", (0.0, 12.0, -0.5)),
        JointSpec("neck", "chest", (0.0, 22.0, -2.0)),
        JointSpec("head", "neck", (0.0, 7.0, 1.2), end_site=(0.0, 15.0, 0.0)),
    ]
    for s, sign in (("l", 1.0), ("r", -1.0)):
        specs += [
            JointSpec(f"{s}Collar", "chest", (sign * 2.7, 19.0, -4.8)),
            JointSpec(f"{s}Shldr", f"{s}Collar", (sign * 8.8, -2.0, 1.5)),
            JointSpec(f"{s}ForeArm", f"{s}Shldr", (sign * 28.0, -1.7, 0.5)),
            JointSpec(f"{s}Hand", f"{s}ForeArm", (sign * 22.6, 0.8, 7.0)),
            JointSpec(f"{s}Index1", f"{s}Hand", (sign * 7.8, 0.9, 5.6), end_site=(sign * 4.0, 0.0, 1.0)),
            JointSpec(f"{s}Mid1", f"{s}Hand", (sign * 8.2, 1.2, 3.4), end_site=(sign * 5.0, 0.0, 1.0)),
            JointSpec(f"{s}Buttock", "hip", (sign * 8.8, 4.4, 1.2), ()),
            JointSpec(f"{s}Thigh", f"{s}Buttock", (0.0, -1.7, -2.2)),
            JointSpec(f"{s}{knee_name}", f"{s}Thigh", (0.0, -36.8, 0.7)),
            JointSpec(f"{s}Foot", f"{s}{knee_name}", (0.7 * sign, -45.1, -5.1), end_site=(sign * 1.1, -3.7, 12.1)),
        ]
    return specs


def cmu_asf_specs(root: str = "root") -> list[JointSpec]:
    """CMU's ASF skeleton as BVH (centimetres): ASF bone names under `root` ("root", or "hip" as CMU's
    ASF/AMC-to-BVH converters name it)."""
    six = ("Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation")
    specs = [
        JointSpec(root, None, (0.0, 0.0, 0.0), six),
        JointSpec("lowerback", root, (0.0, 2.0, 0.0)),
        JointSpec("upperback", "lowerback", (0.0, 10.0, -0.5)),
        JointSpec("thorax", "upperback", (0.0, 10.0, 0.0)),
        JointSpec("lowerneck", "thorax", (0.0, 10.0, -1.0)),
        JointSpec("upperneck", "lowerneck", (0.0, 5.0, 0.5), ()),
        JointSpec("head", "upperneck", (0.0, 5.0, 0.0), end_site=(0.0, 10.0, 0.0)),
    ]
    for s, sign in (("l", 1.0), ("r", -1.0)):
        specs += [
            JointSpec(f"{s}clavicle", "thorax", (0.0, 6.0, 0.0)),
            JointSpec(f"{s}humerus", f"{s}clavicle", (sign * 16.0, 2.0, -1.0)),
            JointSpec(f"{s}radius", f"{s}humerus", (sign * 28.0, 0.0, 0.0)),
            JointSpec(f"{s}wrist", f"{s}radius", (sign * 24.0, 0.0, 0.0)),
            JointSpec(f"{s}hand", f"{s}wrist", (sign * 5.0, 0.0, 0.0), end_site=(sign * 8.0, 0.0, 0.0)),
            JointSpec(f"{s}hipjoint", root, (0.0, 0.0, 0.0), ()),
            JointSpec(f"{s}femur", f"{s}hipjoint", (sign * 9.0, -9.0, 0.0)),
            JointSpec(f"{s}tibia", f"{s}femur", (0.0, -42.0, 0.0)),
            JointSpec(f"{s}foot", f"{s}tibia", (0.0, -41.0, 0.0)),
            JointSpec(f"{s}toes", f"{s}foot", (0.0, -4.0, 12.0), end_site=(0.0, 0.0, 5.0)),
        ]
    return specs


@pytest.fixture
def bvh_builders() -> SimpleNamespace:
    return SimpleNamespace(
        JointSpec=JointSpec,
        bvh_text=bvh_text,
        channel_count=channel_count,
        reference_positions=reference_positions,
        random_frames=random_frames,
        mixamo_specs=mixamo_specs,
        daz_specs=daz_specs,
        cmu_asf_specs=cmu_asf_specs,
        elementary=_elementary,
        ordered=_ordered,
    )


@pytest.fixture
def write_text(tmp_path: Path):
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
