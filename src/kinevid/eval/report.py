"""`EvaluationReport`: metric columns side by side (e.g. real held-out data vs a model), printed as
a rich table and written atomically as JSON or Markdown."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InvalidInputError
from ..utils.io import atomic_write

# Display names and the direction that is better, in table order; other metrics follow alphabetically.
METRIC_LABELS: dict[str, str] = {
    "r_precision_top1": "R-precision top-1 (up)",
    "r_precision_top2": "R-precision top-2 (up)",
    "r_precision_top3": "R-precision top-3 (up)",
    "r_precision_distinct_top1": "R-precision top-1, distinct captions (up)",
    "r_precision_distinct_top2": "R-precision top-2, distinct captions (up)",
    "r_precision_distinct_top3": "R-precision top-3, distinct captions (up)",
    "fid": "FID (down)",
    "mm_distance": "MM-distance (down)",
    "diversity": "Diversity (-> real)",
    "multimodality": "Multimodality (up)",
    "physical/foot_skating_ratio": "Foot-skating ratio (down)",
    "physical/penetration_m": "Penetration, m (down)",
    "physical/floating_m": "Floating, m (down)",
    "physical/skate_m": "PhysDiff skate, m/frame (down)",
    "physical/phys_err_m": "PhysDiff Phys-Err, m (down)",
    "physical/dart_skate_m_per_s": "DART skate, m/s (down)",
    "physical/jerk_m_per_s3": "Jerk, m/s^3 (-> real)",
    "physical/bone_length_drift_m": "Bone-length drift, m (down)",
}


@dataclass
class ReportColumn:
    """One evaluated set.

    Args:
        name (`str`): column header, e.g. `"real (test)"`.
        metrics (`dict[str, float]`): metric values (missing ones print as "-").
        note (`str`): why the column is empty or how it was produced (printed under the table).
        intervals (`dict[str, float]`): half-widths of 95% confidence intervals over repeated runs,
            printed as "value ± interval" (metrics without one print alone).
    """

    name: str
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""
    intervals: dict[str, float] = field(default_factory=dict)


@dataclass
class EvaluationReport:
    """Columns of metrics plus the settings that produced them.

    Args:
        title (`str`): table title.
        columns (`list[ReportColumn]`): evaluated sets, left to right.
        settings (`dict`): split, sample counts, evaluator, seed, ... (written to JSON and Markdown).
    """

    title: str
    columns: list[ReportColumn]
    settings: dict = field(default_factory=dict)

    def metric_names(self) -> list[str]:
        present = {name for column in self.columns for name in column.metrics}
        ordered = [name for name in METRIC_LABELS if name in present]
        return ordered + sorted(present - set(ordered))

    def rows(self) -> list[list[str]]:
        """Table body: one row per metric, the label then one formatted value per column."""
        return [
            [METRIC_LABELS.get(name, name)]
            + [_format(column.metrics.get(name), column.intervals.get(name)) for column in self.columns]
            for name in self.metric_names()
        ]

    def to_dict(self) -> dict:
        """Plain data; NaN / infinite metric values become None (valid JSON)."""
        data = asdict(self)
        for column in data["columns"]:
            for key in ("metrics", "intervals"):
                column[key] = {k: (v if math.isfinite(v) else None) for k, v in column[key].items()}
        return data

    def to_rich_table(self):
        from rich.table import Table

        table = Table(title=self.title)
        table.add_column("metric")
        for column in self.columns:
            table.add_column(column.name, justify="right")
        for row in self.rows():
            table.add_row(*row)
        return table

    def to_markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        lines.append("| metric | " + " | ".join(c.name for c in self.columns) + " |")
        lines.append("|---|" + "---:|" * len(self.columns))
        lines += ["| " + " | ".join(row) + " |" for row in self.rows()]
        notes = [f"- **{c.name}**: {c.note}" for c in self.columns if c.note]
        settings = [f"- {key}: {value}" for key, value in self.settings.items()]
        if notes:
            lines += ["", *notes]
        if settings:
            lines += ["", "Settings:", *settings]
        return "\n".join(lines) + "\n"

    def print(self, console=None) -> None:
        """Print the table and the column notes with rich."""
        from rich.console import Console

        console = console or Console()
        console.print(self.to_rich_table())
        for column in self.columns:
            if column.note:
                console.print(f"[bold]{column.name}[/bold]: {column.note}")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write as JSON (`.json`) or Markdown (`.md`), atomically."""
        path = Path(path)
        if path.suffix == ".json":
            text = json.dumps(self.to_dict(), indent=2, default=_json_default) + "\n"
        elif path.suffix == ".md":
            text = self.to_markdown()
        else:
            raise InvalidInputError(f"Report path {path} must end in .json or .md, got {path.suffix or 'no suffix'!r}.")
        with atomic_write(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EvaluationReport:
        """Read a report written by `save` as JSON."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            columns = [ReportColumn(**column) for column in raw["columns"]]
            for column in columns:
                column.metrics = {k: float("nan") if v is None else float(v) for k, v in column.metrics.items()}
                column.intervals = {k: float("nan") if v is None else float(v) for k, v in column.intervals.items()}
            return cls(title=raw["title"], columns=columns, settings=raw.get("settings", {}))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InvalidInputError(
                f"{path}: not a kinevid evaluation report (expected JSON with `title` and `columns`): {error}"
            ) from None


def _format(value: float | None, interval: float | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = _format_number(value)
    if interval is not None and math.isfinite(interval):
        text += f" ± {_format_number(interval)}"
    return text


def _format_number(value: float) -> str:
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e4):
        return f"{value:.3e}"
    return f"{value:.4f}"


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
