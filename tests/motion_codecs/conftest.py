"""Real CMU motions on SMPL-24 for codec tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinevid.motion import Motion, retarget_cmu20_to_smpl24

TRIALS = ("07_01", "09_01", "13_10")  # walk, run, jump and reach


def cmu_motion(cmu_root, trial_id: str, max_frames: int = 120, dtype: torch.dtype = torch.float64) -> Motion:
    """The first `max_frames` of one CMU trial at its native 12 fps, as a rigid SMPL-24 `Motion` (retarget + IK)."""
    with np.load(cmu_root / "cmu_joints20_mm.npz", allow_pickle=False) as archive:
        cmu = torch.from_numpy(archive[trial_id][:max_frames].astype(np.float64) / 1000.0).to(dtype)
    positions, offsets = retarget_cmu20_to_smpl24(cmu)
    return Motion.from_joints(positions, fps=12.0, offsets=offsets, joint_weights={"neck": 0.1})


@pytest.fixture(scope="session")
def cmu_motions(cmu_root) -> dict[str, Motion]:
    return {trial_id: cmu_motion(cmu_root, trial_id) for trial_id in TRIALS}
