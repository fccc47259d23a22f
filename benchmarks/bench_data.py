"""Paired-data throughput: synthetic clips rendered per second, clips cached per second (VAE + text encoder),
real-video estimates per second, and training items read per second from a latent cache vs pixels.

    .venv/bin/python benchmarks/bench_data.py [--quick] [--size 128] [--frames 17]

References measured in the same run:
- synthesis against rendering alone (mannequin + skeleton maps, no captions, depth or packing);
- caching against the VAE encode alone of the same clips (what text, pooling and shard writing add);
- reading a cache against reading the pixel dataset *and* encoding it with the VAE, the work a training step
  would otherwise repeat for every item.
The VAE has the shipped configuration (`configs/vae_synth.json`) with random weights (speed does not depend
on the weights).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKLWan

from kinevid.data.cache import LatentCacheDataset, build_latent_cache
from kinevid.data.cmu import CMUMocap, find_cmu_root
from kinevid.data.paired import SyntheticPairedDataset
from kinevid.data.real_video import estimate_person_masks, track_query_points
from kinevid.data.synth import SynthConfig, build_synthetic_dataset, clip_generator, synthesize_clip
from kinevid.losses.lucas_kanade import lucas_kanade_tracks
from kinevid.models.vae import encode_video
from kinevid.render import render_mannequin, render_skeleton_maps, sample_camera, sample_scene
from kinevid.text import load_text_encoder

REPO_ROOT = Path(__file__).resolve().parents[1]


def rate(count: int, seconds: float) -> float:
    return count / max(seconds, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer clips (smoke run)")
    parser.add_argument("--size", type=int, default=128, help="clip height and width (default: 128)")
    parser.add_argument("--frames", type=int, default=17, help="frames per clip (default: 17)")
    parser.add_argument("--cmu-root", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    clips = 4 if args.quick else 16
    trials = CMUMocap(find_cmu_root(args.cmu_root), split="train", fps=8, min_frames=args.frames)
    config = SynthConfig(num_clips=clips, clips_per_shard=8, num_frames=args.frames, height=args.size,
                         width=args.size, num_track_points=64, split="train")  # fmt: skip
    print(f"{clips} clips of {args.frames} frames at {args.size}x{args.size}; torch threads 1")
    print(f"{'what':<52}{'clips/s':>10}{'reference':>11}{'ratio':>8}")

    # Rendering alone (the reference): the same trials, bodies and cameras, no captions or packing.
    start = time.perf_counter()
    for index in range(clips):
        generator = clip_generator(config.seed, index)
        motion = trials[int(torch.randint(len(trials), (), generator=generator))].motion.slice(0, args.frames)
        camera = sample_camera(motion.joints, args.size, args.size, generator)
        render_mannequin(motion, camera, sample_scene(generator), num_track_points=64)
        render_skeleton_maps(motion.joints, camera)
    render_rate = rate(clips, time.perf_counter() - start)
    start = time.perf_counter()
    for index in range(clips):
        synthesize_clip(trials, index, config)
    synth_rate = rate(clips, time.perf_counter() - start)
    print(f"{'synthetic clips v2 (render + depth + captions)':<52}{synth_rate:>10.2f}{render_rate:>11.2f}"
          f"{synth_rate / render_rate:>8.2f}")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dataset = SyntheticPairedDataset(build_synthetic_dataset(trials, tmp / "synth", config, show_progress=False))
        vae_config = json.loads((REPO_ROOT / "configs" / "vae_synth.json").read_text())["model"]
        torch.manual_seed(0)
        vae = AutoencoderKLWan(**vae_config).eval()
        text_encoder = load_text_encoder("minilm")

        start = time.perf_counter()
        with torch.no_grad():
            for index in range(clips):
                encode_video(vae, dataset[index]["video"][None])
        encode_rate = rate(clips, time.perf_counter() - start)
        start = time.perf_counter()
        build_latent_cache(dataset, tmp / "cache", vae, text_encoder, "minilm", clips_per_shard=8, batch_size=1,
                           show_progress=False)  # fmt: skip
        cache_rate = rate(clips, time.perf_counter() - start)
        print(f"{'latent cache (VAE + MiniLM + pooling + shards)':<52}{cache_rate:>10.2f}{encode_rate:>11.2f}"
              f"{cache_rate / encode_rate:>8.2f}")  # fmt: skip

        cache = LatentCacheDataset(tmp / "cache")
        start = time.perf_counter()
        for _ in range(3):
            for index in range(clips):
                cache[index]
        read_rate = rate(3 * clips, time.perf_counter() - start)
        start = time.perf_counter()
        with torch.no_grad():
            for index in range(clips):
                encode_video(vae, dataset[index]["video"][None])
        pixel_rate = rate(clips, time.perf_counter() - start)
        print(f"{'training items read from the cache':<52}{read_rate:>10.1f}{pixel_rate:>11.2f}"
              f"{read_rate / pixel_rate:>8.0f}")  # fmt: skip

        start = time.perf_counter()
        for index in range(clips):
            frames = dataset.arrays(index)["frames"]
            masks = estimate_person_masks(frames)
            lucas_kanade_tracks(frames, track_query_points(frames[0], masks[0], 64))
        estimate_rate = rate(clips, time.perf_counter() - start)
        print(f"{'real-video estimates (masks + LK tracks)':<52}{estimate_rate:>10.2f}")
        shard_bytes = sum(p.stat().st_size for p in (tmp / "cache").glob("*.safetensors")) / clips
        pixel_bytes = sum(p.stat().st_size for p in (tmp / "synth").glob("*.safetensors")) / clips
        print(f"bytes per clip: cache {shard_bytes / 1e6:.2f} MB, synthetic pixels {pixel_bytes / 1e6:.2f} MB "
              f"(latents alone {np.prod(cache[0]['latents'].shape) * 4 / 1e6:.3f} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
