"""`kinevid motion PROMPT -o out.npz`: text -> 3D motion with the structure model.

    kinevid motion "a person jumps forward twice" -o jump.npz --seconds 6 --seed 0 --render jump.mp4
    kinevid motion --prompts prompts.txt -o motions/ --seconds 4
    kinevid motion --timeline "walk forward:3, jump:2" -o walk_jump.npz
    kinevid motion --timeline plan.json -o plan.npz          # [["walk forward", 3], ["jump", 2]]

Motions start as the checkpoint says (`"start"` in its `pipeline_config.json`; the shipped one starts
in motion until it is retrained from rest): `--start-from-rest` begins with a standing pose,
`--start-in-motion` lets the first frames move already. A
PROMPT with "and then" / ", then" is split into segments that share `--seconds`; `--timeline` gives
the segments and their seconds explicitly (the duration is their sum).

With `--prompts FILE` (one prompt per line; blank lines and lines starting with `#` skipped) the
prompts are generated as one batch and `-o` names a directory that receives `000.npz`, `001.npz`,
... and `prompts.txt` (the prompt of each file). Output paths are checked before generating; the
files of one run (motions, prompts.txt, the --render video) appear together after all the work
succeeded, or not at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import InvalidInputError
from ...utils import atomic_write_group, check_output_path, torch_threads

MOTION_SUFFIXES = (".npz", ".bvh")
RENDER_SIZE = 256  # pixels, height and width of each view in --render videos
DEFAULT_SECONDS = 6.0


def read_prompt_file(path: Path) -> list[str]:
    """Prompts of a text file: one per line, blank lines and `#` comments skipped."""
    if not path.is_file():
        raise InvalidInputError(f"Prompt file {path} does not exist.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise InvalidInputError(
            f"Prompt file {path} is not UTF-8 text ({error.reason} at byte {error.start})."
        ) from None
    except OSError as error:
        raise InvalidInputError(f"Prompt file {path}: cannot read ({error.strerror}).") from None
    if any("\x00" in line for line in lines):
        raise InvalidInputError(f"Prompt file {path} is not text (it contains NUL bytes).")
    prompts = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not prompts:
        raise InvalidInputError(f"Prompt file {path} holds no prompt (one per line expected).")
    return prompts


def render_motion_video(motion, path: Path) -> None:
    """Write `motion` as a mannequin | skeleton-map video (front camera) through `kinevid.render`."""
    from ...render import render_motion_views, write_video

    write_video(render_motion_views(motion, style="grid", size=RENDER_SIZE), path, fps=motion.fps)


def _output_paths(args: argparse.Namespace, output: Path, batch: bool, count: int) -> list[Path]:
    """Every file the run writes: the motions (and prompts.txt with --prompts), then the --render video."""
    if batch:
        if output.exists() and not output.is_dir():
            raise InvalidInputError(f"-o {output}: is a file; with --prompts, -o names a directory.")
        paths = [output / f"{index:03d}.npz" for index in range(count)] + [output / "prompts.txt"]
    else:
        paths = [output]
    if args.render is not None:
        paths.append(Path(args.render))
    for path in paths:
        check_output_path(path, "--render" if args.render is not None and path == Path(args.render) else "-o")
    return paths


def run(args: argparse.Namespace) -> int:
    timeline = getattr(args, "timeline", None)
    if sum(value is not None for value in (args.prompt, args.prompts, timeline)) != 1:
        raise InvalidInputError("Give one of PROMPT, --prompts FILE or --timeline SPEC.")
    if timeline is not None:
        from ...text.motion_prompt.timeline import load_timeline

        if args.seconds is not None:
            raise InvalidInputError("--seconds does not apply with --timeline: the segments' seconds add up to it.")
        args.timeline_segments = [(segment.text, segment.seconds) for segment in load_timeline(timeline)]
    batch = args.prompts is not None
    prompts = read_prompt_file(args.prompts) if batch else [args.prompt if args.prompt is not None else timeline]
    output = Path(args.output)
    if not batch and output.suffix.lower() not in MOTION_SUFFIXES:
        raise InvalidInputError(f"-o {output}: the motion file must end in one of {MOTION_SUFFIXES}.")
    if batch and output.suffix:
        raise InvalidInputError(f"-o {output}: with --prompts, -o names a directory (no suffix).")
    if args.render is not None and batch:
        raise InvalidInputError("--render works with a single PROMPT, not with --prompts.")
    if args.render is not None and Path(args.render).suffix.lower() not in (".mp4", ".gif"):
        raise InvalidInputError(f"--render {args.render}: the video file must end in .mp4 or .gif.")
    if args.threads < 1:
        raise InvalidInputError(f"--threads must be >= 1, got {args.threads}.")
    paths = _output_paths(args, output, batch, len(prompts))
    with torch_threads(args.threads):
        return _generate(args, prompts, paths, batch)


def _generate(args: argparse.Namespace, prompts: list[str], paths: list[Path], batch: bool) -> int:
    from ...pipelines.pipeline_text_to_motion import TextToMotionPipeline

    pipeline = TextToMotionPipeline.from_pretrained(args.checkpoint)
    segments = getattr(args, "timeline_segments", None)
    result = pipeline(
        None if segments is not None else prompts,
        seconds=args.seconds if args.seconds is not None else DEFAULT_SECONDS,
        timeline=segments,
        start=getattr(args, "start", None),  # None: the checkpoint's
        seed=args.seed,
        guidance_scale=args.guidance_scale,
        num_inference_steps=args.steps,
        contact_guidance_scale=args.contact_guidance,
        temporal_smoothing=args.smoothing,
        lock_feet=args.lock_feet,
        show_progress=True,
    )
    with atomic_write_group(paths) as temporary:
        for motion, tmp in zip(result.motions, temporary, strict=False):
            motion.save(tmp)
        if batch:
            listing = "".join(f"{index:03d}.npz\t{prompt}\n" for index, prompt in enumerate(prompts))
            temporary[len(prompts)].write_text(listing, encoding="utf-8")
        if args.render is not None:
            render_motion_video(result.motions[0], temporary[-1])
    if batch:
        print(f"wrote {len(prompts)} motions to {paths[0].parent}/")
        return 0
    motion = result.motions[0]
    print(f"wrote {paths[0]} ({motion.num_frames} frames at {motion.fps:g} fps)")
    if args.render is not None:
        print(f"wrote {args.render}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "motion",
        help="generate 3D human motion from text",
        description="Generate SMPL-24 motion from a prompt with the text-to-motion structure model.",
    )
    parser.add_argument("prompt", nargs="?", help='what the person does, e.g. "a person jumps forward twice"')
    parser.add_argument("--prompts", type=Path, help="text file with one prompt per line (batch generation)")
    parser.add_argument(
        "-o", "--output", required=True, help="motion file (.npz or .bvh), or a directory with --prompts"
    )
    parser.add_argument(
        "--timeline",
        default=None,
        help='segments with their seconds instead of a PROMPT: "walk forward:3, jump:2", or a JSON file '
        '[["walk forward", 3], ["jump", 2]]',
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help=f"duration in seconds (default {DEFAULT_SECONDS:g})"
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--start-from-rest", dest="start", action="store_const", const="rest",
        help="begin with a standing pose (default: the checkpoint's start mode)",
    )  # fmt: skip
    start.add_argument(
        "--start-in-motion", dest="start", action="store_const", const="motion",
        help="let the motion begin already moving (default: the checkpoint's start mode)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--guidance-scale", type=float, default=None, help="classifier-free guidance (default: checkpoint's)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="denoising steps per chunk (default: checkpoint's; the shipped 5)"
    )
    parser.add_argument(
        "--contact-guidance",
        type=float,
        default=None,
        help="foot-contact guidance strength (0 = off; default: checkpoint's)",
    )
    parser.add_argument(
        "--smoothing",
        type=float,
        default=None,
        help="Gaussian temporal filter over the motion, sigma in frames (0 = off; default: checkpoint's)",
    )
    parser.add_argument(
        "--lock-feet",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="move the root so that planted feet do not slide and nothing is below the floor (default: checkpoint's)",
    )
    parser.add_argument("--checkpoint", type=Path, default=None, help="pipeline directory (default: the shipped model)")
    parser.add_argument(
        "--render", default=None, help="also write a video (.mp4 or .gif): mannequin and skeleton side by side"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: the model is small, and extra threads mostly add contention)",
    )
    parser.set_defaults(func=run)
