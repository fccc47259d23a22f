"""Contact guidance puts a planted foot at its measured contact height (ankle vs toe), not at one 6 cm."""

from __future__ import annotations

import pytest
import torch

from kinevid.models.structure.representation import (
    CONTACTS,
    FOOT_JOINTS,
    PELVIS,
    ChunkFrame,
    decode_rotations,
    encode_features,
    joints_from_rotations,
)
from kinevid.motion.contacts import contact_heights, lowest_contact_excess
from kinevid.pipelines.pipeline_text_to_motion import standing_motion


def standing_chunk(pipeline, lift: float, contacts: list[float]) -> torch.Tensor:
    """Normalised features `(1, F, D)` of the standing pose raised by `lift`, with these contact labels."""
    model = pipeline.model
    frames = model.config.num_future_frames
    standing = standing_motion(frames, model.config.fps, model.body_offsets)
    pelvis = (standing.translation + standing.offsets[0] + torch.tensor([0.0, lift, 0.0]))[None]
    frame = ChunkFrame(rotation=torch.eye(3)[None], origin=torch.zeros(1, 3))
    labels = torch.tensor(contacts).expand(1, frames, 4)
    return model.normalize(encode_features(standing.rotations[None], pelvis, model.body_offsets[None], frame, labels))


def lowest_excess(pipeline, features: torch.Tensor) -> torch.Tensor:
    """The motion's lowest planted joint over its contact height `(1, F)`, decoded as the sampler does."""
    features = pipeline.model.denormalize(features)
    offsets = pipeline.model.body_offsets[None]
    joints = joints_from_rotations(decode_rotations(features), features[..., PELVIS], offsets)
    in_contact = features[..., CONTACTS] > 0.5
    return lowest_contact_excess(joints[..., list(FOOT_JOINTS), 1], in_contact)


@pytest.mark.parametrize("contacts", [[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
def test_guidance_lowers_a_hovering_planted_foot_to_its_contact_height(tiny_motion_pipeline, contacts):
    chunk = standing_chunk(tiny_motion_pipeline, 0.09, contacts)
    before = lowest_excess(tiny_motion_pipeline, chunk)
    guided = tiny_motion_pipeline._guide_contacts(chunk, scale=0.5, num_steps=4)
    after = lowest_excess(tiny_motion_pipeline, guided)
    # With every joint labelled the lowest excess decides; with only the left ankle, the ankle does.
    assert (before > 0.03).all()
    assert after.abs().max() < 0.005  # at the joint's measured contact height
    heights = contact_heights()
    assert heights[1] < heights[0]  # a planted toe sits lower than its ankle


@pytest.mark.parametrize("num_steps, expected", [(1, 1), (2, 1), (5, 2), (10, 4), (15, 6), (20, 8)])
def test_contact_guidance_acts_on_the_last_two_fifths_of_the_steps(tiny_motion_pipeline, num_steps, expected):
    """With trailing DDIM spacing those are the steps below t = 400 of 1000: 4 of 10 (as before the rule scaled),
    2 of 5 (the shipped default); a short schedule never guides its first, noisiest prediction."""
    pipeline = tiny_motion_pipeline
    model_calls, guided_steps = [], []
    forward, guide = pipeline.model.forward, pipeline._guide_contacts

    def counting_forward(*args, **kwargs):
        model_calls.append(None)
        return forward(*args, **kwargs)

    def recording_guide(prediction, scale, **kwargs):
        guided_steps.append(len(model_calls) - 1)  # the guidance of step k follows the model's (k + 1)-th call
        return guide(prediction, scale, **kwargs)

    pipeline.model.forward, pipeline._guide_contacts = counting_forward, recording_guide
    one_chunk = pipeline.model.config.num_future_frames / pipeline.fps
    pipeline("a person walks", seconds=one_chunk, seed=0, start="motion", num_inference_steps=num_steps,
             contact_guidance_scale=0.5)  # fmt: skip
    assert len(model_calls) == num_steps
    assert guided_steps == list(range(num_steps - expected, num_steps))
    timesteps = pipeline.scheduler.timesteps.tolist()
    if 1000 % num_steps == 0 and num_steps > 2:
        assert all(t < 400 for t in timesteps[-expected:]) and timesteps[-expected - 1] >= 400
