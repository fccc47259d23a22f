"""`kinevid motion PROMPT -o out.npz`: text -> 3D motion with the structure model.

    kinevid motion "a person jumps forward twice" -o jump.npz --seconds 6 --seed 0 --render jump.mp4
    kinevid motion --prompts prompts.txt -o motions/ --seconds 4

With `--prompts FILE` (one prompt per line; blank lines and lines starting with `#` skipped) the
prompts are generated as one batch and `-o` names a directory that receives `000.npz`, `001.npz`,
... and `prompts.txt` (the prompt of each file). Every file is written atomically, and only after
all motions were generated, so an error leaves nothing half-written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import InvalidInputError
from ...utils import atomic_write, torch_threads

MOTION_SUFFIXES = (".npz", ".bvh")
RENDER_SIZE = 256  # pixels, height and width of each view in --render videos


def read_prompt_file(path: Path) -> list[str]:
    """Prompts of a text file: one per line, blank lines and `#` comments skipped."""
    if not path.is_file():
        raise InvalidInputError(f"Prompt file {path} does not exist.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"Prompt file {path} is not UTF-8 text ({error}).") from error
    prompts = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not prompts:
        raise InvalidInputError(f"Prompt file {path} holds no prompt (one per line expected).")
    return prompts


def render_motion_video(motion, path: Path) -> None:
    """Write `motion` as a mannequin | skeleton-map video (front camera) through `kinevid.render`."""
    from ...render import render_motion_views, write_video

    write_video(render_motion_views(motion, style="grid", size=RENDER_SIZE), path, fps=motion.fps)


def run(args: argparse.Namespace) -> int:
    if (args.prompt is None) == (args.prompts is None):
        raise InvalidInputError("Give either a PROMPT or --prompts FILE (not both).")
    batch = args.prompts is not None
    prompts = read_prompt_file(args.prompts) if batch else [args.prompt]
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
    with torch_threads(args.threads):
        return _generate(args, prompts, output, batch)


def _generate(args: argparse.Namespace, prompts: list[str], output: Path, batch: bool) -> int:
    from ...pipelines.pipeline_text_to_motion import TextToMotionPipeline

    pipeline = TextToMotionPipeline.from_pretrained(args.checkpoint)
    result = pipeline(
        prompts,
        seconds=args.seconds,
        seed=args.seed,
        guidance_scale=args.guidance_scale,
        num_inference_steps=args.steps,
        contact_guidance_scale=args.contact_guidance,
        show_progress=True,
    )
    if batch:
        for index, motion in enumerate(result.motions):
            motion.save(output / f"{index:03d}.npz")
        with atomic_write(output / "prompts.txt") as tmp:
            tmp.write_text("".join(f"{index:03d}.npz\t{prompt}\n" for index, prompt in enumerate(prompts)))
        print(f"wrote {len(prompts)} motions to {output}/")
        return 0
    motion = result.motions[0]
    motion.save(output)
    print(f"wrote {output} ({motion.num_frames} frames at {motion.fps:g} fps)")
    if args.render is not None:
        render_motion_video(motion, Path(args.render))
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
    parser.add_argument("--seconds", type=float, default=6.0, help="duration in seconds (default 6)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--guidance-scale", type=float, default=None, help="classifier-free guidance (default: checkpoint's)"
    )
    parser.add_argument("--steps", type=int, default=None, help="denoising steps per chunk (default: checkpoint's, 10)")
    parser.add_argument(
        "--contact-guidance",
        type=float,
        default=None,
        help="foot-contact guidance strength (0 = off; default: checkpoint's)",
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
