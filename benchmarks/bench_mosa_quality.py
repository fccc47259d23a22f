"""How well a MoSA pipeline's videos follow their motion and their prompt, on held-out test-subject clips.

    .venv/bin/python benchmarks/bench_mosa_quality.py [--model DIR] [--data data/synth128v2_test] [--clips 16]
        [--steps N] [--seeds 1] [--mode motion|text] [--json OUT.json] [--report DIR]

A thin wrapper over `kinevid.eval.video.generation.evaluate_generation` (the protocol, documented there, and
`kinevid eval generate`): the pipeline animates each clip's motion through the clip's camera with its caption;
every score (MediaPipe PCK@0.1 and mask IoU, clothing colours named as the caption says and as the render reads,
the weight-free video metrics) is printed beside the renderer's ground-truth video (the judge's ceiling) and the
mean-frame reference, with issue 13's goals: PCK >= 0.85x and mask IoU >= 0.9x the ground truth's, colours
>= 90% as named.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from kinevid.cli.commands.generate import default_model_dir
from kinevid.eval.video.generation import evaluate_generation
from kinevid.eval.video.generation_report import write_generation_report
from kinevid.pipelines import MoSAPipeline

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_dir("mosa"))
    parser.add_argument("--data", type=Path, default=REPO / "data" / "synth128v2_test")
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the pipeline's)")
    parser.add_argument("--seeds", type=int, default=1, help="generation seeds (>= 2 gives 95%% intervals)")
    parser.add_argument("--mode", choices=("motion", "text"), default="motion")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the scores here")
    parser.add_argument("--report", type=Path, default=None, help="also write the report directory here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    pipeline = MoSAPipeline.from_pretrained(args.model)
    evaluation = evaluate_generation(
        pipeline, "mosa", args.data, args.clips, args.mode, args.seeds, num_inference_steps=args.steps
    )
    print(f"{args.model} on {evaluation.settings['clips']} held-out clips of {args.data} ({args.mode}, "
          f"{args.seeds} seed(s))")  # fmt: skip
    rows = evaluation.rows
    names = [n for n in evaluation.means[rows[0]] if not n.startswith("pck/") and not n.endswith("/top_flow_px")]
    print(f"{'':>28} " + " ".join(f"{row:>16}" for row in rows))
    for name in names:
        cells = []
        for row in rows:
            value, interval = evaluation.means[row].get(name, math.nan), evaluation.intervals[row].get(name)
            cells.append(f"{value:.3f}" + (f"±{interval:.3f}" if interval is not None else ""))
        print(f"{name:>28} " + " ".join(f"{cell:>16}" for cell in cells))
    for key, goal in evaluation.goals().items():
        verdict = "met" if goal["met"] else "NOT met"
        print(f"{key}: {goal['value']:.2f} (goal >= {goal['goal']}: {verdict})")
    for what, why in evaluation.skipped.items():
        print(f"not measured: {what}: {why}")
    if args.json is not None:
        args.json.write_text(json.dumps({"model": str(args.model), **evaluation.to_dict()}, indent=2))
    if args.report is not None:
        write_generation_report(evaluation, args.report)


if __name__ == "__main__":
    main()
