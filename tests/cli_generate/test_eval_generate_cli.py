"""`kinevid eval generate` end to end on tiny random pipelines and a two-clip test-split synth dataset: the report
files, and one-line errors that leave no report directory behind."""

from __future__ import annotations

import json

import pytest

from kinevid.cli.main import main
from kinevid.eval.video import generation

ARGS = ["--clips", "2", "--seeds", "1", "--steps", "1"]


@pytest.fixture(scope="module")
def test_data(tmp_path_factory, cmu_root):
    from kinevid.data.cmu import CMUMocap
    from kinevid.data.synth import SynthConfig, build_synthetic_dataset

    config = SynthConfig(num_clips=2, clips_per_shard=2, num_frames=5, height=32, width=32, fps=16.0, seed=2,
                         num_track_points=4, split="test")  # fmt: skip
    trials = CMUMocap(cmu_root, split="test", fps=16.0, min_frames=5)
    return build_synthetic_dataset(trials, tmp_path_factory.mktemp("data") / "test", config, show_progress=False)


def test_writes_every_report_file(mosa_dir, test_data, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["eval", "generate", "--model", str(mosa_dir), "--data", str(test_data), *ARGS, "-o", str(out)]) == 0
    names = {path.name for path in out.iterdir()}
    assert {"report.json", "report.md", "frames.png"} <= names
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "mosa" and report["mode"] == "motion" and report["settings"]["clips"] == 2
    assert {"generated", "ground truth", "through the VAE", "mean frame"} == set(report["means"])
    assert "dynamic_degree_dis" in report["means"]["generated"]
    printed = capsys.readouterr().out
    assert "report:" in printed and "ground truth" in printed


def test_echomotion_v2m_report(echomotion_dir, test_data, tmp_path):
    out = tmp_path / "report"
    argv = ["eval", "generate", "--method", "echomotion", "--mode", "v2m", "--model", str(echomotion_dir)]
    assert main([*argv, "--data", str(test_data), *ARGS, "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["means"]["real motion"]["mpjpe_mm"] == 0.0
    assert (out / "report.md").is_file() and (out / "frames.png").is_file()


def test_missing_judge_is_one_stated_line(mosa_dir, test_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(generation, "is_mediapipe_available", lambda: False)
    out = tmp_path / "report"
    assert main(["eval", "generate", "--model", str(mosa_dir), "--data", str(test_data), *ARGS, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("not measured: pose: MediaPipe is not installed") == 1
    assert "pck" not in json.loads((out / "report.json").read_text())["means"]["generated"]


def test_bad_model_is_one_line_and_no_report(test_data, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "report"
    argv = ["eval", "generate", "--model", str(tmp_path / "empty"), "--data", str(test_data), *ARGS, "-o", str(out)]
    assert main(argv) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "model_index.json" in error
    assert not out.exists()


def test_unwritable_output_is_one_line_and_no_report(mosa_dir, test_data, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker / "report"
    assert main(["eval", "generate", "--model", str(mosa_dir), "--data", str(test_data), *ARGS, "-o", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "is a file, not a directory" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_bad_mode_and_training_data_are_refused(mosa_dir, test_data, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["eval", "generate", "--model", str(mosa_dir), "--mode", "v2m", *ARGS, "-o", str(out)]) == 1
    assert "--mode v2m" in capsys.readouterr().err
    manifest = json.loads((test_data / "manifest.json").read_text())
    train = tmp_path / "train"
    train.mkdir()
    manifest["config"]["split"] = "train"
    (train / "manifest.json").write_text(json.dumps(manifest))
    assert main(["eval", "generate", "--model", str(mosa_dir), "--data", str(train), *ARGS, "-o", str(out)]) == 1
    assert "held-out test subjects" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.heavy  # the tiny pipeline's clip length is Wan's 81 frames: ~30 s on a busy CPU
def test_without_data_it_renders_test_subject_clips(mosa_dir, cmu_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(generation, "is_mediapipe_available", lambda: False)
    out = tmp_path / "report"
    argv = ["eval", "generate", "--model", str(mosa_dir), "--cmu-root", str(cmu_root), "--size", "32x32"]
    assert main([*argv, *ARGS, "-o", str(out)]) == 0
    assert "rendering 2 test-subject clips (32x32" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["test_data"].startswith("rendered") and report["settings"]["size"][1:] == [32, 32]
