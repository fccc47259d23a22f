"""EchoMotion cost next to Wan2.1: forward FLOPs at full size, block CPU time, training-step memory.

1. FLOPs of one forward pass of Wan2.1-T2V-1.3B and EchoMotion-1.3B (all 30 blocks dual) at 480x832,
   81 frames (32,760 video + 4,131 motion tokens, 512 text tokens), counted by
   `torch.utils.flop_counter.FlopCounterMode` on the meta device (no weights allocated), split into
   linear-layer FLOPs (`mm`, `addmm`, convolution) and attention FLOPs (the score and value products;
   on the meta device SDPA runs its math decomposition, whose two `bmm` per attention call the counter
   sees). Printed next to an analytical count of the design; the run fails (exit 1) when a measured
   count exceeds the analytical one by more than 2% (duplicated work, a second attention call, ...).
2. CPU time of one dual block (video + motion, one joint attention) vs one Wan block (video only) at
   a reduced width and token count with the same motion/video token ratio, next to their FLOP ratio.
3. Peak memory (resident set growth) of one stage-2 training step of a small EchoMotion model,
   with and without gradient checkpointing, each in a fresh subprocess.

Run: `.venv/bin/python benchmarks/bench_echomotion.py` (`--quick` for a smaller, faster run).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import torch
from diffusers import WanTransformer3DModel
from torch.utils.flop_counter import FlopCounterMode

from kinevid.diffusion.echomotion_training import EchoMotionTrainingConfig, echomotion_training_step
from kinevid.models.appearance import EchoMotionTransformer3DModel
from kinevid.models.rope import mvs_motion_positions, rotary_embedding_3d
from kinevid.motion.codecs.echomotion import MOTION_FEATURE_DIM, TOKENS_PER_FRAME
from timing import best_interleaved_seconds

WAN_1_3B = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 12,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 8960,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
}
TEXT_TOKENS = 512
ATTENTION_OPS = ("bmm", "scaled_dot_product")
TOLERANCE = 0.02


def one_block_config(heads: int) -> dict:
    """One Wan2.1-1.3B block narrowed to `heads` heads of 128 channels (FFN ratio kept), for CPU timings."""
    dim = heads * WAN_1_3B["attention_head_dim"]
    ffn_dim = round(dim * WAN_1_3B["ffn_dim"] / (WAN_1_3B["num_attention_heads"] * WAN_1_3B["attention_head_dim"]))
    return {**WAN_1_3B, "num_attention_heads": heads, "ffn_dim": ffn_dim, "num_layers": 1}


# ---------------------------------------------------------------------- 1. FLOPs
@dataclass
class FlopCount:
    linear: float
    attention: float

    @property
    def total(self) -> float:
        return self.linear + self.attention


def analytical_flops(
    video_tokens: int, motion_frames: int, with_motion: bool, config: dict = WAN_1_3B, text_tokens: int = TEXT_TOKENS
) -> FlopCount:
    """Multiply-accumulate count x 2 of every matrix product of one forward pass (batch 1)."""
    d = config["num_attention_heads"] * config["attention_head_dim"]
    f, layers, text_dim = config["ffn_dim"], config["num_layers"], config["text_dim"]
    patch = config["in_channels"] * 4  # (1, 2, 2) patch
    s_v, s_m, s_l = video_tokens, motion_frames * TOKENS_PER_FRAME, text_tokens

    def stream(tokens: int) -> float:  # one modality in one block: q k v o, cross q o, cross k v on text, FFN
        return 2 * (4 * tokens * d * d + 2 * tokens * d * d + 2 * s_l * d * d + 2 * tokens * d * f)

    def time_embedding() -> float:  # sinusoid -> Linear(256, D) -> Linear(D, D) -> Linear(D, 6D)
        return 2 * (config["freq_dim"] * d + d * d + 6 * d * d)

    linear = 2 * s_v * patch * d + 2 * s_l * (text_dim * d + d * d) + time_embedding() + 2 * s_v * d * patch
    linear += layers * stream(s_v)
    attention = layers * (4 * s_v * s_v * d + 4 * s_v * s_l * d)
    if with_motion:
        frames = motion_frames
        group_tokens_and_features = ((25 * frames, 3), (25 * frames, 6), (frames, 10))
        embed = sum(2 * n * (k * d + d * d) for n, k in group_tokens_and_features)
        head = sum(2 * n * (d * d + d * k) for n, k in group_tokens_and_features)
        task = 2 * 2 * d * d
        linear += embed + head + task + time_embedding() + layers * stream(s_m)
        s = s_v + s_m
        attention = layers * (4 * s * s * d + 4 * s * s_l * d)
    return FlopCount(linear, attention)


def measured_flops(model: torch.nn.Module, inputs: dict) -> FlopCount:
    """FLOPs of `model(**inputs)` by `FlopCounterMode`, split by operator."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(**inputs)
    by_op = {str(op): count for op, count in counter.get_flop_counts()["Global"].items()}
    attention = sum(count for op, count in by_op.items() if any(name in op for name in ATTENTION_OPS))
    return FlopCount(sum(by_op.values()) - attention, attention)


def flop_benchmark(num_frames: int, height: int, width: int) -> bool:
    latent_shape = (1, 16, (num_frames - 1) // 4 + 1, height // 8, width // 8)
    video_tokens = latent_shape[2] * (latent_shape[3] // 2) * (latent_shape[4] // 2)
    with torch.device("meta"):
        wan = WanTransformer3DModel(**WAN_1_3B)
        echomotion = EchoMotionTransformer3DModel(**WAN_1_3B)
        latents = torch.empty(latent_shape)
        text = torch.empty(1, TEXT_TOKENS, WAN_1_3B["text_dim"])
        motion = torch.empty(1, num_frames, MOTION_FEATURE_DIM)
        timestep = torch.full((1,), 500.0)
    video_inputs = {"hidden_states": latents, "timestep": timestep, "encoder_hidden_states": text}
    measured = {
        "Wan2.1-1.3B": measured_flops(wan, video_inputs),
        "EchoMotion-1.3B": measured_flops(
            echomotion, {**video_inputs, "motion_hidden_states": motion, "motion_timestep": timestep}
        ),
    }
    analytical = {
        "Wan2.1-1.3B": analytical_flops(video_tokens, num_frames, with_motion=False),
        "EchoMotion-1.3B": analytical_flops(video_tokens, num_frames, with_motion=True),
    }
    motion_tokens = num_frames * TOKENS_PER_FRAME
    print(
        f"\n## Forward FLOPs at {height}x{width}, {num_frames} frames: {video_tokens:,} video + "
        f"{motion_tokens:,} motion tokens (+{motion_tokens / video_tokens:.1%}), {TEXT_TOKENS} text tokens\n"
    )
    print("| model | count | linear TFLOPs | attention TFLOPs | total TFLOPs |")
    print("|---|---|---|---|---|")
    ok = True
    for name in measured:
        for kind, count in (("measured", measured[name]), ("analytical", analytical[name])):
            tflops = " | ".join(f"{value / 1e12:.2f}" for value in (count.linear, count.attention, count.total))
            print(f"| {name} | {kind} | {tflops} |")
        for part in ("linear", "attention"):
            excess = getattr(measured[name], part) / getattr(analytical[name], part) - 1
            if excess > TOLERANCE:
                print(f"FAIL: {name} {part} FLOPs exceed the analytical count by {excess:.2%}")
                ok = False
    wan_m, echo_m = measured["Wan2.1-1.3B"], measured["EchoMotion-1.3B"]
    wan_a, echo_a = analytical["Wan2.1-1.3B"], analytical["EchoMotion-1.3B"]
    print("\n| overhead of EchoMotion over Wan | measured | analytical |")
    print("|---|---|---|")
    for part in ("linear", "attention", "total"):
        print(
            f"| {part} | +{getattr(echo_m, part) / getattr(wan_m, part) - 1:.1%} "
            f"| +{getattr(echo_a, part) / getattr(wan_a, part) - 1:.1%} |"
        )
    ratio = max(m.total / a.total for m, a in zip(measured.values(), analytical.values(), strict=True))
    verdict = "ok" if ok else "FAIL"
    print(f"\nmeasured / analytical (worst model, total): {ratio:.4f} (limit {1 + TOLERANCE:.2f}) -> {verdict}")
    return ok


# ---------------------------------------------------------------------- 2. block CPU time
def block_timing(latent_frames: int, grid_h: int, grid_w: int, repeats: int) -> None:
    config = one_block_config(heads=3)
    head_dim = config["attention_head_dim"]
    dim = config["num_attention_heads"] * head_dim
    torch.manual_seed(0)
    model = EchoMotionTransformer3DModel(**config).eval()
    block = model.blocks[0]
    motion_frames = 4 * (latent_frames - 1) + 1
    s_v, s_m = latent_frames * grid_h * grid_w, motion_frames * TOKENS_PER_FRAME
    video = torch.randn(1, s_v, dim)
    motion = torch.randn(1, s_m, dim)
    text = torch.randn(1, TEXT_TOKENS, dim)
    temb = torch.randn(1, 6, dim)
    video_rope = model.rope(torch.empty(1, 16, latent_frames, 2 * grid_h, 2 * grid_w))
    motion_rope = rotary_embedding_3d(
        mvs_motion_positions(motion_frames, TOKENS_PER_FRAME, grid_h, grid_w, 4), head_dim
    )

    runs = {
        "wan": lambda: block(video, text, temb, video_rope),
        "dual": lambda: block(video, text, temb, video_rope, motion, temb, motion_rope),
    }
    times = best_interleaved_seconds(runs, repeats)
    wan_time, dual_time = times["wan"], times["dual"]
    reduced = {**config, "num_layers": 1}
    wan_flops = analytical_flops(s_v, motion_frames, False, reduced)
    dual_flops = analytical_flops(s_v, motion_frames, True, reduced)
    print(
        f"\n## One block on the CPU (width {dim}, {s_v:,} video + {s_m:,} motion tokens, "
        f"{torch.get_num_threads()} threads, best of {repeats} interleaved runs)\n"
    )
    print("| block | time (s) |")
    print("|---|---|")
    print(f"| Wan block (video only) | {wan_time:.3f} |")
    print(f"| dual block (video + motion) | {dual_time:.3f} |")
    print(
        f"\ntime ratio dual / Wan: {dual_time / wan_time:.3f} (FLOP ratio of the design at this size: "
        f"{dual_flops.total / wan_flops.total:.3f})"
    )


# ---------------------------------------------------------------------- 3. training-step memory
def _resident_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_worker(checkpointing: bool, quick: bool) -> dict:
    """One stage-2 training step; returns the peak resident-set growth during it (MiB)."""
    torch.manual_seed(0)
    config = {**WAN_1_3B, "num_attention_heads": 2, "ffn_dim": 1024, "num_layers": 4, "text_dim": 256}
    model = EchoMotionTransformer3DModel(**config).train()
    if checkpointing:
        model.enable_gradient_checkpointing()
    latent_frames, grid_h, grid_w = (2, 12, 16) if quick else (3, 20, 24)
    batch = {
        "latents": torch.randn(1, 16, latent_frames, 2 * grid_h, 2 * grid_w),
        "motion": torch.randn(1, 4 * (latent_frames - 1) + 1, MOTION_FEATURE_DIM),
        "encoder_hidden_states": torch.randn(1, 64, 256),
        "negative_encoder_hidden_states": torch.randn(64, 256),  # a null text of the right shape (cost only)
    }
    objective = EchoMotionTrainingConfig(task_probabilities=(1.0, 0.0, 0.0))

    def step() -> float:
        loss = echomotion_training_step(model, batch, 2, objective, torch.Generator().manual_seed(0))["loss"]
        loss.backward()
        return loss.item()

    step()  # warm-up: one-time allocations (kernels, thread pools) are not part of the step's cost
    model.zero_grad(set_to_none=True)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear:  # reset the peak (VmHWM) to the current RSS
        clear.write("5")
    before = _resident_kib("VmRSS")
    loss = step()
    peak = _resident_kib("VmHWM")
    return {"peak_growth_mib": (peak - before) / 1024, "loss": loss}


def memory_benchmark(quick: bool) -> None:
    results = {}
    for checkpointing in (False, True):
        command = [sys.executable, __file__, "--memory-worker", str(int(checkpointing))] + (
            ["--quick"] if quick else []
        )
        # A fixed mmap threshold makes glibc return every large tensor to the OS when it is freed, so
        # the resident set follows the live tensors (the default dynamic threshold keeps freed memory).
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
        output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
        results[checkpointing] = json.loads(output.strip().splitlines()[-1])
    print("\n## Training step memory (stage 2, joint task, one sample, CPU resident-set growth)\n")
    print("| gradient checkpointing | peak growth (MiB) |")
    print("|---|---|")
    for checkpointing, result in results.items():
        print(f"| {'on' if checkpointing else 'off'} | {result['peak_growth_mib']:.0f} |")
    ratio = results[True]["peak_growth_mib"] / results[False]["peak_growth_mib"]
    same_loss = results[True]["loss"] == results[False]["loss"]
    print(f"\ncheckpointing / no checkpointing: {ratio:.2f} (same loss: {same_loss})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller block timing and memory runs")
    parser.add_argument("--memory-worker", choices=("0", "1"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_worker is not None:
        print(json.dumps(memory_worker(args.memory_worker == "1", args.quick)))
        return
    ok = flop_benchmark(num_frames=81, height=480, width=832)
    if args.quick:
        block_timing(latent_frames=2, grid_h=23, grid_w=44, repeats=5)
    else:
        block_timing(latent_frames=3, grid_h=30, grid_w=40, repeats=7)
    memory_benchmark(args.quick)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
