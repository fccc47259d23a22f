"""Rendering speed: skeleton maps and mannequin frames per second, data synthesis clips per minute.

    .venv/bin/python benchmarks/bench_render.py [--quick]

Targets (issue 3): skeleton maps >= 1,000 frames/s and mannequin >= 30 frames/s at 256x256 on the
CPU. The mannequin is also timed against a brute-force reference measured in the same run (every
pixel's ray tested against every capsule, no screen-space boxes), to show what the boxes buy.
"""

from __future__ import annotations

import argparse
import time
import timeit
from pathlib import Path

import numpy as np
import torch

from kinevid.data.cmu import CMUMocap, find_cmu_root
from kinevid.data.synth import SynthConfig, synthesize_clip
from kinevid.motion import Motion
from kinevid.render import mannequin as mannequin_module
from kinevid.render import render_mannequin, render_skeleton_maps, sample_camera

MAPS_TARGET = 1000.0
MANNEQUIN_TARGET = 30.0


def timed(function, repeats: int) -> float:
    """Best wall time of `repeats` calls (seconds)."""
    return min(timeit.repeat(function, repeat=repeats, number=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer frames and repeats (smoke run)")
    parser.add_argument("--cmu-root", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats = 1 if args.quick else 3
    trials = CMUMocap(
        find_cmu_root(args.cmu_root), trial_ids=["02_01", "05_02", "13_29", "16_15"], fps=8, min_frames=17
    )
    motion: Motion = trials[0].motion.to(dtype=torch.float32)
    num_frames = min(motion.num_frames, 8 if args.quick else 32)
    motion = motion.slice(0, num_frames)
    print(f"motion: {trials.trial_ids[0]}, {num_frames} frames; torch threads 1")
    print(f"{'what':<34}{'size':>8}{'frames/s':>12}{'target':>9}{'ratio':>8}")

    for size in (64, 256):
        camera = sample_camera(motion.joints, size, size, torch.Generator().manual_seed(0))
        many = motion.joints.repeat(200 if args.quick else 1000 // num_frames + 1, 1, 1)
        seconds = timed(lambda: render_skeleton_maps(many, camera), repeats)  # noqa: B023
        rate = len(many) / seconds
        target = f"{MAPS_TARGET:>9.0f}{rate / MAPS_TARGET:>8.2f}" if size == 256 else ""
        print(f"{'skeleton maps':<34}{size:>8}{rate:>12.0f}{target}")

        seconds = timed(lambda: render_mannequin(motion, camera, num_track_points=256), repeats)  # noqa: B023
        rate = num_frames / seconds
        target = f"{MANNEQUIN_TARGET:>9.0f}{rate / MANNEQUIN_TARGET:>8.2f}" if size == 256 else ""
        print(f"{'mannequin (+256 tracks)':<34}{size:>8}{rate:>12.1f}{target}")

        screen_boxes = mannequin_module._FrameRenderer.screen_boxes

        def full_image(self, starts, ends):
            return np.broadcast_to(np.array([0, self.camera.height, 0, self.camera.width]), (*starts.shape[:2], 4))

        mannequin_module._FrameRenderer.screen_boxes = full_image
        try:
            reference = num_frames / timed(lambda: render_mannequin(motion, camera, num_track_points=256), 1)  # noqa: B023
        finally:
            mannequin_module._FrameRenderer.screen_boxes = screen_boxes
        print(f"{'  reference: no screen boxes':<34}{size:>8}{reference:>12.1f}{'':>9}{rate / reference:>8.2f}")

    config = SynthConfig()
    clips = 3 if args.quick else 12
    start = time.perf_counter()
    for index in range(clips):
        synthesize_clip(trials, index, config)
    per_minute = clips / (time.perf_counter() - start) * 60
    print(f"data synthesis ({config.num_frames} frames, {config.height}x{config.width}): {per_minute:.0f} clips/minute")
    frames = np.stack([synthesize_clip(trials, 0, config)[0]["frames"]])
    print(f"clip bytes (frames only): {frames.nbytes}")


if __name__ == "__main__":
    main()
