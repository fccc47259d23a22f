"""The hover term of L_cont: planted feet rest at their joints' contact heights."""

from __future__ import annotations

import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.losses.contact import contact_loss, foot_hover_loss
from kinevid.motion.contacts import FOOT_JOINTS, contact_heights


def feet(lift: float, num_frames: int = 5) -> torch.Tensor:
    """Joints `(T, 24, 3)` with every foot joint at its contact height + `lift`, the rest at 1 m."""
    joints = torch.zeros(num_frames, 24, 3)
    joints[..., 1] = 1.0
    for position, joint in enumerate(FOOT_JOINTS):
        joints[:, joint, 1] = contact_heights()[position] + lift
    return joints


def test_hover_is_the_squared_height_above_the_contact_height():
    contacts = torch.ones(4, 4, dtype=torch.bool)
    assert float(foot_hover_loss(feet(0.03), contacts)) == pytest.approx(0.03**2, rel=1e-4)
    assert float(foot_hover_loss(feet(0.0), contacts)) == pytest.approx(0.0, abs=1e-10)
    assert float(foot_hover_loss(feet(-0.02), contacts)) == 0.0  # lower is the floor term's business
    assert float(foot_hover_loss(feet(0.03), torch.zeros(4, 4, dtype=torch.bool))) == 0.0  # nothing planted


def test_the_lowest_labelled_joint_decides():
    joints = feet(0.0)
    joints[:, FOOT_JOINTS[0], 1] += 0.1  # left heel raised, left toe on the floor (tiptoe)
    assert float(foot_hover_loss(joints, torch.ones(4, 4, dtype=torch.bool))) == pytest.approx(0.0, abs=1e-10)
    only_heel = torch.zeros(4, 4, dtype=torch.bool)
    only_heel[:, 0] = True
    assert float(foot_hover_loss(joints, only_heel)) == pytest.approx(0.1**2, rel=1e-4)


def test_gradient_pulls_planted_feet_down_and_contact_loss_weights_it():
    joints = feet(0.03).requires_grad_(True)
    contacts = torch.ones(4, 4)
    loss = contact_loss(joints, fps=12.0, contacts=contacts, hover_weight=10.0)
    loss.backward()
    assert (joints.grad[:-1, list(FOOT_JOINTS), 1] > 0).any()  # descending the loss lowers the feet
    base = contact_loss(feet(0.03), fps=12.0, contacts=contacts)
    assert float(loss.detach()) == pytest.approx(float(base) + 10.0 * 0.03**2, rel=1e-4)


def test_bad_contact_shape():
    with pytest.raises(InvalidInputError, match="`contacts` must have shape"):
        foot_hover_loss(feet(0.0), torch.ones(5, 4, dtype=torch.bool))
