"""The bundled CMU BVH files against the same trials in the CMU 20-joint set.

Time alignment: the BVH files are 120 fps and start with a T-pose reference frame (all rotation
channels zero, checked below); the take starts at frame 1 and the joint set keeps every 10th frame
(12 fps), which the frame counts confirm (e.g. 02_01: 1 + 343 BVH frames, 35 joint-set frames).

The BVH files use one generic skeleton for every subject (same OFFSETs in all five files) while
the joint set has each subject's own bones: e.g. the BVH's shoulder joints are 23 cm apart, the
joint set's 36-40 cm, its thigh 37 cm against 37-43 cm. Root-relative positions therefore differ
by several centimetres even for a perfect importer, so the checks are split:

- importer fidelity: every SMPL joint with a BVH counterpart is exactly where the file's own
  hierarchy puts it (< 1 mm);
- same motion: after resampling to 12 fps and rigidly aligning the first frame, the root-relative
  error on hips, knees, ankles, shoulders, elbows and wrists, measured against the raw BVH joints
  themselves (what any importer starts from) -- the importer adds < 5 mm to it, and it stays
  < 11 cm (measured 7.0-9.9 cm, as for the raw BVH joints); limb directions (thighs, shins, upper
  arms) agree within 10 degrees on average.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kinevid.body import CMU20, SMPL24
from kinevid.motion.io import load_motion, read_bvh

TRIALS = ("02_01", "02_04", "05_01", "09_01", "13_10")
EVALUATED = (
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)  # fmt: skip
DAZ_NAMES = {
    "left_hip": "lThigh", "right_hip": "rThigh", "left_knee": "lShin", "right_knee": "rShin",
    "left_ankle": "lFoot", "right_ankle": "rFoot", "left_shoulder": "lShldr", "right_shoulder": "rShldr",
    "left_elbow": "lForeArm", "right_elbow": "rForeArm", "left_wrist": "lHand", "right_wrist": "rHand",
    "spine3": "chest", "neck": "neck", "head": "head", "left_collar": "lCollar", "right_collar": "rCollar",
    "left_foot": "lFoot_End", "right_foot": "rFoot_End", "left_hand": "lMid1", "right_hand": "rMid1",
}  # fmt: skip
LIMBS = (
    ("left_hip", "left_knee"), ("right_hip", "right_knee"), ("left_knee", "left_ankle"),
    ("right_knee", "right_ankle"), ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
)  # fmt: skip
BVH_FPS, SET_FPS = 120, 12


def _kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation R (3, 3) minimising |R source_i - target_i| over points (n, 3)."""
    u, _, vt = np.linalg.svd(source.T @ target)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def _aligned_error(joints: np.ndarray, root: np.ndarray, reference: np.ndarray, reference_root: np.ndarray) -> float:
    """Mean root-relative error (metres) after rotating to match the first frame."""
    ours, theirs = joints - root[:, None], reference - reference_root[:, None]
    rotation = _kabsch(ours[0], theirs[0])
    return float(np.linalg.norm(ours @ rotation.T - theirs, axis=-1).mean())


@pytest.fixture(scope="module")
def joint_set(cmu_root: Path):
    with np.load(cmu_root / "cmu_joints20_mm.npz", allow_pickle=False) as data:
        return {trial: data[trial].astype(np.float64) / 1000.0 for trial in TRIALS}


@pytest.mark.parametrize("trial", TRIALS)
def test_bvh_matches_cmu_joint_set(bvh_dir: Path, joint_set, trial):
    path = bvh_dir / f"{trial}.bvh"
    bvh = read_bvh(path)
    motion = load_motion(path)
    reference = joint_set[trial]
    assert motion.fps == BVH_FPS and motion.num_frames == bvh.num_frames

    # Time alignment: a T-pose frame, then the take; the frame counts give the stride.
    # (frame 0: root unrotated, arms horizontal -- the wrist at shoulder height)
    assert np.abs(bvh.frames[0, 3:6]).max() == 0 and np.abs(bvh.frames[1, 3:6]).max() > 0
    first = bvh.global_positions()[0].numpy()
    assert abs(first[bvh.joint_names.index("lShldr"), 1] - first[bvh.joint_names.index("lHand"), 1]) < 2.0  # cm
    stride = BVH_FPS // SET_FPS
    assert (bvh.num_frames - 2) // stride + 1 == len(reference)

    # Importer fidelity on every frame.
    positions = bvh.global_positions().numpy() * 0.01
    joints = motion.joints.double().numpy()
    for smpl_name, bvh_name in DAZ_NAMES.items():
        error = np.linalg.norm(
            joints[:, SMPL24.index(smpl_name)] - positions[:, bvh.joint_names.index(bvh_name)], axis=-1
        )
        assert error.max() < 1e-3, (smpl_name, error.max())

    # Same motion as the joint set, at 12 fps.
    resampled = motion.slice(1).resample(SET_FPS).joints.double().numpy()[: len(reference)]
    assert len(resampled) == len(reference)
    ours = resampled[:, [SMPL24.index(n) for n in EVALUATED]]
    theirs = reference[:, [CMU20.index(n) for n in EVALUATED]]
    raw = positions[1::stride][: len(reference), [bvh.joint_names.index(DAZ_NAMES[n]) for n in EVALUATED]]
    error = _aligned_error(ours, resampled[:, 0], theirs, reference[:, 0])
    raw_error = _aligned_error(raw, resampled[:, 0], theirs, reference[:, 0])
    print(f"{trial}: root-relative error {error * 100:.1f} cm (raw BVH joints {raw_error * 100:.1f} cm)")
    assert error < raw_error + 0.005
    assert error < 0.11

    angles = []
    for parent, child in LIMBS:
        a = resampled[:, SMPL24.index(child)] - resampled[:, SMPL24.index(parent)]
        b = reference[:, CMU20.index(child)] - reference[:, CMU20.index(parent)]
        cosine = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        angles.append(np.degrees(np.arccos(np.clip(cosine, -1, 1))).mean())
    print(f"{trial}: limb direction error {np.mean(angles):.1f} deg")
    assert np.mean(angles) < 10.0


def test_left_and_right_agree_with_joint_set(bvh_dir: Path, joint_set):
    """Swapping left and right in the reference must make the match clearly worse."""
    motion = load_motion(bvh_dir / "05_01.bvh")
    resampled = motion.slice(1).resample(SET_FPS).joints.double().numpy()
    reference = joint_set["05_01"][: len(resampled)]
    ours = resampled[:, [SMPL24.index(n) for n in EVALUATED]]
    straight = reference[:, [CMU20.index(n) for n in EVALUATED]]
    swapped_names = [n.replace("left", "tmp").replace("right", "left").replace("tmp", "right") for n in EVALUATED]
    swapped = reference[:, [CMU20.index(n) for n in swapped_names]]
    good = _aligned_error(ours, resampled[:, 0], straight, reference[:, 0])
    bad = _aligned_error(ours, resampled[:, 0], swapped, reference[:, 0])
    assert bad > good + 0.05
