"""`kinevid eval motion`: text-to-motion metrics of real held-out CMU data and our model, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import InvalidInputError


def _eval_motion(args: argparse.Namespace) -> int:
    from ...eval.evaluator import TextMotionEvaluator
    from ...eval.text_to_motion import evaluate_text_to_motion

    if args.output is not None and args.output.suffix not in (".json", ".md"):
        raise InvalidInputError(f"`-o` must name a .json or .md file, got {args.output}.")
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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate generated motion (R-precision, FID, physical metrics)")
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
