"""`kinevid eval video` end to end on constructed video sets: report files, repeats and intervals,
identical sets (FVD 0), static vs moving, recovered motions, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from video_cases import moving_video

from kinevid.cli.main import main
from kinevid.motion import Motion
from kinevid.motion.io import sample_motion_path
from kinevid.motion.metrics import physical_metrics
from kinevid.render.video import write_video


def _write_set(directory, steps: dict[str, int], num_frames: int = 17, seed: int = 0) -> None:
    for index, (name, step) in enumerate(steps.items()):
        write_video(moving_video(num_frames, 64, 64, step=step, seed=seed + index), directory / f"{name}.mp4", fps=8)


def test_eval_video_writes_the_report_with_per_video_scores(tmp_path, tiny_clip_dir, tiny_dino_dir, capsys):
    generated = tmp_path / "generated"
    _write_set(generated, {"runner": 4, "walker": 3, "statue": 0})
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"runner": "a person runs", "walker": "a person walks", "statue": "stands"}))
    argv = ["eval", "video", str(generated), "--prompts", str(prompts), "--clip", str(tiny_clip_dir)]
    argv += ["--dino", str(tiny_dino_dir), "-o", str(tmp_path / "report")]
    assert main(argv) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    expected = {"clipsim", "subject_consistency", "background_consistency"}
    expected |= {"dynamic_degree_dis", "motion_smoothness_flowwarp"}
    assert set(report["settings"]["metrics"]) == expected
    per_video = report["repeats"][0]["per_video"]
    assert per_video["statue"]["dynamic_degree_dis"] == 0.0
    assert per_video["runner"]["dynamic_degree_dis"] == per_video["walker"]["dynamic_degree_dis"] == 1.0
    assert report["means"]["dynamic_degree_dis"] == pytest.approx(2 / 3)
    # A still video is perfectly consistent and perfectly smooth (mp4 noise aside).
    assert per_video["statue"]["subject_consistency"] == pytest.approx(1.0, abs=1e-3)
    assert per_video["statue"]["motion_smoothness_flowwarp"] > 0.995
    for name in expected:
        assert report["means"][name] is not None and name in report["legend"]
    assert report["intervals_95"] == {}
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| statue |" in markdown and "frames.png" in markdown and "One run (no interval)" in markdown
    assert (tmp_path / "report" / "frames.png").is_file()
    assert (tmp_path / "report" / "hist_clipsim.png").is_file()
    assert "dynamic_degree_dis: 0.6667" in capsys.readouterr().out


def test_repeats_give_mean_and_95_percent_interval(tmp_path):
    generated = tmp_path / "generated"
    _write_set(generated / "seed0", {"a": 4, "b": 0})
    _write_set(generated / "seed1", {"a": 0, "b": 0})
    _write_set(generated / "seed2", {"a": 4, "b": 4})
    out = tmp_path / "report"
    assert main(["eval", "video", str(generated), "--metrics", "dynamic_degree_dis", "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in report["repeats"]] == ["seed0", "seed1", "seed2"]
    per_repeat = [r["set_metrics"]["dynamic_degree_dis"] for r in report["repeats"]]
    assert per_repeat == [0.5, 0.0, 1.0]
    assert report["means"]["dynamic_degree_dis"] == pytest.approx(0.5)
    assert report["intervals_95"]["dynamic_degree_dis"] == pytest.approx(1.96 * np.std(per_repeat, ddof=1) / np.sqrt(3))
    assert "over 3 repeats" in (out / "report.md").read_text()


def test_fvd_of_a_set_against_itself_is_zero(tmp_path):
    class Detector(torch.nn.Module):  # a stand-in with StyleGAN-V's call signature: mean colour per frame
        def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False):
            return x.mean(dim=(3, 4)).flatten(1)

    torch.jit.script(Detector()).save(str(tmp_path / "i3d_torchscript.pt"))
    generated, shifted = tmp_path / "generated", tmp_path / "shifted"
    _write_set(generated, {f"v{i}": 2 for i in range(4)})
    _write_set(shifted, {f"v{i}": 2 for i in range(4)}, seed=10)
    argv = ["eval", "video", str(generated), "--metrics", "fvd", "--i3d", str(tmp_path / "i3d_torchscript.pt")]
    assert main([*argv, "--reference", str(generated), "-o", str(tmp_path / "same")]) == 0
    assert main([*argv, "--reference", str(shifted), "-o", str(tmp_path / "other")]) == 0
    same = json.loads((tmp_path / "same" / "report.json").read_text())["means"]["fvd"]
    other = json.loads((tmp_path / "other" / "report.json").read_text())["means"]["fvd"]
    assert same == pytest.approx(0.0, abs=1e-6) and other > 1e-3


def test_recovered_motions_are_scored_with_the_physical_metrics(tmp_path):
    generated, motions = tmp_path / "generated", tmp_path / "motions"
    _write_set(generated, {"a": 2, "b": 0})
    walk = Motion.load(sample_motion_path())
    expected = {}
    for name, start in (("a", 0), ("b", 40)):
        motion = walk.slice(start, start + 60)
        motions.mkdir(exist_ok=True)
        motion.save(motions / f"{name}.npz")
        expected[name] = physical_metrics(Motion.load(motions / f"{name}.npz"))
    argv = ["eval", "video", str(generated), "--motions", str(motions), "--metrics", "physical"]
    assert main([*argv, "-o", str(tmp_path / "report")]) == 0
    per_video = json.loads((tmp_path / "report" / "report.json").read_text())["repeats"][0]["per_video"]
    for name, metrics in expected.items():
        for key, value in metrics.items():
            assert per_video[name][f"physical/{key}"] == pytest.approx(value, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "sharpness"], "unknown metric 'sharpness'"),
        (["--metrics", "dynamic_degree"], "needs --raft"),
        (["--metrics", "motion_smoothness"], "needs --amt"),
        (["--metrics", "fvd"], "needs --reference and --i3d"),
        (["--metrics", "clipsim", "--clip", "x"], "needs --prompts"),
        (["--metrics", "physical", "--motions", "nowhere"], "no recovered motion"),
    ],
)
def test_bad_requests_fail_with_one_line_and_leave_no_report(tmp_path, capsys, extra, message):
    generated = tmp_path / "generated"
    _write_set(generated, {"a": 2}, num_frames=5)
    assert main(["eval", "video", str(generated), *extra, "-o", str(tmp_path / "report")]) == 1
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "report").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["generated"]


def test_missing_generated_dir_and_file_as_report_dir(tmp_path, capsys):
    assert main(["eval", "video", str(tmp_path / "none"), "-o", str(tmp_path / "r")]) == 1
    assert "not a directory of generated videos" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["eval", "video", str(tmp_path), "-o", str(tmp_path / "file")]) == 1
    assert "is not a directory" in capsys.readouterr().err
