"""`contact_guided_pelvis` (closed-form gradient, one forward kinematics pass) takes the same steps as
autograd through forward kinematics at every step, and a seeded rollout is unchanged by using it."""

from __future__ import annotations

import pytest
import torch

from kinevid.body.skeleton import default_offsets
from kinevid.models.structure.representation import (
    CONTACTS,
    FEATURE_DIM,
    FOOT_JOINTS,
    PELVIS,
    ROTATIONS,
    contact_guided_pelvis,
    decode_rotations,
    joints_from_rotations,
)
from kinevid.motion.contacts import contact_heights

SLIDE_WEIGHT = 0.25
THRESHOLD = 0.5


def autograd_guided_pelvis(
    features: torch.Tensor, offsets: torch.Tensor, heights: torch.Tensor, scale: float, num_steps: int
):
    """The loss of `contact_guided_pelvis`'s docstring, differentiated by autograd through FK each step."""
    rotations = decode_rotations(features)
    in_contact = features[..., CONTACTS] > THRESHOLD
    contacts = in_contact[:, :-1].to(features.dtype)
    pelvis = features[..., PELVIS]
    for _ in range(num_steps):
        pelvis = pelvis.detach().requires_grad_(True)
        joints = joints_from_rotations(rotations, pelvis, offsets)
        feet = joints[:, :, list(FOOT_JOINTS)]
        steps = feet[:, 1:][..., [0, 2]] - feet[:, :-1][..., [0, 2]]
        slide = SLIDE_WEIGHT * ((contacts * (steps**2).sum(-1)).sum(-1) / contacts.sum(-1).clamp_min(1.0)).sum()
        floor = (torch.relu(-joints[..., 1].min(-1).values) ** 2).sum()
        excess = torch.where(in_contact, feet[..., 1] - heights, torch.full_like(feet[..., 1], float("inf")))
        lowest = excess.min(-1).values
        planted = torch.isfinite(lowest)
        hover = (torch.relu(lowest[planted]) ** 2).sum()
        (gradient,) = torch.autograd.grad(slide + floor + hover, pelvis)
        pelvis = pelvis - scale * gradient
    return pelvis.detach()


def random_chunk(batch_size: int, num_frames: int, seed: int) -> torch.Tensor:
    """Denormalised features: random rotations, pelvis heights from sunk to hovering, random contacts."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.zeros(batch_size, num_frames, FEATURE_DIM)
    identity = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).repeat(24)
    features[..., ROTATIONS] = identity + 0.3 * torch.randn(batch_size, num_frames, 144, generator=generator)
    features[..., PELVIS] = torch.randn(batch_size, num_frames, 3, generator=generator) * 0.1
    features[..., 1] = 0.9 + 0.3 * torch.randn(batch_size, num_frames, generator=generator)  # some below the floor
    features[..., CONTACTS] = torch.rand(batch_size, num_frames, 4, generator=generator)
    return features


@pytest.mark.parametrize(("scale", "num_steps"), [(0.5, 2), (0.25, 1), (0.5, 3)])
def test_closed_form_steps_match_autograd(scale: float, num_steps: int) -> None:
    features = random_chunk(3, 12, seed=int(scale * 100) + num_steps)
    offsets = default_offsets().expand(3, -1, -1)
    heights = torch.tensor(contact_heights())
    expected = autograd_guided_pelvis(features, offsets, heights, scale, num_steps)
    actual = contact_guided_pelvis(features, offsets, heights, scale, num_steps, SLIDE_WEIGHT, THRESHOLD)
    assert not torch.equal(expected, features[..., PELVIS])  # the guidance moved the pelvis
    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=0)


def test_no_contacts_only_floor_acts() -> None:
    features = random_chunk(1, 12, seed=3)
    features[..., CONTACTS] = 0.0
    features[..., 1] = 2.0  # far above the floor, nothing planted: nothing to do
    offsets = default_offsets()[None]
    pelvis = contact_guided_pelvis(features, offsets, torch.tensor(contact_heights()), 0.5)
    torch.testing.assert_close(pelvis, features[..., PELVIS], atol=0, rtol=0)


def autograd_guide_contacts(pipeline):
    """A `_guide_contacts` replacement that takes its steps with `autograd_guided_pelvis`."""

    def guide(prediction: torch.Tensor, scale: float, num_steps: int = 2) -> torch.Tensor:
        model = pipeline.model
        features = model.denormalize(prediction)
        offsets = model.body_offsets.expand(features.shape[0], -1, -1)
        with torch.enable_grad():
            pelvis = autograd_guided_pelvis(features, offsets, torch.tensor(contact_heights()), scale, num_steps)
        features = features.clone()
        features[..., PELVIS] = pelvis
        return model.normalize(features)

    return guide


def test_seeded_rollout_matches_autograd_guidance(tiny_motion_pipeline, monkeypatch) -> None:
    """Whatever `_guide_contacts` the pipeline uses, its seeded motions equal those of autograd guidance
    (the shipped denoiser, with the tiny pipeline's hashing text encoder; a random model amplifies
    float rounding chunk after chunk, the trained one does not)."""
    from kinevid.pipelines import TextToMotionPipeline

    pipeline = TextToMotionPipeline.from_pretrained(text_encoder=tiny_motion_pipeline.text_encoder)
    seconds = 4.0
    prompts = ["a person walks", "a person jumps"]
    kwargs = {"seconds": seconds, "seed": 0, "contact_guidance_scale": 0.5, "start": "motion"}
    motions = pipeline(prompts, **kwargs).motions
    monkeypatch.setattr(pipeline, "_guide_contacts", autograd_guide_contacts(pipeline))
    expected = pipeline(prompts, **kwargs).motions
    for motion, reference in zip(motions, expected, strict=True):
        torch.testing.assert_close(motion.translation, reference.translation, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(motion.rotations, reference.rotations, atol=1e-5, rtol=1e-5)
