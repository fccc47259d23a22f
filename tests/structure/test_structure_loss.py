"""The structure training loss: geometric and contact terms by hand, and the full loss on a batch."""

from __future__ import annotations

import pytest
import torch

from kinevid.body.rotations import matrix_to_rotation_6d
from kinevid.models.structure import MotionPrimitiveDiffusionModel
from kinevid.models.structure.representation import PELVIS
from kinevid.motion.motion import Motion
from kinevid.recipes.structure import DiffusionConfig, LossConfig, StructureLoss, window_features

FPS = 12.0
H, F = 2, 4


def static_batch(batch_size: int = 2) -> dict[str, torch.Tensor]:
    """A T-pose standing still on the floor for H + F frames, all feet in contact."""
    rest = Motion.rest(H + F, fps=FPS)
    return {
        "rotations_6d": matrix_to_rotation_6d(rest.rotations).expand(batch_size, -1, -1, -1).clone(),
        "pelvis": (rest.translation + rest.offsets[0]).expand(batch_size, -1, -1).clone(),
        "offsets": rest.offsets.expand(batch_size, -1, -1).clone(),
        "contacts": torch.ones(batch_size, H + F, 4),
        "prompt_index": torch.tensor([0, -1])[:batch_size],
    }


def make_loss() -> StructureLoss:
    return StructureLoss(DiffusionConfig().training_scheduler(), torch.randn(1, 384), LossConfig(), FPS)


def test_perfect_prediction_has_zero_geometric_error():
    batch = static_batch()
    features = window_features(batch, H)
    terms = make_loss().geometric_terms(features[:, H:], features, batch["offsets"], torch.tensor([True, False]), H)
    for name in ("joints", "velocity", "contact", "floor"):
        assert float(terms[name]) == pytest.approx(0.0, abs=1e-9), name


@pytest.mark.parametrize("with_history", [True, False])
def test_sliding_prediction_by_hand(with_history):
    batch = static_batch()
    features = window_features(batch, H)
    step = 0.01  # metres per frame along x: every joint (and foot) slides by this much each frame
    predicted = features[:, H:].clone()
    predicted[..., PELVIS.start] += step * torch.arange(1, F + 1)
    history_mask = torch.full((2,), with_history)
    terms = make_loss().geometric_terms(predicted, features, batch["offsets"], history_mask, H)
    speed = step * FPS
    counted = F if with_history else F - 1  # the step from the last history frame counts only with a history
    transitions = F if with_history else F - 1
    assert float(terms["contact"]) == pytest.approx(4 * speed**2 * transitions / counted, rel=1e-4)
    assert float(terms["velocity"]) == pytest.approx(speed**2 / 3, rel=1e-4)
    expected_joints = sum((step * k) ** 2 for k in range(1, F + 1)) / F / 3
    assert float(terms["joints"]) == pytest.approx(expected_joints, rel=1e-4)
    assert float(terms["floor"]) == 0.0


def test_floor_term_is_the_squared_depth_below_the_floor():
    batch = static_batch()
    features = window_features(batch, H)
    predicted = features[:, H:].clone()
    predicted[..., PELVIS.start + 1] -= 0.05  # sink 5 cm: the lowest joints (feet, on the floor) go under
    terms = make_loss().geometric_terms(predicted, features, batch["offsets"], torch.tensor([True, True]), H)
    rest = Motion.rest(1, fps=FPS)
    heights = rest.joints[0, :, 1] - 0.05  # the per-joint loop, independent of the batched code
    expected = sum(float(torch.relu(-h)) ** 2 for h in heights) / 24
    assert float(terms["floor"]) == pytest.approx(expected, rel=1e-4)
    assert expected > 0


def test_full_loss_has_every_term_and_gradients():
    torch.manual_seed(0)
    model = MotionPrimitiveDiffusionModel(
        num_history_frames=H, num_future_frames=F, hidden_dim=24, num_layers=1, num_heads=2
    )
    terms = make_loss()(model, static_batch())
    assert set(terms) == {"diffusion", "joints", "velocity", "contact", "floor", "loss"}
    weights = LossConfig()
    expected = sum(
        getattr(weights, name) * terms[name] for name in ("diffusion", "joints", "velocity", "contact", "floor")
    )
    torch.testing.assert_close(terms["loss"], expected)
    terms["loss"].backward()
    assert model.proj_out.weight.grad is not None and model.proj_out.weight.grad.abs().sum() > 0
