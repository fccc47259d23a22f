"""Does the structure model tell left from right? Side-named prompts, the named side's limb against the other.

    .venv/bin/python benchmarks/bench_sides.py [--checkpoint DIR ...] [--seeds 4] [--seconds 4] [--start motion]

For "waves with the right / left hand" (wrist raise above the pelvis, `BodyTrack.wrist_raise`) and "kicks with
the right / left leg" (ankle peak height, `BodyTrack.ankle_peak`), every model generates each prompt with the same
seeds. Printed per model and action: the right-minus-left peak for the "right" and the "left" prompt (a model
that grounds sides has the first above the second), the share of (prompt, seed) pairs whose named side peaks
higher (0.5 = chance), and the paired gap (R - L | right) - (R - L | left) over seeds. The shipped model is
always measured in the same run, as the reference.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from kinevid.eval.probes import BodyTrack
from kinevid.pipelines import TextToMotionPipeline
from kinevid.pipelines.pipeline_text_to_motion import default_checkpoint_dir

ACTIONS = {
    "wave": ("a person waves with the {side} hand", BodyTrack.wrist_raise),
    "kick": ("a person kicks with the {side} leg", BodyTrack.ankle_peak),
}


def side_gaps(pipeline: TextToMotionPipeline, template: str, peak, seeds: int, seconds: float, start: str):
    """`{side: [R - L peak per seed]}` for the "right" and the "left" prompt."""
    gaps = {}
    for side in ("right", "left"):
        gaps[side] = []
        for seed in range(seeds):
            motion = pipeline(template.format(side=side), seconds=seconds, seed=seed, start=start).motions[0]
            track = BodyTrack(motion)
            gaps[side].append(peak(track, "right") - peak(track, "left"))
    return gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", nargs="*", default=[], help="pipeline directories besides the shipped one")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--start", default="motion", choices=["rest", "motion"])
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"{args.seeds} seeds, {args.seconds:g} s, start={args.start}; peaks in metres (R - L)")
    header = ("model", "action", "R-L | right", "R-L | left", "named side higher", "paired gap")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, (40, 6, 12, 11, 18, 11), strict=True)))
    for directory in [default_checkpoint_dir(), *args.checkpoint]:
        pipeline = TextToMotionPipeline.from_pretrained(directory)
        for action, (template, peak) in ACTIONS.items():
            gaps = side_gaps(pipeline, template, peak, args.seeds, args.seconds, args.start)
            named = [gap > 0 for gap in gaps["right"]] + [gap < 0 for gap in gaps["left"]]
            paired = [right - left for right, left in zip(gaps["right"], gaps["left"], strict=True)]
            print(f"{str(directory)[-40:]:>40} {action:>6} {statistics.fmean(gaps['right']):12.3f} "
                  f"{statistics.fmean(gaps['left']):11.3f} {sum(named) / len(named):18.2f} "
                  f"{statistics.fmean(paired):11.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
