"""The `kinevid eval generate` report directory, written all at once (`kinevid.utils.atomic_directory`).

Contents:

- `report.json`: `GenerationEvaluation.to_dict()` (settings, means and 95% intervals over seeds per row,
  ratios to the ground truth, issue 13's goals, what was skipped and why, per-seed and per-clip scores);
- `report.md`: the summary table (one column per row: generated, ground truth, through the VAE, mean frame), the goals,
  the per-clip table, the pictures;
- `frames.png`: a few clips, each row evenly spaced frames of generated | ground truth | skeleton (v2m:
  video | captured motion | real motion, as skeletons in the clip's camera);
- `pck_per_joint.png` (pose following per joint, each row of the table) and `hist_<metric>.png` (per-clip
  scores of each row), drawn with matplotlib when it is installed; without it the report says so.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from ...errors import InvalidInputError
from ...render.grid import make_grid
from ...utils import atomic_directory
from .generation import GenerationEvaluation
from .pose_judge import JUDGED_NAMES
from .report import format_score, frames_grid, use_matplotlib, write_frame_grid

REPORT_FILES = ("report.json", "report.md")
FRAMES_PER_ROW = 4
# Per-clip scores shown in the per-clip table and histograms when present.
HEADLINE = (
    "pck",
    "mask_iou",
    "detection_rate",
    "named/shirt",
    "named/trousers",
    "paired/psnr",
    "paired/ssim",
    "paired/psnr_person",
    "paired/ssim_person",
    "mpjpe_mm",
    "dynamic_degree_dis",
    "motion_smoothness_flowwarp",
    "captured/mpjpe_mm",
    "captured/foot_skating_ratio",
    "physical/foot_skating_ratio",
    "physical/jerk_m_per_s3",
)


def _headline(evaluation: GenerationEvaluation) -> list[str]:
    present = {name for table in evaluation.per_clip.values() for scores in table.values() for name in scores}
    return [name for name in HEADLINE if name in present]


def to_markdown(evaluation: GenerationEvaluation, pictures: list[str], notes: list[str]) -> str:
    rows, settings = evaluation.rows, evaluation.settings
    seeds = settings["seeds"]
    lines = [f"## {evaluation.method} {evaluation.mode} on {settings['clips']} held-out test-subject clips", ""]
    lines += [f"Mean ± 95% interval over {seeds} seeds." if seeds > 1 else "One seed (no interval).", ""]
    lines += ["| metric | " + " | ".join(rows) + " |", "|---|" + "---:|" * len(rows)]
    names = list(dict.fromkeys(name for row in rows for name in evaluation.means[row]))
    for name in names:
        if name.startswith("pck/") or name.endswith("/top_flow_px"):
            continue
        cells = [format_score(evaluation.means[row].get(name), evaluation.intervals[row].get(name)) for row in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    goals = evaluation.goals()
    if goals:
        lines += ["", "Goals (issue 13):", ""]
        for key, goal in goals.items():
            what = "generated / ground truth" if key in evaluation.ratios else "generated"
            verdict = "met" if goal["met"] else "NOT met"
            lines.append(f"- {key}: {what} = {goal['value']:.3f} (goal >= {goal['goal']}: {verdict})")
    if evaluation.skipped:
        lines += ["", "Not measured:", "", *[f"- {what}: {why}" for what, why in evaluation.skipped.items()]]
    columns = _headline(evaluation)
    first = rows[0]
    if columns:
        lines += ["", f"### Per clip ({first}; means over seeds)", ""]
        lines += ["| clip | caption | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
        for clip, scores in evaluation.per_clip[first].items():
            caption = evaluation.settings.get("captions", {}).get(clip, "")
            lines.append(f"| {clip} | {caption} | " + " | ".join(format_score(scores.get(c)) for c in columns) + " |")
    if pictures:
        lines += ["", "### Pictures", ""] + [f"![{p}]({p})" for p in pictures]
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    shown = {key: value for key, value in settings.items() if key != "captions"}
    lines += ["", "Settings:", *[f"- {key}: {value}" for key, value in shown.items()]]
    return "\n".join(lines) + "\n"


def sample_grid(samples: dict[str, dict[str, np.ndarray]], frames_per_row: int = FRAMES_PER_ROW) -> np.ndarray:
    """One row per clip: `frames_per_row` evenly spaced frames, each the clip's views side by side."""
    strips = {
        f"{clip} ({' | '.join(views)})": make_grid(list(views.values()), gap=2) for clip, views in samples.items()
    }
    return frames_grid(strips, frames_per_row)


def _plot_pck_per_joint(evaluation: GenerationEvaluation, path: Path) -> bool:
    import matplotlib.pyplot as plt

    rows = [row for row in evaluation.rows if any(f"pck/{n}" in evaluation.means[row] for n in JUDGED_NAMES)]
    if not rows:
        return False
    figure, axis = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / len(rows)
    positions = np.arange(len(JUDGED_NAMES))
    for index, row in enumerate(rows):
        values = [evaluation.means[row].get(f"pck/{name}", np.nan) for name in JUDGED_NAMES]
        axis.bar(positions + (index - (len(rows) - 1) / 2) * width, values, width, label=row)
    axis.set_xticks(positions, [name.replace("_", " ") for name in JUDGED_NAMES], rotation=45, ha="right")
    axis.set_ylim(0, 1)
    axis.set_ylabel("PCK@0.1")
    axis.set_title("Pose following per joint (MediaPipe judge)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def _plot_histogram(evaluation: GenerationEvaluation, name: str, path: Path) -> bool:
    import matplotlib.pyplot as plt

    series = {}
    for row in evaluation.rows:
        values = [s[name] for s in evaluation.per_clip[row].values() if name in s and math.isfinite(s[name])]
        if values:
            series[row] = values
    if sum(len(v) for v in series.values()) < 2:
        return False
    figure, axis = plt.subplots(figsize=(4.5, 3))
    axis.hist(list(series.values()), bins=min(20, max(5, max(len(v) for v in series.values()))), label=list(series))
    axis.set_xlabel(name)
    axis.set_ylabel("clips")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def _draw_pictures(evaluation: GenerationEvaluation, directory: Path) -> tuple[list[str], list[str]]:
    pictures, notes = [], []
    if evaluation.samples:
        write_frame_grid(sample_grid(evaluation.samples), directory / "frames.png")
        pictures.append("frames.png")
    if not use_matplotlib(notes):
        return pictures, notes
    if _plot_pck_per_joint(evaluation, directory / "pck_per_joint.png"):
        pictures.append("pck_per_joint.png")
    for name in _headline(evaluation):
        file_name = f"hist_{name.replace('/', '_')}.png"
        if _plot_histogram(evaluation, name, directory / file_name):
            pictures.append(file_name)
    return pictures, notes


def write_generation_report(evaluation: GenerationEvaluation, output_dir: str | os.PathLike[str]) -> Path:
    """Write the report directory (see the module doc); an existing one is replaced whole, and on any error
    nothing is left behind."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InvalidInputError(f"{output_dir}: exists and is not a directory; `-o` names the report directory.")
    try:
        with atomic_directory(output_dir) as staging:
            pictures, notes = _draw_pictures(evaluation, staging)
            data = evaluation.to_dict()
            (staging / "report.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            (staging / "report.md").write_text(to_markdown(evaluation, pictures, notes), encoding="utf-8")
    except OSError as error:
        raise InvalidInputError(f"{output_dir}: cannot write the report ({error.strerror or error}).") from None
    return output_dir
