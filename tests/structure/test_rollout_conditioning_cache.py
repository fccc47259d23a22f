"""The per-rollout conditioning cache: `MotionPrimitiveDiffusionModel.precompute_conditioning` gives the
outputs of the plain call, and a cached rollout (`TextToMotionPipeline.cache_conditioning`) the motions
of the uncached one, which recomputes everything in every call and steps with `DDIMScheduler.step`."""

from __future__ import annotations

import pytest
import torch

from kinevid.models.structure import MotionPrimitiveDiffusionModel
from kinevid.models.structure.motion_diffusion import MotionConditioning
from kinevid.pipelines import TextToMotionPipeline
from kinevid.recipes.structure import DiffusionConfig

H, F, D = 2, 4, 223


def tiny_model(text_conditioning: str) -> MotionPrimitiveDiffusionModel:
    """Random, perturbed off its zero init (adaLN, gates and cross-attention outputs all act)."""
    torch.manual_seed(0)
    model = MotionPrimitiveDiffusionModel(
        num_history_frames=H, num_future_frames=F, hidden_dim=24, num_layers=2, num_heads=2, dropout=0.0,
        text_conditioning=text_conditioning, cross_attention_dim=8,
    )  # fmt: skip
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


def call_inputs(batch_size: int, with_history: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch_size, 5, 384, generator=generator)
    token_mask = torch.ones(batch_size, 5, dtype=torch.bool)
    token_mask[0, 3:] = False  # a shorter prompt: padded tokens
    return {
        "sample": torch.randn(batch_size, F, D, generator=generator),
        "history": torch.randn(batch_size, H, D, generator=generator),
        "history_mask": torch.full((batch_size,), with_history),
        "text_embeds": torch.nn.functional.normalize(torch.randn(batch_size, 384, generator=generator), dim=-1),
        "text_tokens": tokens,
        "text_token_mask": token_mask,
    }


TEXT_MASKS = {"kept": [True, True, True], "dropped": [False, False, False], "guidance-like": [True, False, True]}


@pytest.mark.parametrize("text_conditioning", ["pooled", "tokens"])
@pytest.mark.parametrize("text", list(TEXT_MASKS))
@pytest.mark.parametrize("with_history", [False, True])
def test_cached_forward_equals_plain_forward(text_conditioning: str, text: str, with_history: bool) -> None:
    model = tiny_model(text_conditioning)
    inputs = call_inputs(3, with_history)
    text_mask = torch.tensor(TEXT_MASKS[text])
    text_args = {k: inputs[k] for k in ("text_embeds", "text_tokens", "text_token_mask")}
    timesteps = torch.tensor([999, 600, 250, 0])
    conditioning = model.precompute_conditioning(timesteps, text_mask=text_mask, **text_args)
    assert len(conditioning) == len(timesteps)
    motion = (inputs["sample"], inputs["history"], inputs["history_mask"])

    def call(timestep: torch.Tensor, cached: MotionConditioning | None, **text) -> torch.Tensor:
        sample, history, history_mask = motion
        with torch.no_grad():
            return model(sample, timestep, history, history_mask, text_mask=text_mask, **text, conditioning=cached)

    outputs = []
    for timestep, cached in zip(timesteps, conditioning, strict=True):
        actual = call(timestep, cached, **text_args)
        torch.testing.assert_close(actual, call(timestep, None, **text_args), atol=1e-6, rtol=0)
        outputs.append(actual)
    # The check can fail: the conditioning matters (another timestep's gives another output).
    assert not torch.allclose(outputs[0], outputs[-1], atol=1e-3)
    if text_conditioning == "tokens" and text != "dropped":
        assert conditioning[0].key_values is not None and len(conditioning[0].key_values) == len(model.blocks)
        other_tokens = dict(text_args, text_tokens=text_args["text_tokens"].flip(1))
        other = model.precompute_conditioning(timesteps[:1], text_mask=text_mask, **other_tokens)[0]
        assert not torch.allclose(call(timesteps[0], other, **text_args), outputs[0], atol=1e-4)  # tokens are read


def test_cached_forward_with_pooled_mask_and_per_sample_timesteps() -> None:
    model = tiny_model("tokens")
    inputs = call_inputs(3, with_history=True, seed=1)
    text_args = {k: inputs[k] for k in ("text_embeds", "text_tokens", "text_token_mask")}
    text_mask, pooled_mask = torch.tensor([True, True, False]), torch.tensor([False, True, True])
    timesteps = torch.tensor([[900, 500, 100], [400, 0, 700]])  # (T, B)
    conditioning = model.precompute_conditioning(timesteps, text_mask=text_mask, pooled_mask=pooled_mask, **text_args)
    position = (inputs["sample"], inputs["history"], inputs["history_mask"])
    with torch.no_grad():
        for timestep, cached in zip(timesteps, conditioning, strict=True):
            sample, history, history_mask = position
            common = {"text_mask": text_mask, "pooled_mask": pooled_mask, **text_args}
            expected = model(sample, timestep, history, history_mask, **common)
            actual = model(sample, timestep, history, history_mask, **common, conditioning=cached)
            torch.testing.assert_close(actual, expected, atol=1e-6, rtol=0)


def test_conditioning_of_another_batch_size_is_rejected_and_clone_copies() -> None:
    model = tiny_model("tokens")
    inputs = call_inputs(3, with_history=True)
    text_args = {k: inputs[k] for k in ("text_embeds", "text_tokens", "text_token_mask")}
    conditioning = model.precompute_conditioning(
        torch.tensor([10]), text_mask=torch.ones(3, dtype=torch.bool), **text_args
    )[0]
    copy = conditioning.clone()
    assert isinstance(copy, MotionConditioning) and copy.batch_size == 3
    assert copy.output_modulation[0] is not conditioning.output_modulation[0]
    torch.testing.assert_close(copy.block_modulations[1][2], conditioning.block_modulations[1][2], atol=0, rtol=0)
    sample = inputs["sample"][:2]
    with pytest.raises(ValueError, match="conditioning"):
        model(sample, torch.tensor(10), inputs["history"][:2], inputs["history_mask"][:2], inputs["text_embeds"][:2],
              torch.ones(2, dtype=torch.bool), conditioning=conditioning)  # fmt: skip


def pipeline_for(text_conditioning: str, pooled_encoder, word_token_encoder) -> TextToMotionPipeline:
    encoder = word_token_encoder if text_conditioning == "tokens" else pooled_encoder
    return TextToMotionPipeline(
        tiny_model(text_conditioning),
        DiffusionConfig().sampling_scheduler(),
        text_encoder=encoder,
        num_inference_steps=3,
    )


def count_calls(module: torch.nn.Module) -> list[int]:
    count = [0]
    module.register_forward_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    return count


def assert_same_motions(actual, expected, atol: float) -> None:
    assert len(actual) == len(expected)
    for motion, reference in zip(actual, expected, strict=True):
        torch.testing.assert_close(motion.rotations, reference.rotations, atol=atol, rtol=0)
        torch.testing.assert_close(motion.translation, reference.translation, atol=atol, rtol=0)


ROLLOUTS = {
    "guided batch": {"prompt": ["walk forward now", "jump"], "seconds": 2.0},
    "contact guidance": {"prompt": ["walk forward now", "jump"], "seconds": 2.0, "contact_guidance_scale": 0.5},
    "no classifier-free guidance": {"prompt": "jump", "seconds": 1.5, "guidance_scale": 1.0, "start": "motion"},
    "timeline": {"timeline": [("walk forward", 1.0), ("jump high", 1.0)]},
}


@pytest.mark.parametrize("text_conditioning", ["pooled", "tokens"])
@pytest.mark.parametrize("rollout", list(ROLLOUTS))
def test_cached_rollout_equals_uncached_rollout(
    text_conditioning: str, rollout: str, tiny_motion_pipeline, word_token_encoder
) -> None:
    pipeline = pipeline_for(text_conditioning, tiny_motion_pipeline.text_encoder, word_token_encoder)
    kwargs = dict(ROLLOUTS[rollout], seed=0)
    time_mlp_calls = count_calls(pipeline.model.time_embedding)
    cached = pipeline(**kwargs).motions
    cached_calls = time_mlp_calls[0]
    pipeline.cache_conditioning = False
    time_mlp_calls[0] = 0
    uncached = pipeline(**kwargs).motions
    num_calls = time_mlp_calls[0]  # uncached: one timestep MLP pass per denoiser call
    # The cache was used: one pass per timestep and distinct chunk text (a timeline has a walk
    # stretch, cross-fading chunks and a jump stretch), not one per call.
    assert num_calls >= 12
    if rollout == "timeline":
        assert 3 * 3 <= cached_calls < num_calls
    else:
        assert cached_calls == 3
    assert_same_motions(cached, uncached, atol=1e-5)
    # ... and the comparison can fail: another seed gives other motions.
    other = pipeline(**dict(kwargs, seed=1)).motions
    assert not torch.allclose(other[0].translation, uncached[0].translation, atol=1e-3)


def test_models_without_conditioning_argument_are_called_plainly(tiny_motion_pipeline) -> None:
    class PlainForward(MotionPrimitiveDiffusionModel):
        def forward(self, sample, timestep, history, history_mask, text_embeds, text_mask):
            return super().forward(sample, timestep, history, history_mask, text_embeds, text_mask)

    tiny = tiny_motion_pipeline
    model = PlainForward(**tiny.model.config)
    model.load_state_dict(tiny.model.state_dict())
    plain = TextToMotionPipeline(model, tiny.scheduler, text_encoder=tiny.text_encoder, num_inference_steps=2)
    assert not plain.supports_conditioning_cache and tiny.supports_conditioning_cache
    expected = tiny("a person jumps", seconds=1.0, seed=0).motions
    assert_same_motions(plain("a person jumps", seconds=1.0, seed=0).motions, expected, atol=1e-5)


def test_shipped_rollout_is_unchanged_by_the_cache(tiny_motion_pipeline) -> None:
    """The shipped denoiser (with the tiny pipeline's hashing text encoder), contact guidance on and off."""
    pipeline = TextToMotionPipeline.from_pretrained(text_encoder=tiny_motion_pipeline.text_encoder)
    for kwargs in (
        {"prompt": ["a person walks", "a person jumps"], "seconds": 3.0, "contact_guidance_scale": 0.5},
        {"prompt": "a person waves", "seconds": 2.0, "contact_guidance_scale": 0.0, "start": "rest"},
    ):
        pipeline.cache_conditioning = True
        cached = pipeline(**kwargs, seed=0).motions
        pipeline.cache_conditioning = False
        assert_same_motions(cached, pipeline(**kwargs, seed=0).motions, atol=1e-5)
