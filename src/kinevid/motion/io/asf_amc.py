"""Acclaim ASF/AMC, the capture format of CMU's and HDM05's original releases.

The `.asf` file holds the skeleton (bones with a direction, a length, a local frame and their
degrees of freedom), the `.amc` file one block per frame with each bone's dof values. Read as
declared in the ASF (Acclaim's definition, as CMU's files use it):

- `:units length L`: lengths are inches times `L`, so a file unit is `0.0254 / L` metres (CMU:
  `L = 0.45`, about 0.0564 m); `angle deg` or `rad` for every angle in both files (an AMC
  `:RADIANS` / `:DEGREES` line overrides).
- Euler angles are applied in the order their axes are listed, about fixed axes (`axis 0 0 -20
  XYZ`: the angles about X, Y and Z, applied X first: R = R_Z R_Y R_X). A bone's `axis` and the
  root's `orientation` give the angles about X, Y, Z in that order whatever the application order;
  a bone's AMC values are its `dof` line's axes, applied in that order; the root's AMC values are
  laid out as its `order` line says (TX TY TZ RX RY RZ in any order) and rotate in the order of
  the root's `axis` line.
- Bone b, with frame C_b (its `axis`) and motion M_b (its dofs), has the global rotation
  G_b = G_parent C_b M_b C_b^-1 (the root's G = C_root M_root C_root^-1) and spans from its
  parent's end to its own end, `start + length * G_b direction`. Root children start at the root.

`asf_amc_to_bvh` turns a skeleton and its frames into a `BvhFile` with one joint per bone at the
bone's start (so `lfemur` is the hip joint, as in BVH converted from ASF/AMC, and the CMU ASF
names map onto SMPL-24 with the same rules), local rotations C_b M_b C_b^-1 as ZXY Euler channels,
and an End Site at the end of each leaf bone; `bvh_to_motion` does the rest. The frame rate is not
in either file: CMU captured at 120 fps (a few trials at 60), which is the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...body.rotations import euler_to_matrix, matrix_to_euler
from ...errors import MotionFileError
from .bvh import END_SITE_SUFFIX, POSITION_CHANNELS, BvhFile, BvhJoint

DEFAULT_AMC_FPS = 120.0
INCH = 0.0254  # metres
ROOT = "root"
_ROTATION_DOFS = ("rx", "ry", "rz")
_ROOT_CHANNELS = ("TX", "TY", "TZ", "RX", "RY", "RZ")
_BVH_ROTATION_ORDER = "ZXY"


@dataclass
class AsfBone:
    """One bone of an ASF skeleton.

    Args:
        name (`str`): the bone's name.
        direction (`np.ndarray` of shape `(3,)`): unit direction from its start to its end, rest pose, world axes.
        length (`float`): file units.
        axis (`np.ndarray` of shape `(3,)`): angles about X, Y, Z of the bone's local frame.
        axis_order (`str`): e.g. `"XYZ"`: the order the `axis` rotations are applied in (fixed axes).
        dofs (`tuple[str, ...]`): rotational degrees of freedom in AMC order, a subset of `rx ry rz`.
    """

    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray
    axis_order: str
    dofs: tuple[str, ...] = ()


@dataclass
class AsfSkeleton:
    """A parsed ASF file.

    Args:
        bones (`list[AsfBone]`): the bones in file order (the root is not one of them).
        parents (`dict[str, str]`): bone name -> parent bone name (`"root"` for the root's children).
        metres_per_unit (`float`): from `:units length`.
        degrees (`bool`): whether angles are in degrees (`:units angle deg`).
        root_order (`tuple[str, ...]`): the root's AMC channels in file order, e.g. `("TX", ..., "RZ")`.
        root_axis_order (`str`): the order of the root's rotation channels' application and of its `orientation`.
        root_position (`np.ndarray` of shape `(3,)`), root_orientation (`np.ndarray` of shape `(3,)`): rest root.
    """

    bones: list[AsfBone]
    parents: dict[str, str]
    metres_per_unit: float = INCH / 0.45
    degrees: bool = True
    root_order: tuple[str, ...] = _ROOT_CHANNELS
    root_axis_order: str = "XYZ"
    root_position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    root_orientation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def bone(self, name: str) -> AsfBone:
        return next(bone for bone in self.bones if bone.name == name)


def _fixed_axes_matrix(angles: torch.Tensor, order: str, degrees: bool) -> torch.Tensor:
    """`(..., n)` angles about the axes of `order`, applied in that order about fixed axes ->
    `(..., 3, 3)`: R = R_last ... R_first."""
    if len(order) < 3:  # a dof subset: the missing axes rotate by zero
        missing = [axis for axis in "XYZ" if axis not in order]
        angles = torch.cat([angles, angles.new_zeros(*angles.shape[:-1], len(missing))], dim=-1)
        order += "".join(missing)
    return euler_to_matrix(angles.flip(-1), order[::-1], degrees=degrees)


def _frame_matrix(angles_xyz: np.ndarray, order: str, degrees: bool) -> torch.Tensor:
    """`(3, 3)` frame from angles about X, Y, Z (as `axis` / `orientation` list them) applied in `order`."""
    angles = torch.as_tensor(angles_xyz, dtype=torch.float64)[["XYZ".index(axis) for axis in order]]
    return _fixed_axes_matrix(angles, order, degrees)


class _Lines:
    """Non-empty, comment-free lines of a text file with their numbers, for precise error messages."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise MotionFileError(f"{path}: cannot read {kind} file ({error.strerror}).") from None
        self.items = [
            (number, line.split("#", 1)[0].split())
            for number, line in enumerate(text.splitlines(), 1)
            if line.split("#", 1)[0].strip()
        ]
        self.last_line = max(len(text.splitlines()), 1)

    def error(self, line: int | None, message: str) -> MotionFileError:
        return MotionFileError(
            f"{self.path}:{self.last_line if line is None else line}: malformed {self.kind}: {message}"
        )

    def numbers(self, line: int, tokens: list[str], what: str) -> np.ndarray:
        try:
            values = np.array([float(token) for token in tokens], dtype=np.float64)
        except ValueError:
            bad = next(t for t in tokens if not _is_number(t))
            raise self.error(line, f"`{bad}` in {what} is not a number") from None
        if not np.isfinite(values).all():
            raise self.error(line, f"{what} contains NaN or infinite values")
        return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_asf(path: str | os.PathLike[str]) -> AsfSkeleton:
    """Parse an ASF skeleton file (see the module docstring for how it is read).

    Raises:
        `MotionFileError`: the file is missing, malformed or incomplete; the message names the file
            and the line.
    """
    lines = _Lines(Path(path), "ASF")
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current: list[tuple[int, list[str]]] | None = None
    for number, tokens in lines.items:
        if tokens[0].startswith(":"):
            current = sections.setdefault(tokens[0][1:].lower(), [])
            if len(tokens) > 1:
                current.append((number, tokens[1:]))
        elif current is not None:
            current.append((number, tokens))
        else:
            raise lines.error(number, f"`{tokens[0]}` before the first `:section`")
    for required in ("root", "bonedata", "hierarchy"):
        if required not in sections:
            raise lines.error(None, f"no `:{required}` section (truncated?)")

    metres_per_unit, degrees = INCH / 0.45, True
    for number, tokens in sections.get("units", []):
        key, values = tokens[0].lower(), tokens[1:]
        if key == "length":
            length = lines.numbers(number, values[:1], "`length`") if values else np.array([])
            if length.size != 1 or not length[0] > 0:
                raise lines.error(number, "`length` must be one positive number")
            metres_per_unit = INCH / float(length[0])
        elif key == "angle":
            if not values or values[0].lower() not in ("deg", "rad"):
                raise lines.error(number, "`angle` must be `deg` or `rad`")
            degrees = values[0].lower() == "deg"

    skeleton = AsfSkeleton(bones=[], parents={}, metres_per_unit=metres_per_unit, degrees=degrees)
    for number, tokens in sections["root"]:
        key, values = tokens[0].lower(), tokens[1:]
        if key == "order":
            order = tuple(value.upper() for value in values)
            if sorted(order) != sorted(_ROOT_CHANNELS):
                raise lines.error(number, f"root `order` must list {_ROOT_CHANNELS} once each, got {order}")
            skeleton.root_order = order
        elif key == "axis":
            skeleton.root_axis_order = _axis_order(lines, number, values[0] if values else "")
        elif key in ("position", "orientation"):
            vector = lines.numbers(number, values, f"root `{key}`")
            if vector.shape != (3,):
                raise lines.error(number, f"root `{key}` must have 3 numbers, got {len(values)}")
            setattr(skeleton, f"root_{key}", vector)

    skeleton.bones = _read_bones(lines, sections["bonedata"])
    names = {bone.name for bone in skeleton.bones}
    for number, tokens in sections["hierarchy"]:
        if tokens[0].lower() in ("begin", "end"):
            continue
        parent = tokens[0]
        if parent != ROOT and parent not in names:
            raise lines.error(number, f"hierarchy names bone `{parent}`, which `:bonedata` does not define")
        for child in tokens[1:]:
            if child not in names:
                raise lines.error(number, f"hierarchy names bone `{child}`, which `:bonedata` does not define")
            if child in skeleton.parents:
                raise lines.error(number, f"bone `{child}` has two parents in the hierarchy")
            skeleton.parents[child] = parent
    orphans = [name for name in names if name not in skeleton.parents]
    if orphans:
        raise lines.error(None, f"bones missing from `:hierarchy`: {sorted(orphans)}")
    for name in names:  # every chain must reach the root
        seen, bone = set(), name
        while bone != ROOT:
            if bone in seen:
                raise lines.error(None, f"the hierarchy has a loop through bone `{name}`")
            seen.add(bone)
            bone = skeleton.parents[bone]
    return skeleton


def _axis_order(lines: _Lines, number: int, text: str) -> str:
    order = text.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise lines.error(number, f"an axis order must be a permutation of XYZ, got `{text}`")
    return order


def _read_bones(lines: _Lines, items: list[tuple[int, list[str]]]) -> list[AsfBone]:
    bones: list[AsfBone] = []
    block: dict[str, tuple[int, list[str]]] | None = None
    start = items[0][0] if items else None
    for number, tokens in items:
        key = tokens[0].lower()
        if key == "begin":
            if block is not None:
                raise lines.error(number, "`begin` inside a bone (missing `end`?)")
            block, start = {}, number
        elif key == "end":
            if block is None:
                raise lines.error(number, "`end` without `begin`")
            bones.append(_bone(lines, start, block))
            block = None
        elif block is not None and key not in ("limits",) and not tokens[0].startswith("("):
            block[key] = (number, tokens[1:])
    if block is not None:
        raise lines.error(None, "the last bone has no `end` (truncated?)")
    names = [bone.name for bone in bones]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise lines.error(None, f"bones defined twice: {duplicates}")
    return bones


def _bone(lines: _Lines, start: int, block: dict[str, tuple[int, list[str]]]) -> AsfBone:
    for key in ("name", "direction", "length", "axis"):
        if key not in block:
            raise lines.error(start, f"bone starting here has no `{key}`")
    name_line, name_tokens = block["name"]
    if len(name_tokens) != 1 or name_tokens[0] == ROOT:
        raise lines.error(name_line, "a bone needs one name other than `root`")
    name = name_tokens[0]
    number, values = block["direction"]
    direction = lines.numbers(number, values, f"`{name}` direction")
    if direction.shape != (3,) or not np.linalg.norm(direction) > 0:
        raise lines.error(number, f"`{name}` direction must be 3 numbers, not all zero")
    number, values = block["length"]
    length = lines.numbers(number, values, f"`{name}` length")
    if length.shape != (1,) or length[0] < 0:
        raise lines.error(number, f"`{name}` length must be one number >= 0")
    number, values = block["axis"]
    if len(values) != 4:
        raise lines.error(number, f"`{name}` axis must be 3 angles and an order (e.g. `0 0 -20 XYZ`)")
    axis = lines.numbers(number, values[:3], f"`{name}` axis")
    axis_order = _axis_order(lines, number, values[3])
    dofs: tuple[str, ...] = ()
    if "dof" in block:
        number, values = block["dof"]
        dofs = tuple(value.lower() for value in values)
        unsupported = [dof for dof in dofs if dof not in _ROTATION_DOFS]
        if unsupported or len(set(dofs)) != len(dofs):
            raise lines.error(
                number, f"`{name}` dof {list(values)}: only the rotations rx, ry, rz (each once) are supported"
            )
    return AsfBone(name, direction / np.linalg.norm(direction), float(length[0]), axis, axis_order, dofs)


def read_amc(path: str | os.PathLike[str], skeleton: AsfSkeleton) -> tuple[np.ndarray, dict[str, np.ndarray], bool]:
    """Parse an AMC motion file for `skeleton`.

    Returns:
        `(root, bones, degrees)`: root values `(T, 6)` in `skeleton.root_order`, `{bone: (T, len(dofs))}`
        for every bone with dofs, and whether angles are in degrees.

    Raises:
        `MotionFileError`: malformed or truncated file, unknown bone, a bone missing from a frame;
            the message names the file and the line.
    """
    lines = _Lines(Path(path), "AMC")
    degrees = skeleton.degrees
    widths = {bone.name: len(bone.dofs) for bone in skeleton.bones if bone.dofs}
    widths[ROOT] = len(_ROOT_CHANNELS)
    frames: list[dict[str, np.ndarray]] = []
    frame_lines: list[int] = []
    for number, tokens in lines.items:
        head = tokens[0]
        if head.startswith(":"):
            if head.upper() in (":DEGREES", ":RADIANS"):
                degrees = head.upper() == ":DEGREES"
            if frames:
                raise lines.error(number, f"`{head}` after the first frame")
            continue
        if len(tokens) == 1 and head.isdigit():
            if int(head) != len(frames) + 1:
                raise lines.error(number, f"frame number {head} where {len(frames) + 1} was expected")
            frames.append({})
            frame_lines.append(number)
            continue
        if not frames:
            raise lines.error(number, f"`{head}` before the first frame number")
        if head not in widths:
            known = "root and the ASF's bones with dofs"
            raise lines.error(number, f"unknown bone `{head}` (expected {known})")
        if head in frames[-1]:
            raise lines.error(number, f"bone `{head}` twice in frame {len(frames)}")
        values = lines.numbers(number, tokens[1:], f"`{head}` in frame {len(frames)}")
        if values.shape != (widths[head],):
            raise lines.error(number, f"`{head}` has {len(values)} values; the ASF declares {widths[head]}")
        frames[-1][head] = values
    if not frames:
        raise lines.error(None, "no frames")
    for index, (frame, line) in enumerate(zip(frames, frame_lines, strict=True), 1):
        missing = sorted(set(widths) - set(frame))
        if missing:
            raise lines.error(line, f"frame {index} lacks bones {missing} (truncated?)")
    root = np.stack([frame[ROOT] for frame in frames])
    bones = {name: np.stack([frame[name] for frame in frames]) for name in widths if name != ROOT}
    return root, bones, degrees


def asf_amc_to_bvh(
    skeleton: AsfSkeleton, root: np.ndarray, bones: dict[str, np.ndarray], degrees: bool, fps: float
) -> BvhFile:
    """The skeleton and frames as a `BvhFile` in ASF length units (see the module docstring).

    Args:
        skeleton (`AsfSkeleton`), root, bones, degrees: as `read_asf` / `read_amc` return them.
        fps (`float`): frames per second.
    """
    dtype = torch.float64
    num_frames = root.shape[0]
    children: dict[str, list[str]] = {ROOT: []}
    for bone in skeleton.bones:
        children.setdefault(skeleton.parents[bone.name], []).append(bone.name)
    joints: list[BvhJoint] = []
    local: list[torch.Tensor] = []  # (T, 3, 3) per joint with channels
    rotation_channels = tuple(f"{axis}rotation" for axis in _BVH_ROTATION_ORDER)

    root_frame = _frame_matrix(skeleton.root_orientation, skeleton.root_axis_order, skeleton.degrees)
    channel = {name: index for index, name in enumerate(skeleton.root_order)}
    root_angles = torch.as_tensor(root[:, [channel[f"R{axis}"] for axis in skeleton.root_axis_order]], dtype=dtype)
    root_motion = _fixed_axes_matrix(root_angles, skeleton.root_axis_order, degrees)
    local.append(root_frame @ root_motion @ root_frame.T)
    root_position = root[:, [channel["TX"], channel["TY"], channel["TZ"]]]
    joints.append(BvhJoint(ROOT, -1, np.asarray(skeleton.root_position, float), POSITION_CHANNELS + rotation_channels))

    def emit(name: str, parent_index: int, offset: np.ndarray) -> None:
        bone = skeleton.bone(name)
        index = len(joints)
        joints.append(BvhJoint(name, parent_index, offset, rotation_channels))
        frame = _frame_matrix(bone.axis, bone.axis_order, skeleton.degrees)
        if bone.dofs:
            angles = torch.as_tensor(bones[name], dtype=dtype)  # (T, len(dofs))
            motion = _fixed_axes_matrix(angles, "".join(dof[1].upper() for dof in bone.dofs), degrees)
        else:
            motion = torch.eye(3, dtype=dtype).expand(num_frames, 3, 3)
        local.append(frame @ motion @ frame.T)
        end = bone.direction * bone.length
        for child in children.get(name, []):
            emit(child, index, end)
        if not children.get(name):
            joints.append(BvhJoint(name + END_SITE_SUFFIX, index, end, is_end_site=True))

    for child in children[ROOT]:
        emit(child, 0, np.zeros(3))
    euler = matrix_to_euler(torch.stack(local, dim=1), _BVH_ROTATION_ORDER, degrees=True)  # (T, J, 3)
    frames = np.concatenate([root_position, euler.reshape(num_frames, -1).numpy()], axis=1)
    return BvhFile(joints=joints, frame_time=1.0 / fps, frames=np.ascontiguousarray(frames))


def find_asf(amc_path: str | os.PathLike[str]) -> Path:
    """The skeleton beside an AMC file: `x.asf` for `x.amc`, else CMU's `<subject>.asf` for `<subject>_<trial>.amc`,
    else the only `.asf` in the folder.

    Raises:
        `MotionFileError`: none (or several) found; the message says where it looked.
    """
    amc_path = Path(amc_path)
    folder = amc_path.parent
    candidates = [amc_path.with_suffix(".asf"), folder / (amc_path.stem.split("_")[0] + ".asf")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    others = sorted(folder.glob("*.asf")) if folder.is_dir() else []
    if len(others) == 1:
        return others[0]
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    found = f"; {len(others)} other .asf files there" if others else ""
    raise MotionFileError(
        f"{amc_path}: no skeleton found (looked for {looked}{found}); pass the .asf (`skeleton=`, CLI --asf)."
    )
