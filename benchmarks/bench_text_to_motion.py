"""Speed of text -> motion: a 10-second motion at batch 1 on one CPU thread (target <= 0.25 s).

    .venv/bin/python benchmarks/bench_text_to_motion.py [--quick] [--checkpoint DIR] [--threads N]
    .venv/bin/python benchmarks/bench_text_to_motion.py --reference-steps 0      # skip the 10-step reference
    .venv/bin/python benchmarks/bench_text_to_motion.py --physical 64 [--contact-guidance 0.5]

`--physical N` also measures physical plausibility on N held-out test-subject clips (the first
10 s of each test trial with its first caption, as `kinevid eval motion` cuts them): the
`kinevid.motion.metrics` of real clips and of motions generated from the same captions and
durations (without contact guidance, and with the checkpoint's or `--contact-guidance`), with the
targets foot-skating ratio <= 1.5 x real and mean penetration <= 2 cm.

Uses the shipped checkpoint (or `--checkpoint`); without one, the architecture of
`configs/structure_cmu.json` with random weights (speed does not depend on the weights). Prints the
median time of the whole `TextToMotionPipeline.__call__` (prompt encoding + rollout), of the rollout
with the prompt embedding cached, and of one denoiser call, as a reference measured in the same run:
rollout / (calls x one call) shows the overhead of everything around the network, and the target
is printed in the same unit (on a loaded machine the ratios are the numbers to compare). The
rollout and the full call are timed before and after the per-rollout conditioning cache
(`TextToMotionPipeline.cache_conditioning` False / True: every call recomputing the timestep / text
MLPs and adaLN modulations, vs computed once per rollout),
alternating the two in one process, with their ratio; one denoiser call is also timed with its
conditioning precomputed, and (`--reference-steps N`, default 10, the sampler's earlier default) the cached
call at N DDIM steps per chunk in the same alternation, so a checkpoint sampling with fewer steps is
compared with N steps measured beside it. Times are medians of thread CPU time (wall-clock beside it): CPU time does
not count the waits of a shared machine. Also printed: one contact-guidance call of the pipeline
(autograd through forward kinematics) against `contact_guided_pelvis` (closed form, one forward
kinematics pass).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import time
from pathlib import Path

import torch

from kinevid.errors import MissingWeightsError
from kinevid.models.structure import MotionPrimitiveDiffusionModel
from kinevid.pipelines import TextToMotionPipeline
from kinevid.pipelines.pipeline_text_to_motion import CONTACT_GUIDANCE_SHARE, default_checkpoint_dir
from kinevid.recipes.structure import DiffusionConfig

TARGET_SECONDS = 0.25
PROMPT = "a person jumps forward twice"
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "structure_cmu.json"


def median_time(function, repeats: int, clock=time.thread_time) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        tic = clock()
        function()
        times.append(clock() - tic)
    return statistics.median(times)


def paired_median_times(functions: dict[str, object], repeats: int, clock=time.thread_time) -> dict[str, float]:
    """Median time of each function, the functions run in turn `repeats` times (after one warm-up each),
    so that a machine whose load drifts affects them alike."""
    for function in functions.values():
        function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            tic = clock()
            function()
            times[name].append(clock() - tic)
    return {name: statistics.median(values) for name, values in times.items()}


def with_cache(pipeline: TextToMotionPipeline, enabled: bool, function):
    """`function` run with `pipeline.cache_conditioning` set to `enabled` (restored after)."""

    def run():
        previous = pipeline.cache_conditioning
        pipeline.cache_conditioning = enabled
        try:
            return function()
        finally:
            pipeline.cache_conditioning = previous

    return run


def guidance_times(pipeline: TextToMotionPipeline, repeats: int) -> tuple[float, float]:
    """(pipeline `_guide_contacts`, `contact_guided_pelvis` + (de)normalisation) on one predicted chunk."""
    from kinevid.models.structure.representation import PELVIS, contact_guided_pelvis
    from kinevid.motion.contacts import contact_heights
    from kinevid.pipelines import pipeline_text_to_motion as module

    model, config = pipeline.model, pipeline.model.config
    prediction = model.normalize(torch.zeros(1, config.num_future_frames, config.feature_dim))
    heights = torch.tensor(contact_heights())
    offsets = model.body_offsets[None]

    def closed_form() -> torch.Tensor:
        features = model.denormalize(prediction)
        features[..., PELVIS] = contact_guided_pelvis(
            features,
            offsets,
            heights,
            0.5,
            2,
            module.SLIDE_WEIGHT,
            module.CONTACT_THRESHOLD,
        )
        return model.normalize(features)

    with torch.no_grad():
        return median_time(lambda: pipeline._guide_contacts(prediction, 0.5), repeats), median_time(
            closed_form, repeats
        )


def load_pipeline(checkpoint: str | None) -> tuple[TextToMotionPipeline, str]:
    try:
        return TextToMotionPipeline.from_pretrained(checkpoint), str(checkpoint or default_checkpoint_dir())
    except MissingWeightsError:
        if checkpoint is not None:
            raise
    model = MotionPrimitiveDiffusionModel(**json.loads(CONFIG.read_text())["model"])
    return TextToMotionPipeline(model, DiffusionConfig().sampling_scheduler()), "random weights (no checkpoint)"


def physical_comparison(pipeline: TextToMotionPipeline, num_clips: int, contact_guidance: float, seed: int = 0) -> None:
    """Print physical metrics of real held-out clips vs generated motions for their captions."""
    from kinevid.data.cmu import CMUMocap
    from kinevid.eval.clips import cut_clips
    from kinevid.eval.evaluator import mean_physical_metrics
    from kinevid.eval.text_to_motion import generate_for_clips

    fps = pipeline.fps
    trials = CMUMocap(split="test", fps=fps, min_frames=round(2 * fps)).load_all()
    clips = cut_clips(trials, round(10 * fps), round(2 * fps), windows_per_trial=1)
    chosen = torch.randperm(len(clips), generator=torch.Generator().manual_seed(seed))[:num_clips]
    clips = [clips[i] for i in sorted(chosen.tolist())]
    texts, durations = [c.text for c in clips], [c.duration for c in clips]
    columns = {"real (test)": mean_physical_metrics([c.motion for c in clips])}
    unguided = functools.partial(pipeline, contact_guidance_scale=0.0)
    columns["model, no contact guidance"] = mean_physical_metrics(generate_for_clips(unguided, texts, durations, seed))
    if contact_guidance > 0:
        guided = functools.partial(pipeline, contact_guidance_scale=contact_guidance)
        columns[f"model + contact guidance {contact_guidance:g}"] = mean_physical_metrics(
            generate_for_clips(guided, texts, durations, seed)
        )
    print(f"\nphysical metrics on {len(clips)} held-out test clips (means; ratio = model / real):")
    names = list(columns["real (test)"])
    print(f"{'metric':22s}" + "".join(f"{name:>32s}" for name in columns))
    real = columns["real (test)"]
    for metric in names:
        cells = []
        for values in columns.values():
            ratio = values is not real and abs(real[metric]) > 1e-6
            cells.append(f"{values[metric]:.4f}" + (f" ({values[metric] / real[metric]:.2f}x)" if ratio else ""))
        print(f"{metric:22s}" + "".join(f"{cell:>32s}" for cell in cells))
    print(f"targets: foot_skating_ratio <= 1.5 x real ({1.5 * real['foot_skating_ratio']:.4f}), penetration_m <= 0.02")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--checkpoint", default=None, help="pipeline directory (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as `kinevid motion`)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--reference-steps", type=int, default=10, help="also time the cached call at this many DDIM steps (0: no)"
    )
    parser.add_argument("--physical", type=int, default=0, help="also compare physical metrics on N test clips")
    parser.add_argument(
        "--contact-guidance", type=float, default=None, help="with --physical: guided column (default: checkpoint's)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 2 if args.quick else 7

    pipeline, source = load_pipeline(args.checkpoint)
    config = pipeline.model.config
    num_frames = round(args.seconds * pipeline.fps)
    num_chunks = math.ceil(num_frames / config.num_future_frames)
    num_calls = num_chunks * pipeline.num_inference_steps

    generate = functools.partial(pipeline, PROMPT, seconds=args.seconds, seed=0)
    variants = {"before": with_cache(pipeline, False, generate), "after": with_cache(pipeline, True, generate)}
    reference_steps = args.reference_steps
    if reference_steps and reference_steps != pipeline.num_inference_steps:
        variants["reference steps"] = with_cache(
            pipeline, True, functools.partial(generate, num_inference_steps=reference_steps)
        )
    full = paired_median_times(variants, repeats)
    full_wall = paired_median_times(variants, repeats, time.perf_counter)
    embedding = pipeline.encode_prompt([PROMPT])
    pipeline.encode_prompt = lambda prompts: embedding  # rollout only
    rollout = paired_median_times(variants, repeats)
    del pipeline.encode_prompt  # back to the class's method

    model = pipeline.model
    inputs = (
        torch.randn(2, config.num_future_frames, config.feature_dim),
        torch.tensor(500),
        torch.randn(2, config.num_history_frames, config.feature_dim),
        torch.ones(2, dtype=torch.bool),
        torch.randn(2, config.text_dim),
        torch.tensor([True, False]),
    )
    pipeline.scheduler.set_timesteps(pipeline.num_inference_steps)
    with torch.no_grad():
        conditioning = model.precompute_conditioning(pipeline.scheduler.timesteps, *inputs[4:])[0]
        calls = paired_median_times(
            {"uncached": lambda: model(*inputs), "cached": lambda: model(*inputs, conditioning=conditioning)},
            repeats * 10,
        )
    one_call, one_cached_call = calls["uncached"], calls["cached"]

    print(f"checkpoint: {source}")
    print(f"threads: {torch.get_num_threads()}, model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params")
    print(
        f"{args.seconds:g} s motion = {num_frames} frames = {num_chunks} chunks x "
        f"{pipeline.num_inference_steps} steps = {num_calls} denoiser calls (batch 2 for guidance)"
    )
    calls = num_calls * one_call
    print(f"one denoiser call (reference):         {one_call * 1000:.2f} ms; {num_calls} calls = {calls:.3f} s")
    print(f"one call, conditioning precomputed:    {one_cached_call * 1000:.2f} ms ({one_cached_call / one_call:.2f}x)")
    for name in ("before", "after"):
        label = "uncached" if name == "before" else "cached"
        print(f"full call, {name} ({label}):{' ' * (18 - len(name) - len(label))}{full[name]:.3f} s cpu "
              f"({full_wall[name]:.3f} s wall) = {full[name] / calls:.2f}x the calls; "
              f"target <= {TARGET_SECONDS} s: {full[name] / TARGET_SECONDS:.2f}x")  # fmt: skip
    for name in ("before", "after"):
        print(f"rollout only, {name}:{' ' * (25 - len(name))}{rollout[name]:.3f} s = "
              f"{rollout[name] / calls:.2f}x the calls")  # fmt: skip
    print(f"after / before:                        rollout {rollout['after'] / rollout['before']:.2f}x, "
          f"full call {full['after'] / full['before']:.2f}x")  # fmt: skip
    if "reference steps" in full:
        print(f"full call at {reference_steps} steps (cached):    {full['reference steps']:.3f} s cpu; "
              f"{pipeline.num_inference_steps} / {reference_steps} steps: full call "
              f"{full['after'] / full['reference steps']:.2f}x, rollout "
              f"{rollout['after'] / rollout['reference steps']:.2f}x")  # fmt: skip
    print(
        f"target in the same unit:               {TARGET_SECONDS / calls:.2f}x the calls "
        f"(the reference's 3 ms a call on a quiet machine: {TARGET_SECONDS / (num_calls * 0.003):.2f}x)"
    )
    autograd, closed_form = guidance_times(pipeline, repeats * 10)
    guided_steps = math.ceil(CONTACT_GUIDANCE_SHARE * pipeline.num_inference_steps)
    print(
        f"contact guidance, one call:            pipeline {autograd * 1000:.2f} ms, contact_guided_pelvis "
        f"{closed_form * 1000:.2f} ms ({closed_form / autograd:.2f}x); {num_chunks * guided_steps} calls per rollout"
    )
    if args.physical:
        guidance = pipeline.contact_guidance_scale if args.contact_guidance is None else args.contact_guidance
        physical_comparison(pipeline, args.physical, guidance)


if __name__ == "__main__":
    main()
