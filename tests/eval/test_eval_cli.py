"""`kinevid eval motion` on a small real subset, with the model column unavailable."""

from __future__ import annotations

import json

from kinevid.cli.main import main


def test_eval_motion_reports_real_data_and_says_when_the_model_is_missing(tmp_path, cmu_root, capsys):
    report_path = tmp_path / "report.json"
    argv = ["eval", "motion", "--cmu-root", str(cmu_root), "--max-trials", "34", "--num-samples", "32"]
    argv += ["--model", str(tmp_path / "no_model"), "-o", str(report_path)]
    assert main(argv) == 0
    report = json.loads(report_path.read_text())
    real, model = report["columns"]
    assert real["name"] == "real (test)" and report["settings"]["clips"] == 32
    for name in ("r_precision_top1", "r_precision_top2", "r_precision_top3", "fid", "mm_distance", "diversity"):
        assert real["metrics"][name] is not None
    assert (
        real["metrics"]["r_precision_top1"]
        <= real["metrics"]["r_precision_top2"]
        <= real["metrics"]["r_precision_top3"]
    )
    assert real["metrics"]["physical/foot_skating_ratio"] is not None
    assert model["metrics"] == {} and model["note"].startswith("NOT EVALUATED")
    assert (tmp_path / "report.md").is_file()
    printed = capsys.readouterr().out
    assert "R-precision top-3" in printed and "NOT EVALUATED" in printed


def test_eval_motion_rejects_too_few_samples(tmp_path, cmu_root, capsys):
    argv = ["eval", "motion", "--cmu-root", str(cmu_root), "--num-samples", "8", "-o", str(tmp_path / "r.json")]
    assert main(argv) == 1
    assert "at least 32" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_eval_motion_checks_the_report_path_and_the_evaluator_before_working(tmp_path, capsys):
    assert main(["eval", "motion", "-o", str(tmp_path / "report.txt")]) == 1
    assert ".json or .md" in capsys.readouterr().err
    assert main(["eval", "motion", "--evaluator", str(tmp_path / "missing")]) == 1
    assert "config.json" in capsys.readouterr().err
