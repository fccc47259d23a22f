"""`kinevid convert IN OUT`: motion files between BVH (any skeleton), ASF/AMC and npz (AMASS/SMPL layout).

kinevid convert walk.bvh walk.npz
kinevid convert 02_01.amc walk.npz --asf 02.asf         # the .asf beside the .amc is found without --asf
kinevid convert take.bvh take.npz --input-fps 120       # the file's frame time is wrong
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...errors import InvalidInputError
from ...motion import Motion
from ...motion.io import check_motion_suffix, load_motion, save_motion
from ...utils import check_output_path


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


def add_motion_input_options(parser: argparse.ArgumentParser) -> None:
    """`--joint-map`, `--scale`, `--input-fps` and `--asf` for commands that read BVH or AMC files."""
    parser.add_argument(
        "--joint-map", type=Path, default=None, metavar="JSON_FILE",
        help='BVH/AMC input: JSON object {"joint": "smpl_joint"} overriding the joint-name rules',
    )  # fmt: skip
    parser.add_argument(
        "--scale", type=float, default=None,
        help="BVH/AMC input: metres per file unit (default: BVH from the skeleton's proportions, ASF as declared)",
    )  # fmt: skip
    parser.add_argument(
        "--input-fps", type=float, default=None, metavar="FPS",
        help="BVH/AMC input: the true frame rate (default: BVH's Frame Time; AMC 120, CMU's capture rate)",
    )  # fmt: skip
    parser.add_argument(
        "--asf", type=Path, default=None, metavar="ASF_FILE",
        help="AMC input: the skeleton (default: the .asf beside the .amc)",
    )  # fmt: skip


def load_motion_with_options(path: Path, args: argparse.Namespace) -> Motion:
    """`load_motion(path)` with the `add_motion_input_options` of `args`."""
    suffix = path.suffix.lower()
    options = {"--joint-map": args.joint_map, "--scale": args.scale, "--input-fps": args.input_fps}
    given = [name for name, value in options.items() if value is not None]
    if given and suffix not in (".bvh", ".amc"):
        raise InvalidInputError(f"{', '.join(given)} apply to BVH/AMC input only.")
    if args.asf is not None and suffix != ".amc":
        raise InvalidInputError("--asf applies to AMC input only.")
    joint_map = read_joint_map(args.joint_map) if args.joint_map is not None else None
    return load_motion(path, joint_map=joint_map, scale=args.scale, fps=args.input_fps, skeleton=args.asf)


def run_convert(args: argparse.Namespace) -> int:
    check_motion_suffix(args.output, writable=True)
    check_output_path(args.output, "OUT")
    motion = load_motion_with_options(args.input, args)
    if args.fps is not None:
        motion = motion.resample(args.fps)
    save_motion(motion, args.output)
    print(f"{args.input} -> {args.output}: {motion.num_frames} frames at {motion.fps:g} fps ({motion.duration:.2f} s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert a motion file (.bvh, .amc + .asf, .npz) onto SMPL-24 (.npz or .bvh)",
        description="Convert motion files. BVH and ASF/AMC input of any skeleton is mapped onto SMPL-24 by joint "
        "names (CMU/Daz, CMU ASF, Mixamo, Character Creator, Hips/Spine/Chest, SMPL); npz is the AMASS/SMPL "
        "layout plus kinevid's rest offsets.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 1)[1],
    )
    parser.add_argument("input", type=Path, metavar="IN", help="input .bvh, .amc or .npz")
    parser.add_argument("output", type=Path, metavar="OUT", help="output .bvh or .npz (written atomically)")
    parser.add_argument("--fps", type=float, default=None, help="resample the output to this frame rate")
    add_motion_input_options(parser)
    parser.set_defaults(func=run_convert)
