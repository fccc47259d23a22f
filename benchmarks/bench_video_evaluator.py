"""The shipped text-video evaluator on held-out synthetic clips: video R-precision and FD-kinevid for real
renders against two degraded references measured in the same run.

    OMP_NUM_THREADS=1 python benchmarks/bench_video_evaluator.py [--test data/synth128v2_test]
        [--val data/synth128v2_val] [--evaluator DIR] [--output results.json]

Rows (R-precision top-1/2/3 among 32, mean and 95% interval over 20 seeded shuffles):

- real: each test render with its own caption;
- shuffled captions: the same renders with the captions permuted (chance is 1/32, 2/32, 3/32);
- mean frame: every frame of a render replaced by the clip's mean frame (colours kept, motion gone),
  with its own caption.

FD-kinevid: test renders vs val renders (the real-vs-real baseline: different clips, same distribution)
and mean-frame test videos vs the same val renders; the ratio says how far the degraded set lies.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from kinevid.data.paired import SyntheticPairedDataset
from kinevid.eval.video.retrieval import fd_kinevid, load_video_evaluator, video_r_precision
from kinevid.recipes.vae import SyntheticClipFrames

TOP_K = ("r_precision_top1", "r_precision_top2", "r_precision_top3")


def load_clips(root: Path) -> tuple[list[tuple[np.ndarray, float]], list[str]]:
    """Every clip of a synthetic dataset as `(frames (T, H, W, 3) uint8, fps)` and its caption."""
    frames, captions = SyntheticClipFrames(root), SyntheticPairedDataset(root)
    clips = [(frames.frames(i), captions.fps) for i in range(len(captions))]
    return clips, [captions.info(i)["caption"] for i in range(len(captions))]


def mean_frame_video(frames: np.ndarray) -> np.ndarray:
    """`(T, H, W, 3)` uint8 -> the same shape with every frame the clip's mean frame."""
    mean = np.round(frames.astype(np.float64).mean(axis=0)).astype(np.uint8)
    return np.broadcast_to(mean, frames.shape).copy()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=Path, default=Path("data/synth128v2_test"), help="held-out clips")
    parser.add_argument("--val", type=Path, default=Path("data/synth128v2_val"), help="reference clips for FD")
    parser.add_argument("--evaluator", type=Path, default=None, help="video evaluator directory (default: shipped)")
    parser.add_argument("--output", type=Path, default=None, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    start = time.perf_counter()
    evaluator = load_video_evaluator(args.evaluator)
    test_clips, test_captions = load_clips(args.test)
    val_clips, _ = load_clips(args.val)
    mean_clips = [(mean_frame_video(frames), fps) for frames, fps in test_clips]

    text = evaluator.embed_texts(test_captions)
    real = evaluator.embed_frames(test_clips)
    mean = evaluator.embed_frames(mean_clips)
    val = evaluator.embed_frames(val_clips)
    permutation = torch.randperm(len(text), generator=torch.Generator().manual_seed(0))

    rows = {
        "real renders, own captions": video_r_precision(text, real),
        "real renders, shuffled captions": video_r_precision(text[permutation], real),
        "mean-frame videos, own captions": video_r_precision(text, mean),
    }
    fd_real = fd_kinevid(real, val)
    fd_mean = fd_kinevid(mean, val)
    seconds = time.perf_counter() - start

    print(f"{len(test_clips)} test clips ({args.test}), {len(val_clips)} val clips ({args.val}); {seconds:.0f} s")
    print(f"{'R-precision (20 shuffles, 95% interval)':42s} {'top-1':>15s} {'top-2':>15s} {'top-3':>15s}")
    for name, (means, intervals) in rows.items():
        cells = [
            f"{means[k]:.3f} ± {intervals[k]:.3f}" for k in ("r_precision_top1", "r_precision_top2", "r_precision_top3")
        ]
        print(f"{name:42s} {cells[0]:>15s} {cells[1]:>15s} {cells[2]:>15s}")
    print(f"{'chance':42s} {1 / 32:15.3f} {2 / 32:15.3f} {3 / 32:15.3f}")
    print(f"FD-kinevid test renders vs val renders (real-vs-real baseline): {fd_real:.4f}")
    print(f"FD-kinevid mean-frame test videos vs val renders: {fd_mean:.4f} ({fd_mean / fd_real:.1f}x the baseline)")

    results = {
        "test_clips": len(test_clips),
        "val_clips": len(val_clips),
        "r_precision": {name: {"mean": means, "interval_95": intervals} for name, (means, intervals) in rows.items()},
        "fd_kinevid": {"test_vs_val": fd_real, "mean_frame_test_vs_val": fd_mean, "ratio": fd_mean / fd_real},
        "seconds": seconds,
    }
    if args.output is not None:
        args.output.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
