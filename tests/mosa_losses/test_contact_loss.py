"""Contact losses: the 3D terms by hand (labels from kinevid.motion.contacts), the video form on planted and
sliding feet, the ground-truth foot targets against the camera, bad input."""

from __future__ import annotations

import pytest
import torch
from mosa_losses_clips import shifted_clip

from kinevid.errors import InvalidInputError
from kinevid.losses import (
    DenseTracker,
    contact_loss,
    floor_penetration_loss,
    foot_contact_targets,
    foot_slide_loss,
    video_contact_loss,
)
from kinevid.motion import Motion
from kinevid.motion.contacts import FOOT_JOINTS, foot_contact_transitions
from kinevid.render.camera import Camera

FPS = 10.0


def _gliding(step: float, num_frames: int = 5, sink: float = 0.0) -> torch.Tensor:
    """Rest pose gliding `step` metres per frame along x, lowered by `sink` metres: joints `(1, T, 24, 3)`."""
    joints = Motion.rest(num_frames, fps=FPS).joints.clone()
    joints[..., 0] += step * torch.arange(num_frames)[:, None]
    joints[..., 1] -= sink
    return joints[None]


def test_slide_term_is_the_squared_foot_speed_of_contact_transitions():
    joints = _gliding(0.01)
    contacts = torch.zeros(1, 4, 4)
    contacts[0, :2] = 1.0  # two of the four transitions, all four feet
    speed = 0.01 * FPS
    slide = contact_loss(joints, FPS, contacts=contacts)
    assert float(slide) == pytest.approx(4 * speed**2 * 2 / 4, rel=1e-5)


def test_labels_come_from_the_reference_motion_by_humanml3ds_rule():
    slow, fast = _gliding(0.01), _gliding(0.2)  # 0.1 m/s planted; 2 m/s is no contact
    assert float(contact_loss(slow, FPS)) == pytest.approx(4 * (0.01 * FPS) ** 2, rel=1e-5)
    assert float(contact_loss(fast, FPS)) == 0.0
    # Labels from the (planted) ground truth make the fast prediction's slide count.
    assert float(contact_loss(fast, FPS, reference_joints=slow)) == pytest.approx(4 * (0.2 * FPS) ** 2, rel=1e-5)
    assert foot_contact_transitions(slow, FPS).all()


def test_floor_term_is_the_squared_depth_below_the_floor():
    joints = _gliding(0.0, sink=0.05)
    expected = sum(float(torch.relu(-h)) ** 2 for h in joints[0, 0, :, 1]) / 24  # a loop over joints
    assert float(floor_penetration_loss(joints)) == pytest.approx(expected, rel=1e-5)
    assert float(contact_loss(joints, FPS, floor_weight=10.0)) == pytest.approx(10 * expected, rel=1e-5)


def test_slide_weights_count_transitions():
    velocity = torch.zeros(2, 3, 24, 3)
    velocity[..., 0] = 1.0
    weight = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert float(foot_slide_loss(velocity, torch.ones(2, 3, 4), weight)) == pytest.approx(4.0)
    with pytest.raises(InvalidInputError, match="`contacts` must have shape"):
        foot_slide_loss(velocity, torch.ones(2, 3, 3))


def _camera() -> Camera:
    return Camera.look_at((0.5, 1.0, 3.0), (0.0, 0.8, 0.0), 64, 64)


def test_foot_targets_are_the_projected_foot_joints_with_their_labels():
    joints = _gliding(0.01)
    camera = _camera()
    pixels, contacts = foot_contact_targets(
        joints,
        camera.intrinsics[None].float(),
        camera.rotation[None].float(),
        camera.translation[None].float(),
        (64, 64),
        FPS,
    )
    expected, _ = camera.project(joints[0][:, list(FOOT_JOINTS)].double())
    torch.testing.assert_close(pixels[0].double(), expected, atol=1e-4, rtol=0)
    assert pixels.shape == (1, 5, 4, 2) and contacts.shape == (1, 4, 4)
    assert torch.equal(contacts, foot_contact_transitions(joints, FPS))


def test_video_contact_loss_is_zero_for_planted_feet_and_the_slide_for_sliding_ones():
    tracker = DenseTracker()
    feet = (20 + 24 * torch.rand(1, 1, 4, 2, generator=torch.Generator().manual_seed(0))).expand(1, 5, 4, 2)
    contacts = torch.ones(1, 4, 4, dtype=torch.bool)
    planted = video_contact_loss(shifted_clip((0.0, 0.0), 5), feet, contacts, tracker)
    assert float(planted) < 0.05
    sliding = video_contact_loss(shifted_clip((0.8, -0.4), 5), feet, contacts, tracker)
    assert float(sliding) == pytest.approx(1.2, abs=0.1)  # |0.8| + |-0.4| pixels per frame
    none = video_contact_loss(shifted_clip((0.8, 0.0), 5), feet, torch.zeros_like(contacts), tracker)
    assert float(none) == 0.0


def test_video_contact_loss_bad_shapes():
    video, feet = torch.zeros(1, 3, 5, 32, 32), torch.zeros(1, 5, 4, 2)
    with pytest.raises(InvalidInputError, match="`foot_pixels` must have shape"):
        video_contact_loss(video, feet[:, :4], torch.ones(1, 4, 4, dtype=torch.bool), DenseTracker())
    with pytest.raises(InvalidInputError, match="`contacts` must have shape"):
        video_contact_loss(video, feet, torch.ones(1, 5, 4, dtype=torch.bool), DenseTracker())
    with pytest.raises(InvalidInputError, match="camera `rotation`"):
        foot_contact_targets(_gliding(0.0), torch.eye(3)[None], torch.eye(3), torch.zeros(1, 3), (64, 64), FPS)
