"""Loss curves of a run: `logs.jsonl` read back and drawn to a PNG (`kinevid train plot RUN`)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..errors import InvalidInputError, KinevidError, MissingDataError
from ..utils.io import atomic_write, check_output_path
from .engine import LOG_FILE

# Logged values that are not loss terms: drawn in their own panels or not at all.
RATE_KEYS = ("lr",)
SKIPPED_KEYS = ("step", "steps_per_s")


def read_log(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The records of a run's `logs.jsonl` (`path` is the file or the run directory), in file order.

    Raises `MissingDataError` if the file does not exist and `InvalidInputError` if it holds no
    records or a line that is not a JSON object with an integer `step`.
    """
    path = Path(path)
    if path.is_dir():
        path = path / LOG_FILE
    if not path.is_file():
        raise MissingDataError(f"{path} does not exist: expected the `{LOG_FILE}` of a `kinevid train` run.")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"{path}, line {number}: not valid JSON ({error}).") from error
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise InvalidInputError(f"{path}, line {number}: expected a JSON object with an integer 'step'.")
        records.append(record)
    if not records:
        raise InvalidInputError(f"{path} is empty: the run has not logged a step yet.")
    return records


def curves(records: list[dict[str, float]]) -> dict[str, tuple[list[int], list[float]]]:
    """Per logged name, its (steps, values), sorted by step; a step logged twice keeps its last value."""
    by_name: dict[str, dict[int, float]] = {}
    for record in records:
        for name, value in record.items():
            if name in SKIPPED_KEYS or not isinstance(value, int | float) or isinstance(value, bool):
                continue
            by_name.setdefault(name, {})[record["step"]] = float(value)
    return {name: (sorted(points), [points[step] for step in sorted(points)]) for name, points in by_name.items()}


def plot_losses(run: str | os.PathLike[str], output: str | os.PathLike[str] | None = None) -> Path:
    """Draw the training loss terms, the validation values and the learning rate of a run to a PNG.

    Args:
        run (`str` or `Path`): the run directory (or its `logs.jsonl`).
        output (`str` or `Path`, *optional*): the PNG to write; defaults to `loss.png` beside the log.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise KinevidError("plotting loss curves needs matplotlib: pip install 'kinevid[train]'.") from error

    run = Path(run)
    series = curves(read_log(run))
    output = check_output_path(output if output is not None else (run if run.is_dir() else run.parent) / "loss.png")
    train = {name: points for name, points in series.items() if not name.startswith("val/") and name not in RATE_KEYS}
    validation = {name: points for name, points in series.items() if name.startswith("val/")}
    rates = {name: points for name, points in series.items() if name in RATE_KEYS}
    panels = [(title, group) for title, group in (("training", train), ("validation", validation)) if group]
    panels += [("learning rate", rates)] if rates else []
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 3 * len(panels)), sharex=True, squeeze=False)
    for axis, (title, group) in zip(axes[:, 0], panels, strict=True):
        for name, (steps, values) in sorted(group.items()):
            axis.plot(steps, values, label=name, marker="o" if len(steps) < 20 else None, markersize=3)
        finite = [value for _, values in group.values() for value in values if math.isfinite(value)]
        if title == "training" and finite and min(finite) > 0 and max(finite) > 10 * min(finite):
            axis.set_yscale("log")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    axes[-1, 0].set_xlabel("step")
    figure.suptitle(run.name if run.is_dir() else run.parent.name)
    figure.tight_layout()
    try:
        with atomic_write(output) as tmp:
            figure.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(figure)
    return output
