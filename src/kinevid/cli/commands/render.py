"""`kinevid render MOTION -o out.mp4`: look at a motion file as a mannequin, a skeleton-map video or both.

kinevid render walk.npz -o walk.mp4                         # mannequin, front camera
kinevid render walk.bvh -o walk.gif --style skeleton --size 256
kinevid render walk.npz -o grid.mp4 --style grid --camera random --seed 3
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import InvalidInputError
from ...render.video import VIDEO_SUFFIXES
from ...render.views import BACKGROUNDS, CAMERA_AZIMUTHS, VIEW_STYLES
from ...utils import check_output_path
from .convert import add_motion_input_options, load_motion_with_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="render a motion file (.npz/.bvh) to mp4/gif",
        description="Render a motion file as a shaded mannequin, OpenPose skeleton maps, or both side by side.",
    )
    parser.add_argument("motion", type=Path, help="motion file (.npz, .bvh or .amc)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output video (.mp4 or .gif)")
    parser.add_argument("--style", choices=VIEW_STYLES, default="mannequin", help="what to draw (default: mannequin)")
    parser.add_argument(
        "--camera", choices=tuple(CAMERA_AZIMUTHS), default="front", help="camera placement (default: front)"
    )
    parser.add_argument("--fov", type=float, default=45.0, help="vertical field of view in degrees (default: 45)")
    parser.add_argument("--size", type=int, default=256, help="frame height and width in pixels, even (default: 256)")
    parser.add_argument(
        "--fps", type=float, default=None, help="resample the motion to this frame rate (default: its own)"
    )
    parser.add_argument("--background", choices=BACKGROUNDS, default="texture", help="mannequin background")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random camera (with --camera random)")
    add_motion_input_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ...render import render_motion_views, write_video

    if args.size < 2 or args.size % 2:
        raise InvalidInputError(f"--size must be an even number of pixels >= 2, got {args.size}.")
    if args.output.suffix.lower() not in VIDEO_SUFFIXES:
        raise InvalidInputError(f"-o {args.output}: the video file must end in one of {VIDEO_SUFFIXES}.")
    check_output_path(args.output, "-o")
    if not args.motion.is_file():
        raise InvalidInputError(f"{args.motion}: no such motion file.")
    motion = load_motion_with_options(args.motion, args)
    if args.fps is not None:
        motion = motion.resample(args.fps)
    frames = render_motion_views(
        motion, args.style, args.size, args.camera, args.fov, args.background, args.seed, show_progress=True
    )
    write_video(frames, args.output, fps=motion.fps)
    print(f"wrote {args.output} ({len(frames)} frames, {frames.shape[2]}x{frames.shape[1]}, {motion.fps:g} fps)")
    return 0
