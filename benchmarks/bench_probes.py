"""Kinematic action probes: the structure model's pass rate per action family next to real CMU clips'.

    .venv/bin/python benchmarks/bench_probes.py [--seeds 3] [--checkpoint DIR] [--start rest|motion]
    .venv/bin/python benchmarks/bench_probes.py --families kick_right_leg turn_around --seeds 1
    .venv/bin/python benchmarks/bench_probes.py --guidance-scale 4 --steps 20     # sampler settings

For every family of `kinevid.eval.probes.ACTION_PROBES`, each prompt is generated with every seed
(`TextToMotionPipeline`, the shipped model by default) and checked; the family's real CMU clips (the
trials whose captions name the action) are checked with the same thresholds. Printed: pass counts
model vs real per family and overall (target: model >= 85% of (prompt, seed) checks; real clips pass
about 90%), mean jerk per family as a ratio to the real clips' (target <= 1.5x), the mean speed
along the facing direction of the walk_forward family against real walks (target within 15%), and
the planted-foot floating ratio (`kinevid.motion.metrics.planted_foot_floating`) model vs real.
`--json FILE` also writes every number.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from kinevid.eval.probes import BodyTrack, get_probes, pass_rates, probe_table, run_model_probes, run_real_probes
from kinevid.motion.metrics import jerk, planted_foot_floating
from kinevid.pipelines import TextToMotionPipeline

PROBE_TARGET = 0.85
JERK_TARGET = 1.5
WALK_SPEED_TOLERANCE = 0.15


def _mean(values: list[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN (clips too short for a metric)
    return statistics.fmean(values) if values else float("nan")


def family_means(outcomes, metric) -> dict[str, float]:
    by_family: dict[str, list[float]] = {}
    for outcome in outcomes:
        by_family.setdefault(outcome.family, []).append(metric(outcome.motion))
    return {family: _mean(values) for family, values in by_family.items()}


def motion_jerk(motion) -> float:
    return float(jerk(motion.joints, motion.fps))


def motion_floating(motion) -> float:
    return float(planted_foot_floating(motion.joints, motion.fps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per prompt (0 .. N-1)")
    parser.add_argument("--checkpoint", default=None, help="pipeline directory (default: the shipped model)")
    parser.add_argument("--families", nargs="*", default=None, help="probe families (default: all)")
    parser.add_argument("--start", default="rest", choices=["rest", "motion"], help="the pipeline's start mode")
    parser.add_argument("--guidance-scale", type=float, default=None, help="text guidance (default: checkpoint's)")
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps per chunk (default: checkpoint's)")
    parser.add_argument("--contact-guidance", type=float, default=None, help="contact guidance (default: ckpt's)")
    parser.add_argument("--smoothing", type=float, default=None, help="temporal smoothing, frames (default: ckpt's)")
    parser.add_argument("--lock-feet", action=argparse.BooleanOptionalAction, default=None, help="default: ckpt's")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    probes = get_probes(args.families)
    pipeline = TextToMotionPipeline.from_pretrained(args.checkpoint)
    tic = time.perf_counter()
    sampler = {"guidance_scale": args.guidance_scale, "num_inference_steps": args.steps,
               "contact_guidance_scale": args.contact_guidance, "temporal_smoothing": args.smoothing,
               "lock_feet": args.lock_feet}  # fmt: skip
    model = run_model_probes(pipeline, probes, seeds=range(args.seeds), show_progress=True, start=args.start,
                             **{name: value for name, value in sampler.items() if value is not None})  # fmt: skip
    seconds = time.perf_counter() - tic
    real = run_real_probes(probes, show_progress=True)

    print(f"\nProbe pass rates ({len(model)} generations in {seconds:.0f} s, start={args.start!r}, {sampler}):\n")
    print(probe_table(model, real))
    model_passed, model_total = pass_rates(model)["overall"]
    real_passed, real_total = pass_rates(real)["overall"]
    model_rate, real_rate = model_passed / max(model_total, 1), real_passed / max(real_total, 1)
    print(f"\nmodel {model_rate:.1%} vs real {real_rate:.1%} (target model >= {PROBE_TARGET:.0%})")

    model_jerk, real_jerk = family_means(model, motion_jerk), family_means(real, motion_jerk)
    model_float, real_float = family_means(model, motion_floating), family_means(real, motion_floating)
    print("\n| family | jerk model, m/s^3 | jerk real | ratio | floating model | floating real |")
    print("|---|---|---|---|---|---|")
    for family in model_jerk:
        ratio = model_jerk[family] / real_jerk.get(family, float("nan"))
        print(
            f"| {family} | {model_jerk[family]:.1f} | {real_jerk.get(family, float('nan')):.1f} | {ratio:.2f}x"
            f"{'' if ratio <= JERK_TARGET else ' (over target)'} | {model_float[family]:.3f} | "
            f"{real_float.get(family, float('nan')):.3f} |"
        )
    numbers = {
        "model_pass_rate": model_rate,
        "real_pass_rate": real_rate,
        "per_family": {
            family: {"model": pass_rates(model).get(family), "real": pass_rates(real).get(family)}
            for family in model_jerk
        },
        "jerk": {"model": model_jerk, "real": real_jerk},
        "planted_foot_floating": {"model": model_float, "real": real_float},
    }
    walks = [o for o in model if o.family == "walk_forward"]
    real_walks = [o for o in real if o.family == "walk_forward"]
    if walks and real_walks:
        speed = _mean([BodyTrack(o.motion).forward_speed() for o in walks])
        real_speed = _mean([BodyTrack(o.motion).forward_speed() for o in real_walks])
        within = abs(speed / real_speed - 1) <= WALK_SPEED_TOLERANCE
        print(
            f"\nwalking speed: model {speed:.2f} m/s vs real {real_speed:.2f} m/s ({speed / real_speed:.2f}x; "
            f"target within {WALK_SPEED_TOLERANCE:.0%}: {'met' if within else 'not met'})"
        )
        numbers["walk_speed"] = {"model": speed, "real": real_speed}
    if args.json is not None:
        args.json.write_text(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
