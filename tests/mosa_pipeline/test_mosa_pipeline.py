"""MoSAPipeline end to end on tiny components (CPU): motion / skeleton video / text inputs, the skeleton
video against kinevid.render, two-condition guidance against direct model calls, save/load, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mosa_pipeline_tiny import FPS, HEIGHT, NUM_FRAMES, WIDTH, single_threaded, text_encoder, tiny_pipeline  # noqa: F401

from kinevid.body import smpl24_to_coco18
from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.motion import Motion
from kinevid.motion.io import sample_motion_path
from kinevid.pipelines import MoSAPipeline, MoSAPipelineOutput
from kinevid.pipelines.pipeline_mosa import NULL_PROMPT, encode_text
from kinevid.render import Camera, render_skeleton_maps, skeleton_maps_to_tensor
from kinevid.text import extract_motion_prompt

PROMPT = "A woman in a red dress walks forward on a beach at sunset, cinematic lighting"


@pytest.fixture(scope="module")
def pipe() -> MoSAPipeline:
    pipeline = tiny_pipeline()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


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
    assert camera.size == (HEIGHT, WIDTH)
    pixels, depth = camera.project(smpl24_to_coco18(motion.joints).double())
    assert bool(camera.in_frame(pixels, depth).all())
    np.testing.assert_allclose(out.skeleton_video[0], _expected_maps(walk, camera), atol=1e-5)
    assert (out.skeleton_video[0].reshape(NUM_FRAMES, -1).max(-1) > 0.5).all()  # a figure in every frame


def test_given_camera_is_used(pipe, walk):
    joints = walk.resample(FPS).joints[:NUM_FRAMES]
    centre = joints.reshape(-1, 3).mean(0)
    camera = Camera.look_at(centre + torch.tensor([1.0, 0.3, 3.0]), centre, WIDTH, HEIGHT, fov_degrees=60)
    out = _call(pipe, motion=walk, camera=camera, output_type="pt")
    assert out.cameras[0] is camera
    assert out.frames.shape == (1, NUM_FRAMES, 3, HEIGHT, WIDTH)
    np.testing.assert_allclose(
        out.skeleton_video[0].permute(0, 2, 3, 1).numpy(), _expected_maps(walk, camera), atol=1e-5
    )


def test_sampled_camera_is_seeded(pipe, walk):
    first = _call(pipe, generator_seed=3, motion=walk, output_type="latent").cameras[0]
    again = _call(pipe, generator_seed=3, motion=walk, output_type="latent").cameras[0]
    other = _call(pipe, generator_seed=4, motion=walk, output_type="latent").cameras[0]
    torch.testing.assert_close(first.rotation, again.rotation)
    assert not torch.allclose(first.rotation, other.rotation)


def test_skeleton_video_to_video(pipe, walk):
    camera = _call(pipe, motion=walk, output_type="latent").cameras[0]
    maps = render_skeleton_maps(walk.resample(FPS).joints[:NUM_FRAMES], camera)[0]
    skeleton = skeleton_maps_to_tensor(maps)  # (3, T, H, W)
    out = _call(pipe, skeleton_video=skeleton, output_type="latent")
    assert out.motion is None and out.cameras is None and out.motion_prompts is None
    torch.testing.assert_close(out.skeleton_video, skeleton[None])
    assert out.frames.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    # The same skeleton through the motion path gives the same latents (same noise, same condition).
    from_motion = _call(pipe, motion=walk, camera=camera, output_type="latent")
    torch.testing.assert_close(out.frames, from_motion.frames)
    # ...and the skeleton matters: another skeleton, another video.
    shifted = _call(pipe, skeleton_video=skeleton.roll(8, dims=-1), output_type="latent")
    assert not torch.allclose(out.frames, shifted.frames)


def test_text_to_video_uses_the_motion_prompt(pipe, monkeypatch):
    structure_prompts, dit_prompts = [], []
    encode_structure, encode_dit = pipe.structure.encode_prompt, pipe.encode_prompt
    monkeypatch.setattr(pipe.structure, "encode_prompt", lambda p: structure_prompts.append(p) or encode_structure(p))
    monkeypatch.setattr(pipe, "encode_prompt", lambda p, d=None: dit_prompts.append(p) or encode_dit(p, d))
    out = _call(pipe, guidance_scale=2.0)
    motion_prompt = extract_motion_prompt(PROMPT)
    assert out.motion_prompts == [motion_prompt] == ["a person walks forward"]
    assert structure_prompts == [[motion_prompt]]
    assert dit_prompts == [[PROMPT], NULL_PROMPT]
    motion = out.motion[0]
    assert motion.fps == FPS and motion.num_frames == NUM_FRAMES and torch.isfinite(motion.joints).all()
    np.testing.assert_allclose(out.skeleton_video[0], _expected_maps(motion, out.cameras[0]), atol=1e-5)
    assert out.frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3)


def test_batch_of_prompts_and_determinism(pipe, walk):
    prompts = [PROMPT, "a man jumps"]
    generator = torch.Generator().manual_seed(0)
    kwargs = {"height": HEIGHT, "width": WIDTH, "num_frames": NUM_FRAMES, "num_inference_steps": 2}
    out = pipe(prompts, motion=walk, output_type="latent", generator=generator, **kwargs)
    again = pipe(prompts, motion=walk, output_type="latent", generator=torch.Generator().manual_seed(0), **kwargs)
    assert out.frames.shape[0] == 2 and len(out.motion) == 2 and len(out.cameras) == 2
    torch.testing.assert_close(out.frames, again.frames)


@pytest.mark.parametrize(("text_scale", "skeleton_scale"), [(1.0, 1.0), (4.0, 1.0), (1.0, 3.0), (4.0, 2.5)])
def test_two_condition_guidance_matches_direct_calls(pipe, walk, text_scale, skeleton_scale):
    """v = u(x,0,0) + w_y (u(x,s,y) - u(x,s,0)) + w_s (u(x,s,0) - u(x,0,0)), from separate model calls."""
    generator = torch.Generator().manual_seed(5)
    latents = torch.randn(2, 16, 2, HEIGHT // 8, WIDTH // 8, generator=generator)
    timestep = torch.tensor(700.0)
    camera = _call(pipe, motion=walk, output_type="latent").cameras[0]
    skeleton = skeleton_maps_to_tensor(render_skeleton_maps(walk.resample(FPS).joints[:NUM_FRAMES], camera)[0])
    skeleton = torch.stack([skeleton, skeleton.flip(-1)])
    text = pipe.encode_prompt([PROMPT, "a man jumps"])
    null = pipe.encode_prompt(NULL_PROMPT).expand(2, -1, -1)
    guided = pipe.predict_velocity(latents, timestep, text, null, skeleton, text_scale, skeleton_scale)

    model, t = pipe.transformer, timestep.expand(2)
    with torch.no_grad():
        full = model(latents, t, text, skeleton_video=skeleton).sample
        skeleton_only = model(latents, t, null, skeleton_video=skeleton).sample
        unconditional = model(latents, t, null, skeleton_video=None).sample
    expected = unconditional + text_scale * (full - skeleton_only) + skeleton_scale * (skeleton_only - unconditional)
    torch.testing.assert_close(guided, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(full, skeleton_only) and not torch.allclose(skeleton_only, unconditional)


def test_null_text_is_the_empty_prompt_padded(pipe):
    null = pipe.encode_prompt(NULL_PROMPT)
    embeddings = text_encoder().encode("")
    real = int(embeddings.mask.sum())
    assert null.shape == (1, pipe.config.max_sequence_length, 384)
    torch.testing.assert_close(null[0, :real], embeddings.tokens[0, :real].float())
    assert (null[0, real:] == 0).all()
    torch.testing.assert_close(null, encode_text(text_encoder(), NULL_PROMPT, pipe.config.max_sequence_length))


def test_save_and_load_round_trip(pipe, walk, tmp_path):
    path = tmp_path / "mosa"
    pipe.save_pretrained(path)
    for part in ("model_index.json", "transformer/config.json", "vae/config.json", "scheduler/scheduler_config.json",
                 "structure/pipeline_config.json", "structure/model/config.json"):  # fmt: skip
        assert (path / part).is_file(), part
    assert not list(tmp_path.glob("*.partial"))
    loaded = MoSAPipeline.from_pretrained(path, text_encoder=text_encoder())
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded.transformer) is type(pipe.transformer)
    assert loaded.config.max_sequence_length == pipe.config.max_sequence_length and loaded.config.fps == FPS
    for name, tensor in pipe.transformer.state_dict().items():
        torch.testing.assert_close(loaded.transformer.state_dict()[name], tensor, msg=name)
    assert loaded.structure is not None and loaded.structure.fps == pipe.structure.fps
    expected = _call(pipe, motion=walk, output_type="latent", guidance_scale=2.0)
    actual = _call(loaded, motion=walk, output_type="latent", guidance_scale=2.0)
    torch.testing.assert_close(actual.frames, expected.frames)
    # From text, the loaded structure model generates the same motion.
    text_expected = _call(pipe, output_type="latent").motion[0]
    text_actual = _call(loaded, output_type="latent").motion[0]
    torch.testing.assert_close(text_actual.joints, text_expected.joints)


def test_shared_components_load_through_component_paths(pipe, walk, tmp_path):
    """A pipeline without vae/ and structure/ of its own loads them from `component_paths` (how the shipped
    pipelines share `kinevid/assets/vae` and `kinevid/assets/structure`), with the same result."""
    import json
    import shutil

    pipe.save_pretrained(tmp_path / "full")
    shared, linked = tmp_path / "shared", tmp_path / "linked"
    shutil.copytree(tmp_path / "full", linked)
    shared.mkdir()
    for name in ("vae", "structure"):
        (linked / name).rename(shared / name)
    index = json.loads((linked / "model_index.json").read_text())
    index["component_paths"] = {"vae": "../shared/vae", "structure": "../shared/structure"}
    (linked / "model_index.json").write_text(json.dumps(index))
    loaded = MoSAPipeline.from_pretrained(linked, text_encoder=text_encoder())
    loaded.set_progress_bar_config(disable=True)
    assert loaded.structure is not None
    expected = _call(pipe, motion=walk, guidance_scale=2.0)
    torch.testing.assert_close(_call(loaded, motion=walk, guidance_scale=2.0).frames, expected.frames)
    index["component_paths"] = {"vae": "../nowhere"}
    (linked / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(MissingWeightsError, match="nowhere"):
        MoSAPipeline.from_pretrained(linked, text_encoder=text_encoder())
    index["component_paths"] = ["vae"]
    (linked / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(MissingWeightsError, match="component_paths"):
        MoSAPipeline.from_pretrained(linked, text_encoder=text_encoder())


def test_load_rejects_an_incomplete_directory(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "mosa")
    (tmp_path / "mosa" / "vae" / "config.json").unlink()
    with pytest.raises(MissingWeightsError, match="vae"):
        MoSAPipeline.from_pretrained(tmp_path / "mosa", text_encoder=text_encoder())


# ---------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def skeleton(walk) -> torch.Tensor:
    joints = walk.resample(FPS).joints[:NUM_FRAMES]
    centre = joints.reshape(-1, 3).mean(0)
    camera = Camera.look_at(centre + torch.tensor([0.0, 0.0, 4.0]), centre, WIDTH, HEIGHT)
    return skeleton_maps_to_tensor(render_skeleton_maps(joints, camera)[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s[:, :, :16], r"skeleton_video.*\(1, 3, 5, 32, 32\).*got \(3, 5, 16, 32\)"),  # wrong height
        (lambda s: s[..., :16], r"skeleton_video.*width 32.*got \(3, 5, 32, 16\)"),  # wrong width
        (lambda s: s[:, :4], r"skeleton_video.*num_frames 5.*got \(3, 4, 32, 32\)"),  # wrong frame count
        (lambda s: s[:2], r"skeleton_video.*got \(2, 5, 32, 32\)"),  # channels
        (lambda s: s * 3, r"skeleton_video.*\[-1, 1\]"),
        (lambda s: s.clone().fill_(float("nan")), r"skeleton_video.*finite"),
        (lambda s: (s > 0).to(torch.uint8), r"skeleton_video.*float tensor"),
    ],
)
def test_bad_skeleton_video(pipe, skeleton, change, message):
    with pytest.raises(InvalidInputError, match=message):
        _call(pipe, skeleton_video=change(skeleton))


@pytest.mark.parametrize("num_frames", [4, 6, 8, 0])
def test_frames_must_be_4k_plus_1(pipe, skeleton, num_frames):
    with pytest.raises(InvalidInputError, match=r"4k \+ 1"):
        _call(pipe, skeleton_video=skeleton, num_frames=num_frames)


def test_size_must_be_a_multiple_of_16(pipe, walk):
    with pytest.raises(InvalidInputError, match="multiples of 16"):
        _call(pipe, motion=walk, height=40)


def test_camera_that_sees_no_joint(pipe, walk):
    joints = walk.resample(FPS).joints[:NUM_FRAMES]
    centre = joints.reshape(-1, 3).mean(0)
    away = Camera.look_at(centre + torch.tensor([0.0, 0.0, 3.0]), centre + torch.tensor([0.0, 0.0, 6.0]), WIDTH, HEIGHT)
    with pytest.raises(InvalidInputError, match=r"camera\[0\]` sees none of the motion's joints"):
        _call(pipe, motion=walk, camera=away)
    aside = Camera.look_at(
        centre + torch.tensor([0.0, 0.0, 3.0]), centre + torch.tensor([20.0, 0.0, 3.0]), WIDTH, HEIGHT
    )
    with pytest.raises(InvalidInputError, match="sees none"):
        _call(pipe, motion=walk, camera=aside)


def test_camera_of_another_size(pipe, walk):
    centre = walk.joints.reshape(-1, 3).mean(0)
    camera = Camera.look_at(centre + torch.tensor([0.0, 0.0, 3.0]), centre, 64, 48)
    with pytest.raises(InvalidInputError, match="48x64"):
        _call(pipe, motion=walk, camera=camera)


def test_bad_combinations_and_motions(pipe, walk, skeleton):
    with pytest.raises(InvalidInputError, match="not both"):
        _call(pipe, motion=walk, skeleton_video=skeleton)
    with pytest.raises(InvalidInputError, match="frames at 16 fps"):
        _call(pipe, motion=walk.slice(0, 6))  # 0.17 s at 30 fps: 3 frames at 16 fps
    with pytest.raises(InvalidInputError, match="`motion` must be one Motion"):
        _call(pipe, motion=[walk, walk])
    with pytest.raises(InvalidInputError, match="prompt"):
        pipe("", motion=walk, height=HEIGHT, width=WIDTH, num_frames=NUM_FRAMES)
    with pytest.raises(InvalidInputError, match=r"generator.*list of 2"):
        _call(pipe, motion=walk, generator=[torch.Generator(), torch.Generator()])
    with pytest.raises(InvalidInputError, match="output_type"):
        _call(pipe, motion=walk, output_type="pil")
    with pytest.raises(InvalidInputError, match="guidance_scale"):
        _call(pipe, motion=walk, guidance_scale=math.nan)


def test_text_without_structure_model(walk):
    pipeline = tiny_pipeline(structure=False)
    with pytest.raises(InvalidInputError, match="no `structure` model"):
        pipeline(PROMPT, height=HEIGHT, width=WIDTH, num_frames=NUM_FRAMES)


def test_unipc_flow_scheduler_and_its_round_trip(walk, tmp_path):
    from diffusers import UniPCMultistepScheduler

    pipeline = tiny_pipeline()
    pipeline.scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    pipeline.set_progress_bar_config(disable=True)
    out = _call(pipeline, motion=walk, num_inference_steps=3, output_type="latent")
    assert torch.isfinite(out.frames).all()
    pipeline.save_pretrained(tmp_path / "mosa")
    loaded = MoSAPipeline.from_pretrained(tmp_path / "mosa", text_encoder=text_encoder())
    assert isinstance(loaded.scheduler, UniPCMultistepScheduler) and loaded.scheduler.config.use_flow_sigmas
    loaded.set_progress_bar_config(disable=True)
    torch.testing.assert_close(
        _call(loaded, motion=walk, num_inference_steps=3, output_type="latent").frames, out.frames
    )
