"""DenseTracker accuracy and cost on rendered mannequin clips, next to OpenCV pyramidal Lucas-Kanade.

Clips come from the synthetic-data builder (`kinevid.data.synth.synthesize_clip`: CMU motions, random
body, camera and scene) at `--size` pixels, 17 frames at 8 fps. The points the renderer sees in frame 0
are tracked through the clip by both trackers from their ground-truth frame-0 positions; accuracy is
scored against the renderer's surface tracks wherever the ground truth is visible (query frame
excluded). Cost is the wall time per tracked frame: the tracker without gradients, the tracker with
the backward pass the tracking loss needs, and LK (forward + backward check) as the reference.

Run: `.venv/bin/python benchmarks/bench_tracker.py` (`--clips 16 --size 64`; `--root DIR` for CMU).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from kinevid.data.cmu import CMUMocap
from kinevid.data.synth import SynthConfig, synthesize_clip
from kinevid.losses import DenseTracker, lucas_kanade_tracks, track_accuracy

TRIALS = ["02_01", "05_02", "13_29", "09_01", "16_15", "07_05", "35_17", "49_02", "86_04", "143_04"]


def _format(accuracy: dict[str, float]) -> str:
    within = "  ".join(f"<{key[7:-2]}px {value:.3f}" for key, value in accuracy.items() if key.startswith("within_"))
    return f"mean {accuracy['mean_px']:.3f} px  median {accuracy['median_px']:.3f} px  {within}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=16, help="rendered clips (default 16)")
    parser.add_argument("--size", type=int, default=64, help="frame side in pixels (default 64)")
    parser.add_argument("--points", type=int, default=64, help="surface points rendered per clip (default 64)")
    parser.add_argument("--seed", type=int, default=3, help="dataset seed")
    parser.add_argument("--root", default=None, help="CMU data directory")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    trials = CMUMocap(args.root, trial_ids=TRIALS, fps=8, min_frames=17)
    config = SynthConfig(
        num_clips=args.clips, num_frames=17, height=args.size, width=args.size,
        num_track_points=args.points, seed=args.seed,
    )  # fmt: skip
    tracker = DenseTracker()
    ours, ours_grad, lk, gt, scored, lk_visible = [], [], [], [], [], []
    seconds = {"ours": 0.0, "ours_with_backward": 0.0, "lk": 0.0}
    tracked_frames = 0
    for index in range(args.clips):
        clip, _ = synthesize_clip(trials, index, config)
        visible = clip["track_visibility"].astype(bool)
        queries = clip["tracks"][0, visible[0]]
        video = torch.tensor(clip["frames"], dtype=torch.float32).permute(3, 0, 1, 2)[None] / 127.5 - 1
        tracked_frames += config.num_frames - 1

        start = time.perf_counter()
        with torch.no_grad():
            ours.append(tracker(video, torch.tensor(queries)[None])[0])
        seconds["ours"] += time.perf_counter() - start

        start = time.perf_counter()
        pixels = video.clone().requires_grad_(True)
        tracker(pixels, torch.tensor(queries)[None]).sum().backward()
        seconds["ours_with_backward"] += time.perf_counter() - start
        ours_grad.append(float(pixels.grad.abs().sum()))

        start = time.perf_counter()
        lk_tracks, lk_vis = lucas_kanade_tracks(clip["frames"], queries)
        seconds["lk"] += time.perf_counter() - start
        lk.append(torch.tensor(lk_tracks))
        lk_visible.append(torch.tensor(lk_vis))

        gt.append(torch.tensor(clip["tracks"][:, visible[0]]))
        mask = torch.tensor(visible[:, visible[0]])
        mask[0] = False
        scored.append(mask)

    ours_all, lk_all, gt_all, scored_all = (torch.cat(x, dim=1) for x in (ours, lk, gt, scored))
    lk_vis_all = torch.cat(lk_visible, dim=1)
    num_points = gt_all.shape[1]
    print(f"{args.clips} clips, {args.size}x{args.size} px, 17 frames, {num_points} points, "
          f"{int(scored_all.sum())} scored positions; torch threads {torch.get_num_threads()}")  # fmt: skip
    print(f"DenseTracker          {_format(track_accuracy(ours_all, gt_all, scored_all))}")
    print(f"OpenCV LK (all)       {_format(track_accuracy(lk_all, gt_all, scored_all))}")
    both = scored_all & lk_vis_all
    print(
        f"on LK's kept points   ours: {_format(track_accuracy(ours_all, gt_all, both))}\n"
        f"                      LK:   {_format(track_accuracy(lk_all, gt_all, both))}\n"
        f"                      (LK keeps {float(both.sum() / scored_all.sum()):.1%} of the scored positions)"
    )
    points_per_clip = num_points / args.clips
    print(f"cost per tracked frame ({points_per_clip:.0f} points on average):")
    for name, total in seconds.items():
        per_frame = total / tracked_frames
        print(f"  {name:20s} {1000 * per_frame:8.2f} ms  ({per_frame / (seconds['lk'] / tracked_frames):6.1f}x LK)")
    print(f"  per point and frame: ours {1e6 * seconds['ours'] / tracked_frames / points_per_clip:.1f} us")
    assert np.isfinite(ours_grad).all() and min(ours_grad) > 0, "no gradient reached the pixels"
    print(f"cost per frame by point count ({args.size} px, 9 frames, best of 3):")
    for count in (64, 256):
        video = torch.rand(1, 3, 9, args.size, args.size, generator=torch.Generator().manual_seed(0)) * 2 - 1
        queries = torch.rand(1, count, 2, generator=torch.Generator().manual_seed(1)) * (args.size - 1)
        print(f"  {count:4d} points: forward {1000 * _best(tracker, video, queries, False) / 8:7.1f} ms, "
              f"forward + backward {1000 * _best(tracker, video, queries, True) / 8:7.1f} ms")  # fmt: skip


def _best(tracker: DenseTracker, video: torch.Tensor, queries: torch.Tensor, backward: bool, repeats: int = 3) -> float:
    """Best wall time (s) of one tracker call over a clip, with or without the backward pass."""
    times = []
    for _ in range(repeats):
        pixels = video.clone().requires_grad_(backward)
        start = time.perf_counter()
        with torch.set_grad_enabled(backward):
            tracks = tracker(pixels, queries)
            if backward:
                tracks.sum().backward()
        times.append(time.perf_counter() - start)
    return min(times)


if __name__ == "__main__":
    main()
