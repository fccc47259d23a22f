"""`kinevid data synth`: build a synthetic paired dataset (mannequin video, masks, skeleton maps, tracks,
motion, camera, caption) from the CMU motions.

    kinevid data synth -o data/synth --num-clips 1024 --split train --seed 0
    kinevid data synth -o data/synth_small --num-clips 16 --trials 02_01,05_02 --frames 17 --size 64 --fps 8

Rerunning the same command resumes: finished shards are kept. The format is described in
`kinevid.data.synth`; `kinevid.data.paired.SyntheticPairedDataset` reads it back.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import InvalidInputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="build datasets", description="Build datasets for training.")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    synth = actions.add_parser(
        "synth",
        help="render CMU motions into a synthetic paired dataset",
        description=(
            "Render CMU motions into sharded clips of mannequin video, masks, skeleton maps, tracks, motion, "
            "camera and caption."
        ),
    )
    synth.add_argument("-o", "--output", type=Path, required=True, help="dataset directory")
    synth.add_argument(
        "--cmu-root",
        type=Path,
        default=None,
        help="CMU data directory (default: $KINEVID_CMU_ROOT or ../shared/data/cmu_mocap)",
    )
    synth.add_argument(
        "--split",
        choices=("train", "val", "test", "all"),
        default=None,
        help="CMU subject split (default: train; all when --trials is given)",
    )
    synth.add_argument("--trials", default=None, help="comma-separated CMU trial ids to use instead of the whole split")
    synth.add_argument("--num-clips", type=int, default=256, help="clips to make (default: 256)")
    synth.add_argument("--clips-per-shard", type=int, default=64, help="clips per shard file (default: 64)")
    synth.add_argument("--frames", type=int, default=17, help="frames per clip (default: 17)")
    synth.add_argument("--size", type=int, default=64, help="frame height and width (default: 64)")
    synth.add_argument("--fps", type=float, default=8.0, help="clip frame rate (default: 8)")
    synth.add_argument("--track-points", type=int, default=64, help="tracked surface points per clip (default: 64)")
    synth.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    synth.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from ...data.cmu import CMUMocap
    from ...data.synth import SynthConfig, build_synthetic_dataset

    trial_ids = [t.strip() for t in args.trials.split(",") if t.strip()] if args.trials else None
    split = args.split or ("all" if trial_ids else "train")
    config = SynthConfig(
        num_clips=args.num_clips, clips_per_shard=args.clips_per_shard, num_frames=args.frames,
        height=args.size, width=args.size, fps=args.fps, seed=args.seed, num_track_points=args.track_points,
        split=args.split or (None if trial_ids else "train"),
    )  # fmt: skip
    trials = CMUMocap(args.cmu_root, split=split, fps=args.fps, min_frames=args.frames, trial_ids=trial_ids)
    if len(trials) == 0:
        raise InvalidInputError(f"no CMU trial of the {split!r} split has {args.frames} frames at {args.fps:g} fps.")
    build_synthetic_dataset(trials, args.output, config)
    print(f"wrote {config.num_clips} clips in {config.num_shards} shards to {args.output}")
    return 0
