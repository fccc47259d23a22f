"""Video metrics: time per 17-frame video of each metric (as a ratio to decoding the video, measured
in the same run), and the MediaPipe pose judge's ceiling on ground-truth mannequin renders.

Ceiling: mannequin clips of the held-out CMU test subjects (random cameras and scenes, 17 frames at
8 fps), each video judged against its own projected joints (the best a generated video can
score) and against wrong conditions: another clip (another motion, camera and place), the same motion 4 frames
(0.5 s) late, and the left/right-swapped skeleton. PCK@0.1 and @0.2 per clip, detection rate and
mask IoU, mean ± 95% interval over clips.

Run: `.venv/bin/python benchmarks/bench_video_metrics.py` (`--clips N` for the ceiling, default 32;
`--sizes 64 128 256`; `--skip-ceiling`; `--skip-timing`).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from kinevid.body import COCO18_NAMES
from kinevid.data.cmu import CMUMocap
from kinevid.data.synth import SynthConfig, synthesize_clip
from kinevid.eval.metrics import mean_and_interval
from kinevid.eval.video.amt import AMT, AmtInterpolator
from kinevid.eval.video.flow import dis_flow, flow_warp_interpolate
from kinevid.eval.video.fvd import I3DFeatureExtractor, preprocess_for_i3d
from kinevid.eval.video.i3d import InceptionI3d
from kinevid.eval.video.pose_judge import MediaPipePoseJudge, is_mediapipe_available, pose_following
from kinevid.eval.video.raft import RAFT, RaftFlow
from kinevid.eval.video.vbench import dynamic_degree_is_dynamic, motion_smoothness
from kinevid.render.video import read_video, write_video
from timing import best_seconds

LATE_FRAMES = 4  # 0.5 s at 8 fps


def timing(trials, size: int) -> None:
    arrays, _ = synthesize_clip(trials, 0, SynthConfig(num_frames=17, height=size, width=size, fps=8.0))
    frames = arrays["frames"]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "clip.mp4"
        write_video(frames, path, fps=8)
        decode = best_seconds(lambda: read_video(path))
    rows = [
        ("dynamic_degree_dis (16 DIS flows)", lambda: dynamic_degree_is_dynamic(frames, 8.0, dis_flow)),
        ("motion_smoothness_flowwarp (8 x 2 DIS flows)", lambda: motion_smoothness(frames, flow_warp_interpolate)),
    ]
    raft = RaftFlow(RAFT())  # random weights: the cost is the same as raft-things.pth
    rows.append(("dynamic_degree (16 RAFT flows, 20 iterations)", lambda: dynamic_degree_is_dynamic(frames, 8.0, raft)))
    amt = AmtInterpolator(AMT())  # random weights: the cost is the same as amt-s.pth
    rows.append(("motion_smoothness (8 AMT-S interpolations)", lambda: motion_smoothness(frames, amt)))
    pair = [cv2.resize(frame, (256, 256), interpolation=cv2.INTER_LINEAR) for frame in frames[:3:2]]
    rows.append(("AMT-S, one 256x256 frame pair", lambda: amt(*pair)))
    i3d = I3DFeatureExtractor(InceptionI3d(), is_torchscript=False)
    rows.append(("FVD features, I3D full size, 16 x 224^2", lambda: i3d.features(preprocess_for_i3d(frames)[None])))
    if is_mediapipe_available():
        judge = MediaPipePoseJudge()
        rows.append(("pose judge (MediaPipe, video mode)", lambda: judge.estimate(frames)))
    print(f"\nTime per 17-frame {size}x{size} video (best of 3), torch threads {torch.get_num_threads()}")
    print(f"  reference: decode the mp4 {decode * 1000:8.1f} ms")
    for name, function in rows:
        seconds = best_seconds(function, repeats=1 if any(n in name for n in ("I3D", "RAFT", "AMT")) else 3)
        print(f"  {name:48s} {seconds * 1000:8.1f} ms  ({seconds / decode:6.1f}x decode)")


def _swap_sides(keypoints: np.ndarray) -> np.ndarray:
    """COCO-18 keypoints with left and right labels exchanged (a mirrored skeleton in the same place)."""
    swapped = []
    for name in COCO18_NAMES:
        other = name.replace("left", "RIGHT").replace("right", "left").replace("RIGHT", "right")
        swapped.append(COCO18_NAMES.index(other))
    return keypoints[:, swapped]


def ceiling(trials, size: int, num_clips: int) -> None:
    config = SynthConfig(num_frames=17, height=size, width=size, fps=8.0, seed=0)
    judge = MediaPipePoseJudge()
    clips = [synthesize_clip(trials, index, config)[0] for index in range(num_clips)]
    runs: dict[str, list[dict[str, float]]] = {"correct": [], "another clip": [], "0.5 s late": [], "mirrored": []}
    for index, arrays in enumerate(clips):
        with tempfile.TemporaryDirectory() as directory:  # judge what a user would: the decoded mp4
            path = Path(directory) / "clip.mp4"
            write_video(arrays["frames"], path, fps=8)
            estimate = judge.estimate(read_video(path))
        keypoints, masks = arrays["keypoints_2d"], arrays["masks"].astype(bool)
        correct = pose_following(estimate, keypoints, masks)
        correct["pck@0.2"] = pose_following(estimate, keypoints, alpha=0.2)["pck"]
        runs["correct"].append(correct)
        other = clips[(index + 1) % num_clips]
        runs["another clip"].append(pose_following(estimate, other["keypoints_2d"], other["masks"]))
        late = np.concatenate([np.repeat(keypoints[:1], LATE_FRAMES, axis=0), keypoints[:-LATE_FRAMES]])
        runs["0.5 s late"].append(pose_following(estimate, late))
        runs["mirrored"].append(pose_following(estimate, _swap_sides(keypoints)))
    print(f"\nPose judge at {size} px, {num_clips} mannequin clips (CMU test subjects), mean ± 95% interval over clips")
    for condition, scores in runs.items():
        means, intervals = mean_and_interval(
            [{k: v for k, v in s.items() if not k.startswith("pck/") and np.isfinite(v)} for s in scores]
        )
        text = ", ".join(f"{k} {means[k]:.3f} ± {intervals.get(k, float('nan')):.3f}" for k in means)
        print(f"  {condition:13s} {text}")
    per_joint = {
        name.removeprefix("pck/"): np.nanmean([s[name] for s in runs["correct"]])
        for name in runs["correct"][0]
        if name.startswith("pck/")
    }
    print("  PCK@0.1 per joint (correct): " + ", ".join(f"{k} {v:.2f}" for k, v in per_joint.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=32, help="mannequin clips for the ceiling")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128], help="frame sizes for the ceiling")
    parser.add_argument("--skip-ceiling", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    trials = CMUMocap(split="test", fps=8, min_frames=17)
    if not args.skip_timing:
        timing(trials, 128)
    if not args.skip_ceiling:
        if not is_mediapipe_available():
            print("\nceiling skipped: MediaPipe is not installed (see pip install kinevid[judge]).")
            return
        for size in args.sizes:
            ceiling(trials, size, args.clips)


if __name__ == "__main__":
    main()
