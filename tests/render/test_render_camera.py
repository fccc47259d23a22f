"""Camera projection against hand-computed cases; sampled cameras keep the whole motion in frame."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.motion import Motion, retarget_cmu20_to_smpl24
from kinevid.render.camera import Camera, sample_camera


def test_identity_camera_projects_by_hand():
    camera = Camera(focal=(100, 120), principal_point=(50, 40), rotation=torch.eye(3), translation=torch.zeros(3),
                    width=100, height=80)  # fmt: skip
    pixels, depth = camera.project(torch.tensor([[0.1, -0.2, 2.0], [0.0, 0.0, 4.0]]))
    # u = fx * x / z + cx, v = fy * y / z + cy
    torch.testing.assert_close(pixels, torch.tensor([[55.0, 28.0], [50.0, 40.0]]))
    torch.testing.assert_close(depth, torch.tensor([2.0, 4.0]))


def test_look_at_from_the_front_by_hand():
    # Camera 5 m in front of a person facing +Z, looking back at (0, 1, 0): world +X is image right,
    # world +Y is image up (v decreases), 90 degree vertical field of view -> f = 50 px at 100 px.
    camera = Camera.look_at(eye=(0.0, 1.0, 5.0), target=(0.0, 1.0, 0.0), width=100, height=100, fov_degrees=90.0)
    assert camera.focal == pytest.approx((50.0, 50.0))
    pixels, depth = camera.project(
        torch.tensor([[0.0, 1.0, 0.0], [0.5, 1.5, 0.0], [0.0, 1.0, 3.0]], dtype=torch.float64)
    )
    torch.testing.assert_close(pixels[0], torch.tensor([49.5, 49.5], dtype=torch.float64))
    torch.testing.assert_close(pixels[1], torch.tensor([54.5, 44.5], dtype=torch.float64))
    torch.testing.assert_close(depth, torch.tensor([5.0, 5.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(camera.center, torch.tensor([0.0, 1.0, 5.0], dtype=torch.float64))


def test_side_camera_by_hand():
    # Camera on the +X axis looking at the origin: world -Z is image right.
    camera = Camera.look_at(eye=(4.0, 0.0, 0.0), target=(0.0, 0.0, 0.0), width=64, height=64, fov_degrees=90.0)
    pixels, depth = camera.project(torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64))
    torch.testing.assert_close(pixels, torch.tensor([31.5 + 32.0 / 4.0, 31.5], dtype=torch.float64))
    assert float(depth) == pytest.approx(4.0)


def test_pixel_rays_reproject_to_their_pixels():
    camera = Camera.look_at(eye=(1.0, 2.0, 3.0), target=(0.0, 0.8, 0.0), width=40, height=30, fov_degrees=50.0)
    rays = camera.pixel_rays()
    points = camera.center + 2.5 * rays  # every pixel's ray at camera depth 2.5
    pixels, depth = camera.project(points)
    rows, cols = torch.meshgrid(torch.arange(30.0), torch.arange(40.0), indexing="ij")
    torch.testing.assert_close(pixels, torch.stack([cols, rows], -1).to(pixels))
    torch.testing.assert_close(depth, torch.full_like(depth, 2.5))


def test_dict_round_trip():
    camera = Camera.look_at(eye=(1.0, 2.0, 3.0), target=(0.0, 0.8, 0.0), width=40, height=30)
    again = Camera.from_dict(camera.to_dict())
    points = torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(camera.project(points)[0], again.project(points)[0])


def _walk(cmu_root) -> Motion:
    data = np.load(cmu_root / "cmu_joints20_mm.npz", allow_pickle=False)
    positions, offsets = retarget_cmu20_to_smpl24(torch.tensor(data["02_01"][:60], dtype=torch.float32) / 1000)
    return Motion.from_joints(positions, 12, offsets=offsets, joint_weights={"neck": 0.1}).canonicalize()


def test_sampled_camera_keeps_every_joint_in_frame(cmu_root):
    joints = _walk(cmu_root).joints
    for seed in range(8):
        camera = sample_camera(joints, 64, 48, torch.Generator().manual_seed(seed))
        pixels, depth = camera.project(joints)
        assert (depth > 0).all()
        assert (pixels[..., 0] >= -0.5).all() and (pixels[..., 0] <= 63.5).all()
        assert (pixels[..., 1] >= -0.5).all() and (pixels[..., 1] <= 47.5).all()


def test_sampled_camera_is_seeded():
    joints = Motion.rest(2).joints
    first = sample_camera(joints, 64, 64, torch.Generator().manual_seed(3))
    second = sample_camera(joints, 64, 64, torch.Generator().manual_seed(3))
    third = sample_camera(joints, 64, 64, torch.Generator().manual_seed(4))
    torch.testing.assert_close(first.rotation, second.rotation)
    assert first.focal == second.focal
    assert not torch.allclose(first.translation, third.translation)


def test_front_azimuth_puts_camera_on_plus_z():
    joints = Motion.rest(1).joints
    camera = sample_camera(joints, 64, 64, azimuth_range=(0.0, 0.0))
    center = camera.center
    assert center[2] > 1.0 and abs(float(center[0])) < 1e-6
    # The body's left (+X) appears on the image's right.
    pixels, _ = camera.project(joints[0, [16, 17]])
    assert pixels[0, 0] > pixels[1, 0]


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="coincide"):
        Camera.look_at((0, 0, 0), (0, 0, 0), 10, 10)
    with pytest.raises(InvalidInputError, match="fov"):
        Camera.look_at((0, 0, 1), (0, 0, 0), 10, 10, fov_degrees=200)
    with pytest.raises(InvalidInputError, match=r"\(\.\.\., 3\)"):
        Camera.look_at((0, 0, 1), (0, 0, 0), 10, 10).project(torch.zeros(4, 2))
    with pytest.raises(InvalidInputError, match="finite"):
        sample_camera(torch.full((2, 24, 3), math.nan), 10, 10)
