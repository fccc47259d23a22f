"""`kinevid train TASK --config FILE --output DIR`: run a training recipe through `kinevid.train`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _train_structure(args: argparse.Namespace) -> int:
    from ...recipes.structure import StructureTrainingConfig, train_text_to_motion

    config = StructureTrainingConfig.load(args.config, output_dir=args.output)
    if args.max_steps is not None:
        config.train.max_steps = args.max_steps
    config.train.resume = args.resume
    if args.max_trials is not None:
        config.data.max_trials = args.max_trials
    pipeline_dir = train_text_to_motion(config)
    print(f"trained pipeline: {pipeline_dir}")
    print(f'try: kinevid motion "a person walks forward" -o walk.npz --checkpoint {pipeline_dir}')
    return 0


def _train_evaluator(args: argparse.Namespace) -> int:
    from ...recipes.evaluator import train_from_cli

    train_from_cli(args)
    return 0


def _train_vae(args: argparse.Namespace) -> int:
    from ...recipes.vae import train_from_cli

    return train_from_cli(args)


def _train_video_evaluator(args: argparse.Namespace) -> int:
    from ...recipes.video_evaluator import train_from_cli

    return train_from_cli(args)


def _train_mosa(args: argparse.Namespace) -> int:
    from ...recipes.mosa import train_from_cli

    return train_from_cli(args)


def _train_echomotion(args: argparse.Namespace) -> int:
    from ...recipes.echomotion import train_from_cli

    return train_from_cli(args)


TRAIN_TASKS = {
    "structure": (_train_structure, "text -> 3D motion (MoSA structure model) on CMU mocap"),
    "evaluator": (_train_evaluator, "text-motion retrieval evaluator (kinevid.eval) on the CMU train split"),
    "video-evaluator": (
        _train_video_evaluator,
        "text-video retrieval evaluator (kinevid.eval.video) on synthetic clips (--max-trials: clips per split)",
    ),
    "mosa": (_train_mosa, "MoSA appearance branch (Wan DiT + HADC) on a latent cache of paired clips"),
    "echomotion-stage1": (_train_echomotion, "EchoMotion stage 1: the motion branch, motion-only (video frozen)"),
    "echomotion-stage2": (_train_echomotion, "EchoMotion stage 2: joint / m2v / v2m multi-task from stage 1"),
    "vae": (_train_vae, "the video VAE (AutoencoderKLWan) on synthetic mannequin frames, then clips"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a model from a config file (checkpoints, resume, logs)")
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    for name, (run, help_text) in TRAIN_TASKS.items():
        task = tasks.add_parser(name, help=help_text)
        task.add_argument(
            "--config", type=Path, required=True, help="JSON training config (e.g. configs/structure_cmu.json)"
        )
        task.add_argument("--output", type=Path, required=True, help="run directory (logs, checkpoints, final weights)")
        task.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output")
        task.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")
        task.add_argument(
            "--max-trials", type=int, default=None, help="use only the first N trials per split (smoke runs)"
        )
        task.set_defaults(func=run)
    plot = tasks.add_parser("plot", help="draw a run's loss curves (logs.jsonl) to a PNG")
    plot.add_argument("run", type=Path, help="run directory (the --output of a training task) or its logs.jsonl")
    plot.add_argument("-o", "--output", type=Path, default=None, help="PNG to write (default: RUN/loss.png)")
    plot.set_defaults(func=_plot)


def _plot(args: argparse.Namespace) -> int:
    from ...train.plot import plot_losses

    print(f"wrote {plot_losses(args.run, args.output)}")
    return 0
