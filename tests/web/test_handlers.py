"""The web demo's request handlers without a browser (and without Gradio): result files, one-line errors for
bad uploads, the model cache."""

from __future__ import annotations

import numpy as np
import pytest

from kinevid.cli.commands import generate as generate_command
from kinevid.cli.web import handlers
from kinevid.cli.web.models import ModelCache
from kinevid.errors import InvalidInputError, KinevidError, MissingWeightsError
from kinevid.motion import Motion
from kinevid.render.video import read_video, write_video


@pytest.fixture
def cache(model_dir) -> ModelCache:
    return ModelCache(model_dir)


def _check_clip_result(result, frames_expected: bool = True):
    names = sorted(p.name for p in result.out_dir.iterdir())
    expected = {"feet.png", "grid.mp4", "mannequin.mp4", "motion.bvh", "motion.npz", "skeleton.mp4", "video.mp4"}
    assert set(names) == expected
    motion = Motion.load(result.out_dir / "motion.npz")
    video = read_video(result.video)
    assert len(video) == motion.num_frames
    assert read_video(result.skeleton).shape == video.shape
    assert read_video(result.mannequin).shape == video.shape
    assert Motion.load(result.out_dir / "motion.bvh").num_frames == motion.num_frames
    assert "foot_skating_ratio" in result.summary and "pose following" in result.summary
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return motion


def test_text_to_video_writes_every_view_and_loads_the_model_once(cache, tmp_path):
    first = handlers.text_to_video(cache, tmp_path, "mosa", "a man walks forward", seed=0, steps=2)
    motion = _check_clip_result(first)
    # 0 (a blank field of the page) is the pipeline's own value: its recorded 5 frames, 2 steps
    second = handlers.text_to_video(cache, tmp_path, "mosa", "a man walks forward", 0, seconds=0, guidance=0, steps=0)
    assert second.out_dir != first.out_dir
    assert cache.loads == {"mosa": 1}
    assert np.array_equal(read_video(second.video), read_video(first.video))  # the seed decides
    assert motion.fps == pytest.approx(float(cache.video_pipeline("mosa").config.fps))
    assert [p.name for p in first.downloads] == ["video.mp4", "motion.npz", "motion.bvh", "grid.mp4"]


@pytest.mark.filterwarnings("ignore:.*looks too high for the motion")
def test_motion_to_video_and_video_to_motion(cache, tmp_path):
    source = handlers.text_to_video(cache, tmp_path, "mosa", "a man walks forward", seed=1, steps=2)
    animated = handlers.motion_to_video(
        cache, tmp_path, "mosa", source.out_dir / "motion.bvh", "a woman in a blue dress", seed=0, steps=2
    )
    _check_clip_result(animated)
    captured = handlers.video_to_motion(cache, tmp_path, source.video, seed=0, steps=2)
    _check_clip_result(captured)
    assert "captured motion of video.mp4" in captured.summary
    assert set(cache.loads) == {"mosa", "echomotion"}


def test_text_to_motion_renders_the_mannequin_and_the_skeleton(cache, tmp_path):
    result = handlers.text_to_motion(cache, tmp_path, "a person jumps forward", seed=0, seconds=1.0)
    motion = Motion.load(result.out_dir / "motion.npz")
    assert motion.num_frames == round(1.0 * motion.fps)
    assert result.video is None
    assert sorted(p.name for p in result.downloads) == ["mannequin.mp4", "motion.bvh", "motion.npz"]
    assert read_video(result.mannequin).shape[0] == motion.num_frames
    assert read_video(result.skeleton).shape[0] == motion.num_frames
    assert "pose following: n/a" in result.summary


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("walk.txt", b"hello", r"walk.txt: expected a motion file ending in one of"),
        ("walk.npz", b"this is not a zip archive", r"^walk\.npz: not a motion file"),
        ("walk.bvh", b"HIERARCHY\nnonsense", r"^walk\.bvh"),
        ("empty.npz", b"", r"empty.npz: the motion file is empty"),
    ],
)
def test_bad_motion_uploads_give_one_line(cache, tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(KinevidError, match=match) as info:
        handlers.motion_to_video(cache, tmp_path / "out", "mosa", path, "a man")
    assert "\n" not in str(info.value) and str(tmp_path) not in str(info.value)  # named as uploaded
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bad_video_uploads_and_sizes(cache, tmp_path, monkeypatch):
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"\x00" * 1000)
    with pytest.raises(InvalidInputError, match=r"^clip\.mp4: cannot"):
        handlers.video_to_motion(cache, tmp_path / "out", fake)
    with pytest.raises(InvalidInputError, match=r"notes\.txt: expected a video file"):
        handlers.video_to_motion(cache, tmp_path / "out", _write(tmp_path / "notes.txt", b"abc"))
    with pytest.raises(InvalidInputError, match="no video uploaded"):
        handlers.video_to_motion(cache, tmp_path / "out", None)
    monkeypatch.setattr(handlers, "MAX_VIDEO_BYTES", 100)
    write_video(np.zeros((5, 16, 16, 3), np.uint8), tmp_path / "big.mp4", fps=8)
    (tmp_path / "big.mp4").write_bytes((tmp_path / "big.mp4").read_bytes() + b"\x00" * 200)
    with pytest.raises(InvalidInputError, match=r"big.mp4: the video is 0.0 MB; at most 0 MB"):
        handlers.video_to_motion(cache, tmp_path / "out", tmp_path / "big.mp4")


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


def test_bad_form_values(cache, tmp_path):
    with pytest.raises(InvalidInputError, match="describes no human action"):
        handlers.text_to_video(cache, tmp_path, "mosa", "a sunny beach")
    with pytest.raises(InvalidInputError, match="--seconds must be a positive number"):
        handlers.text_to_video(cache, tmp_path, "mosa", "a man walks", seconds=-1)
    with pytest.raises(InvalidInputError, match="--steps must be >= 1"):
        handlers.text_to_video(cache, tmp_path, "mosa", "a man walks", steps=-1)
    with pytest.raises(InvalidInputError, match="the prompt is empty"):
        handlers.text_to_motion(cache, tmp_path, "  ")
    with pytest.raises(InvalidInputError, match="method 'wan': expected one of"):
        handlers.text_to_video(cache, tmp_path, "wan", "a man walks")
    assert cache.loads == {}  # every check comes before a model loads


def test_a_method_without_a_model_says_so(mosa_only_dir, tmp_path, monkeypatch):
    cache = ModelCache(mosa_only_dir)
    with pytest.raises(MissingWeightsError, match="not a pipeline directory"):
        handlers.text_to_video(cache, tmp_path, "echomotion", "a man walks")
    monkeypatch.setattr(generate_command, "default_model_dir", lambda method: tmp_path / "uninstalled" / method)
    with pytest.raises(MissingWeightsError, match="no trained echomotion video model ships"):
        handlers.text_to_video(ModelCache(), tmp_path, "echomotion", "a man walks")
