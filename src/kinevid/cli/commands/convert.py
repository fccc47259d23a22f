"""`kinevid convert IN OUT`: motion files between BVH (any skeleton) and npz (AMASS/SMPL layout)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...errors import InvalidInputError
from ...motion import Motion
from ...motion.io import load_motion, save_motion


def read_joint_map(path: Path) -> dict[str, str]:
    """`{bvh_joint_name: smpl_joint_name}` from a JSON object file."""
    try:
        joint_map = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInputError(f"--joint-map {path}: cannot read ({error.strerror}).") from None
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"--joint-map {path}:{error.lineno}: not valid JSON ({error.msg}).") from None
    if not isinstance(joint_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in joint_map.items()
    ):
        raise InvalidInputError(
            f'--joint-map {path}: expected a JSON object of strings {{"bvh_joint": "smpl_joint", ...}}.'
        )
    return joint_map


def add_bvh_input_options(parser: argparse.ArgumentParser) -> None:
    """`--joint-map JSON_FILE` and `--scale S` for commands that read BVH files."""
    parser.add_argument(
        "--joint-map", type=Path, default=None, metavar="JSON_FILE",
        help='BVH input: JSON object {"bvh_joint": "smpl_joint"} overriding the joint-name rules',
    )  # fmt: skip
    parser.add_argument(
        "--scale", type=float, default=None,
        help="BVH input: metres per file unit (default: detected from the skeleton's size; 0.01 for cm)",
    )  # fmt: skip


def load_motion_with_options(path: Path, args: argparse.Namespace) -> Motion:
    """`load_motion(path)` with the `add_bvh_input_options` of `args`."""
    joint_map = read_joint_map(args.joint_map) if args.joint_map is not None else None
    if (joint_map is not None or args.scale is not None) and path.suffix.lower() != ".bvh":
        raise InvalidInputError("--joint-map and --scale apply to BVH input only.")
    return load_motion(path, joint_map=joint_map, scale=args.scale)


def run_convert(args: argparse.Namespace) -> int:
    motion = load_motion_with_options(args.input, args)
    if args.fps is not None:
        motion = motion.resample(args.fps)
    save_motion(motion, args.output)
    print(f"{args.input} -> {args.output}: {motion.num_frames} frames at {motion.fps:g} fps ({motion.duration:.2f} s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert a motion file (.bvh <-> .npz) onto SMPL-24",
        description="Convert motion files. BVH input of any skeleton is mapped onto SMPL-24 by joint names "
        "(CMU/Daz, CMU ASF, Mixamo, SMPL); npz is the AMASS/SMPL layout plus kinevid's rest offsets.",
    )
    parser.add_argument("input", type=Path, metavar="IN", help="input .bvh or .npz")
    parser.add_argument("output", type=Path, metavar="OUT", help="output .bvh or .npz (written atomically)")
    parser.add_argument("--fps", type=float, default=None, help="resample to this frame rate")
    add_bvh_input_options(parser)
    parser.set_defaults(func=run_convert)
