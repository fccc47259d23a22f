"""Forward-kinematics throughput for SMPL-24 on CPU: `kinevid.body.forward_kinematics` next to
`smplx.lbs.batch_rigid_transform` on the same rotations and rest skeleton (target: ours >= 1.0x).

Both compute every joint's global position and orientation (smplx as 4x4 transforms); inputs are
float32, as in training. The joints of both are checked to agree before timing.

Run: `.venv/bin/python benchmarks/bench_fk.py` (`--quick` for a smoke run).
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from smplx.lbs import batch_rigid_transform

from kinevid.body import SMPL24, axis_angle_to_matrix, default_offsets, forward_kinematics


def _seconds_per_call(function, min_seconds: float, repeats: int) -> float:
    """Best of `repeats` timings, each the mean over enough calls to fill `min_seconds`."""
    function()  # warm-up
    calls, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
        calls *= 2
    best = elapsed / calls
    for _ in range(repeats - 1):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer batch sizes and shorter timings")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1: stable on a shared machine; 0 = torch's)"
    )
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    batch_sizes = [1, 256, 4096] if args.quick else [1, 16, 256, 4096, 32768]
    min_seconds, repeats = (0.05, 2) if args.quick else (0.3, 5)

    generator = torch.Generator().manual_seed(0)
    offsets = default_offsets()
    parents = torch.tensor(SMPL24.parents)
    rest_joints, _ = forward_kinematics(torch.eye(3).expand(24, 3, 3), torch.zeros(3), offsets, SMPL24)

    print(f"SMPL-24 forward kinematics, float32, CPU threads: {torch.get_num_threads()}")
    print(f"{'frames':>8} {'ours (frames/s)':>16} {'smplx (frames/s)':>17} {'ratio':>7} {'max |diff| (m)':>15}")
    ratios = []
    for batch in batch_sizes:
        rotations = axis_angle_to_matrix(torch.randn(batch, 24, 3, generator=generator))
        translation = torch.zeros(batch, 3)
        joints = rest_joints.expand(batch, 24, 3).contiguous()
        ours_joints, _ = forward_kinematics(rotations, translation, offsets, SMPL24)
        smplx_joints, _ = batch_rigid_transform(rotations, joints, parents)
        difference = float((ours_joints - smplx_joints).abs().max())
        if difference > 1e-5:
            raise SystemExit(f"joints disagree at batch {batch}: max |diff| = {difference:.2e} m")

        ours = _seconds_per_call(
            functools.partial(forward_kinematics, rotations, translation, offsets, SMPL24), min_seconds, repeats
        )
        theirs = _seconds_per_call(
            functools.partial(batch_rigid_transform, rotations, joints, parents), min_seconds, repeats
        )
        ratios.append(theirs / ours)
        print(f"{batch:>8} {batch / ours:>16,.0f} {batch / theirs:>17,.0f} {theirs / ours:>6.2f}x {difference:>15.1e}")
    print(f"ours / smplx throughput: min {min(ratios):.2f}x, max {max(ratios):.2f}x (target >= 1.0x)")


if __name__ == "__main__":
    main()
