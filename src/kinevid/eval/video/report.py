"""The `kinevid eval video` report directory, written all at once (a temporary directory renamed into place).

Contents:

- `report.json`: settings, the metric legend, set-level means (and 95% intervals over repeats),
  and every repeat's per-video and set-level scores;
- `report.md`: the summary table, the per-video table (means over repeats), and the pictures;
- `frames.png`: evenly spaced frames of a few generated videos, one row per video;
- `pck_per_joint.png` (pose following) and `hist_<metric>.png` (per-video score histograms), drawn
  with matplotlib when it is installed (`pip install kinevid[judge]`); without it the report says so.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ...errors import InvalidInputError
from ...render.grid import make_grid
from .evaluate import METRICS, VideoEvaluation
from .pose_judge import JUDGED_NAMES

FRAMES_PER_ROW = 6
# Per-video metrics shown in the per-video table and histograms (sub-scores such as pck/<joint> are not).
_HEADLINE = (
    "clipsim",
    "subject_consistency",
    "background_consistency",
    "dynamic_degree",
    "dynamic_degree_dis",
    "motion_smoothness_flowwarp",
    "pck",
    "detection_rate",
    "mask_iou",
    "physical/foot_skating_ratio",
    "physical/penetration_m",
    "physical/floating_m",
    "physical/jerk_m_per_s3",
)


def format_score(value: float | None, interval: float | None = None) -> str:
    """A table cell: `value` (and `± interval`) to 4 decimals, `-` when missing or not finite."""
    if value is None or not math.isfinite(value):
        return "-"
    text = f"{value:.4f}" if abs(value) < 1e4 else f"{value:.3e}"
    return text + (f" ± {interval:.4f}" if interval is not None and math.isfinite(interval) else "")


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def evaluation_to_dict(evaluation: VideoEvaluation) -> dict:
    """Plain JSON-ready data (NaN becomes None)."""

    def clean(metrics: dict[str, float]) -> dict[str, float | None]:
        return {name: _finite_or_none(float(value)) for name, value in metrics.items()}

    return {
        "settings": evaluation.settings,
        "legend": {name: METRICS[name] for name in evaluation.settings.get("metrics", [])},
        "means": clean(evaluation.means),
        "intervals_95": clean(evaluation.intervals),
        "repeats": [
            {
                "name": repeat.name,
                "set_metrics": clean(repeat.set_metrics),
                "per_video": {video: clean(scores) for video, scores in repeat.per_video.items()},
            }
            for repeat in evaluation.repeats
        ],
    }


def per_video_means(evaluation: VideoEvaluation) -> dict[str, dict[str, float]]:
    """Video name -> metric -> mean over repeats (finite values only)."""
    table: dict[str, dict[str, list[float]]] = {}
    for repeat in evaluation.repeats:
        for video, scores in repeat.per_video.items():
            for name, value in scores.items():
                if math.isfinite(value):
                    table.setdefault(video, {}).setdefault(name, []).append(value)
    return {video: {name: float(np.mean(v)) for name, v in scores.items()} for video, scores in table.items()}


def _headline_columns(per_video: dict[str, dict[str, float]]) -> list[str]:
    present = {name for scores in per_video.values() for name in scores}
    return [name for name in _HEADLINE if name in present]


def to_markdown(evaluation: VideoEvaluation, pictures: list[str], notes: list[str]) -> str:
    repeats = len(evaluation.repeats)
    lines = ["## Video evaluation", ""]
    interval_note = f"Mean ± 95% interval over {repeats} repeats." if repeats > 1 else "One run (no interval)."
    lines += [interval_note, "", "| metric | value |", "|---|---:|"]
    for name, value in evaluation.means.items():
        if name.startswith("pck/") or name.endswith("/top_flow_px"):
            continue
        lines.append(f"| {name} | {format_score(value, evaluation.intervals.get(name))} |")
    legend = [f"- `{name}`: {METRICS[name]}" for name in evaluation.settings.get("metrics", [])]
    lines += ["", *legend]

    per_video = per_video_means(evaluation)
    columns = _headline_columns(per_video)
    if columns:
        lines += ["", "### Per video" + (" (means over repeats)" if repeats > 1 else ""), ""]
        lines += ["| video | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
        for video, scores in per_video.items():
            lines.append(f"| {video} | " + " | ".join(format_score(scores.get(c)) for c in columns) + " |")
    if pictures:
        lines += ["", "### Pictures", ""] + [f"![{p}]({p})" for p in pictures]
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    lines += ["", "Settings:", *[f"- {key}: {value}" for key, value in evaluation.settings.items()]]
    return "\n".join(lines) + "\n"


def frames_grid(sample_frames: dict[str, np.ndarray], frames_per_row: int = FRAMES_PER_ROW) -> np.ndarray:
    """One row per video: `frames_per_row` evenly spaced frames side by side, captioned with the name."""
    strips = []
    for frames in sample_frames.values():
        picks = np.linspace(0, len(frames) - 1, num=min(frames_per_row, len(frames))).round().astype(int)
        strips.append(np.concatenate(list(frames[picks]), axis=1)[None])  # (1, H, k W, 3)
    return make_grid(strips, captions=list(sample_frames), columns=1)[0]


def _plot_pck_per_joint(evaluation: VideoEvaluation, path: Path) -> bool:
    import matplotlib.pyplot as plt

    per_joint = [evaluation.means.get(f"pck/{name}") for name in JUDGED_NAMES]
    if all(value is None for value in per_joint):
        return False
    figure, axis = plt.subplots(figsize=(7, 3.2))
    axis.bar(range(len(JUDGED_NAMES)), [np.nan if v is None else v for v in per_joint], color="tab:blue")
    axis.set_xticks(
        range(len(JUDGED_NAMES)), [name.replace("_", " ") for name in JUDGED_NAMES], rotation=45, ha="right"
    )
    axis.set_ylim(0, 1)
    axis.set_ylabel("PCK@0.1")
    axis.set_title("Pose following per joint (MediaPipe judge)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def _plot_histogram(name: str, values: list[float], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4, 3))
    axis.hist(values, bins=min(20, max(5, len(values))), color="tab:gray", edgecolor="black")
    axis.set_xlabel(name)
    axis.set_ylabel("videos")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_frame_grid(grid: np.ndarray, path: Path) -> None:
    """Write an RGB uint8 picture `(H, W, 3)` as PNG; a failed write is an `InvalidInputError` naming `path`."""
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise InvalidInputError(f"{path}: cannot write the frame grid.")


def use_matplotlib(notes: list[str]) -> bool:
    """Select matplotlib's file backend; without matplotlib, add the reason plots are skipped to `notes`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        notes.append("plots skipped: matplotlib is not installed (`pip install kinevid[judge]`).")
        return False
    return True


def _draw_pictures(evaluation: VideoEvaluation, directory: Path) -> tuple[list[str], list[str]]:
    pictures, notes = [], []
    if evaluation.sample_frames:
        write_frame_grid(frames_grid(evaluation.sample_frames), directory / "frames.png")
        pictures.append("frames.png")
    if not use_matplotlib(notes):
        return pictures, notes
    if _plot_pck_per_joint(evaluation, directory / "pck_per_joint.png"):
        pictures.append("pck_per_joint.png")
    per_video = per_video_means(evaluation)
    for name in _headline_columns(per_video):
        values = [scores[name] for scores in per_video.values() if name in scores]
        if len(values) >= 2:
            file_name = f"hist_{name.replace('/', '_')}.png"
            _plot_histogram(name, values, directory / file_name)
            pictures.append(file_name)
    return pictures, notes


def write_report(evaluation: VideoEvaluation, output_dir: str | os.PathLike[str]) -> Path:
    """Write the report directory (see the module doc); an existing report there is replaced whole."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InvalidInputError(f"{output_dir}: exists and is not a directory; `-o` names the report directory.")
    try:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    except OSError as error:
        raise InvalidInputError(f"{output_dir}: cannot create the report directory: {error}") from None
    try:
        pictures, notes = _draw_pictures(evaluation, staging)
        data = evaluation_to_dict(evaluation)
        (staging / "report.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        (staging / "report.md").write_text(to_markdown(evaluation, pictures, notes), encoding="utf-8")
        os.chmod(staging, 0o777 & ~_umask())
        if output_dir.exists():
            previous = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.old.", dir=output_dir.parent))
            os.replace(output_dir, previous / output_dir.name)
            os.replace(staging, output_dir)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(staging, output_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
