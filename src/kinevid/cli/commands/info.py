"""`kinevid info FILE`: length, frame rate, joints and physical metrics of a motion file."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ...motion import Motion
from ...motion.metrics import physical_metrics
from .convert import add_motion_input_options, load_motion_with_options


def motion_summary_table(motion: Motion, title: str) -> Table:
    """A rich table: frames, fps, duration, joints, root travel and `physical_metrics` of `motion`."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    joints = motion.joints
    travel = float((joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]).norm())
    table.add_row("frames", str(motion.num_frames))
    table.add_row("fps", f"{motion.fps:g}")
    table.add_row("duration (s)", f"{motion.duration:.3f}")
    table.add_row("joints", f"{joints.shape[1]} (SMPL-24)")
    table.add_row("root travel, horizontal (m)", f"{travel:.3f}")
    table.add_section()
    for name, value in physical_metrics(motion).items():
        table.add_row(name, "n/a (too short)" if math.isnan(value) else f"{value:.4g}")
    return table


def run_info(args: argparse.Namespace) -> int:
    motion = load_motion_with_options(args.file, args)
    Console().print(motion_summary_table(motion, title=str(args.file)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="print frames, fps, duration, joints and physical metrics of a motion file",
        description="Summarise a .bvh, .amc or .npz motion file. Physical metrics (kinevid.motion.metrics) assume "
        "the floor at y = 0 as the file stores it.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help=".bvh, .amc or .npz motion file")
    add_motion_input_options(parser)
    parser.set_defaults(func=run_info)
