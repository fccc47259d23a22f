"""`kinevid eval generate`: the whole video-generation protocol of a MoSA or EchoMotion pipeline on held-out
test-subject clips (`kinevid.eval.video.generation`), written as a report directory."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

DESCRIPTION = """\
Run a pipeline on held-out CMU test-subject clips and score it next to the judge's ceiling and a reference.

Clips: the first --clips of --data (a `kinevid data synth --split test` dataset), or, without --data, clips
rendered here with `kinevid data synth`'s builder from CMU's test subjects (--cmu-root; seed 2, the seed of
data/synth128v2_test) at the pipeline's size and clip length (--size overrides the size).

Modes: mosa `motion` (animate the clip's motion through its camera with its caption; default) or `text`
(caption -> motion -> video, scored against the generated motion); echomotion `m2v` (default), `t2vm`, or
`v2m` (capture the motion of the ground-truth render: MPJPE in mm after root alignment, physical metrics).

Each video row (generated, ground truth = the renderer's video of the target, the judge's ceiling, mean frame
= the ground truth's temporal mean) gets MediaPipe PCK@0.1 / detection rate / mask IoU (the `judge` extra;
skipped with a note without it), clothing colours as the caption names them, the weight-free video metrics
(and our evaluator's when shipped), and with --capture-model the physical metrics of the motion captured from
it. Means and 95% intervals are over --seeds seeds. Writes report.json, report.md and pictures (frames.png,
pck_per_joint.png, hist_*.png) into -o, all together or not at all."""


def run_eval_generate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ...errors import InvalidInputError
    from ...eval.video.generation import (
        DEFAULT_MODES,
        GENERATION_MODES,
        evaluate_generation,
        load_test_clips,
        render_test_clips,
    )
    from ...eval.video.generation_report import write_generation_report
    from ...utils import check_output_path, torch_threads
    from .generate import load_pipeline, parse_size, pipeline_frames, pipeline_size

    mode = args.mode or DEFAULT_MODES[args.method]
    if mode not in GENERATION_MODES[args.method]:
        raise InvalidInputError(f"--mode {mode}: --method {args.method} has the modes {GENERATION_MODES[args.method]}.")
    for name in ("clips", "seeds", "threads"):
        if getattr(args, name) < 1:
            raise InvalidInputError(f"--{name} must be >= 1, got {getattr(args, name)}.")
    if args.steps is not None and args.steps < 1:
        raise InvalidInputError(f"--steps must be >= 1, got {args.steps}.")
    size = parse_size(args.size) if args.size is not None else None
    if args.output.exists() and not args.output.is_dir():
        raise InvalidInputError(f"-o {args.output}: exists and is not a directory; -o names the report directory.")
    check_output_path(args.output / "report.json", "-o")  # writable, before any work
    console = Console()
    with torch_threads(args.threads):
        pipeline = load_pipeline(args.method, args.model)
        capture = load_pipeline("echomotion", args.capture_model) if args.capture_model is not None else None
        if args.data is not None:
            clips = load_test_clips(args.data, args.clips)
        else:
            height, width = size or pipeline_size(pipeline)
            num_frames, fps = pipeline_frames(pipeline, None), float(pipeline.config.fps)
            console.print(f"rendering {args.clips} test-subject clips ({width}x{height}, {num_frames} frames)")
            clips = render_test_clips(args.clips, height, width, num_frames, fps, args.cmu_root)
        evaluation = evaluate_generation(
            pipeline, args.method, args.data, args.clips, mode, args.seeds, args.steps, capture_pipeline=capture,
            clips=clips,
        )  # fmt: skip
    write_generation_report(evaluation, args.output)

    table = Table(title=f"{args.method} {mode}: {len(clips)} clips x {args.seeds} seeds", header_style="bold")
    table.add_column("metric")
    for row in evaluation.rows:
        table.add_column(row, justify="right")
    names = dict.fromkeys(name for row in evaluation.rows for name in evaluation.means[row])
    for name in names:
        if name.startswith("pck/") or name.endswith("/top_flow_px"):
            continue
        cells = []
        for row in evaluation.rows:
            value, interval = evaluation.means[row].get(name), evaluation.intervals[row].get(name)
            text = "-" if value is None or not math.isfinite(value) else f"{value:.3f}"
            cells.append(text + (f" ± {interval:.3f}" if interval is not None and math.isfinite(interval) else ""))
        table.add_row(name, *cells)
    console.print(table)
    for key, goal in evaluation.goals().items():
        console.print(f"{key}: {goal['value']:.3f} (goal >= {goal['goal']}: {'met' if goal['met'] else 'NOT met'})")
    for what, why in evaluation.skipped.items():
        console.print(f"not measured: {what}: {why}")
    console.print(f"report: {args.output / 'report.md'} (and report.json, pictures)")
    return 0


def register_generate(targets: argparse._SubParsersAction) -> None:
    """Add `kinevid eval generate` to the `eval` targets."""
    parser = targets.add_parser(
        "generate",
        help="the video-generation protocol (pose following, colours, video metrics) on held-out test subjects",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--method", choices=("mosa", "echomotion"), default="mosa", help="pipeline (default: mosa)")
    parser.add_argument(
        "--mode", choices=("motion", "text", "m2v", "t2vm", "v2m"), default=None,
        help="mosa: motion (default) | text; echomotion: m2v (default) | t2vm | v2m",
    )  # fmt: skip
    parser.add_argument(
        "--model", type=Path, default=None, help="pipeline directory (default: the shipped <method>_tiny)"
    )
    parser.add_argument("--data", type=Path, default=None, help="test-split synth dataset (default: render clips)")
    parser.add_argument(
        "--cmu-root", "--cmu", type=Path, default=None,
        help="CMU data for rendering clips (default: $KINEVID_CMU_ROOT or ../shared/data/cmu_mocap)",
    )  # fmt: skip
    parser.add_argument("--clips", type=int, default=8, help="test clips (default 8)")
    parser.add_argument("--seeds", type=int, default=2, help="generation seeds 0..N-1; intervals over them (default 2)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the pipeline's)")
    parser.add_argument("--size", default=None, help="HxW of rendered clips (default: the pipeline's)")
    parser.add_argument(
        "--capture-model", type=Path, default=None,
        help="EchoMotion pipeline that captures motion from the videos (motion plausibility; default: skipped)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="report directory")
    parser.set_defaults(func=run_eval_generate)
