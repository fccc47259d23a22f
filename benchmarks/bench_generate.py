"""Speed of `kinevid generate` on the CPU, stage by stage (goal: < 60 s for the default, hard limit 2 min).

    .venv/bin/python benchmarks/bench_generate.py [--model DIR] [--threads 1] [--repeats 3]

Times, with the shipped MoSA pipeline (or `--model`), at its own size, length and steps: loading the
pipeline, encoding the prompt, the structure model (text -> motion), drawing the skeleton maps, one DiT
call at the guided batch, the whole denoising loop, the VAE decode, and the whole `pipeline(prompt)`
(which also samples the camera and draws the skeleton maps).
Reference measured in the same run: `steps x one DiT call`, so `loop / reference` shows what the
scheduler and guidance cost around the network, and `total / goal` reads as a fraction of the 60 s goal.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from kinevid.cli.commands.generate import default_model_dir
from kinevid.models.vae import decode_latents
from kinevid.pipelines import MoSAPipeline
from kinevid.pipelines.pipeline_mosa import NULL_PROMPT
from timing import best_seconds

GOAL_SECONDS = 60.0
PROMPT = "a man in a red shirt and blue trousers walks forward in a park"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_dir("mosa"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    pipeline = MoSAPipeline.from_pretrained(args.model)
    pipeline.set_progress_bar_config(disable=True)
    load_seconds = time.perf_counter() - start
    config = pipeline.config
    height, width, frames, steps = config.height, config.width, config.num_frames, config.num_inference_steps
    generator = torch.Generator().manual_seed(0)
    repeats = args.repeats

    with torch.no_grad():
        prompt_embeds = pipeline.encode_prompt(PROMPT)
        null_embeds = pipeline.encode_prompt(NULL_PROMPT)
        times = {"load pipeline": load_seconds}
        times["encode prompt"] = best_seconds(lambda: pipeline.encode_prompt(PROMPT), repeats)
        motion = pipeline.generate_motion(["a person walks forward"], frames, config.fps, generator)[0]
        times["structure (text -> motion)"] = best_seconds(
            lambda: pipeline.generate_motion(["a person walks forward"], frames, config.fps, generator), repeats
        )
        output = pipeline(PROMPT, motion=motion, num_inference_steps=1, output_type="latent", generator=generator)
        skeleton = output.skeleton_video
        latents = output.frames
        timestep = torch.tensor(500.0)
        times["one DiT call (guided batch)"] = best_seconds(
            lambda: pipeline.predict_velocity(
                latents, timestep, prompt_embeds, null_embeds, skeleton, config.guidance_scale, 1.0
            ),
            repeats,
        )
        times["denoising loop"] = (
            best_seconds(lambda: pipeline(PROMPT, motion=motion, output_type="latent", generator=generator), repeats)
            - times["encode prompt"]
        )
        times["VAE decode"] = best_seconds(lambda: decode_latents(pipeline.vae, latents), repeats)
        times["whole pipeline(prompt)"] = best_seconds(lambda: pipeline(PROMPT, generator=generator), repeats)

    reference = steps * times["one DiT call (guided batch)"]
    size = f"{height}x{width}, {frames} frames at {config.fps:g} fps"
    print(f"{args.model}: {size}, {steps} steps, {args.threads} thread(s)")
    for name, seconds in times.items():
        print(f"  {name:<30} {seconds:8.3f} s")
    print(
        f"  reference: {steps} steps x one DiT call = {reference:.3f} s; loop / reference = "
        f"{times['denoising loop'] / reference:.2f}"
    )
    total = times["load pipeline"] + times["whole pipeline(prompt)"]
    print(
        f"  load + generate = {total:.1f} s; / goal {GOAL_SECONDS:g} s = {total / GOAL_SECONDS:.2f} "
        f"({'met' if total < GOAL_SECONDS else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
