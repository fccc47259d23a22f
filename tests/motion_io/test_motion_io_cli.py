"""`kinevid convert`, `kinevid info` and `kinevid demo`, run in-process."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kinevid.cli.main import main
from kinevid.motion.io import load_motion, read_bvh, sample_motion_path


def test_sample_motion_is_small_and_acknowledged():
    path = sample_motion_path()
    assert path.is_file() and path.stat().st_size < 150_000
    bvh = read_bvh(path)
    assert bvh.fps == 30.0 and bvh.num_frames * bvh.frame_time <= 4.0
    readme = (path.parent / "README.md").read_text()
    assert "The data used in this project was obtained from mocap.cs.cmu.edu." in readme
    assert "NSF EIA-0196217" in readme and "scripts/make_sample_bvh.py" in readme


def test_sample_is_an_excerpt_of_trial_02_01(bvh_dir):
    sample, original = read_bvh(sample_motion_path()), read_bvh(bvh_dir / "02_01.bvh")
    assert sample.joint_names == original.joint_names
    np.testing.assert_allclose(sample.frames, original.frames[1::4][: sample.num_frames], atol=6e-5)


def test_convert_bvh_to_npz_and_back(tmp_path, capsys):
    npz_path, bvh_path = tmp_path / "walk.npz", tmp_path / "walk.bvh"
    assert main(["convert", str(sample_motion_path()), str(npz_path)]) == 0
    assert main(["convert", str(npz_path), str(bvh_path)]) == 0
    assert "86 frames at 30 fps" in capsys.readouterr().out
    source = load_motion(sample_motion_path())
    for path in (npz_path, bvh_path):
        converted = load_motion(path)
        assert float((converted.joints - source.joints).norm(dim=-1).max()) < 1e-4


def test_convert_options(tmp_path, bvh_builders, write_text):
    specs = bvh_builders.daz_specs(knee_name="Knee")
    path = write_text("custom.bvh", bvh_builders.bvh_text(specs, bvh_builders.random_frames(specs, 9, seed=0), 1 / 30))
    joint_map = write_text("map.json", json.dumps({"lKnee": "left_knee", "rKnee": "right_knee"}))
    out = tmp_path / "out.npz"
    assert main(["convert", str(path), str(out), "--joint-map", str(joint_map), "--fps", "15", "--scale", "0.02"]) == 0
    motion = load_motion(out)
    assert motion.fps == 15.0 and motion.num_frames == 5
    reference = load_motion(path, joint_map={"lKnee": "left_knee", "rKnee": "right_knee"}, scale=0.01)
    torch.testing.assert_close(motion.joints, reference.joints[::2] * 2, atol=1e-5, rtol=1e-5)


def test_convert_errors(tmp_path, capsys, bvh_builders, write_text):
    specs = bvh_builders.daz_specs(knee_name="Knee")
    path = write_text("custom.bvh", bvh_builders.bvh_text(specs, bvh_builders.random_frames(specs, 3, seed=0), 0.1))
    out = tmp_path / "out.npz"
    assert main(["convert", str(path), str(out)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("kinevid convert: error:") and "lKnee" in error and "left_knee" in error
    assert not out.exists()

    truncated = write_text("cut.bvh", "\n".join(path.read_text().splitlines()[:-1]))
    assert main(["convert", str(truncated), str(out)]) == 1
    assert "cut.bvh:" in capsys.readouterr().err

    bad_map = write_text("bad.json", "{not json")
    assert main(["convert", str(path), str(out), "--joint-map", str(bad_map)]) == 1
    assert "bad.json:1: not valid JSON" in capsys.readouterr().err

    assert main(["convert", str(sample_motion_path()), str(tmp_path / "x.fbx")]) == 1
    assert "unknown motion file type `.fbx`" in capsys.readouterr().err
    npz = tmp_path / "ok.npz"
    assert main(["convert", str(sample_motion_path()), str(npz)]) == 0
    assert main(["convert", str(npz), str(tmp_path / "y.bvh"), "--scale", "0.01"]) == 1
    assert "BVH/AMC input only" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "custom.bvh", "cut.bvh", "ok.npz"]


def test_info_prints_summary_and_metrics(capsys):
    assert main(["info", str(sample_motion_path())]) == 0
    out = capsys.readouterr().out
    for expected in ("frames", "86", "fps", "30", "duration (s)", "2.867", "24 (SMPL-24)", "foot_skating_ratio"):
        assert expected in out
    assert "jerk_m_per_s3" in out and "bone_length_drift_m" in out


def test_info_missing_file(tmp_path, capsys):
    assert main(["info", str(tmp_path / "absent.bvh")]) == 1
    assert "no such motion file" in capsys.readouterr().err


def test_demo_generates_motion_files_and_video(tmp_path, capsys):
    from kinevid.render import read_video

    out_dir = tmp_path / "demo"
    assert main(["demo", "-o", str(out_dir), "--seconds", "1.5", "--size", "64"]) == 0
    out = capsys.readouterr().out
    npz, bvh, video = (out_dir / f"motion.{suffix}" for suffix in ("npz", "bvh", "mp4"))
    assert "foot_skating_ratio" in out and "generated motion" in out
    assert [joint.name for joint in read_bvh(bvh).joints][:3] == ["pelvis", "left_hip", "left_knee"]
    motion = load_motion(npz)
    assert motion.duration == pytest.approx(1.5, abs=1 / motion.fps)
    torch.testing.assert_close(motion.joints, load_motion(bvh).joints, atol=1e-4, rtol=0)
    frames = read_video(video)
    assert frames.shape[0] == motion.num_frames and frames.shape[1] > 64  # caption bar above 64-pixel views


def test_demo_rejects_bad_duration(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo"), "--seconds", "0"]) == 1
    assert "--seconds" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("command", ["convert", "info", "demo"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert command in capsys.readouterr().out
