"""TextToMotionPipeline with a token model: tokens per primitive, per timeline segment, in guidance."""

from __future__ import annotations

import pytest
import torch

from kinevid.models.structure import MotionPrimitiveDiffusionModel
from kinevid.pipelines import TextToMotionPipeline
from kinevid.pipelines.pipeline_text_to_motion import dominant_segments, timeline_weights
from kinevid.recipes.structure import DiffusionConfig


@pytest.fixture
def token_pipeline(word_token_encoder) -> TextToMotionPipeline:
    torch.manual_seed(0)
    model = MotionPrimitiveDiffusionModel(
        num_history_frames=2, num_future_frames=4, hidden_dim=24, num_layers=2, num_heads=2, dropout=0.0,
        text_conditioning="tokens", cross_attention_dim=8,
    )  # fmt: skip
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return TextToMotionPipeline(
        model, DiffusionConfig().sampling_scheduler(), text_encoder=word_token_encoder, num_inference_steps=2
    )


def record_calls(pipeline: TextToMotionPipeline) -> list[dict]:
    calls = []

    def hook(module, args, kwargs):
        calls.append({"text_mask": args[5].clone(), **{k: v.clone() for k, v in kwargs.items()}})

    pipeline.model.register_forward_pre_hook(hook, with_kwargs=True)
    return calls


def test_dominant_segment_prefers_the_later_one_on_a_tie():
    weights = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8], [0.0, 1.0]])
    assert dominant_segments(weights).tolist() == [0, 1, 1, 1]


def test_timeline_switches_the_tokens_to_the_dominant_segment(token_pipeline):
    pipeline = token_pipeline  # 12 fps, 4 frames per primitive, 2 denoising steps
    calls = record_calls(pipeline)
    pipeline(timeline=[("walk forward", 1.0), ("jump", 1.0)], seed=0)
    _, walk_tokens, walk_mask = pipeline.encode_prompt(["walk forward"], return_tokens=True)
    _, jump_tokens, jump_mask = pipeline.encode_prompt(["jump"], return_tokens=True)
    per_chunk = calls[::2]  # one per primitive (2 denoising steps each)
    assert len(per_chunk) == 6
    # Primitive centres 0.21, 0.54, 0.88, 1.21, 1.54, 1.88 s: the walk dominates the first three
    # (0.88 s weighs 0.875 walk), the jump the others.
    for index, call in enumerate(per_chunk):
        tokens, mask = (walk_tokens, walk_mask) if index < 3 else (jump_tokens, jump_mask)
        length = mask.shape[1]
        conditional = call["text_tokens"][:1]  # [conditional; unconditional] guidance batch
        assert torch.equal(call["text_token_mask"][0, :length], mask[0])
        assert not call["text_token_mask"][0, length:].any()
        torch.testing.assert_close(conditional[0, :length], tokens[0])
        assert call["text_mask"].tolist() == [True, False]  # the unconditional half drops the text
    weights = timeline_weights(torch.tensor([0.875]), [1.0, 1.0], 1.0)
    assert dominant_segments(weights).item() == 0


def test_token_conditions_batch_prompts_of_different_lengths(token_pipeline):
    pipeline = token_pipeline
    conditions = pipeline.chunk_text_conditions(
        [[("walk", 1.0)], [("a person kicks with the left leg", 1.0)]], torch.tensor([0.2, 0.5]), 1.0
    )
    assert conditions.pooled.shape == (2, 2, 384)
    assert conditions.tokens.shape == (2, 2, 9, 384) and conditions.token_mask.shape == (2, 2, 9)  # 7 words + 2
    assert conditions.token_mask[:, 0].sum(-1).tolist() == [3, 3] and conditions.token_mask[:, 1].all()
    # The side word alone changes the motion.
    left = pipeline("kick with the left leg", seconds=1.0, seed=0).motions[0]
    right = pipeline("kick with the right leg", seconds=1.0, seed=0).motions[0]
    assert not torch.allclose(left.rotations, right.rotations)


def test_pooled_pipeline_never_asks_for_tokens(tiny_motion_pipeline, monkeypatch):
    pipeline = tiny_motion_pipeline
    assert not pipeline.uses_text_tokens
    seen = []
    encode = pipeline.encode_prompt
    monkeypatch.setattr(pipeline, "encode_prompt", lambda prompts: seen.append(prompts) or encode(prompts))
    pipeline(timeline=[("walk", 1.0), ("jump", 1.0)], seed=0)
    assert seen == [["walk", "jump"]]
