"""Physical metrics on constructed motions with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.motion import Motion
from kinevid.motion.metrics import (
    bone_length_drift,
    dart_skate,
    floating,
    foot_skating_ratio,
    jerk,
    penetration,
    phys_err,
    physdiff_skate,
    physical_metrics,
)


def standing_pose() -> torch.Tensor:
    """Rest pose `(24, 3)` in float64 with the lowest joints (the toes) on the floor."""
    joints = Motion.rest(1).to(dtype=torch.float64).joints[0].clone()
    joints[:, 1] -= joints[:, 1].min()  # exactly on the floor (float32 offsets leave ~1e-8 m)
    assert float(joints[[10, 11], 1].max()) == 0.0
    return joints


def sliding(speed: float, fps: float, seconds: float = 2.0, lift: float = 0.0) -> torch.Tensor:
    """The rest pose translated along +X at `speed` m/s, raised by `lift`: `(T, 24, 3)`."""
    num_frames = round(seconds * fps) + 1
    time = torch.arange(num_frames, dtype=torch.float64) / fps
    shift = torch.zeros(num_frames, 1, 3, dtype=torch.float64)
    shift[:, 0, 0] = speed * time
    shift[:, 0, 1] = lift
    return standing_pose() + shift


@pytest.mark.parametrize("fps", [20.0, 30.0, 60.0])
def test_skating_ratio_of_a_foot_sliding_on_the_floor(fps):
    assert float(foot_skating_ratio(sliding(1.0, fps), fps)) == pytest.approx(1.0)
    assert float(foot_skating_ratio(sliding(0.3, fps), fps)) == 0.0
    # Raised 10 cm: no contact, no skating whatever the speed.
    assert float(foot_skating_ratio(sliding(1.0, fps, lift=0.10), fps)) == 0.0


def test_skating_ratio_window_is_zero_padded_at_the_ends():
    # At 0.7 m/s the centred 5-transition windows hold 3, 4, 5, ..., 5, 4, 3 real values (zeros beyond
    # the ends): averages 0.42, 0.56, 0.7, ..., 0.56, 0.42 m/s, so only the first and last transitions
    # fall under the 0.5 m/s bound.
    fps = 20.0
    joints = sliding(0.7, fps)
    transitions = joints.shape[0] - 1
    expected = (transitions - 2) / transitions
    assert float(foot_skating_ratio(joints, fps)) == pytest.approx(expected)


def test_skating_ratio_against_a_reference_loop():
    generator = torch.Generator().manual_seed(3)
    fps = 25.0
    joints = standing_pose() + torch.zeros(40, 1, 3, dtype=torch.float64)
    joints = joints + torch.randn(40, 1, 3, generator=generator, dtype=torch.float64) * torch.tensor(
        [0.04, 0.02, 0.04], dtype=torch.float64
    )
    joints[..., 1] -= joints[..., 1].amin()
    toes = joints[:, [10, 11]].numpy()
    speed = np.linalg.norm(toes[1:, :, [0, 2]] - toes[:-1, :, [0, 2]], axis=-1) * fps  # (T-1, 2)
    skating = np.zeros(len(speed), dtype=bool)
    for t in range(len(speed)):
        for foot in range(2):
            window = [speed[s, foot] if 0 <= s < len(speed) else 0.0 for s in range(t - 2, t + 3)]
            touching = toes[t, foot, 1] < 0.05 and toes[t + 1, foot, 1] < 0.05
            if touching and speed[t, foot] > 0.5 and np.mean(window) > 0.5:
                skating[t] = True
    assert 0 < skating.mean() < 1  # the case exercises both outcomes
    assert float(foot_skating_ratio(joints, fps)) == pytest.approx(skating.mean())


def test_penetration_and_floating():
    sunk = sliding(0.0, 20.0, lift=-0.03)
    assert float(penetration(sunk)) == pytest.approx(0.03)
    assert float(floating(sunk)) == 0.0
    floating_body = sliding(0.0, 20.0, lift=0.10)
    assert float(floating(floating_body)) == pytest.approx(0.10)
    assert float(penetration(floating_body)) == 0.0
    within_tolerance = sliding(0.0, 20.0, lift=0.004)
    assert float(floating(within_tolerance)) == 0.0
    # Half the frames sunk 2 cm, half on the floor: the mean over frames halves the depth.
    joints = sliding(0.0, 20.0, seconds=1.95)
    joints[: joints.shape[0] // 2, :, 1] -= 0.02
    assert float(penetration(joints)) == pytest.approx(0.01)


@pytest.mark.parametrize("fps", [20.0, 30.0])
def test_skate_distances_for_a_known_slide(fps):
    speed = 0.8
    joints = sliding(speed, fps)
    assert float(physdiff_skate(joints)) == pytest.approx(speed / fps)
    assert float(phys_err(joints)) == pytest.approx(speed / fps)  # no penetration, no floating
    assert float(dart_skate(joints, fps)) == pytest.approx(speed)
    # Toes 1.5 cm up: weight 2 - 2^0.5; the lowest joint is then 1.5 cm up too (floating counts it).
    raised = sliding(speed, fps, lift=0.015)
    assert float(dart_skate(raised, fps)) == pytest.approx(speed * (2 - math.sqrt(2)))
    assert float(dart_skate(sliding(speed, fps, lift=0.03), fps)) == pytest.approx(0.0, abs=1e-12)
    assert float(physdiff_skate(sliding(speed, fps, lift=0.06))) == 0.0


def test_dart_skate_uses_3d_displacement_and_the_higher_frame():
    fps = 30.0
    joints = sliding(0.0, fps, seconds=1.0)
    joints[1::2, :, 1] += 0.015  # bounce 1.5 cm every other frame, no horizontal motion
    # Every transition moves the toes 1.5 cm vertically with the higher frame at 1.5 cm: weight 2 - 2^0.5.
    assert float(dart_skate(joints, fps)) == pytest.approx(0.015 * fps * (2 - math.sqrt(2)))
    assert float(physdiff_skate(joints)) == 0.0  # PhysDiff's skate is horizontal only


def test_jerk_of_polynomial_and_constant_velocity_motions():
    for fps in (20.0, 50.0):
        time = torch.arange(30, dtype=torch.float64) / fps
        base = standing_pose()
        cubic = base + (0.7 * time**3)[:, None, None] * torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64)
        assert float(jerk(cubic, fps)) == pytest.approx(6 * 0.7, rel=1e-6)
        quadratic = base + (1.3 * time**2 + 0.5 * time)[:, None, None] * torch.tensor([1.0, 0.0, 0.0]).double()
        assert float(jerk(quadratic, fps)) == pytest.approx(0.0, abs=1e-6)
    assert float(jerk(sliding(1.2, 30.0), 30.0)) == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(float(jerk(sliding(1.0, 30.0)[:3], 30.0)))


def test_bone_length_drift():
    joints = sliding(1.0, 20.0)
    assert float(bone_length_drift(joints)) == pytest.approx(0.0, abs=1e-9)
    stretched = joints.clone()
    direction = stretched[:, 22] - stretched[:, 20]
    direction = direction / direction.norm(dim=-1, keepdim=True)
    stretched[10:, 22] += 0.02 * direction[10:]  # left hand 2 cm further from the wrist
    assert float(bone_length_drift(stretched)) == pytest.approx(0.02)
    assert float(bone_length_drift(stretched[:, :22])) == pytest.approx(0.0, abs=1e-9)


def test_metrics_are_batched():
    batch = torch.stack([sliding(1.0, 20.0), sliding(0.0, 20.0, lift=-0.03)])
    assert torch.allclose(penetration(batch), torch.tensor([0.0, 0.03], dtype=torch.float64))
    assert torch.allclose(dart_skate(batch, 20.0), torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert foot_skating_ratio(batch, 20.0).shape == (2,)


def test_bad_input_raises():
    with pytest.raises(InvalidInputError, match="J >= 22"):
        penetration(torch.zeros(5, 10, 3))
    with pytest.raises(InvalidInputError, match="NaN"):
        penetration(torch.full((5, 24, 3), float("nan")))
    with pytest.raises(InvalidInputError, match="fps"):
        jerk(torch.zeros(5, 24, 3), 0.0)


def test_physical_metrics_of_a_motion_match_the_functions():
    joints = sliding(0.9, 30.0)
    motion = Motion.from_joints(joints, fps=30.0)
    metrics = physical_metrics(motion)
    assert set(metrics) == {
        "foot_skating_ratio", "penetration_m", "floating_m", "skate_m", "phys_err_m",
        "dart_skate_m_per_s", "jerk_m_per_s3", "bone_length_drift_m",
    }  # fmt: skip
    assert metrics["dart_skate_m_per_s"] == pytest.approx(0.9, abs=1e-4)
    assert metrics["foot_skating_ratio"] == pytest.approx(1.0)
    assert metrics["skate_m"] == pytest.approx(0.9 / 30.0, abs=1e-5)
    assert metrics["bone_length_drift_m"] < 1e-5
    assert all(isinstance(value, float) for value in metrics.values())


def test_physical_metrics_of_a_real_walk(cmu_root):
    from kinevid.motion import retarget_cmu20_to_smpl24

    with np.load(cmu_root / "cmu_joints20_mm.npz", allow_pickle=False) as archive:
        cmu = torch.from_numpy(archive["07_01"].astype(np.float32) / 1000.0)
    positions, offsets = retarget_cmu20_to_smpl24(cmu)
    motion = Motion.from_joints(positions, fps=12.0, offsets=offsets, joint_weights={"neck": 0.1}).canonicalize()
    metrics = physical_metrics(motion)
    assert all(math.isfinite(value) for value in metrics.values())
    assert metrics["penetration_m"] == pytest.approx(0.0, abs=1e-6)  # canonical: the floor is the lowest joint
    assert metrics["bone_length_drift_m"] < 1e-4
    assert metrics["foot_skating_ratio"] < 0.2  # real walking barely skates
