"""EchoMotionPipeline end to end on tiny components (CPU): modes, guidance wiring, save/load, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler
from echomotion_tiny import single_threaded  # noqa: F401 - autouse fixture
from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

from kinevid.errors import InvalidInputError
from kinevid.models.appearance import EchoMotionTransformer3DModel
from kinevid.motion.codecs import MotionNormalizer, encode_echomotion
from kinevid.motion.motion import Motion
from kinevid.pipelines import EchoMotionPipeline, KinevidPipelineOutput
from kinevid.text.minilm import bundled_minilm_dir

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
    transformer = EchoMotionTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=16,
        freq_dim=32,
        ffn_dim=32,
        num_layers=2,
        rope_max_seq_len=32,
    ).eval()
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


def test_unipc_scheduler_and_batch(pipe):
    components = _components(
        UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=8.0)
    )
    out = _call(EchoMotionPipeline(**components), prompt=["a person runs", "a person waves"], output_type="pt")
    assert out.frames.shape == (2, NUM_FRAMES, 3, HEIGHT, WIDTH) and len(out.motion) == 2


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
