"""CMU set load-and-retarget time: all 2,514 trials read, retargeted onto SMPL-24, solved by
inverse kinematics and canonicalised (target < 60 s), next to the per-trial path (`dataset[i]`)
on a subset, and the round-trip error of the result against the raw CMU joints.

Run: `.venv/bin/python benchmarks/bench_cmu_load.py` (`--quick` for 200 trials; `--root DIR` or
`$KINEVID_CMU_ROOT` if the data is not at `../shared/data/cmu_mocap`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from kinevid.body import CMU20, SMPL24
from kinevid.data.cmu import JOINTS_FILE, CMUMocap

TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 trials instead of all")
    parser.add_argument("--root", default=None, help="CMU data directory")
    parser.add_argument("--fps", type=float, default=None, help="resample to this fps (default: native 12)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; 0 = torch's)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    dataset = CMUMocap(args.root, fps=args.fps)
    if args.quick:
        dataset = CMUMocap(args.root, fps=args.fps, trial_ids=dataset.trial_ids[::12][:200])
    num_frames = sum(dataset.index[t].num_frames for t in dataset.trial_ids)

    start = time.perf_counter()
    trials = dataset.load_all()
    batched_seconds = time.perf_counter() - start

    subset = CMUMocap(args.root, fps=args.fps, trial_ids=dataset.trial_ids[:: max(1, len(dataset) // 50)])
    start = time.perf_counter()
    for trial in subset:
        del trial
    per_trial_seconds = (time.perf_counter() - start) / len(subset)

    # Accuracy: FK of the solved motions (before canonicalisation) against the raw CMU joints.
    raw_dataset = CMUMocap(args.root, trial_ids=subset.trial_ids, canonicalize=False)
    errors = []
    with np.load(raw_dataset.root / JOINTS_FILE, allow_pickle=False) as archive:
        for trial in raw_dataset.load_all(show_progress=False):
            raw = torch.from_numpy(archive[trial.trial_id].astype(np.float32)) / 1000
            fitted = trial.motion.joints[:, [SMPL24.index(n) for n in CMU20.joint_names]]
            errors.append((fitted - raw).norm(dim=-1).flatten())
    error_mm = torch.cat(errors) * 1000

    print(f"torch threads: {torch.get_num_threads()}, output fps: {dataset.fps:g}")
    print(f"trials: {len(trials)}, frames: {num_frames:,} at 12 fps")
    print(
        f"load + retarget + IK + canonicalise (batched, load_all): {batched_seconds:.1f} s "
        f"({num_frames / batched_seconds:,.0f} frames/s), {batched_seconds / TARGET_SECONDS:.2f}x the "
        f"{TARGET_SECONDS:.0f} s budget{'' if args.quick else ' (target < 1.0x)'}"
    )
    per_trial_total = per_trial_seconds * len(trials)
    print(
        f"per-trial path (dataset[i]): {per_trial_seconds * 1e3:.1f} ms/trial -> {per_trial_total:.1f} s for "
        f"these trials; batched is {per_trial_total / batched_seconds:.2f}x faster"
    )
    print(
        f"FK(IK) vs raw CMU joints ({len(subset)} trials): mean {error_mm.mean():.2f} mm, "
        f"p99 {error_mm.quantile(0.99):.2f} mm"
    )


if __name__ == "__main__":
    main()
