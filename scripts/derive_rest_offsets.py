"""Derive the default SMPL-24 rest offsets (`kinevid/body/assets/smpl24_rest_offsets.json`).

Averages the per-trial rest offsets that `retarget_cmu20_to_smpl24` measures over every CMU trial
of 25 frames or more, then symmetrises left and right. Run from the repository root:

    .venv/bin/python scripts/derive_rest_offsets.py --data ../shared/data/cmu_mocap
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from kinevid.body.skeleton import SMPL24
from kinevid.motion.retarget import retarget_cmu20_to_smpl24


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cmu_mocap"))
    parser.add_argument("--out", type=Path, default=Path("src/kinevid/body/assets/smpl24_rest_offsets.json"))
    args = parser.parse_args()
    archive = np.load(args.data / "cmu_joints20_mm.npz", allow_pickle=False)
    offsets = []
    for trial in archive.files:
        joints = torch.from_numpy(archive[trial].astype(np.float64) / 1000.0)
        if joints.shape[0] >= 25:
            offsets.append(retarget_cmu20_to_smpl24(joints)[1])
    mean = torch.stack(offsets).mean(0)
    flip = torch.tensor([-1.0, 1.0, 1.0], dtype=mean.dtype)
    symmetric = 0.5 * (mean + mean[SMPL24.mirror_indices] * flip)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "source": f"mean of {len(offsets)} CMU trials, scripts/derive_rest_offsets.py",
        "units": "metres; T-pose facing +Z, x to the body's left, y up",
        "joint_names": list(SMPL24.joint_names),
        "offsets": [[round(float(v), 5) for v in row] for row in symmetric],
    }
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.out} from {len(offsets)} trials")


if __name__ == "__main__":
    main()
