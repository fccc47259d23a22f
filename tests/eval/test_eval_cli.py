"""`kinevid eval motion` on a small real subset; a `--model` that is not there is an error."""

from __future__ import annotations

import json

from kinevid.cli.main import main


def test_eval_motion_reports_real_data(tmp_path, cmu_root, capsys):
    report_path = tmp_path / "report.json"
    argv = ["eval", "motion", "--cmu-root", str(cmu_root), "--max-trials", "34", "--num-samples", "32"]
    argv += ["--real-only", "-o", str(report_path)]
    assert main(argv) == 0
    report = json.loads(report_path.read_text())
    (real,) = report["columns"]
    assert real["name"] == "real (test)" and report["settings"]["clips"] == 32
    for name in ("r_precision_top1", "r_precision_top2", "r_precision_top3", "fid", "mm_distance", "diversity"):
        assert real["metrics"][name] is not None
    assert (
        real["metrics"]["r_precision_top1"]
        <= real["metrics"]["r_precision_top2"]
        <= real["metrics"]["r_precision_top3"]
    )
    assert real["metrics"]["physical/foot_skating_ratio"] is not None
    assert (tmp_path / "report.md").is_file()
    assert "R-precision top-3" in capsys.readouterr().out


def test_eval_motion_with_a_missing_model_is_an_error(tmp_path, cmu_root, capsys):
    # It used to report "NOT EVALUATED" and exit 0; a model asked for by path must exist.
    report_path = tmp_path / "report.json"
    argv = ["eval", "motion", "--cmu-root", str(cmu_root), "--max-trials", "34", "--num-samples", "32"]
    argv += ["--model", str(tmp_path / "no_model"), "-o", str(report_path)]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.startswith("kinevid eval: error: --model") and "no_model" in error and len(error.splitlines()) == 1
    assert not report_path.exists()


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
