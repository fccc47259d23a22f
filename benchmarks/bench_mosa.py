"""MoSA's cost next to Wan2.1: forward FLOPs at full size, the skeleton encoder's options, HADC CPU time.

1. FLOPs of one forward pass of Wan2.1-T2V-1.3B and of MoSA on it with an HADC site after every one
   of the 30 blocks, at 480x832, 81 frames (32,760 video tokens, 512 text tokens), counted by
   `torch.utils.flop_counter.FlopCounterMode` on the meta device (no weights allocated). Split into
   linear FLOPs (`mm`, `addmm`, convolution), attention FLOPs (on the meta device SDPA runs its math
   decomposition, whose two `bmm` per call the counter sees) and HADC FLOPs (everything inside the
   `hadc` sites and the `skeleton_encoder`), each next to an analytical count; the run fails (exit 1)
   when a measured part differs from its analytical count by more than 2%. HADC's share of Wan's
   FLOPs is the figure to keep small (goal: under 8%).
2. The skeleton encoder's options at the same size: our Conv3d patch encoder vs the video VAE's
   encoder (Wan2.1's VAE, and kinevid's small VAE of `configs/vae_synth.json`), FLOPs on the meta
   device, and CPU time at 17 x 128 x 128.
3. CPU time of one HADC site vs one Wan block at a reduced width and token count, next to their
   FLOP ratio.

Run: `.venv/bin/python benchmarks/bench_mosa.py` (`--quick` for fewer timing repeats).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from torch.utils.flop_counter import FlopCounterMode

from bench_echomotion import TEXT_TOKENS, WAN_1_3B, FlopCount, analytical_flops, one_block_config
from kinevid.models.appearance import MoSAWanTransformer3DModel, SkeletonEncoder
from kinevid.models.vae import latent_shape, tiny_vae_config
from timing import best_interleaved_seconds

ATTENTION_OPS = ("bmm", "scaled_dot_product")
TOLERANCE = 0.02
KINEVID_VAE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "vae_synth.json"


# ---------------------------------------------------------------------- analytical counts
def analytical_encoder_flops(num_frames: int, height: int, width: int, dims=(32, 64, 128), channels: int = 3) -> float:
    """FLOPs of `SkeletonEncoder`: conv_in (4, 4, 4), conv_down (1, 3, 3) stride 2, conv_patch (1, 2, 2)."""
    frames, latent_h, latent_w = latent_shape(num_frames, height, width)
    conv_in = 2 * frames * (2 * latent_h) * (2 * latent_w) * channels * 64 * dims[0]
    conv_down = 2 * frames * latent_h * latent_w * dims[0] * 9 * dims[1]
    conv_patch = 2 * frames * (latent_h // 2) * (latent_w // 2) * dims[1] * 4 * dims[2]
    return conv_in + conv_down + conv_patch


def analytical_site_flops(tokens: int, dim: int, skeleton_dim: int = 128, hidden_dim: int | None = None) -> float:
    """FLOPs of one HADC site: S (C_t -> D), P's W_a (D -> r), W_t (C_t -> r), W_o (r -> D), U (D -> 4)."""
    r = hidden_dim or dim // 4
    return 2 * tokens * (skeleton_dim * dim + dim * r + skeleton_dim * r + r * dim + dim * 4)


# ---------------------------------------------------------------------- 1. FLOPs at Wan2.1-1.3B size
def measured_flops(model: torch.nn.Module, inputs: dict) -> tuple[FlopCount, float]:
    """`(backbone FLOPs split linear / attention, MoSA FLOPs)` of `model(**inputs)` by `FlopCounterMode`."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(**inputs)
    counts = counter.get_flop_counts()
    root = type(model).__name__
    mosa = {op: 0 for op in counts["Global"]}
    for name, by_op in counts.items():
        parts = name.split(".")  # the encoder, and each site `hadc.k` (the ModuleList itself is never called)
        if parts == [root, "skeleton_encoder"] or (len(parts) == 3 and parts[:2] == [root, "hadc"]):
            for op, count in by_op.items():
                mosa[op] += count
    attention = sum(count for op, count in counts["Global"].items() if any(a in str(op) for a in ATTENTION_OPS))
    total = sum(counts["Global"].values())
    hadc = sum(mosa.values())
    return FlopCount(total - attention - hadc, attention), hadc


def flop_benchmark(num_frames: int, height: int, width: int) -> tuple[bool, float]:
    frames, latent_h, latent_w = latent_shape(num_frames, height, width)
    video_tokens = frames * (latent_h // 2) * (latent_w // 2)
    dim = WAN_1_3B["num_attention_heads"] * WAN_1_3B["attention_head_dim"]
    with torch.device("meta"):
        wan = WanTransformer3DModel(**WAN_1_3B)
        mosa = MoSAWanTransformer3DModel(**WAN_1_3B)
        inputs = {
            "hidden_states": torch.empty(1, 16, frames, latent_h, latent_w),
            "timestep": torch.full((1,), 500.0),
            "encoder_hidden_states": torch.empty(1, TEXT_TOKENS, WAN_1_3B["text_dim"]),
        }
        skeleton = torch.empty(1, 3, num_frames, height, width)
    wan_measured, wan_extra = measured_flops(wan, inputs)
    mosa_measured, hadc_measured = measured_flops(mosa, {**inputs, "skeleton_video": skeleton})
    assert wan_extra == 0
    wan_analytical = analytical_flops(video_tokens, num_frames, with_motion=False)
    num_sites = len(mosa.hadc)
    encoder_flops = analytical_encoder_flops(num_frames, height, width)
    site_flops = analytical_site_flops(video_tokens, dim)
    hadc_analytical = encoder_flops + num_sites * site_flops

    print(
        f"\n## Forward FLOPs at {height}x{width}, {num_frames} frames: {video_tokens:,} video tokens, "
        f"{TEXT_TOKENS} text tokens, HADC after each of the {num_sites} blocks (hidden width {dim // 4})\n"
    )
    print("| model | count | linear TFLOPs | attention TFLOPs | HADC TFLOPs | total TFLOPs |")
    print("|---|---|---|---|---|---|")
    rows = [
        ("Wan2.1-1.3B", "measured", wan_measured, 0.0),
        ("Wan2.1-1.3B", "analytical", wan_analytical, 0.0),
        ("MoSA-Wan-1.3B", "measured", mosa_measured, hadc_measured),
        ("MoSA-Wan-1.3B", "analytical", wan_analytical, hadc_analytical),
    ]
    for name, kind, count, hadc in rows:
        values = (count.linear, count.attention, hadc, count.total + hadc)
        print(f"| {name} | {kind} | " + " | ".join(f"{value / 1e12:.3f}" for value in values) + " |")

    ok = True
    checks = {
        "Wan linear": (wan_measured.linear, wan_analytical.linear),
        "Wan attention": (wan_measured.attention, wan_analytical.attention),
        "MoSA backbone linear": (mosa_measured.linear, wan_analytical.linear),
        "MoSA attention": (mosa_measured.attention, wan_analytical.attention),
        "HADC": (hadc_measured, hadc_analytical),
    }
    print("\n| part | measured / analytical |")
    print("|---|---|")
    for part, (measured, analytical) in checks.items():
        ratio = measured / analytical
        print(f"| {part} | {ratio:.4f} |")
        if abs(ratio - 1) > TOLERANCE:
            print(f"FAIL: {part} FLOPs differ from the analytical count by {ratio - 1:+.2%}")
            ok = False
    share = hadc_measured / wan_measured.total
    mosa_ratio = (mosa_measured.total + hadc_measured) / wan_measured.total
    print(
        f"\nHADC share of Wan's forward FLOPs: {share:.2%} measured ({hadc_analytical / wan_analytical.total:.2%} "
        f"analytical; goal < 8%): {num_sites} sites x {site_flops / 1e9:.1f} GFLOPs + skeleton encoder "
        f"{encoder_flops / 1e9:.1f} GFLOPs; MoSA / Wan total: {mosa_ratio:.4f}"
    )
    return ok and share < 0.08, wan_measured.total


# ---------------------------------------------------------------------- 2. skeleton encoder options
def _vae_configs() -> dict[str, dict]:
    configs = {"Wan2.1 VAE (AutoencoderKLWan defaults)": {}}
    if KINEVID_VAE_CONFIG.exists():
        configs["kinevid VAE (configs/vae_synth.json)"] = json.loads(KINEVID_VAE_CONFIG.read_text())["model"]
    configs["tiny test VAE (tiny_vae_config)"] = tiny_vae_config()
    return configs


def _count(run: Callable[[], object]) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        run()
    return float(sum(counter.get_flop_counts()["Global"].values()))


def encoder_benchmark(num_frames: int, height: int, width: int, wan_flops: float, repeats: int) -> None:
    with torch.device("meta"):
        video = torch.empty(1, 3, num_frames, height, width)
        encoders = {"SkeletonEncoder (Conv3d patch encoder)": SkeletonEncoder()}
        encoders.update({name: AutoencoderKLWan(**config) for name, config in _vae_configs().items()})
    flops = {}
    for name, encoder in encoders.items():
        flops[name] = _count(lambda e=encoder: e(video) if isinstance(e, SkeletonEncoder) else e._encode(video))
    print(f"\n## Skeleton encoder options at {height}x{width}, {num_frames} frames (FLOPs on the meta device)\n")
    print("| encoder | TFLOPs | / Wan2.1-1.3B forward | / SkeletonEncoder |")
    print("|---|---|---|---|")
    ours = flops["SkeletonEncoder (Conv3d patch encoder)"]
    for name, count in flops.items():
        print(f"| {name} | {count / 1e12:.4f} | {count / wan_flops:.3%} | {count / ours:.1f}x |")

    small = (17, 128, 128)
    torch.manual_seed(0)
    video = torch.rand(1, 3, *small) * 2 - 1
    ours = SkeletonEncoder().eval()
    vaes = {name: AutoencoderKLWan(**config).eval() for name, config in list(_vae_configs().items())[1:]}
    runs = {"SkeletonEncoder": lambda: ours(video)}
    runs.update({name: lambda v=vae: v._encode(video) for name, vae in vaes.items()})
    times = best_interleaved_seconds(runs, repeats)
    print(
        f"\nCPU time at {small[1]}x{small[2]}, {small[0]} frames ({torch.get_num_threads()} threads, best of "
        f"{repeats} interleaved runs):\n"
    )
    print("| encoder | time (ms) | / SkeletonEncoder |")
    print("|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds * 1e3:.1f} | {seconds / times['SkeletonEncoder']:.1f}x |")


# ---------------------------------------------------------------------- 3. CPU time: HADC site vs Wan block
def site_timing(latent_frames: int, grid_h: int, grid_w: int, repeats: int) -> None:
    config = one_block_config(heads=6)
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    torch.manual_seed(0)
    model = MoSAWanTransformer3DModel(**config).eval()
    tokens = latent_frames * grid_h * grid_w
    hidden_states = torch.randn(1, tokens, dim)
    text = torch.randn(1, TEXT_TOKENS, dim)
    temb = torch.randn(1, 6, dim)
    rotary_emb = model.rope(torch.empty(1, 16, latent_frames, 2 * grid_h, 2 * grid_w))
    skeleton_tokens = torch.randn(1, tokens, model.skeleton_encoder.out_dim)
    block, site = model.blocks[0], model.hadc[0]
    times = best_interleaved_seconds(
        {
            "Wan block": lambda: block(hidden_states, text, temb, rotary_emb),
            "HADC site": lambda: site(hidden_states, skeleton_tokens),
        },
        repeats,
    )
    block_flops = analytical_flops(tokens, 1, False, config)
    embedding_flops = analytical_flops(tokens, 1, False, {**config, "num_layers": 0})
    block_flops = block_flops.total - embedding_flops.total
    site_flops = analytical_site_flops(tokens, dim)
    print(
        f"\n## One HADC site vs one Wan block on the CPU (width {dim}, {tokens:,} video tokens, {TEXT_TOKENS} text "
        f"tokens, {torch.get_num_threads()} threads, best of {repeats} interleaved runs)\n"
    )
    print("| module | time (ms) | GFLOPs |")
    print("|---|---|---|")
    print(f"| Wan block | {times['Wan block'] * 1e3:.1f} | {block_flops / 1e9:.2f} |")
    print(f"| HADC site | {times['HADC site'] * 1e3:.1f} | {site_flops / 1e9:.2f} |")
    print(
        f"\ntime ratio HADC site / Wan block: {times['HADC site'] / times['Wan block']:.3f} "
        f"(FLOP ratio: {site_flops / block_flops:.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timing repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    ok, wan_flops = flop_benchmark(num_frames=81, height=480, width=832)
    encoder_benchmark(81, 480, 832, wan_flops, repeats)
    site_timing(latent_frames=2, grid_h=15, grid_w=26, repeats=repeats)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
