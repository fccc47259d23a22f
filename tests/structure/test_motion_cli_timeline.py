"""`kinevid motion --timeline` and `--start-in-motion` on a tiny pipeline."""

from __future__ import annotations

import json

import pytest
import torch

from kinevid.cli.main import main
from kinevid.motion.motion import Motion
from kinevid.pipelines.pipeline_text_to_motion import TextToMotionPipeline, standing_motion


@pytest.fixture
def calls(monkeypatch, tiny_motion_pipeline):
    """Serve the tiny pipeline to the command and record the options of each call."""
    recorded = []
    original = TextToMotionPipeline.__call__

    def spy(self, *args, **kwargs):
        recorded.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TextToMotionPipeline, "from_pretrained", classmethod(lambda cls, *a, **k: tiny_motion_pipeline))
    monkeypatch.setattr(TextToMotionPipeline, "__call__", spy)
    return recorded


def _error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("kinevid ")]
    assert len(lines) == 1 and lines[0].startswith("kinevid motion: error:"), lines
    return lines[0]


def test_timeline_spec(tmp_path, calls):
    output = tmp_path / "walk_jump.npz"
    assert main(["motion", "--timeline", "walk forward:1, jump:1.5", "-o", str(output), "--seed", "0"]) == 0
    motion = Motion.load(output)
    assert motion.num_frames == 30  # 2.5 s at 12 fps
    assert calls[0]["timeline"] == [("walk forward", 1.0), ("jump", 1.5)] and calls[0]["start"] is None
    standing = standing_motion(1, 12.0, motion.offsets).joints[0]
    torch.testing.assert_close(motion.joints[0], standing, atol=1e-4, rtol=0)


def test_timeline_file_and_start_in_motion(tmp_path, calls):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([["walk forward", 1], ["sit down", 1]]))
    output = tmp_path / "plan.npz"
    assert main(["motion", "--timeline", str(plan), "-o", str(output), "--start-in-motion", "--seed", "0"]) == 0
    assert calls[0]["timeline"] == [("walk forward", 1.0), ("sit down", 1.0)] and calls[0]["start"] == "motion"
    assert Motion.load(output).num_frames == 24


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timeline", "walk:2, jump"], 'part 2 "jump": expected TEXT:SECONDS'),
        (["--timeline", "walk:2", "--seconds", "3"], "--seconds does not apply"),
        (["a person walks", "--timeline", "walk:2"], "Give one of PROMPT"),
        (["--timeline", "missing.json"], "does not exist"),
    ],
)
def test_bad_timelines_fail_in_one_line_before_loading(tmp_path, capsys, monkeypatch, argv, message):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the timeline was checked")

    monkeypatch.setattr(TextToMotionPipeline, "from_pretrained", refuse)
    monkeypatch.chdir(tmp_path)
    assert main(["motion", *argv, "-o", str(tmp_path / "out.npz")]) == 1
    assert message in _error(capsys)
    assert not (tmp_path / "out.npz").exists()


def test_start_from_rest_overrides_the_checkpoint(tmp_path, calls):
    output = tmp_path / "rest.npz"
    argv = ["motion", "a person walks", "-o", str(output), "--seconds", "1", "--seed", "0"]
    assert main([*argv, "--start-from-rest"]) == 0
    assert calls[0]["start"] == "rest"
    with pytest.raises(SystemExit):  # argparse: the two are exclusive
        main([*argv, "--start-from-rest", "--start-in-motion"])
