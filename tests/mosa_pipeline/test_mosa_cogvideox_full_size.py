"""`MoSACogVideoXPipeline.from_cogvideox_pretrained` and `kinevid generate --model DIR --mosa-weights W`: MoSA
weights on a diffusers CogVideoX directory laid out like THUDM/CogVideoX-2b (model_index.json of
CogVideoXPipeline, transformer/, vae/, text_encoder/ T5, tokenizer/, scheduler/ DDIM), at tiny size."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from diffusers import CogVideoXDDIMScheduler, CogVideoXPipeline
from mosa_cogvideox_tiny import (  # noqa: F401
    FPS,
    NUM_FRAMES,
    T5_DIM,
    TINY_COGVIDEOX,
    TINY_MOSA,
    save_tiny_cogvideox_with_mosa_weights,
    scheduler,
    shipped_structure,
    single_threaded,
    tiny_backbone,
    tiny_t5,
    tiny_vae,
)

from kinevid.cli.main import main
from kinevid.errors import MissingWeightsError
from kinevid.models.appearance import MoSACogVideoXTransformer3DModel
from kinevid.motion import Motion
from kinevid.motion.io import sample_motion_path
from kinevid.pipelines import MoSACogVideoXPipeline
from kinevid.render.video import read_video

SIZE = 32


@pytest.fixture(scope="module")
def cogvideox_and_weights(tmp_path_factory):
    return save_tiny_cogvideox_with_mosa_weights(tmp_path_factory.mktemp("cogvideox"))


def _call(pipe, motion):
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        "a man in a red coat walks", motion=motion, height=SIZE, width=SIZE, num_frames=NUM_FRAMES,
        num_inference_steps=2, guidance_scale=2.0, generator=torch.Generator().manual_seed(0), output_type="pt",
    )  # fmt: skip


def test_the_directory_is_laid_out_like_cogvideox_2b(cogvideox_and_weights):
    cogvideox_dir, _, _ = cogvideox_and_weights
    index = json.loads((cogvideox_dir / "model_index.json").read_text())
    assert index["_class_name"] == "CogVideoXPipeline"
    assert (
        index["scheduler"] == ["diffusers", "CogVideoXDDIMScheduler"] and index["text_encoder"][1] == "T5EncoderModel"
    )
    for part in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (cogvideox_dir / part).is_dir(), part


def test_cogvideox_directory_with_mosa_weights_equals_the_hand_assembled_pipeline(cogvideox_and_weights):
    cogvideox_dir, weights_dir, components = cogvideox_and_weights
    pipe = MoSACogVideoXPipeline.from_cogvideox_pretrained(cogvideox_dir, weights_dir, structure=shipped_structure())
    assert isinstance(pipe.scheduler, CogVideoXDDIMScheduler) and pipe.text_encoder.config.d_model == T5_DIM
    for name, tensor in components["transformer"].state_dict().items():
        torch.testing.assert_close(pipe.transformer.state_dict()[name], tensor, msg=name)
    by_hand = MoSACogVideoXPipeline(**components, scheduler=scheduler(), structure=shipped_structure())
    motion = Motion.load(sample_motion_path())
    torch.testing.assert_close(_call(pipe, motion).frames, _call(by_hand, motion).frames)
    # Without MoSA weights the HADC sites are fresh: zero skeleton projections (CogVideoX as it is).
    fresh = MoSACogVideoXPipeline.from_cogvideox_pretrained(cogvideox_dir, structure=shipped_structure())
    assert all(torch.count_nonzero(site.skeleton_proj.weight) == 0 for site in fresh.transformer.hadc)


def test_missing_or_mismatched_weights_are_one_clear_line(cogvideox_and_weights, tmp_path):
    cogvideox_dir, weights_dir, _ = cogvideox_and_weights
    cases = [(tmp_path / "nowhere", "not a MoSA weights directory")]
    wider = MoSACogVideoXTransformer3DModel(**{**TINY_COGVIDEOX, "num_attention_heads": 4}, **TINY_MOSA)
    wider.save_mosa_weights(tmp_path / "wider")
    cases.append((tmp_path / "wider", r"trained on another backbone.*'inner_dim': \(64, 32\)"))
    deeper = MoSACogVideoXTransformer3DModel(**{**TINY_COGVIDEOX, "num_layers": 3}, **TINY_MOSA)
    deeper.save_mosa_weights(tmp_path / "deeper")  # its HADC sites sit after blocks the backbone lacks
    cases.append((tmp_path / "deeper", r"MoSA weights .*deeper.*hadc_layers"))
    damaged = tmp_path / "damaged"
    shutil.copytree(weights_dir, damaged)
    (damaged / "mosa_weights.safetensors").write_bytes(b"not safetensors")
    cases.append((damaged, "damaged MoSA weights"))
    for weights, match in cases:
        with pytest.raises(MissingWeightsError, match=match) as error:
            MoSACogVideoXPipeline.from_cogvideox_pretrained(cogvideox_dir, weights, structure=shipped_structure())
        assert "\n" not in str(error.value)


def test_not_a_cogvideox_directory_is_one_clear_error(cogvideox_and_weights, tmp_path):
    cogvideox_dir, weights_dir, _ = cogvideox_and_weights
    with pytest.raises(MissingWeightsError, match=r"model_index\.json"):
        MoSACogVideoXPipeline.from_cogvideox_pretrained(tmp_path, weights_dir)
    partial = tmp_path / "partial"
    shutil.copytree(cogvideox_dir, partial, ignore=shutil.ignore_patterns("vae"))
    with pytest.raises(MissingWeightsError, match=r"CogVideoXPipeline directory.*missing \['vae'\]"):
        MoSACogVideoXPipeline.from_cogvideox_pretrained(partial, weights_dir)


# ---------------------------------------------------------------------- kinevid generate / animate
def _generate(out, model, *extra: str) -> int:
    argv = ["generate", "a woman dances on a beach", "-o", str(out), "--model", str(model), "--method", "mosa"]
    return main([*argv, "--size", f"{SIZE}x{SIZE}", "--seconds", "1", "--steps", "2", *extra])


@pytest.mark.filterwarnings("ignore:.*looks too high for the motion")  # random weights move fast
def test_kinevid_generate_on_a_cogvideox_directory(cogvideox_and_weights, tmp_path, capsys):
    cogvideox_dir, weights_dir, _ = cogvideox_and_weights
    assert _generate(tmp_path / "out", cogvideox_dir, "--mosa-weights", str(weights_dir)) == 0
    video, skeleton = read_video(tmp_path / "out" / "video.mp4"), read_video(tmp_path / "out" / "skeleton.mp4")
    assert video.shape == skeleton.shape == (NUM_FRAMES, SIZE, SIZE, 3)  # 1 s at CogVideoX's 8 fps
    motion = Motion.load(tmp_path / "out" / "motion.npz")
    assert motion.num_frames == NUM_FRAMES and motion.fps == pytest.approx(FPS)
    assert skeleton.max() > 0
    capsys.readouterr()
    assert _generate(tmp_path / "no_weights", cogvideox_dir) == 1
    err = capsys.readouterr().err
    assert "CogVideoX pipeline directory" in err and "--mosa-weights" in err and len(err.strip().splitlines()) == 1
    assert _generate(tmp_path / "bad", cogvideox_dir, "--mosa-weights", str(tmp_path / "nowhere")) == 1
    err = capsys.readouterr().err
    assert "not a MoSA weights directory" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "no_weights").exists() and not (tmp_path / "bad").exists()


def test_kinevid_animate_and_a_saved_pipeline(cogvideox_and_weights, tmp_path, capsys):
    """`kinevid animate` runs a motion file through the CogVideoX directory, and a `MoSACogVideoXPipeline`
    directory written by `save_pretrained` loads by itself (no --mosa-weights)."""
    cogvideox_dir, weights_dir, _ = cogvideox_and_weights
    motion_path = tmp_path / "walk.npz"
    Motion.load(sample_motion_path()).save(motion_path)
    argv = ["animate", str(motion_path), "--prompt", "a man in a red coat", "--size", f"{SIZE}x{SIZE}",
            "--seconds", "1", "--steps", "2", "--method", "mosa"]  # fmt: skip
    assert (
        main([*argv, "-o", str(tmp_path / "a"), "--model", str(cogvideox_dir), "--mosa-weights", str(weights_dir)]) == 0
    )
    assert read_video(tmp_path / "a" / "video.mp4").shape == (NUM_FRAMES, SIZE, SIZE, 3)
    pipe = MoSACogVideoXPipeline.from_cogvideox_pretrained(cogvideox_dir, weights_dir, structure=shipped_structure())
    pipe.save_pretrained(tmp_path / "saved")
    assert main([*argv, "-o", str(tmp_path / "b"), "--model", str(tmp_path / "saved")]) == 0
    assert (read_video(tmp_path / "a" / "video.mp4") == read_video(tmp_path / "b" / "video.mp4")).all()


def test_a_cogvideox_15_directory_samples_at_16_fps(tmp_path):
    tokenizer, t5 = tiny_t5()
    CogVideoXPipeline(tokenizer, t5, tiny_vae(), tiny_backbone("1.5"), scheduler()).save_pretrained(tmp_path / "1.5")
    pipe = MoSACogVideoXPipeline.from_cogvideox_pretrained(tmp_path / "1.5", structure=shipped_structure())
    assert pipe.config.fps == 16.0 and pipe.transformer.config.patch_size_t == 2
    out = _call(pipe, Motion.load(sample_motion_path()))
    assert out.frames.shape == (1, NUM_FRAMES, 3, SIZE, SIZE) and out.motion[0].fps == 16.0
