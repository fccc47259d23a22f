"""`kinevid generate`: every output file decodes/loads, determinism with --seed, the grid layout, and errors
that leave no partial OUT directory. Tiny random pipelines (conftest), CPU, seconds."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from kinevid.cli.commands import generate as generate_command
from kinevid.cli.commands.generate import OUTPUT_FILES, default_model_dir, frames_for_seconds, load_pipeline
from kinevid.cli.main import main
from kinevid.motion import Motion
from kinevid.render.video import read_video

SIZE = "32x32"  # multiples of 16 for both tiny pipelines
SECONDS = "0.25"  # 4 intervals at 16 fps -> 5 frames
NUM_FRAMES = 5


def _generate(out, model, *extra: str, prompt: str = "a woman dances on a beach", method: str = "mosa") -> int:
    argv = ["generate", prompt, "-o", str(out), "--model", str(model), "--method", method]
    return main([*argv, "--size", SIZE, "--seconds", SECONDS, "--steps", "2", *extra])


def check_outputs(out, num_frames: int = NUM_FRAMES, height: int = 32, width: int = 32) -> dict[str, np.ndarray]:
    """Every file of OUT is valid; returns the decoded videos."""
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    videos = {name: read_video(out / name) for name in ("video.mp4", "skeleton.mp4", "grid.mp4")}
    assert videos["video.mp4"].shape == (num_frames, height, width, 3)
    assert videos["skeleton.mp4"].shape == (num_frames, height, width, 3)
    assert videos["grid.mp4"].shape[0] == num_frames and videos["grid.mp4"].shape[2] == 3 * width
    for name in ("motion.npz", "motion.bvh"):
        motion = Motion.load(out / name)
        assert motion.num_frames == num_frames and motion.fps == pytest.approx(16.0)
    return videos


@pytest.mark.filterwarnings("ignore:.*looks too high for the motion")  # random weights move fast
@pytest.mark.parametrize("method", ["mosa", "echomotion"])
def test_generate_writes_valid_outputs_and_is_deterministic(method, mosa_dir, echomotion_dir, tmp_path, capsys):
    model = mosa_dir if method == "mosa" else echomotion_dir
    size = 32 if method == "mosa" else 16
    extra = ["--size", f"{size}x{size}"]
    assert _generate(tmp_path / "a", model, *extra, method=method) == 0
    printed = capsys.readouterr().out
    assert "foot_skating_ratio" in printed and "pose following" in printed
    first = check_outputs(tmp_path / "a", height=size, width=size)
    assert first["skeleton.mp4"].max() > 0  # the skeleton is drawn in frame
    assert _generate(tmp_path / "b", model, *extra, method=method) == 0
    again = check_outputs(tmp_path / "b", height=size, width=size)
    assert np.array_equal(first["video.mp4"], again["video.mp4"])
    a, b = Motion.load(tmp_path / "a" / "motion.npz"), Motion.load(tmp_path / "b" / "motion.npz")
    assert np.array_equal(a.joints.numpy(), b.joints.numpy())
    assert _generate(tmp_path / "c", model, *extra, "--seed", "1", method=method) == 0
    other = read_video(tmp_path / "c" / "video.mp4")
    assert not np.array_equal(first["video.mp4"], other)


def test_frames_for_seconds_is_4k_plus_1():
    assert frames_for_seconds(5.0, 16.0) == 81
    assert frames_for_seconds(0.01, 16.0) == 5
    assert all((frames_for_seconds(s, 24.0) - 1) % 4 == 0 for s in (0.3, 1.0, 2.7))


@pytest.mark.parametrize(
    "prompt,extra,match",
    [
        ("  ", (), "prompt is empty"),
        ("a sunset over the sea", (), "no human action"),
        ("a man walks", ("--size", "30x32"), "multiples of 16"),
        ("a man walks", ("--seconds", "0"), "--seconds"),
        ("a man walks", ("--steps", "0"), "--steps"),
    ],
)
def test_bad_arguments_fail_in_one_line(prompt, extra, match, mosa_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert _generate(out, mosa_dir, *extra, prompt=prompt) == 1
    error = capsys.readouterr().err.strip()
    assert match in error and "\n" not in error
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_model_errors(mosa_dir, echomotion_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    with monkeypatch.context() as patch:  # an install without the shipped EchoMotion model
        patch.setattr(generate_command, "default_model_dir", lambda method: tmp_path / "uninstalled" / method)
        assert main(["generate", "a man walks", "-o", str(out), "--method", "echomotion"]) == 1
    assert "kinevid train echomotion-stage2" in capsys.readouterr().err
    assert _generate(out, tmp_path / "missing") == 1
    assert "not a pipeline directory" in capsys.readouterr().err
    assert _generate(out, echomotion_dir, method="mosa") == 1
    assert "--method echomotion" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text('{"_class_name": "MoSAPipeline"}')
    assert _generate(out, broken) == 1
    assert "MoSA pipeline directory" in capsys.readouterr().err
    assert not out.exists()


def test_unwritable_or_occupied_output(mosa_dir, tmp_path, capsys):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    assert _generate(occupied, mosa_dir) == 1
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert _generate(a_file, mosa_dir) == 1
    assert "is a file" in capsys.readouterr().err
    assert _generate(a_file / "out", mosa_dir) == 1  # a parent that is a file: cannot be created
    assert "is a file, not a directory" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions
            pytest.skip("running as a user who can write anywhere")
        assert _generate(locked / "out", mosa_dir) == 1
        assert "cannot write" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_failure_after_the_work_leaves_nothing(mosa_dir, tmp_path, monkeypatch, capsys):
    import kinevid.render

    def broken_write(*args, **kwargs):
        raise OSError(28, "No space left on device", str(args[1]))

    monkeypatch.setattr(kinevid.render, "write_video", broken_write)
    out = tmp_path / "out"
    assert _generate(out, mosa_dir) == 1
    assert "No space left" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_without_mediapipe_the_score_is_skipped_with_a_note(mosa_dir, tmp_path, monkeypatch, capsys):
    import kinevid.eval.video.pose_judge as pose_judge

    monkeypatch.setattr(pose_judge, "is_mediapipe_available", lambda: False)
    assert _generate(tmp_path / "out", mosa_dir) == 0
    assert "skipped: MediaPipe is not installed" in capsys.readouterr().out
    check_outputs(tmp_path / "out")


def test_mosa_skeleton_is_the_pipelines_condition(mosa_dir, tmp_path):
    """skeleton.mp4 is the skeleton video the MoSA pipeline was conditioned on (same motion and camera)."""
    import torch

    from kinevid.pipelines import MoSAPipeline

    assert _generate(tmp_path / "out", mosa_dir, "--seed", "3") == 0
    pipeline = MoSAPipeline.from_pretrained(mosa_dir)
    output = pipeline(
        "a woman dances on a beach", height=32, width=32, num_frames=NUM_FRAMES, num_inference_steps=2,
        generator=torch.Generator().manual_seed(3),
    )  # fmt: skip
    condition = (output.skeleton_video[0] * 255).round().astype(np.int16)
    written = read_video(tmp_path / "out" / "skeleton.mp4").astype(np.int16)
    assert np.abs(written - condition).mean() < 8  # H.264 yuv420p: thin coloured limbs lose chroma at 32x32
    assert np.abs(written - np.roll(condition, 8, axis=2)).mean() > 2 * np.abs(written - condition).mean()


def _recorded_defaults_pipeline(mosa_dir, tmp_path):
    """`mosa_dir` re-saved with its own sampling defaults (32x32, 5 frames, 2 steps) in the index."""
    import json
    import shutil

    path = tmp_path / "recorded"
    shutil.copytree(mosa_dir, path)
    index = json.loads((path / "model_index.json").read_text())
    index.update(height=32, width=32, num_frames=NUM_FRAMES, num_inference_steps=2, fps=16.0)
    (path / "model_index.json").write_text(json.dumps(index))
    return path


def test_size_length_and_steps_default_to_the_pipelines_own(mosa_dir, tmp_path):
    model = _recorded_defaults_pipeline(mosa_dir, tmp_path)
    assert main(["generate", "a man walks forward", "-o", str(tmp_path / "out"), "--model", str(model)]) == 0
    check_outputs(tmp_path / "out")


def test_the_default_output_dir_is_reused_but_a_given_one_never_is(mosa_dir, tmp_path, monkeypatch, capsys):
    model = _recorded_defaults_pipeline(mosa_dir, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "--model", str(model)]) == 0  # the default prompt and OUT
    first = read_video(tmp_path / "outputs" / "generate" / "video.mp4")
    assert main(["generate", "--model", str(model), "--seed", "1"]) == 0  # replaces the earlier results
    check_outputs(tmp_path / "outputs" / "generate")
    assert not np.array_equal(first, read_video(tmp_path / "outputs" / "generate" / "video.mp4"))
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["generate"]  # no staging left behind
    (tmp_path / "outputs" / "generate" / "notes.txt").write_text("mine")  # not only our results: keep it
    capsys.readouterr()
    assert main(["generate", "--model", str(model)]) == 1
    assert "not empty" in capsys.readouterr().err
    given = tmp_path / "given"
    assert main(["generate", "-o", str(given), "--model", str(model)]) == 0
    assert main(["generate", "-o", str(given), "--model", str(model)]) == 1  # an explicit OUT is never replaced


# ---------------------------------------------------------------------- the shipped models
ASSETS = default_model_dir("mosa").parent


def test_shipped_weights_fit_the_budget():
    """Every shipped weight file together <= 40 MB (issue 13), each model with its card."""
    weights = list(ASSETS.parent.rglob("*.safetensors"))  # structure, evaluators, VAE, MoSA- and EchoMotion-tiny
    assert sum(path.stat().st_size for path in weights) <= 40e6, [p.name for p in weights]
    for name in ("vae", "mosa_tiny", "echomotion_tiny"):
        assert (ASSETS / name / "README.md").is_file(), name


@pytest.mark.filterwarnings("ignore:.*looks too high for the motion")
def test_the_default_job_makes_a_video_of_a_person_where_the_skeleton_is(tmp_path, monkeypatch, capsys):
    """`kinevid generate` with no arguments (the README's main job) on the shipped MoSA-tiny: every file is
    valid, and the drawn figure sits where the conditioning skeleton is (the frame differs from the
    background there more than elsewhere), which a model that ignores its skeleton fails."""
    monkeypatch.chdir(tmp_path)
    assert main(["generate"]) == 0
    out = tmp_path / "outputs" / "generate"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    video = read_video(out / "video.mp4").astype(np.float64)
    skeleton = read_video(out / "skeleton.mp4")
    assert video.shape == (17, 128, 128, 3) and skeleton.shape == video.shape
    on_skeleton = skeleton.max(-1) > 64
    background = np.median(video.reshape(-1, 3), axis=0)
    difference = np.abs(video - background).sum(-1)
    assert difference[on_skeleton].mean() > 1.5 * difference[~on_skeleton].mean()
    assert "foot_skating_ratio" in capsys.readouterr().out


# ---------------------------------------------------------------------- full-size layouts and runtime flags
@pytest.fixture(scope="module")
def wan_dir_and_weights(tmp_path_factory):
    from mosa_pipeline_tiny import save_tiny_wan_with_mosa_weights

    wan_dir, weights_dir, _ = save_tiny_wan_with_mosa_weights(tmp_path_factory.mktemp("wan"))
    return wan_dir, weights_dir


def test_a_wan_directory_with_mosa_weights_generates(wan_dir_and_weights, tmp_path, capsys):
    """`--model` a Wan2.1 diffusers directory (tiny, laid out like Wan2.1-T2V-1.3B-Diffusers) + `--mosa-weights`."""
    wan_dir, weights_dir = wan_dir_and_weights
    assert _generate(tmp_path / "out", wan_dir, "--mosa-weights", str(weights_dir)) == 0
    check_outputs(tmp_path / "out")
    assert _generate(tmp_path / "no_weights", wan_dir) == 1
    assert "--mosa-weights" in capsys.readouterr().err
    assert _generate(tmp_path / "echo", wan_dir, "--mosa-weights", str(weights_dir), method="echomotion") == 1
    assert "--method mosa" in capsys.readouterr().err


def test_runtime_flags(mosa_dir, tmp_path, capsys):
    assert _generate(tmp_path / "bf16", mosa_dir, "--dtype", "bfloat16", "--vae-tiling") == 0
    check_outputs(tmp_path / "bf16")
    if not torch.cuda.is_available():
        for extra, match in [(("--device", "cuda"), "no CUDA device"), (("--cpu-offload",), "needs --device cuda"),
                             (("--dtype", "float16"), "for GPUs")]:  # fmt: skip
            assert _generate(tmp_path / "x", mosa_dir, *extra) == 1
            assert match in capsys.readouterr().err
            assert not (tmp_path / "x").exists()
    assert _generate(tmp_path / "w", mosa_dir, "--mosa-weights", str(tmp_path)) == 1
    assert "--mosa-weights goes with a Wan2.1 directory" in capsys.readouterr().err


def test_the_shipped_echomotion_pipeline_loads_with_its_shared_parts():
    """EchoMotion-tiny names MiniLM and links the shipped VAE, and samples at its own size and length."""
    from kinevid.models.vae import load_video_vae, vae_identity

    pipeline = load_pipeline("echomotion", None)
    index = json.loads((ASSETS / "echomotion_tiny" / "model_index.json").read_text())
    assert index["component_paths"] == {"vae": "../vae"} and index["text_encoder_name"] == "minilm"
    assert vae_identity(pipeline.vae) == vae_identity(load_video_vae())
    assert (pipeline.config.height, pipeline.config.width, pipeline.config.num_frames) == (128, 128, 17)
    output = pipeline("a person walks", num_inference_steps=1, generator=torch.Generator().manual_seed(0))
    assert output.frames.shape == (1, 17, 128, 128, 3) and output.motion[0].num_frames == 17
