"""The BVH file format: parse, write, and forward kinematics of a BVH skeleton.

This module knows nothing about SMPL: it reads any hierarchy with any channel layout into a
`BvhFile` and computes the global positions of its joints. `bvh_retarget` maps them onto SMPL-24.

Conventions (those of the BioVision format as CMU, Mixamo and Blender use it):

- Rotation channels are intrinsic Euler angles in degrees, applied in the order listed:
  `CHANNELS 3 Zrotation Xrotation Yrotation` means R = R_Z @ R_X @ R_Y (column vectors,
  child-to-parent). A joint may list any subset and any order of the rotation axes.
- Position channels replace the joint's `OFFSET` on their axis (a joint listing `Xposition
  Yposition Zposition` is placed at the channel values in its parent's frame; the root at the
  channel values in the world). Position channels are allowed on any joint.
- `End Site` blocks become leaf joints named `<parent>_End` (no channels). They carry no rotation,
  but their positions locate ends such as toes, finger tips and the top of the head.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...body.kinematics import forward_kinematics
from ...body.rotations import euler_to_matrix
from ...body.skeleton import Skeleton
from ...errors import InvalidInputError, MotionFileError
from ...utils.io import atomic_write

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
END_SITE_SUFFIX = "_End"


@dataclass
class BvhJoint:
    """One joint of a BVH hierarchy.

    Args:
        name (`str`): the joint's name (`<parent>_End` for an End Site).
        parent (`int`): index of the parent joint, -1 for the root.
        offset (`np.ndarray` of shape `(3,)`): rest offset from the parent, in file units.
        channels (`tuple[str, ...]`): channel names in file order (empty for an End Site).
        is_end_site (`bool`): whether the joint is an `End Site`.
    """

    name: str
    parent: int
    offset: np.ndarray
    channels: tuple[str, ...] = ()
    is_end_site: bool = False


@dataclass
class BvhFile:
    """A parsed BVH file.

    Args:
        joints (`list[BvhJoint]`): the hierarchy in file order (parents before children).
        frame_time (`float`): seconds per frame.
        frames (`np.ndarray` of shape `(T, C)`): channel values per frame, `C` = total channel count,
            in the order joints and their channels appear in the hierarchy.
    """

    joints: list[BvhJoint]
    frame_time: float
    frames: np.ndarray

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    @property
    def fps(self) -> float:
        """Frames per second; snapped to the nearest integer when the frame time is a rounded 1/n
        (CMU's 0.00833333 s gives 120, not 120.00005)."""
        fps = 1.0 / self.frame_time
        return float(round(fps)) if abs(fps - round(fps)) < 1e-4 * fps else fps

    @property
    def joint_names(self) -> list[str]:
        return [joint.name for joint in self.joints]

    def skeleton(self) -> Skeleton:
        """The hierarchy (End Sites included) as a `Skeleton`."""
        return Skeleton(name="bvh", joint_names=tuple(self.joint_names), parents=tuple(j.parent for j in self.joints))

    def rest_offsets(self) -> np.ndarray:
        """`(J, 3)` rest offsets in file units."""
        return np.stack([joint.offset for joint in self.joints])

    def local_transforms(
        self, dtype: torch.dtype = torch.float64, joints: Sequence[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame local rotations and translations from the channels.

        Args:
            dtype (`torch.dtype`, defaults to `torch.float64`): output dtype.
            joints (`Sequence[int]`, *optional*): indices of the joints to compute (default: all, in
                file order); skipping joints nothing depends on (fingers, eyes) saves most of the time.

        Returns:
            `(rotations, translations)` of shapes `(T, n, 3, 3)` and `(T, n, 3)` for the `n` requested
            joints: translations are the rest offsets with position channels substituted (file units).
        """
        selected = list(range(len(self.joints))) if joints is None else list(joints)
        first_column = np.cumsum([0] + [len(joint.channels) for joint in self.joints])
        num_frames = self.num_frames
        frames = torch.as_tensor(self.frames, dtype=dtype)
        offsets = torch.as_tensor(self.rest_offsets()[selected], dtype=dtype)
        translations = offsets.expand(num_frames, len(selected), 3).clone()
        rotations = torch.eye(3, dtype=dtype).expand(num_frames, len(selected), 3, 3).clone()
        # Joints sharing an Euler order are converted together.
        by_order: dict[str, tuple[list[int], list[list[int]]]] = defaultdict(lambda: ([], []))
        for position, index in enumerate(selected):
            order, angle_columns = "", []
            for column, channel in enumerate(self.joints[index].channels, first_column[index]):
                if channel in POSITION_CHANNELS:
                    translations[:, position, POSITION_CHANNELS.index(channel)] = frames[:, column]
                else:
                    order += channel[0]
                    angle_columns.append(column)
            if order:
                by_order[order][0].append(position)
                by_order[order][1].append(angle_columns)
        for order, (positions, columns) in by_order.items():
            angles = frames[:, torch.tensor(columns)]  # (T, n, len(order))
            rotations[:, positions] = euler_to_matrix(angles, order, degrees=True)
        return rotations, translations

    def global_positions(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """`(T, J, 3)` global joint positions (End Sites included), file units."""
        rotations, translations = self.local_transforms(dtype)
        zero = translations.new_zeros(self.num_frames, 3)
        positions, _ = forward_kinematics(rotations, zero, translations, self.skeleton())
        return positions


class _Tokens:
    """Whitespace tokens of a BVH hierarchy with their line numbers, for precise error messages."""

    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path = path
        self.items = [(token, number) for number, line in enumerate(lines, 1) for token in line.split()]
        self.position = 0
        self.last_line = len(lines)

    def error(self, message: str, line: int | None = None) -> MotionFileError:
        line = self.last_line if line is None else line
        return MotionFileError(f"{self.path}:{line}: malformed BVH: {message}")

    def next(self, expected: str) -> tuple[str, int]:
        if self.position >= len(self.items):
            raise self.error(f"file ends early (truncated?) where {expected} was expected")
        item = self.items[self.position]
        self.position += 1
        return item

    def expect(self, keyword: str) -> int:
        token, line = self.next(f"`{keyword}`")
        if token != keyword:
            raise self.error(f"expected `{keyword}`, found `{token}`", line)
        return line

    def number(self, what: str) -> float:
        token, line = self.next(what)
        try:
            value = float(token)
        except ValueError:
            raise self.error(f"expected a number for {what}, found `{token}`", line) from None
        if not math.isfinite(value):
            raise self.error(f"{what} is `{token}`; expected a finite number", line)
        return value

    def peek(self) -> str | None:
        return self.items[self.position][0] if self.position < len(self.items) else None


def _parse_joint(tokens: _Tokens, name: str, parent: int, joints: list[BvhJoint]) -> None:
    tokens.expect("{")
    tokens.expect("OFFSET")
    offset = np.array([tokens.number(f"`{name}` OFFSET {axis}") for axis in "xyz"])
    index = len(joints)
    joints.append(BvhJoint(name=name, parent=parent, offset=offset))
    count_token, line = tokens.next(f"`CHANNELS` of `{name}`")
    if count_token != "CHANNELS":
        raise tokens.error(f"expected `CHANNELS` for joint `{name}`, found `{count_token}`", line)
    count_text, line = tokens.next(f"the channel count of `{name}`")
    if not count_text.isdigit():
        raise tokens.error(f"expected a channel count for `{name}`, found `{count_text}`", line)
    channels = []
    for _ in range(int(count_text)):
        channel, line = tokens.next(f"a channel name of `{name}`")
        if channel not in POSITION_CHANNELS + ROTATION_CHANNELS:
            raise tokens.error(
                f"unknown channel `{channel}` for `{name}`; expected one of {POSITION_CHANNELS + ROTATION_CHANNELS}",
                line,
            )
        if channel in channels:
            raise tokens.error(f"channel `{channel}` listed twice for `{name}`", line)
        channels.append(channel)
    joints[index].channels = tuple(channels)
    while True:
        token, line = tokens.next(f"`JOINT`, `End Site` or `}}` inside `{name}`")
        if token == "}":
            return
        if token == "JOINT":
            child_name, _ = tokens.next("a joint name")
            if child_name in {joint.name for joint in joints}:
                raise tokens.error(f"joint name `{child_name}` appears twice", line)
            _parse_joint(tokens, child_name, index, joints)
        elif token == "End":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            end_offset = np.array([tokens.number(f"`{name}` End Site OFFSET {axis}") for axis in "xyz"])
            tokens.expect("}")
            joints.append(BvhJoint(name=name + END_SITE_SUFFIX, parent=index, offset=end_offset, is_end_site=True))
        else:
            raise tokens.error(f"expected `JOINT`, `End Site` or `}}` inside `{name}`, found `{token}`", line)


def read_bvh(path: str | os.PathLike[str]) -> BvhFile:
    """Parse a BVH file.

    Args:
        path (`str` or `os.PathLike`): the `.bvh` file.

    Returns:
        `BvhFile`.

    Raises:
        `MotionFileError`: the file is missing, malformed or truncated; the message names the file
            and the line number.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise MotionFileError(f"{path}: cannot read BVH file ({error.strerror}).") from None
    try:
        motion_line = next(i for i, line in enumerate(lines) if line.strip() == "MOTION")
    except StopIteration:
        raise MotionFileError(f"{path}:{len(lines)}: malformed BVH: no `MOTION` section (truncated?).") from None

    tokens = _Tokens(path, lines[:motion_line])
    tokens.expect("HIERARCHY")
    joints: list[BvhJoint] = []
    root_token, line = tokens.next("`ROOT`")
    if root_token != "ROOT":
        raise tokens.error(f"expected `ROOT`, found `{root_token}`", line)
    root_name, _ = tokens.next("the root joint's name")
    _parse_joint(tokens, root_name, -1, joints)
    if tokens.peek() is not None:
        token, line = tokens.next("")
        raise tokens.error(f"unexpected `{token}` after the hierarchy (only one ROOT is supported)", line)

    num_channels = sum(len(joint.channels) for joint in joints)
    frames_value = _header_value(path, lines, motion_line + 1, "Frames:")
    frame_time = _header_value(path, lines, motion_line + 2, "Frame Time:")
    if frames_value != int(frames_value) or frames_value < 1:
        raise MotionFileError(f"{path}:{motion_line + 2}: `Frames:` must be a positive integer, got {frames_value}.")
    if frame_time <= 0:
        raise MotionFileError(f"{path}:{motion_line + 3}: `Frame Time:` must be positive, got {frame_time}.")
    num_frames = int(frames_value)
    first = motion_line + 3  # 0-based index of the first frame line
    data_lines = [line for line in lines[first:] if line.strip()]
    if len(data_lines) < num_frames:
        raise MotionFileError(
            f"{path}:{len(lines) + 1}: truncated BVH: `Frames: {num_frames}` but the file ends after "
            f"{len(data_lines)} frame lines."
        )
    frames = np.empty((num_frames, num_channels), dtype=np.float64)
    row = 0
    for number, line in enumerate(lines[first:], first + 1):
        if not line.strip():
            continue
        if row == num_frames:
            raise MotionFileError(f"{path}:{number}: malformed BVH: more frame lines than `Frames: {num_frames}`.")
        values = line.split()
        if len(values) != num_channels:
            raise MotionFileError(
                f"{path}:{number}: malformed BVH: frame {row} has {len(values)} values; the hierarchy declares "
                f"{num_channels} channels."
            )
        try:
            frames[row] = np.array(values, dtype=np.float64)
        except ValueError:
            bad = next(v for v in values if not _is_float(v))
            raise MotionFileError(f"{path}:{number}: malformed BVH: `{bad}` in frame {row} is not a number.") from None
        if not np.isfinite(frames[row]).all():
            raise MotionFileError(f"{path}:{number}: malformed BVH: frame {row} contains NaN or infinite values.")
        row += 1
    return BvhFile(joints=joints, frame_time=frame_time, frames=frames)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _header_value(path: Path, lines: list[str], index: int, key: str) -> float:
    if index >= len(lines):
        raise MotionFileError(f"{path}:{len(lines) + 1}: truncated BVH: expected `{key}` after `MOTION`.")
    line = lines[index].strip()
    if not line.startswith(key):
        raise MotionFileError(f"{path}:{index + 1}: malformed BVH: expected `{key} <value>`, found `{line}`.")
    text = line[len(key) :].strip()
    try:
        return float(text)
    except ValueError:
        raise MotionFileError(f"{path}:{index + 1}: malformed BVH: `{key}` value `{text}` is not a number.") from None


def write_bvh(bvh: BvhFile, path: str | os.PathLike[str], precision: int = 6) -> None:
    """Write `bvh` to `path` atomically (tab-indented hierarchy, one line per frame).

    Args:
        bvh (`BvhFile`): the hierarchy (depth-first order) and frames; End Sites must be leaves without
            channels.
        path (`str` or `os.PathLike`): destination.
        precision (`int`, defaults to 6): decimals written for offsets and channel values.
    """
    children: dict[int, list[int]] = defaultdict(list)
    for index, joint in enumerate(bvh.joints):
        children[joint.parent].append(index)
    depth_first: list[int] = []
    stack = [0]
    while stack:
        index = stack.pop()
        depth_first.append(index)
        stack.extend(reversed(children[index]))
    if depth_first != list(range(len(bvh.joints))):
        raise InvalidInputError("`bvh.joints` must be in depth-first order (the order BVH files list them).")

    def number(value: float) -> str:
        text = f"{value:.{precision}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text

    out: list[str] = ["HIERARCHY"]

    def emit(index: int, depth: int) -> None:
        joint, indent = bvh.joints[index], "\t" * depth
        offset = " ".join(number(v) for v in joint.offset)
        if joint.is_end_site:
            out.extend([f"{indent}End Site", f"{indent}{{", f"{indent}\tOFFSET {offset}", f"{indent}}}"])
            return
        out.append(f"{indent}{'ROOT' if joint.parent < 0 else 'JOINT'} {joint.name}")
        out.extend([f"{indent}{{", f"{indent}\tOFFSET {offset}"])
        out.append(f"{indent}\tCHANNELS {len(joint.channels)} {' '.join(joint.channels)}")
        for child in children[index]:
            emit(child, depth + 1)
        out.append(f"{indent}}}")

    emit(0, 0)
    out.extend(["MOTION", f"Frames: {bvh.num_frames}", f"Frame Time: {bvh.frame_time:.12g}"])
    out.extend(" ".join(number(v) for v in frame) for frame in bvh.frames)
    with atomic_write(path) as tmp:
        tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
