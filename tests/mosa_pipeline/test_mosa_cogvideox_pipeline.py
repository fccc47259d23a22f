"""MoSACogVideoXPipeline end to end on tiny components (CPU): motion / skeleton video / text inputs, the skeleton
video against kinevid.render, the guidance wiring against direct model calls, CogVideoX 1.5's frame padding,
save/load, bad input as one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import CogVideoXDDIMScheduler
from mosa_cogvideox_tiny import (  # noqa: F401
    FPS,
    HEIGHT,
    NUM_FRAMES,
    TINY_COGVIDEOX,
    TINY_MOSA,
    WIDTH,
    scheduler,
    single_threaded,
    tiny_mosa,
    tiny_pipeline,
    tiny_t5,
    tiny_vae,
)

from kinevid.body import smpl24_to_coco18
from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.models.appearance import MoSACogVideoXTransformer3DModel
from kinevid.motion import Motion
from kinevid.motion.io import sample_motion_path
from kinevid.pipelines import MoSACogVideoXPipeline, MoSAPipelineOutput
from kinevid.pipelines.pipeline_mosa import NULL_PROMPT, SAMPLING_DEFAULTS
from kinevid.render import Camera, render_skeleton_maps, skeleton_maps_to_tensor
from kinevid.text import extract_motion_prompt

PROMPT = "A woman in a red dress walks forward on a beach at sunset, cinematic lighting"


@pytest.fixture(scope="module")
def pipe() -> MoSACogVideoXPipeline:
    return tiny_pipeline()


@pytest.fixture(scope="module")
def walk() -> Motion:
    return Motion.load(sample_motion_path())  # 86 frames at 30 fps


def _call(pipe, generator_seed: int = 0, **kwargs):
    defaults = {
        "height": HEIGHT, "width": WIDTH, "num_frames": NUM_FRAMES, "num_inference_steps": 2,
        "generator": torch.Generator().manual_seed(generator_seed),
    }  # fmt: skip
    return pipe(PROMPT, **{**defaults, **kwargs})


def _expected_maps(motion: Motion, camera: Camera) -> np.ndarray:
    """Skeleton maps drawn by kinevid.render directly, in [0, 1] like the pipeline's "np" output."""
    joints = motion.resample(FPS).joints[:NUM_FRAMES]
    return render_skeleton_maps(joints, camera)[0].astype(np.float32) / 255.0


def _skeleton(walk: Motion, camera: Camera) -> torch.Tensor:
    return skeleton_maps_to_tensor(render_skeleton_maps(walk.resample(FPS).joints[:NUM_FRAMES], camera)[0])


def test_defaults_come_from_the_transformer_config(pipe):
    assert (pipe.config.height, pipe.config.width, pipe.config.num_frames) == (HEIGHT, WIDTH, NUM_FRAMES)
    assert pipe.config.fps == FPS and pipe.config.guidance_scale == 6.0 and pipe.config.num_inference_steps == 50


def test_motion_to_video(pipe, walk):
    out = _call(pipe, motion=walk, guidance_scale=3.0, skeleton_guidance_scale=2.0)
    assert isinstance(out, MoSAPipelineOutput)
    assert out.frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3)
    assert np.isfinite(out.frames).all() and out.frames.min() >= 0 and out.frames.max() <= 1
    assert out.motion_prompts is None  # the structure model did not run
    motion = out.motion[0]
    assert motion.fps == FPS and motion.num_frames == NUM_FRAMES
    torch.testing.assert_close(motion.joints, walk.resample(FPS).joints[:NUM_FRAMES].float())
    # The sampled camera keeps every joint of every frame in view, and the skeleton video is its drawing.
    camera = out.cameras[0]
    pixels, depth = camera.project(smpl24_to_coco18(motion.joints).double())
    assert camera.size == (HEIGHT, WIDTH) and bool(camera.in_frame(pixels, depth).all())
    np.testing.assert_allclose(out.skeleton_video[0], _expected_maps(walk, camera), atol=1e-5)
    assert (out.skeleton_video[0].reshape(NUM_FRAMES, -1).max(-1) > 0.5).all()  # a figure in every frame


def test_skeleton_video_to_video(pipe, walk):
    camera = _call(pipe, motion=walk, output_type="latent").cameras[0]
    skeleton = _skeleton(walk, camera)  # (3, T, H, W)
    out = _call(pipe, skeleton_video=skeleton, output_type="latent")
    assert out.motion is None and out.cameras is None and out.motion_prompts is None
    torch.testing.assert_close(out.skeleton_video, skeleton[None])
    assert out.frames.shape == (1, 3, 4, HEIGHT // 8, WIDTH // 8)  # (B, F, C, H', W'): CogVideoX's layout
    # The same skeleton through the motion path gives the same latents (same noise, same condition).
    from_motion = _call(pipe, motion=walk, camera=camera, output_type="latent")
    torch.testing.assert_close(out.frames, from_motion.frames)
    # ...and the skeleton matters: another skeleton, another video.
    shifted = _call(pipe, skeleton_video=skeleton.roll(8, dims=-1), output_type="latent")
    assert not torch.allclose(out.frames, shifted.frames)
    video = _call(pipe, skeleton_video=skeleton, output_type="pt")
    assert video.frames.shape == (1, NUM_FRAMES, 3, HEIGHT, WIDTH)


def test_text_to_video_uses_the_motion_prompt(pipe, monkeypatch):
    structure_prompts, dit_prompts = [], []
    encode_structure, encode_dit = pipe.structure.encode_prompt, pipe.encode_prompt
    monkeypatch.setattr(pipe.structure, "encode_prompt", lambda p: structure_prompts.append(p) or encode_structure(p))
    monkeypatch.setattr(pipe, "encode_prompt", lambda p, d=None: dit_prompts.append(p) or encode_dit(p, d))
    out = _call(pipe, guidance_scale=2.0)
    motion_prompt = extract_motion_prompt(PROMPT)
    assert out.motion_prompts == [motion_prompt] == ["a person walks forward"]
    assert structure_prompts == [[motion_prompt]] and dit_prompts == [[PROMPT], NULL_PROMPT]
    motion = out.motion[0]
    assert motion.fps == FPS and motion.num_frames == NUM_FRAMES and torch.isfinite(motion.joints).all()
    np.testing.assert_allclose(out.skeleton_video[0], _expected_maps(motion, out.cameras[0]), atol=1e-5)
    assert out.frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3)


def test_text_is_encoded_as_cogvideox_encodes_it(pipe):
    """T5 on the tokens padded to max_text_seq_length, without attention mask (diffusers' CogVideoXPipeline)."""
    embeds = pipe.encode_prompt([PROMPT, "a man jumps"])
    length = pipe.transformer.config.max_text_seq_length
    ids = pipe.tokenizer([PROMPT, "a man jumps"], padding="max_length", max_length=length, truncation=True,
                         return_tensors="pt").input_ids  # fmt: skip
    with torch.no_grad():
        expected = pipe.text_encoder(ids).last_hidden_state
    assert embeds.shape == (2, length, pipe.transformer.config.text_embed_dim)
    torch.testing.assert_close(embeds, expected)
    assert (embeds[1, -1] != 0).all()  # padding is encoded, not zeroed


@pytest.mark.parametrize(("text_scale", "skeleton_scale"), [(4.0, 1.0), (4.0, 2.5)])
def test_guidance_matches_direct_calls(pipe, walk, text_scale, skeleton_scale):
    """u = u(x,0,0) + w_y (u(x,s,y) - u(x,s,0)) + w_s (u(x,s,0) - u(x,0,0)), from separate model calls."""
    latents = torch.randn(2, 3, 4, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(5))
    timestep = torch.tensor(700)
    camera = _call(pipe, motion=walk, output_type="latent").cameras[0]
    skeleton = _skeleton(walk, camera)
    skeleton = torch.stack([skeleton, skeleton.flip(-1)])
    text = pipe.encode_prompt([PROMPT, "a man jumps"])
    null = pipe.encode_prompt(NULL_PROMPT).expand(2, -1, -1)
    guided = pipe.predict_v(latents, timestep, text, null, skeleton, text_scale, skeleton_scale)

    model, t = pipe.transformer, timestep.expand(2)
    with torch.no_grad():
        full = model(latents, text, t, skeleton_video=skeleton).sample
        skeleton_only = model(latents, null, t, skeleton_video=skeleton).sample
        unconditional = model(latents, null, t, skeleton_video=None).sample
    expected = unconditional + text_scale * (full - skeleton_only) + skeleton_scale * (skeleton_only - unconditional)
    torch.testing.assert_close(guided, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(full, skeleton_only) and not torch.allclose(skeleton_only, unconditional)


def test_cogvideox_15_pads_latents_and_skeleton_in_front(walk):
    pipe = tiny_pipeline("1.5")
    assert pipe.padding_frames(NUM_FRAMES) == 1  # 3 latent frames, patch_size_t 2
    latent = _call(pipe, motion=walk, output_type="latent")
    skeleton = _skeleton(walk, latent.cameras[0])
    assert latent.frames.shape == (1, 4, 4, HEIGHT // 8, WIDTH // 8)
    # 4 copies of frame 0 in front: frame 0 stays alone on latent 1, frames 4i - 3 .. 4i on latent 1 + i
    assert latent.skeleton_video.shape == (1, 3, NUM_FRAMES + 4, HEIGHT, WIDTH)
    torch.testing.assert_close(latent.skeleton_video[0, :, 4:], skeleton)
    torch.testing.assert_close(latent.skeleton_video[0, :, :4], skeleton[:, :1].expand(-1, 4, -1, -1))
    # The decoded video drops the padding frame: T frames, the skeleton video unpadded.
    video = _call(pipe, motion=walk, output_type="pt")
    assert video.frames.shape == (1, NUM_FRAMES, 3, HEIGHT, WIDTH)
    torch.testing.assert_close(video.skeleton_video[0].permute(1, 0, 2, 3), skeleton * 0.5 + 0.5)
    decoded = pipe.decode_latents(latent.frames, NUM_FRAMES)
    torch.testing.assert_close(pipe.video_processor.postprocess_video(decoded, output_type="pt"), video.frames)


def test_save_and_load_round_trip(pipe, walk, tmp_path):
    path = tmp_path / "mosa_cogvideox"
    pipe.save_pretrained(path)
    for part in ("model_index.json", "transformer/config.json", "vae/config.json", "text_encoder/config.json",
                 "scheduler/scheduler_config.json", "structure/pipeline_config.json"):  # fmt: skip
        assert (path / part).is_file(), part
    assert not list(tmp_path.glob("*.partial"))
    loaded = MoSACogVideoXPipeline.from_pretrained(path)
    loaded.set_progress_bar_config(disable=True)
    for name, tensor in pipe.transformer.state_dict().items():
        torch.testing.assert_close(loaded.transformer.state_dict()[name], tensor, msg=name)
    assert {key: loaded.config[key] for key in SAMPLING_DEFAULTS} == {
        key: pipe.config[key] for key in SAMPLING_DEFAULTS
    }
    assert isinstance(loaded.scheduler, type(pipe.scheduler)) and loaded.structure is not None
    expected = _call(pipe, motion=walk, output_type="latent", guidance_scale=2.0)
    actual = _call(loaded, motion=walk, output_type="latent", guidance_scale=2.0)
    torch.testing.assert_close(actual.frames, expected.frames)
    text_expected, text_actual = _call(pipe, output_type="latent"), _call(loaded, output_type="latent")
    torch.testing.assert_close(text_actual.motion[0].joints, text_expected.motion[0].joints)
    (path / "vae" / "config.json").unlink()
    with pytest.raises(MissingWeightsError, match="vae"):
        MoSACogVideoXPipeline.from_pretrained(path)


# ---------------------------------------------------------------------- bad input
def _one_line_error(call, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as error:
        call()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("num_frames", "match"),
    [(5, r"`num_frames` must be 8k \+ 1.*got 5"), (13, r"`num_frames` must be 8k \+ 1"), (8, r"4k \+ 1.*got 8")],
)
def test_frame_count_errors_name_the_field(pipe, walk, num_frames, match):
    _one_line_error(lambda: _call(pipe, motion=walk, num_frames=num_frames), match)


def test_size_and_skeleton_errors_name_the_field(pipe, walk):
    _one_line_error(lambda: _call(pipe, motion=walk, height=40), r"height and width.*multiples of 16.*40 x 32")
    camera = _call(pipe, motion=walk, output_type="latent").cameras[0]
    skeleton = _skeleton(walk, camera)
    _one_line_error(lambda: _call(pipe, skeleton_video=skeleton[:, :5]), r"skeleton_video.*num_frames 9.*got \(3, 5")
    _one_line_error(lambda: _call(pipe, skeleton_video=skeleton[..., :16]), r"skeleton_video.*width 32")
    _one_line_error(lambda: _call(pipe, motion=walk.slice(0, 20)), r"motion\[0\]` has 6 frames at 8 fps")


def test_components_must_fit_together():
    tokenizer, t5 = tiny_t5()
    with pytest.raises(InvalidInputError, match="v_prediction"):
        MoSACogVideoXPipeline(tokenizer, t5, tiny_vae(), tiny_mosa(), CogVideoXDDIMScheduler())  # epsilon
    wide_text = MoSACogVideoXTransformer3DModel(**{**TINY_COGVIDEOX, "text_embed_dim": 32}, **TINY_MOSA)
    with pytest.raises(InvalidInputError, match="text_embed_dim"):
        MoSACogVideoXPipeline(tokenizer, t5, tiny_vae(), wide_text, scheduler())
