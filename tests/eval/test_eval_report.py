"""`EvaluationReport`: JSON/Markdown written atomically, read back, bad paths rejected."""

from __future__ import annotations

import json
import math

import pytest

from kinevid.errors import InvalidInputError
from kinevid.eval.report import EvaluationReport, ReportColumn


def _report() -> EvaluationReport:
    return EvaluationReport(
        title="demo",
        columns=[
            ReportColumn("real (test)", {"r_precision_top3": 0.5, "fid": 0.25, "physical/jerk_m_per_s3": float("nan")}),
            ReportColumn("model", note="NOT EVALUATED: no checkpoint"),
        ],
        settings={"split": "test", "clips": 40},
    )


def test_json_round_trip_and_markdown(tmp_path):
    report = _report()
    report.save(tmp_path / "report.json")
    raw = json.loads((tmp_path / "report.json").read_text())
    assert raw["columns"][0]["metrics"]["physical/jerk_m_per_s3"] is None  # NaN is not valid JSON
    loaded = EvaluationReport.load(tmp_path / "report.json")
    assert loaded.columns[0].metrics["fid"] == 0.25 and math.isnan(loaded.columns[0].metrics["physical/jerk_m_per_s3"])
    assert loaded.columns[1].note == "NOT EVALUATED: no checkpoint"
    report.save(tmp_path / "report.md")
    markdown = (tmp_path / "report.md").read_text()
    assert "| R-precision top-3 (up) | 0.5000 | - |" in markdown
    assert "NOT EVALUATED: no checkpoint" in markdown
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md"]  # no temporary files left


def test_rows_follow_the_standard_metric_order():
    names = [row[0] for row in _report().rows()]
    assert names == ["R-precision top-3 (up)", "FID (down)", "Jerk, m/s^3 (-> real)"]


def test_bad_suffix_and_bad_file(tmp_path):
    with pytest.raises(InvalidInputError, match=r"\.json or \.md"):
        _report().save(tmp_path / "report.txt")
    assert not (tmp_path / "report.txt").exists()
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match=r"broken\.json"):
        EvaluationReport.load(tmp_path / "broken.json")


def test_intervals_print_beside_the_mean_and_survive_a_round_trip(tmp_path):
    report = EvaluationReport(
        title="repeats",
        columns=[ReportColumn("model", {"r_precision_top3": 0.25, "fid": 0.5}, intervals={"r_precision_top3": 0.0125})],
    )
    assert report.rows() == [["R-precision top-3 (up)", "0.2500 ± 0.0125"], ["FID (down)", "0.5000"]]
    report.save(tmp_path / "report.json")
    assert EvaluationReport.load(tmp_path / "report.json").columns[0].intervals == {"r_precision_top3": 0.0125}
