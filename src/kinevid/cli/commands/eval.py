"""`kinevid eval motion`: text-to-motion metrics of real held-out CMU data and our model, side by side."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ...errors import InvalidInputError, MissingWeightsError


def _eval_motion(args: argparse.Namespace) -> int:
    from ...eval.evaluator import TextMotionEvaluator
    from ...eval.text_to_motion import evaluate_text_to_motion

    if args.output is not None and args.output.suffix not in (".json", ".md"):
        raise InvalidInputError(f"`-o` must name a .json or .md file, got {args.output}.")
    if args.model is not None and not args.real_only:
        from ...eval.text_to_motion import load_text_to_motion_pipeline

        pipeline, reason = load_text_to_motion_pipeline(args.model)
        if pipeline is None:  # a model asked for by path must be there (the shipped one may be absent)
            raise MissingWeightsError(f"--model {args.model}: {reason}")
    evaluator = TextMotionEvaluator.from_pretrained(args.evaluator)
    report = evaluate_text_to_motion(
        evaluator,
        split=args.split,
        num_samples=args.num_samples,
        model_dir=args.model,
        include_model=not args.real_only,
        seed=args.seed,
        multimodality_texts=args.multimodality_texts,
        multimodality_repeats=args.multimodality_repeats,
        repeats=args.repeats,
        cmu_root=args.cmu_root,
        max_trials=args.max_trials,
    )
    report.print()
    if args.output is not None:
        report.save(args.output)
        markdown = args.output.with_suffix(".md")
        if args.output.suffix == ".json":
            report.save(markdown)
            print(f"report: {args.output} (and {markdown})")
        else:
            print(f"report: {args.output}")
    return 0


def _check_report_dir(output: Path) -> None:
    """Fail before any work when the report directory cannot be written."""
    if output.exists() and not output.is_dir():
        raise InvalidInputError(f"{output}: exists and is not a directory; `-o` names the report directory.")
    parent = output.parent if output.parent != Path("") else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidInputError(f"{output}: cannot write the report there ({existing} is not writable).")


def _eval_video(args: argparse.Namespace) -> int:
    import torch

    from ...eval.video.evaluate import VideoEvaluationInputs, evaluate_videos
    from ...eval.video.report import write_report
    from ...utils import torch_threads

    _check_report_dir(args.output)
    inputs = VideoEvaluationInputs(
        reference_dir=args.reference,
        prompts_file=args.prompts,
        i3d_weights=args.i3d,
        clip_dir=args.clip,
        dino_dir=args.dino,
        raft_weights=args.raft,
        amt_weights=args.amt,
        poses_dir=args.poses,
        motions_dir=args.motions,
        video_evaluator_dir=args.video_evaluator,
    )
    with torch_threads(args.threads or torch.get_num_threads()):
        evaluation = evaluate_videos(args.generated, inputs, metrics=args.metrics, device=args.device)
    write_report(evaluation, args.output)
    for name, value in evaluation.means.items():
        if not name.startswith("pck/"):
            interval = evaluation.intervals.get(name)
            print(f"{name}: {value:.4f}" + (f" ± {interval:.4f}" if interval is not None else ""))
    print(f"report: {args.output / 'report.md'} (and report.json, pictures)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate generated motion (R-precision, FID, physical) or videos (FVD, VBench, judges)"
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    motion = targets.add_parser(
        "motion",
        help="text-to-motion: real held-out CMU data and our model side by side",
        description="Evaluate real held-out CMU clips and the text-to-motion model with the shipped evaluator.",
    )
    motion.add_argument("--model", type=Path, default=None, help="text-to-motion pipeline directory (default: shipped)")
    motion.add_argument("--evaluator", type=Path, default=None, help="evaluator directory (default: shipped)")
    motion.add_argument("--split", choices=("test", "val"), default="test", help="held-out CMU split (by subject)")
    motion.add_argument("--num-samples", type=int, default=None, help="evaluate a seeded subset of N clips (>= 32)")
    motion.add_argument("--seed", type=int, default=0, help="seed for subsets, shuffles and generation")
    motion.add_argument("--real-only", action="store_true", help="evaluate the real data only")
    motion.add_argument("--multimodality-texts", type=int, default=10, help="captions used for multimodality (0: skip)")
    motion.add_argument("--multimodality-repeats", type=int, default=10, help="motions per caption for multimodality")
    motion.add_argument(
        "--repeats", type=int, default=1, help="generate N times; report mean ± 95%% confidence interval"
    )
    motion.add_argument("--max-trials", type=int, default=None, help="only the split's first N trials (smoke runs)")
    motion.add_argument("--cmu-root", type=Path, default=None, help="CMU data directory (default: auto-detected)")
    motion.add_argument(
        "-o", "--output", type=Path, default=None, help="write the report (.json, plus .md next to it; or .md)"
    )
    motion.set_defaults(func=_eval_motion)

    video = targets.add_parser(
        "video",
        help="video metrics: FVD, CLIPSIM, VBench dimensions, the pose judge, motion plausibility",
        description="Score a directory of generated videos (or of repeat sub-directories) and write a report "
        "directory (report.json, report.md, pictures). Metrics default to all whose inputs are given.",
    )
    video.add_argument("generated", type=Path, metavar="GENERATED_DIR", help="generated videos (.mp4/.gif)")
    video.add_argument("--reference", type=Path, default=None, help="real videos (FVD, fd_kinevid)")
    video.add_argument(
        "--prompts", type=Path, default=None, help="JSON {video name: prompt} (CLIPSIM, retrieval_precision)"
    )
    video.add_argument(
        "--metrics", nargs="+", default=None, metavar="NAME", help="metrics to compute (default: all available)"
    )
    video.add_argument(
        "--i3d", type=Path, default=None, help="I3D weights: InceptionI3d state dict or i3d_torchscript.pt"
    )
    video.add_argument("--clip", type=Path, default=None, help="transformers CLIPModel directory")
    video.add_argument("--dino", type=Path, default=None, help="transformers ViT/DINOv2 directory (DINO ViT-B/16)")
    video.add_argument("--raft", type=Path, default=None, help="RAFT weights, e.g. raft-things.pth (dynamic_degree)")
    video.add_argument("--amt", type=Path, default=None, help="AMT-S weights, e.g. amt-s.pth (motion_smoothness)")
    video.add_argument(
        "--poses", type=Path, default=None, help="directory of <name>.npz pose conditions (keypoints_2d, masks)"
    )
    video.add_argument("--motions", type=Path, default=None, help="directory of <name>.npz/.bvh recovered motions")
    video.add_argument(
        "--video-evaluator",
        type=Path,
        default=None,
        help="our text-video evaluator directory for retrieval_precision / fd_kinevid (default: shipped)",
    )
    video.add_argument("--device", default="cpu", help="device for I3D, RAFT and AMT (default: cpu)")
    video.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    video.add_argument("-o", "--output", type=Path, required=True, help="report directory")
    video.set_defaults(func=_eval_video)

    from .eval_generate import register_generate

    register_generate(targets)
