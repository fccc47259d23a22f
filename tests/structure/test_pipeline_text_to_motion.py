"""TextToMotionPipeline: rollout geometry, seeding, guidance, durations, saving/loading, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from kinevid.body.rotations import matrix_to_rotation_6d
from kinevid.errors import InvalidInputError, KinevidError, MissingWeightsError
from kinevid.models.structure import MotionPrimitiveDiffusionModel
from kinevid.motion.motion import Motion
from kinevid.pipelines import TextToMotionPipeline
from kinevid.recipes.structure import DiffusionConfig, window_features
from kinevid.text import TextEmbeddings

FPS = 12.0
H, F = 2, 4
SPEED = 1.2  # m/s


class HashTextEncoder:
    """Deterministic stand-in for MiniLM: a pooled vector seeded by each prompt's characters."""

    dim = 384

    def encode(self, prompts, batch_size: int = 32) -> TextEmbeddings:
        pooled = torch.stack(
            [torch.randn(self.dim, generator=torch.Generator().manual_seed(sum(map(ord, p)))) for p in prompts]
        )
        return TextEmbeddings(tokens=pooled[:, None], mask=torch.ones(len(prompts), 1, dtype=torch.bool), pooled=pooled)


def tiny_model() -> MotionPrimitiveDiffusionModel:
    torch.manual_seed(0)
    model = MotionPrimitiveDiffusionModel(
        num_history_frames=H, num_future_frames=F, fps=FPS, hidden_dim=24, num_layers=2, num_heads=2, dropout=0.0
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


def walking_window() -> dict[str, torch.Tensor]:
    """A T-pose gliding along +Z at SPEED for H + F frames (one batch item)."""
    rest = Motion.rest(H + F, fps=FPS)
    pelvis = rest.translation + rest.offsets[0]
    pelvis[:, 2] = SPEED * torch.arange(H + F) / FPS
    return {
        "rotations_6d": matrix_to_rotation_6d(rest.rotations)[None],
        "pelvis": pelvis[None],
        "offsets": rest.offsets[None],
        "contacts": torch.zeros(1, H + F, 4),
    }


class ConstantChunkModel(MotionPrimitiveDiffusionModel):
    """Predicts the same clean chunk (the walking window's future, in its chunk frame) every call."""

    def forward(self, sample, timestep, history, history_mask, text_embeds, text_mask):
        return self.chunk.expand(sample.shape[0], -1, -1)


def constant_pipeline() -> TextToMotionPipeline:
    model = ConstantChunkModel(
        num_history_frames=H, num_future_frames=F, fps=FPS, hidden_dim=8, num_layers=1, num_heads=1
    )
    window = walking_window()
    model.body_offsets.copy_(window["offsets"][0])
    model.chunk = model.normalize(window_features(window, H)[:, H:])
    return TextToMotionPipeline(model, DiffusionConfig().sampling_scheduler(), text_encoder=HashTextEncoder())


def test_rollout_continues_each_chunk_from_the_previous_one():
    # The model always predicts "F more frames of walking" relative to the last frame it saw, so a
    # correct rollout places chunks end to end: a straight walk at SPEED. DDIM with x0 prediction
    # returns the prediction exactly at the last step (alpha = 1), so positions are exact.
    motion = constant_pipeline()("walk", seconds=11 / FPS, seed=0, start="motion").motions[0]
    assert motion.num_frames == 11 and motion.fps == FPS
    pelvis = motion.translation + motion.offsets[0]
    # The first chunk has no history: it is placed with its own anchor (frame -1) at the origin.
    expected_z = SPEED * torch.arange(1, 12) / FPS
    torch.testing.assert_close(pelvis[:, 2], expected_z, atol=1e-4, rtol=0)
    torch.testing.assert_close(pelvis[:, 0], torch.zeros(11), atol=1e-4, rtol=0)
    torch.testing.assert_close(motion.rotations, torch.eye(3).expand(11, 24, 3, 3), atol=1e-5, rtol=0)


@pytest.mark.parametrize(("seconds", "frames"), [(0.01, 1), (1.0, 12), (2.5, 30), (10.0, 120)])
def test_any_duration(seconds, frames):
    pipeline = TextToMotionPipeline(
        tiny_model(), DiffusionConfig().sampling_scheduler(), text_encoder=HashTextEncoder()
    )
    motion = pipeline("a person walks", seconds=seconds, seed=0, num_inference_steps=2).motions[0]
    assert motion.num_frames == frames
    motion.validate()


def test_seeded_and_batched_generation():
    pipeline = TextToMotionPipeline(
        tiny_model(), DiffusionConfig().sampling_scheduler(), text_encoder=HashTextEncoder()
    )
    output = pipeline(["walk", "jump"], seconds=1.0, seed=3)
    assert output.motion is output.motions  # KinevidPipelineOutput's field name works too
    first = output.motions
    again = pipeline(["walk", "jump"], seconds=1.0, generator=torch.Generator().manual_seed(3)).motions
    other = pipeline(["walk", "jump"], seconds=1.0, seed=4).motions
    assert len(first) == 2
    torch.testing.assert_close(first[1].rotations, again[1].rotations, atol=0, rtol=0)
    assert not torch.allclose(first[0].translation, other[0].translation)
    assert not torch.allclose(first[0].rotations, first[1].rotations)


def test_guidance_combines_conditional_and_unconditional_predictions():
    model = tiny_model().eval()
    pipeline = TextToMotionPipeline(model, DiffusionConfig().sampling_scheduler(), text_encoder=HashTextEncoder())
    history = torch.zeros(1, H, 223)
    no_history = torch.zeros(1, dtype=torch.bool)
    text = HashTextEncoder().encode(["walk"]).pooled
    pipeline.scheduler.set_timesteps(1)
    timestep = pipeline.scheduler.timesteps[0]
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(1, F, 223, generator=generator)
    with torch.no_grad():
        conditional = model(noise, timestep, history, no_history, text, torch.ones(1, dtype=torch.bool))
        unconditional = model(noise, timestep, history, no_history, text, torch.zeros(1, dtype=torch.bool))
        # One DDIM step from the last timestep returns the guided x0 itself.
        expected = unconditional + 3.0 * (conditional - unconditional)
        result = pipeline._denoise_chunk(history, no_history, text, 3.0, 0.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=1e-5)


def test_contact_guidance_reduces_sliding_and_lifts_sunken_frames():
    pipeline = constant_pipeline()
    features = pipeline.model.denormalize(pipeline.model.chunk.clone())
    features[..., 219:223] = 1.0  # claim every foot is in contact while the body glides
    features[:, 1, 1] -= 0.04  # sink frame 1 by 4 cm below the floor
    features[:, 3, 1] += 0.20  # lift frame 3 by 20 cm: its feet "in contact" hover
    guided = pipeline.model.denormalize(pipeline._guide_contacts(pipeline.model.normalize(features), scale=0.5))
    glide_before = (features[0, :, 2].diff() ** 2).sum()
    glide_after = (guided[0, :, 2].diff() ** 2).sum()
    assert glide_after < 0.8 * glide_before
    assert guided[0, 1, 1] > features[0, 1, 1] + 0.03  # lifted (almost) back onto the floor
    assert guided[0, 3, 1] < features[0, 3, 1] - 0.1  # pulled down towards the floor
    # Same pose in every frame, toes on the floor in frame 0: the lowest foot's height is the pelvis rise.
    lowest_foot = guided[0, 3, 1] - features[0, 0, 1]
    assert float(lowest_foot) < 0.06 + 0.03
    torch.testing.assert_close(guided[..., 3:219], features[..., 3:219])  # only the pelvis moves


def test_save_and_load(tmp_path):
    pipeline = TextToMotionPipeline(
        tiny_model(), DiffusionConfig().sampling_scheduler(), text_encoder=HashTextEncoder()
    )
    pipeline.save_pretrained(tmp_path / "pipe", num_inference_steps=3, guidance_scale=1.5, contact_guidance_scale=0.2)
    loaded = TextToMotionPipeline.from_pretrained(tmp_path / "pipe", text_encoder=HashTextEncoder())
    assert (loaded.num_inference_steps, loaded.guidance_scale, loaded.contact_guidance_scale) == (3, 1.5, 0.2)
    a = pipeline("walk", seconds=1.0, seed=0, num_inference_steps=3, guidance_scale=1.5, contact_guidance_scale=0.2)
    a = a.motions[0]
    b = loaded("walk", seconds=1.0, seed=0).motions[0]
    torch.testing.assert_close(a.rotations, b.rotations, atol=0, rtol=0)
    assert not (tmp_path / "pipe.partial").exists()


def test_bad_inputs(tmp_path):
    pipeline = TextToMotionPipeline(
        tiny_model(), DiffusionConfig().sampling_scheduler(), text_encoder=HashTextEncoder()
    )
    with pytest.raises(InvalidInputError, match="empty"):
        pipeline("   ", seconds=1.0)
    with pytest.raises(InvalidInputError, match="empty"):
        pipeline([], seconds=1.0)
    with pytest.raises(InvalidInputError, match="characters"):
        pipeline("walk " * 200, seconds=1.0)
    for seconds in (0.0, -1.0, float("nan"), float("inf"), 1e6):
        with pytest.raises(InvalidInputError, match="seconds"):
            pipeline("walk", seconds=seconds)
    with pytest.raises(InvalidInputError, match="contact_guidance_scale"):
        pipeline("walk", seconds=1.0, contact_guidance_scale=-1.0)
    with pytest.raises(InvalidInputError, match="num_inference_steps"):
        pipeline("walk", seconds=1.0, num_inference_steps=-2)
    with pytest.raises(MissingWeightsError, match="not a text-to-motion checkpoint"):
        TextToMotionPipeline.from_pretrained(tmp_path)
    with torch.no_grad():
        pipeline.model.proj_out.bias.fill_(float("nan"))
    with pytest.raises(KinevidError, match="NaN"):
        pipeline("walk", seconds=1.0, seed=0)


def test_temporal_smoothing_filters_the_finished_motion_and_is_saved(tmp_path):
    """`temporal_smoothing` is `Motion.smooth` of the motion the same seed gives without it; the checkpoint keeps it
    (older ones, without the key, load as 0); a negative or NaN sigma names the field."""
    pipeline = TextToMotionPipeline(
        tiny_model(), DiffusionConfig().sampling_scheduler(), text_encoder=HashTextEncoder()
    )
    raw = pipeline("walk", seconds=2.0, seed=3, num_inference_steps=2).motions[0]
    smoothed = pipeline("walk", seconds=2.0, seed=3, num_inference_steps=2, temporal_smoothing=1.0).motions[0]
    expected = raw.smooth(1.0)
    torch.testing.assert_close(smoothed.rotations, expected.rotations, atol=0, rtol=0)
    torch.testing.assert_close(smoothed.translation, expected.translation, atol=0, rtol=0)
    assert not torch.allclose(smoothed.rotations, raw.rotations)
    pipeline.save_pretrained(tmp_path / "pipe", num_inference_steps=2, temporal_smoothing=1.0)
    loaded = TextToMotionPipeline.from_pretrained(tmp_path / "pipe", text_encoder=HashTextEncoder())
    assert loaded.temporal_smoothing == 1.0
    again = loaded("walk", seconds=2.0, seed=3).motions[0]
    torch.testing.assert_close(again.rotations, smoothed.rotations, atol=0, rtol=0)
    config = tmp_path / "pipe" / "pipeline_config.json"
    settings = json.loads(config.read_text())
    del settings["temporal_smoothing"]
    config.write_text(json.dumps(settings))
    assert (
        TextToMotionPipeline.from_pretrained(tmp_path / "pipe", text_encoder=HashTextEncoder()).temporal_smoothing == 0
    )
    for sigma in (-0.5, float("nan")):
        with pytest.raises(InvalidInputError, match="temporal_smoothing"):
            pipeline("walk", seconds=1.0, temporal_smoothing=sigma)


def test_lock_feet_moves_only_the_root_and_is_saved(tmp_path):
    pipeline = TextToMotionPipeline(
        tiny_model(), DiffusionConfig().sampling_scheduler(), text_encoder=HashTextEncoder()
    )
    options = {"seconds": 2.0, "seed": 1, "num_inference_steps": 2, "temporal_smoothing": 1.0}
    free = pipeline("walk", **options).motions[0]
    locked = pipeline("walk", lock_feet=True, **options).motions[0]
    torch.testing.assert_close(locked.rotations, free.rotations, atol=0, rtol=0)
    assert not torch.allclose(locked.translation, free.translation)
    assert float(locked.joints[..., 1].amin()) >= -1e-5  # nothing below the floor
    pipeline.save_pretrained(tmp_path / "pipe", num_inference_steps=2, temporal_smoothing=1.0, lock_feet=True)
    loaded = TextToMotionPipeline.from_pretrained(tmp_path / "pipe", text_encoder=HashTextEncoder())
    assert loaded.lock_feet
    again = loaded("walk", seconds=2.0, seed=1).motions[0]
    torch.testing.assert_close(again.translation, locked.translation, atol=0, rtol=0)
