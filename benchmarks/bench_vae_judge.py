"""What the pose judge still sees after a video VAE: MediaPipe on held-out ground-truth renders and on the same
clips encoded and decoded by each VAE, measured in one run.

    .venv/bin/python benchmarks/bench_vae_judge.py [--vae DIR ...] [--checkpoint RUN/PHASE/checkpoints/step_N ...] \\
        [--data data/synth128v2_test] [--clips 8]

Every shipped video model draws in its VAE's latent space, so the judge's score on the ground truth through the
VAE is the ceiling of any pose score a model in that space can reach (issue 13's goals are ratios to the
ground-truth render's score). Printed per VAE: PCK@0.1, detection rate and mask IoU of MediaPipe Pose against
the renderer's keypoints and masks, the person-pixel PSNR, and each score as a ratio to the ground-truth
render's. Needs MediaPipe (`pip install kinevid[judge]`).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from bench_vae import vae_from_checkpoint
from kinevid.eval.video.generation import load_test_clips, vae_round_trip
from kinevid.eval.video.pose_judge import MediaPipePoseJudge, is_mediapipe_available, pose_following
from kinevid.models.vae import SHIPPED_VAE_DIR, load_video_vae

REPO = Path(__file__).resolve().parents[1]
SCORES = ("pck", "detection_rate", "mask_iou", "psnr_person")


def person_psnr(frames: np.ndarray, reference: np.ndarray, masks: np.ndarray) -> float:
    """PSNR (dB, peak 255) over the person's pixels."""
    error = (frames.astype(np.float64) - reference.astype(np.float64)) ** 2
    return float(10.0 * math.log10(255.0**2 / error[masks].mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vae", type=Path, nargs="*", default=None, help="AutoencoderKLWan directories")
    parser.add_argument("--checkpoint", type=Path, nargs="*", default=[], help="kinevid train vae checkpoints")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "synth128v2_test", help="held-out clips")
    parser.add_argument("--clips", type=int, default=8)
    args = parser.parse_args()
    if not is_mediapipe_available():
        sys.exit("bench_vae_judge: needs MediaPipe (pip install kinevid[judge]).")
    torch.set_num_threads(1)

    directories = args.vae if args.vae is not None else ([] if args.checkpoint else [SHIPPED_VAE_DIR])
    vaes = {str(path): load_video_vae(path) for path in directories}
    vaes.update({str(path): vae_from_checkpoint(path) for path in args.checkpoint})
    clips = load_test_clips(args.data, args.clips)
    judge = MediaPipePoseJudge()
    rows: dict[str, dict[str, list[float]]] = {name: {key: [] for key in SCORES} for name in ["ground truth", *vaes]}
    for clip in tqdm(clips, desc="clips"):
        videos = {"ground truth": clip.frames} | {name: vae_round_trip(vae, clip.frames) for name, vae in vaes.items()}
        for name, frames in videos.items():
            scores = pose_following(judge.estimate(frames), clip.keypoints_2d, clip.masks)
            scores["psnr_person"] = person_psnr(frames, clip.frames, clip.masks) if name != "ground truth" else math.inf
            for key in SCORES:
                rows[name][key].append(scores[key])

    mean = {name: {key: float(np.mean(values)) for key, values in row.items()} for name, row in rows.items()}
    ceiling = mean["ground truth"]
    print(f"{len(clips)} held-out clips of {clips[0].frames.shape} from {args.data}; MediaPipe Pose as the judge")
    print(f"{'':>44} {'PCK@0.1':>8} {'detected':>9} {'mask IoU':>9} {'person dB':>10} {'PCK / GT':>9} {'IoU / GT':>9}")
    for name, score in mean.items():
        print(f"{name[-44:]:>44} {score['pck']:8.3f} {score['detection_rate']:9.3f} {score['mask_iou']:9.3f} "
              f"{score['psnr_person']:10.2f} {score['pck'] / max(ceiling['pck'], 1e-9):9.3f} "
              f"{score['mask_iou'] / max(ceiling['mask_iou'], 1e-9):9.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
