"""`kinevid animate` (motion -> video) and `kinevid capture` (video -> motion) on tiny random pipelines."""

from __future__ import annotations

import numpy as np
import pytest
from test_generate import check_outputs

from kinevid.cli.commands import generate as generate_command
from kinevid.cli.main import main
from kinevid.motion import Motion
from kinevid.motion.io import sample_motion_path
from kinevid.render.video import read_video, write_video

pytestmark = pytest.mark.filterwarnings("ignore:.*looks too high for the motion")  # random weights move fast


@pytest.fixture(scope="module")
def walk_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("motion") / "walk.npz"
    Motion.load(sample_motion_path()).save(path)
    return path


def _animate(motion, out, model, method="mosa", size="32x32", *extra: str) -> int:
    argv = ["animate", str(motion), "-o", str(out), "--prompt", "a man in a red coat", "--model", str(model)]
    return main([*argv, "--method", method, "--size", size, "--seconds", "0.5", "--steps", "2", *extra])


@pytest.mark.parametrize("method,size", [("mosa", 32), ("echomotion", 16)])
def test_animate_follows_the_given_motion(method, size, walk_npz, mosa_dir, echomotion_dir, tmp_path):
    model = mosa_dir if method == "mosa" else echomotion_dir
    assert _animate(walk_npz, tmp_path / "a", model, method, f"{size}x{size}") == 0
    check_outputs(tmp_path / "a", num_frames=9, height=size, width=size)
    # the written motion is the input motion at the video's fps, cut to the video's 9 frames
    expected = Motion.load(walk_npz).resample(16.0).slice(0, 9)
    written = Motion.load(tmp_path / "a" / "motion.npz")
    np.testing.assert_allclose(written.joints.numpy(), expected.joints.numpy(), atol=1e-4)
    assert _animate(walk_npz, tmp_path / "b", model, method, f"{size}x{size}") == 0
    assert np.array_equal(read_video(tmp_path / "a" / "video.mp4"), read_video(tmp_path / "b" / "video.mp4"))


def test_animate_bvh_input_and_errors(mosa_dir, tmp_path, capsys):
    assert _animate(sample_motion_path(), tmp_path / "bvh", mosa_dir) == 0
    check_outputs(tmp_path / "bvh", num_frames=9)
    bad = tmp_path / "bad.npz"
    np.savez(bad, a=np.zeros(3))
    for motion, match in [(bad, "not a motion file"), (tmp_path / "none.npz", "no such motion file")]:
        assert _animate(motion, tmp_path / "out", mosa_dir) == 1
        assert match in capsys.readouterr().err
    short = tmp_path / "short.npz"
    Motion.load(sample_motion_path()).slice(0, 3).save(short)
    assert _animate(short, tmp_path / "out", mosa_dir) == 1
    assert "at least 5" in capsys.readouterr().err
    assert main(["animate", str(bad), "-o", str(tmp_path / "out"), "--prompt", " ", "--model", str(mosa_dir)]) == 1
    assert "--prompt is empty" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def clip_mp4(tmp_path_factory):
    """A 24 fps, 40x36 noise video of 13 frames (0.5 s): resampled to 16 fps -> 9 frames, resized to 32x32."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    frames = np.random.default_rng(0).integers(0, 256, (13, 36, 40, 3), dtype=np.uint8)
    write_video(frames, path, fps=24.0)
    return path


def test_capture_writes_motion_and_render(clip_mp4, echomotion_dir, tmp_path, capsys):
    out = tmp_path / "clip.npz"
    assert main(["capture", str(clip_mp4), "-o", str(out), "--model", str(echomotion_dir), "--steps", "2"]) == 0
    assert "foot_skating_ratio" in capsys.readouterr().out
    motion = Motion.load(out)
    assert motion.num_frames == 9 and motion.fps == pytest.approx(16.0)
    render = read_video(tmp_path / "clip.mp4")
    assert render.shape[0] == 9 and render.shape[2] == 2 * 32  # video | mannequin, 32x32 tiles
    custom = tmp_path / "views" / "side.mp4"
    argv = ["capture", str(clip_mp4), "-o", str(tmp_path / "again.bvh"), "--model", str(echomotion_dir)]
    assert main([*argv, "--steps", "2", "--render", str(custom)]) == 0
    again = Motion.load(tmp_path / "again.bvh")
    np.testing.assert_allclose(again.joints.numpy(), motion.joints.numpy(), atol=1e-3)  # same seed, BVH round trip
    assert read_video(custom).shape[0] == 9


def test_capture_errors(clip_mp4, echomotion_dir, mosa_dir, tmp_path, capsys, monkeypatch):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video")
    cases = [
        (garbage, "-o", tmp_path / "m.npz", echomotion_dir, "cannot decode"),
        (tmp_path / "none.mp4", "-o", tmp_path / "m.npz", echomotion_dir, "no such video file"),
        (clip_mp4, "-o", tmp_path / "m.txt", echomotion_dir, "must end in"),
        (clip_mp4, "-o", tmp_path / "m.npz", mosa_dir, "--method mosa"),
        (clip_mp4, "-o", tmp_path / "m.npz", tmp_path / "nothing", "not a pipeline directory"),
    ]
    for video, flag, output, model, match in cases:
        assert main(["capture", str(video), flag, str(output), "--model", str(model), "--steps", "1"]) == 1
        error = capsys.readouterr().err.strip()
        assert match in error and "\n" not in error
    argv = ["capture", str(clip_mp4), "-o", str(tmp_path / "m.npz"), "--model", str(echomotion_dir)]
    assert main([*argv, "--render", str(clip_mp4)]) == 1
    assert "would overwrite the input video" in capsys.readouterr().err
    monkeypatch.setattr(generate_command, "default_model_dir", lambda method: tmp_path / "uninstalled" / method)
    assert main(["capture", str(clip_mp4), "-o", str(tmp_path / "m.npz")]) == 1
    assert "no trained echomotion video model ships" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "uninstalled") == ["garbage.mp4"]
