"""Outputs that cannot be written, and half results: every command checks where it writes before
working, reports OS errors in one line with exit 1, and leaves all of its outputs or none."""

from __future__ import annotations

import errno
import pickle
from pathlib import Path

import numpy as np
import pytest

import kinevid.render
from kinevid.cli.main import main
from kinevid.motion.io import sample_motion_path
from kinevid.pipelines.pipeline_text_to_motion import TextToMotionPipeline

UNWRITABLE_DIR = "/sys"  # refuses new files even for root
REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _one_line_error(capsys, command: str) -> str:
    """The command's error: one line (progress bars aside), no traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("kinevid ")]
    assert len(lines) == 1 and lines[0].startswith(f"kinevid {command}: error:"), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def no_generation(monkeypatch):
    """Fail the test if a command starts generating before rejecting its outputs."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(TextToMotionPipeline, "from_pretrained", refuse)


@pytest.fixture
def no_rendering(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("frames were rendered before the output was checked")

    monkeypatch.setattr(kinevid.render, "render_motion_views", refuse)


@pytest.mark.parametrize("command", ["convert", "render"])
def test_unwritable_outputs_fail_in_one_line_before_the_work(tmp_path, capsys, command, no_rendering):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    suffix = ".npz" if command == "convert" else ".mp4"
    directory = tmp_path / f"dir{suffix}"
    directory.mkdir()
    for output, reason in (
        (blocker / f"out{suffix}", "is a file, not a directory"),
        (f"{UNWRITABLE_DIR}/kinevid_out{suffix}", "cannot write in /sys"),
        (directory, "is a directory"),
    ):
        argv = [command, str(sample_motion_path()), str(output)] if command == "convert" else None
        argv = argv or [command, str(sample_motion_path()), "-o", str(output)]
        assert main(argv) == 1
        assert reason in _one_line_error(capsys, command)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", f"dir{suffix}"]
    assert not list(directory.iterdir())


def test_render_rejects_an_unknown_video_suffix_before_rendering(tmp_path, capsys, no_rendering):
    assert main(["render", str(sample_motion_path()), "-o", str(tmp_path / "x.avi")]) == 1
    assert ".mp4" in _one_line_error(capsys, "render")
    assert not list(tmp_path.iterdir())


def test_os_error_while_writing_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out.npz"))

    monkeypatch.setattr(np, "savez", disk_full)
    assert main(["convert", str(sample_motion_path()), str(tmp_path / "out.npz")]) == 1
    assert "No space left on device" in _one_line_error(capsys, "convert")
    assert not list(tmp_path.iterdir())


def test_motion_checks_render_path_before_generating(tmp_path, capsys, no_generation):
    ok = tmp_path / "ok.npz"
    assert main(["motion", "a person walks", "-o", str(ok), "--render", f"{UNWRITABLE_DIR}/v.mp4"]) == 1
    assert "--render" in _one_line_error(capsys, "motion")
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["motion", "--prompts", str(_prompts(tmp_path)), "-o", str(blocker)]) == 1
    assert "is a file" in _one_line_error(capsys, "motion")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "prompts.txt"]


def _prompts(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("a person walks\n")
    return path


def test_motion_outputs_appear_together_or_not_at_all(tmp_path, capsys, monkeypatch):
    import kinevid.cli.commands.motion as motion_command

    def broken_render(motion, path):
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(motion_command, "render_motion_video", broken_render)
    ok, video = tmp_path / "ok.npz", tmp_path / "v.mp4"
    argv = ["motion", "a person walks", "-o", str(ok), "--render", str(video), "--seconds", "1", "--seed", "0"]
    assert main(argv) == 1
    error = _one_line_error(capsys, "motion")
    assert "Input/output error" in error and str(video) in error
    assert not list(tmp_path.iterdir())  # neither the motion nor the video


def test_demo_rejects_an_odd_size_before_writing_anything(tmp_path, capsys, no_generation):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--size", "63"]) == 1
    assert "--size" in _one_line_error(capsys, "demo")
    assert not out.exists()
    assert main(["demo", "-o", f"{UNWRITABLE_DIR}/demo"]) == 1
    assert "cannot write in /sys" in _one_line_error(capsys, "demo")


def test_garbage_npz_is_not_a_motion_file(tmp_path, capsys):
    pickled = tmp_path / "pickled.npz"
    pickled.write_bytes(pickle.dumps({"poses": [1, 2, 3]}))
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    for path in (pickled, other):
        assert main(["info", str(path)]) == 1
        error = _one_line_error(capsys, "info")
        assert "not a motion file" in error and "allow_pickle" not in error


def test_unreadable_prompt_file(tmp_path, capsys, no_generation):
    binary = tmp_path / "prompts.txt"
    binary.write_bytes(b"\xff\xfe\x00\x01 not text")
    assert main(["motion", "--prompts", str(binary), "-o", str(tmp_path / "out")]) == 1
    assert "not UTF-8 text" in _one_line_error(capsys, "motion")


def test_a_diverged_training_run_is_one_line(tmp_path, capsys, monkeypatch):
    import kinevid.recipes.structure as structure_recipe
    from kinevid.train.engine import TrainingDivergedError

    def diverge(config):
        raise TrainingDivergedError("loss is NaN at step 3; lower the learning rate or check the data.")

    monkeypatch.setattr(structure_recipe, "train_text_to_motion", diverge)
    config = REPO_CONFIGS / "structure_cmu.json"
    assert main(["train", "structure", "--config", str(config), "--output", str(tmp_path / "run")]) == 1
    assert "loss is NaN" in _one_line_error(capsys, "train")


def test_atomic_write_group_writes_all_or_nothing(tmp_path):
    from kinevid.utils import atomic_write_group

    targets = [tmp_path / "a.txt", tmp_path / "sub" / "b.txt"]
    with pytest.raises(RuntimeError), atomic_write_group(targets) as temporary:
        temporary[0].write_text("a")
        raise RuntimeError("the second file could not be made")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    with atomic_write_group(targets) as temporary:
        for path, text in zip(temporary, "ab", strict=True):
            path.write_text(text)
    assert [p.read_text() for p in targets] == ["a", "b"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.txt", "b.txt"]
