"""Measure the contact heights of the foot joints (ankle, toe) on real CMU data and store them.

    .venv/bin/python scripts/derive_contact_heights.py [--root DIR] [--output FILE]

A joint sits above the floor even when its foot is planted (joints are inside the body), and by a
different amount for the ankle and the toe. This script measures how much: on the CMU training
subjects' trials of the classes Walk, Run, Jump and Dance (level floors; Climb and the unlabelled
trials include stools, stairs and playgrounds), canonicalised (floor = the lowest joint of the trial),
at the native 12 fps, a foot is *flat and planted* over a frame transition when both its ankle and
its toe move slower than `PLANTED_SPEED`; the contact height of each joint is the median of its
height over those transitions (the quartiles are stored too). The stored contact heights are the
mean of the left and right medians: the two sides differ by 1-2 cm in CMU (markers and retargeting,
within each joint's interquartile range), and the structure model trains on mirrored motions too.
The JSON records the rule, the data and the counts (default output
`src/kinevid/motion/assets/contact_heights.json`), and `kinevid.motion.contacts.contact_heights()` reads it.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import torch

from kinevid.body.skeleton import SMPL24
from kinevid.data.cmu import CMUMocap
from kinevid.motion.contacts import FOOT_JOINTS, PLANTED_SPEED
from kinevid.utils.io import atomic_write

CLASSES = ("Walk", "Run", "Jump", "Dance")
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "src" / "kinevid" / "motion" / "assets" / "contact_heights.json"
FEET = ((0, 1), (2, 3))  # (ankle, toe) positions in FOOT_JOINTS: left foot, right foot


def planted_heights(joints: torch.Tensor, fps: float) -> torch.Tensor:
    """(ankle, toe) heights of each foot at the transitions where it is flat and planted.

    Returns:
        `torch.Tensor` of shape `(N, 2, 2)`: N transitions x (left, right) x (ankle, toe), NaN where that
        foot is not flat and planted.
    """
    feet = joints[:, list(FOOT_JOINTS)]  # (T, 4, 3)
    speed = (feet[1:] - feet[:-1]).norm(dim=-1) * fps  # (T - 1, 4)
    heights = feet[:-1, :, 1]
    rows = []
    for ankle, toe in FEET:
        flat = (speed[:, ankle] < PLANTED_SPEED) & (speed[:, toe] < PLANTED_SPEED)
        pair = heights[:, [ankle, toe]]
        rows.append(torch.where(flat[:, None], pair, torch.nan))
    return torch.stack(rows, dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None, help="CMU data directory (default: found as kinevid.data.cmu does)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    dataset = CMUMocap(root=args.root, split="train")
    selected = [t for t in dataset.trial_ids if dataset.index[t].action_class in CLASSES]
    trials = CMUMocap(root=args.root, split="train", trial_ids=selected).load_all()
    heights = torch.cat([planted_heights(t.motion.joints, t.motion.fps) for t in trials])  # (N, 2, 2)
    quantiles = torch.tensor([0.25, 0.5, 0.75])
    joints = {}
    for side, (ankle, toe) in zip(("left", "right"), FEET, strict=True):
        for slot, position in ((0, ankle), (1, toe)):
            values = heights[:, 0 if side == "left" else 1, slot]
            values = values[~values.isnan()]
            q25, median, q75 = torch.quantile(values, quantiles).tolist()
            name = SMPL24.joint_names[FOOT_JOINTS[position]]
            joints[name] = {"median_m": round(median, 4), "q25_m": round(q25, 4), "q75_m": round(q75, 4)}
            joints[name]["transitions"] = int(values.numel())
    symmetric = {}
    for name in joints:
        other = name.replace("left_", "right_") if name.startswith("left_") else name.replace("right_", "left_")
        symmetric[name] = round(0.5 * (joints[name]["median_m"] + joints[other]["median_m"]), 4)
    record = {
        "contact_heights_m": symmetric,
        "statistics": joints,
        "provenance": {
            "script": "scripts/derive_contact_heights.py",
            "date": date.today().isoformat(),
            "data": "CMU mocap (cmu_mocap/cmu_joints20_mm.npz) retargeted to SMPL-24 by kinevid.data.cmu, 12 fps",
            "trials": f"{len(trials)} training-subject trials (split_subjects seed 0) of classes {list(CLASSES)}",
            "rule": (
                "canonical floor (lowest joint of the trial at y = 0); a foot is flat and planted over a "
                f"transition when its ankle and toe both move slower than {PLANTED_SPEED} m/s; contact height "
                "= median height of each joint over its foot's planted transitions, averaged over left and right"
            ),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.output) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["contact_heights_m"], indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
