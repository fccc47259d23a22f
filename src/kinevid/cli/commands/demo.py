"""`kinevid demo [-o OUTDIR]`: the quick-start job, text -> 3D motion -> video, with the shipped model.

Generates a motion from a prompt with the shipped text-to-motion model, writes it as npz
(AMASS/SMPL layout) and BVH, renders a mannequin | skeleton-map video, and prints a summary with
the physical metrics. Everything runs on the CPU in seconds, without downloads. The three files
appear together or not at all; where they go is checked before the work starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from ...errors import InvalidInputError
from ...utils import atomic_write_group, check_output_path, torch_threads
from .info import motion_summary_table

DEFAULT_PROMPT = "a person walks forward"


def run_demo(args: argparse.Namespace) -> int:
    from ...pipelines.pipeline_text_to_motion import TextToMotionPipeline
    from ...render import render_motion_views, write_video

    if not args.seconds > 0:
        raise InvalidInputError(f"--seconds must be positive, got {args.seconds}.")
    if args.size < 2 or args.size % 2:
        raise InvalidInputError(f"--size must be an even number of pixels >= 2 (mp4), got {args.size}.")
    console = Console()
    output_dir: Path = args.output_dir
    paths = {name: output_dir / f"motion.{name}" for name in ("npz", "bvh")}
    video_path = output_dir / "motion.mp4"
    for path in (*paths.values(), video_path):
        check_output_path(path, "-o")
    with torch_threads(1):
        pipeline = TextToMotionPipeline.from_pretrained()
        motion = pipeline(args.prompt, seconds=args.seconds, seed=args.seed, show_progress=True).motions[0]
    frames = render_motion_views(motion, style="grid", size=args.size)
    with atomic_write_group([*paths.values(), video_path]) as (npz_tmp, bvh_tmp, video_tmp):
        motion.save(npz_tmp)
        motion.save(bvh_tmp)
        write_video(frames, video_tmp, fps=motion.fps)

    console.print(f"prompt: {args.prompt!r} (seed {args.seed})")
    console.print(f"wrote {paths['npz']}, {paths['bvh']} and {video_path}")
    console.print(motion_summary_table(motion, title="generated motion (SMPL-24)"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="quick start: text -> motion -> video with the shipped model, plus a summary and metrics",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "-o", "--output-dir", type=Path, default=Path("outputs/demo"), help="where to write (default: outputs/demo)"
    )
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help=f'what the person does (default: "{DEFAULT_PROMPT}")')
    parser.add_argument("--seconds", type=float, default=4.0, help="duration in seconds (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--size", type=int, default=256, help="video height in pixels, even (default 256)")
    parser.set_defaults(func=run_demo)
