"""EchoMotionPipeline end to end on tiny components (CPU): modes, guidance wiring, save/load, errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler
from echomotion_tiny import single_threaded  # noqa: F401 - autouse fixture
from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

from kinevid.diffusion.echomotion_training import EchoMotionTrainingConfig, EchoMotionTrainingRecipe
from kinevid.errors import InvalidInputError
from kinevid.models.appearance import EchoMotionTransformer3DModel
from kinevid.motion.codecs import MotionNormalizer, encode_echomotion
from kinevid.motion.motion import Motion
from kinevid.pipelines import EchoMotionPipeline, KinevidPipelineOutput
from kinevid.pipelines.pipeline_echomotion import encode_prompt_embeds
from kinevid.text.minilm import bundled_minilm_dir
from tiny_models import tiny_wan_config

HEIGHT = WIDTH = 16
NUM_FRAMES = 5
TEXT_LEN = 8


def _components(scheduler=None) -> dict:
    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_dir(), local_files_only=True)
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=tokenizer.vocab_size, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2)
    ).eval()
    torch.manual_seed(0)
    transformer = EchoMotionTransformer3DModel(**tiny_wan_config(in_channels=16, out_channels=16)).eval()
    generator = torch.Generator().manual_seed(1)
    transformer.set_motion_normalizer(
        MotionNormalizer(torch.randn(235, generator=generator) * 0.1, torch.rand(235, generator=generator) + 0.5)
    )
    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    ).eval()
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "transformer": transformer,
        "vae": vae,
        "scheduler": scheduler or FlowMatchEulerDiscreteScheduler(shift=8.0),
    }


@pytest.fixture(scope="module")
def pipe() -> EchoMotionPipeline:
    return EchoMotionPipeline(**_components())


def _call(pipe, **kwargs):
    options = {
        "prompt": "a person jumps",
        "height": HEIGHT,
        "width": WIDTH,
        "num_frames": NUM_FRAMES,
        "num_inference_steps": 2,
        "guidance_scale": 3.0,
        "generator": torch.Generator().manual_seed(0),
        "max_sequence_length": TEXT_LEN,
    }
    return pipe(**{**options, **kwargs})


def _walk_motion(num_frames: int = NUM_FRAMES, fps: float = 16.0) -> Motion:
    rotations = torch.eye(3).expand(num_frames, 24, 3, 3).clone()
    translation = torch.stack([torch.zeros(num_frames), torch.zeros(num_frames), torch.linspace(0, 0.5, num_frames)], 1)
    return Motion(rotations=rotations, translation=translation, fps=fps)


def test_text_to_video_and_motion_end_to_end(pipe):
    out = _call(pipe)
    assert isinstance(out, KinevidPipelineOutput)
    assert isinstance(out.frames, np.ndarray) and out.frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3)
    assert out.frames.min() >= 0 and out.frames.max() <= 1
    assert len(out.motion) == 1 and isinstance(out.motion[0], Motion)
    assert out.motion[0].num_frames == NUM_FRAMES and out.motion[0].fps == 16.0
    assert out.motion_features.shape == (1, NUM_FRAMES, 235) and torch.isfinite(out.motion_features).all()
    again = _call(pipe)
    assert np.array_equal(out.frames, again.frames) and torch.equal(out.motion_features, again.motion_features)


def _unipc() -> UniPCMultistepScheduler:
    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=8.0)


def _guided_velocities(model, mode, video, motion, t, text, negative, scale, motion_scale):
    """The guided `(video, motion)` velocities of `mode`, written out from direct transformer calls."""
    batch_size = text.shape[0]
    noisy, clean = t.expand(batch_size), torch.zeros(batch_size)
    task = torch.full((batch_size,), {"t2vm": 0, "m2v": 1, "v2m": 2}[mode])
    if mode == "t2vm":
        cond = model(video, noisy, text, motion_hidden_states=motion, motion_timestep=noisy, task=task)
        uncond = model(video, noisy, negative, motion_hidden_states=motion, motion_timestep=noisy, task=task)
        return (
            uncond.sample + scale * (cond.sample - uncond.sample),
            uncond.motion_sample + scale * (cond.motion_sample - uncond.motion_sample),
        )
    if mode == "m2v":
        full = model(video, noisy, text, motion_hidden_states=motion, motion_timestep=clean, task=task).sample
        motion_only = model(video, noisy, negative, motion_hidden_states=motion, motion_timestep=clean, task=task)
        unconditional = model(video, noisy, negative).sample
        guided = (
            unconditional + scale * (full - motion_only.sample) + motion_scale * (motion_only.sample - unconditional)
        )
        return guided, None
    with_video = model(video, clean, negative, motion_hidden_states=motion, motion_timestep=noisy, task=task)
    without_video = model(None, None, negative, motion_hidden_states=motion, motion_timestep=noisy, task=task)
    return None, without_video.motion_sample + scale * (with_video.motion_sample - without_video.motion_sample)


def _reference_sampling(pipe, mode, video, motion, text, negative, steps, scale, motion_scale=1.0):
    """Denoise from direct transformer calls, each generated modality with its own fresh scheduler."""
    schedulers = {"video": copy.deepcopy(pipe.scheduler), "motion": copy.deepcopy(pipe.scheduler)}
    for scheduler in schedulers.values():
        scheduler.set_timesteps(steps)
    with torch.no_grad():
        for t in schedulers["video"].timesteps:
            video_velocity, motion_velocity = _guided_velocities(
                pipe.transformer, mode, video, motion, t, text, negative, scale, motion_scale
            )
            if video_velocity is not None:
                video = schedulers["video"].step(video_velocity, t, video, return_dict=False)[0]
            if motion_velocity is not None:
                motion = schedulers["motion"].step(motion_velocity, t, motion, return_dict=False)[0]
    return video, motion


def _clean_conditions(pipe, motion: Motion, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The m2v motion and the v2m video as the transformer sees them (normalised, clean)."""
    vae = pipe.vae
    mean = torch.tensor(vae.config.latents_mean).view(1, 16, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, 16, 1, 1, 1)
    with torch.no_grad():
        clean_video = (vae.encode(video).latent_dist.mode() - mean) / std
    clean_motion = pipe.transformer.motion_normalizer().normalize(encode_echomotion(motion))[None]
    return clean_motion, clean_video


@pytest.mark.parametrize("scheduler", ["euler", "unipc"])
@pytest.mark.parametrize("mode", ["t2vm", "m2v", "v2m"])
def test_guided_sampling_equals_direct_model_calls_with_independent_schedulers(mode, scheduler):
    pipe = EchoMotionPipeline(**_components(_unipc() if scheduler == "unipc" else None))
    generator = torch.Generator().manual_seed(21)
    latents = torch.randn(1, 16, 2, 2, 2, generator=generator)
    motion_latents = torch.randn(1, NUM_FRAMES, 235, generator=generator)
    video = torch.rand(1, 3, NUM_FRAMES, HEIGHT, WIDTH, generator=generator) * 2 - 1
    motion = _walk_motion()
    text = pipe.encode_prompt("a person jumps", max_sequence_length=TEXT_LEN)
    negative = pipe.encode_prompt("", max_sequence_length=TEXT_LEN)
    clean_motion, clean_video = _clean_conditions(pipe, motion, video)
    given = {
        "t2vm": {"latents": latents, "motion_latents": motion_latents},
        "m2v": {"latents": latents, "motion": motion},
        "v2m": {"motion_latents": motion_latents, "video": video},
    }[mode]
    steps, scale, motion_scale = 3, 4.0, 2.5
    out = _call(
        pipe,
        mode=mode,
        num_inference_steps=steps,
        guidance_scale=scale,
        motion_guidance_scale=motion_scale,
        output_type="latent",
        **given,
    )
    start_video = clean_video if mode == "v2m" else latents
    start_motion = clean_motion if mode == "m2v" else motion_latents
    expected_video, expected_motion = _reference_sampling(
        pipe, mode, start_video, start_motion, text, negative, steps, scale, motion_scale
    )
    if mode != "v2m":
        torch.testing.assert_close(out.frames, expected_video, atol=1e-4, rtol=1e-4)
    expected_features = pipe.transformer.motion_normalizer().denormalize(expected_motion)
    torch.testing.assert_close(out.motion_features, expected_features, atol=1e-4, rtol=1e-4)


def test_stepping_one_modality_leaves_the_other_schedulers_state_alone(monkeypatch):
    pipe = EchoMotionPipeline(**_components(_unipc()))
    calls = []
    step = UniPCMultistepScheduler.step

    def recording_step(self, model_output, timestep, sample, *args, **kwargs):
        others = {id(s): _scheduler_state(s) for s in {c["scheduler"] for c in calls} - {self}}
        result = step(self, model_output, timestep, sample, *args, **kwargs)
        after = {id(s): _scheduler_state(s) for s in {c["scheduler"] for c in calls} - {self}}
        calls.append({"scheduler": self, "shape": tuple(sample.shape), "others_unchanged": others == after})
        return result

    monkeypatch.setattr(UniPCMultistepScheduler, "step", recording_step)
    _call(pipe, num_inference_steps=3)
    video_calls = [c for c in calls if len(c["shape"]) == 5]
    motion_calls = [c for c in calls if len(c["shape"]) == 3]
    assert len(video_calls) == len(motion_calls) == 3
    assert len({id(c["scheduler"]) for c in video_calls}) == 1 and len({id(c["scheduler"]) for c in motion_calls}) == 1
    assert video_calls[0]["scheduler"] is not motion_calls[0]["scheduler"]
    assert pipe.scheduler not in (video_calls[0]["scheduler"], motion_calls[0]["scheduler"])
    assert all(c["others_unchanged"] for c in calls)
    assert pipe.scheduler.step_index is None  # the pipeline's own scheduler is never stepped


def _scheduler_state(scheduler) -> tuple:
    history = tuple(None if x is None else x.clone() for x in scheduler.model_outputs)
    return (
        scheduler.step_index,
        scheduler.lower_order_nums,
        tuple(None if x is None else (tuple(x.shape), float(x.double().sum())) for x in history),
        None if scheduler.last_sample is None else float(scheduler.last_sample.double().sum()),
    )


def test_batch_rows_equal_single_prompt_runs_with_unipc():
    pipe = EchoMotionPipeline(**_components(_unipc()))
    generator = torch.Generator().manual_seed(4)
    latents = torch.randn(2, 16, 2, 2, 2, generator=generator)
    motion_latents = torch.randn(2, NUM_FRAMES, 235, generator=generator)
    prompts = ["a person runs", "a person waves"]
    batched = _call(pipe, prompt=prompts, latents=latents, motion_latents=motion_latents, output_type="pt")
    assert batched.frames.shape == (2, NUM_FRAMES, 3, HEIGHT, WIDTH) and len(batched.motion) == 2
    for i, prompt in enumerate(prompts):
        single = _call(
            pipe, prompt=prompt, latents=latents[i : i + 1], motion_latents=motion_latents[i : i + 1], output_type="pt"
        )
        torch.testing.assert_close(batched.frames[i], single.frames[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batched.motion_features[i], single.motion_features[0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(batched.motion_features[0], batched.motion_features[1])


def _one_euler_step_inputs(pipe):
    generator = torch.Generator().manual_seed(3)
    latents = torch.randn(1, 16, 2, 2, 2, generator=generator)
    motion_latents = torch.randn(1, NUM_FRAMES, 235, generator=generator)
    text = pipe.encode_prompt("a person jumps", max_sequence_length=TEXT_LEN)
    negative = pipe.encode_prompt("", max_sequence_length=TEXT_LEN)
    return latents, motion_latents, text, negative


def test_motion_to_video_applies_the_in_context_cfg_formula(pipe):
    latents, _, text, negative = _one_euler_step_inputs(pipe)
    motion = _walk_motion()
    out = _call(
        pipe,
        mode="m2v",
        motion=motion,
        latents=latents,
        num_inference_steps=1,
        output_type="latent",
        guidance_scale=4.0,
        motion_guidance_scale=2.5,
    )
    model = pipe.transformer
    clean_motion = model.motion_normalizer().normalize(encode_echomotion(motion))[None]
    t, zero, task = torch.tensor([1000.0]), torch.tensor([0.0]), torch.tensor([1])
    with torch.no_grad():
        full = model(latents, t, text, motion_hidden_states=clean_motion, motion_timestep=zero, task=task).sample
        motion_only = model(
            latents, t, negative, motion_hidden_states=clean_motion, motion_timestep=zero, task=task
        ).sample
        unconditional = model(latents, t, negative).sample
    guided = unconditional + 4.0 * (full - motion_only) + 2.5 * (motion_only - unconditional)
    # one Euler step from sigma 1 to 0: x_0 = x_1 - v
    torch.testing.assert_close(out.frames, latents - guided, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.motion_features[0], encode_echomotion(motion), atol=1e-5, rtol=1e-5)


def test_video_to_motion_drops_text_and_guides_on_the_video(pipe):
    _, motion_latents, _, negative = _one_euler_step_inputs(pipe)
    video = torch.rand(1, 3, NUM_FRAMES, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(5)) * 2 - 1
    out = _call(pipe, mode="v2m", video=video, motion_latents=motion_latents, num_inference_steps=1, guidance_scale=3.0)
    assert out.frames is None and out.motion[0].num_frames == NUM_FRAMES
    model, vae = pipe.transformer, pipe.vae
    with torch.no_grad():
        mean = torch.tensor(vae.config.latents_mean).view(1, 16, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std).view(1, 16, 1, 1, 1)
        clean_video = (vae.encode(video).latent_dist.mode() - mean) / std
        t, zero, task = torch.tensor([1000.0]), torch.tensor([0.0]), torch.tensor([2])
        with_video = model(
            clean_video, zero, negative, motion_hidden_states=motion_latents, motion_timestep=t, task=task
        )
        without_video = model(None, None, negative, motion_hidden_states=motion_latents, motion_timestep=t, task=task)
    guided = without_video.motion_sample + 3.0 * (with_video.motion_sample - without_video.motion_sample)
    expected = model.motion_normalizer().denormalize(motion_latents - guided)
    torch.testing.assert_close(out.motion_features, expected, atol=1e-4, rtol=1e-4)


def test_training_drops_text_to_the_null_text_the_pipeline_guides_with():
    """One null text: what training replaces a dropped prompt with is the pipeline's encoding of ""."""
    pipe = EchoMotionPipeline(**_components())
    model = pipe.transformer
    calls = []
    model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(args[2].clone()), with_kwargs=True)
    null_text = encode_prompt_embeds(pipe.tokenizer, pipe.text_encoder, "", TEXT_LEN)[0]
    recipe = EchoMotionTrainingRecipe(model, 1, EchoMotionTrainingConfig(text_dropout=1.0), null_text_embeds=null_text)
    text = pipe.encode_prompt(["a person runs", "a person waves"], max_sequence_length=TEXT_LEN)
    with torch.no_grad():
        recipe.training_step({"motion": torch.randn(2, NUM_FRAMES, 235), "encoder_hidden_states": text})
    seen = []

    def callback(pipeline, step, timestep, tensors):
        seen.append(tensors["negative_prompt_embeds"])
        return {}

    _call(
        pipe,
        num_inference_steps=1,
        callback_on_step_end=callback,
        callback_on_step_end_tensor_inputs=["negative_prompt_embeds"],
    )
    for pipeline_null in (pipe.encode_prompt("", max_sequence_length=TEXT_LEN), seen[0]):
        torch.testing.assert_close(calls[0], pipeline_null.expand(2, -1, -1), atol=0, rtol=0)
    assert null_text[2:].abs().sum() == 0 and null_text[:2].abs().sum() > 0  # [CLS] [SEP], then padding


def test_save_and_load_round_trip(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = EchoMotionPipeline.from_pretrained(tmp_path / "pipe")
    assert isinstance(loaded.transformer, EchoMotionTransformer3DModel)
    a, b = _call(pipe, num_inference_steps=1), _call(loaded, num_inference_steps=1)
    assert np.allclose(a.frames, b.frames, atol=1e-6)
    torch.testing.assert_close(a.motion_features, b.motion_features)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_frames": 6}, r"4k \+ 1"),
        ({"height": 20}, "multiples of 16"),
        ({"mode": "t2m"}, "mode"),
        ({"mode": "m2v"}, "needs `motion`"),
        ({"mode": "v2m"}, "needs `video`"),
        ({"mode": "m2v", "motion": "walk.npz"}, "kinevid Motion"),
        ({"mode": "v2m", "video": torch.full((1, 3, NUM_FRAMES, HEIGHT, WIDTH), 2.0)}, r"\[-1, 1\]"),
        ({"mode": "v2m", "video": torch.zeros(1, 3, 9, HEIGHT, WIDTH)}, "shape"),
        ({"latents": torch.zeros(1, 16, 3, 2, 2)}, "`latents` must have shape"),
        ({"mode": "t2vm", "motion": "walk.npz"}, "only used in mode 'm2v'"),
    ],
)
def test_bad_inputs_raise_clear_errors(pipe, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        _call(pipe, **kwargs)


def test_initial_noise_for_the_conditioning_modality_is_rejected(pipe):
    video = torch.zeros(1, 3, NUM_FRAMES, HEIGHT, WIDTH)
    with pytest.raises(InvalidInputError, match=r"`motion_latents`.*'m2v'"):
        _call(pipe, mode="m2v", motion=_walk_motion(), motion_latents=torch.zeros(1, NUM_FRAMES, 235))
    with pytest.raises(InvalidInputError, match=r"`latents`.*'v2m'"):
        _call(pipe, mode="v2m", video=video, latents=torch.zeros(1, 16, 2, 2, 2))


def test_initial_noise_of_the_generated_modality_is_honoured(pipe):
    generator = torch.Generator().manual_seed(11)
    latents = torch.randn(1, 16, 2, 2, 2, generator=generator)
    motion_latents = torch.randn(1, NUM_FRAMES, 235, generator=generator)
    video = torch.zeros(1, 3, NUM_FRAMES, HEIGHT, WIDTH)
    cases = {
        "t2vm": {"latents": latents, "motion_latents": motion_latents},
        "m2v": {"motion": _walk_motion(), "latents": latents},
        "v2m": {"video": video, "motion_latents": motion_latents},
    }
    for mode, given in cases.items():
        a, b = (
            _call(pipe, mode=mode, generator=torch.Generator().manual_seed(seed), output_type="latent", **given)
            for seed in (0, 1)
        )
        # with all initial noise given, the generator has nothing left to draw
        assert torch.equal(a.motion_features, b.motion_features), mode
        if mode != "v2m":
            assert torch.equal(a.frames, b.frames), mode


def test_motion_with_wrong_length_is_rejected(pipe):
    with pytest.raises(InvalidInputError, match="slice it"):
        _call(pipe, mode="m2v", motion=_walk_motion(num_frames=7))


def test_step_callback_sees_and_replaces_both_modalities(pipe):
    seen = []

    def callback(pipeline, step, timestep, tensors):
        seen.append((step, tensors["latents"].shape, tensors["motion_latents"].shape))
        return {"motion_latents": torch.zeros_like(tensors["motion_latents"])}

    out = _call(pipe, num_inference_steps=2, callback_on_step_end=callback)
    assert [s[0] for s in seen] == [0, 1]
    assert seen[0][1] == (1, 16, 2, 2, 2) and seen[0][2] == (1, NUM_FRAMES, 235)
    expected = pipe.transformer.motion_normalizer().denormalize(torch.zeros(1, NUM_FRAMES, 235))
    torch.testing.assert_close(out.motion_features, expected)
