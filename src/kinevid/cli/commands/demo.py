"""`kinevid demo [-o OUTDIR]`: the quick-start job on the bundled sample motion.

Until the generators exist, the main job converts the bundled CMU walk (BVH, Daz skeleton) onto
SMPL-24, writes it as npz (AMASS/SMPL layout) and back as BVH (SMPL-24 hierarchy), checks that
the round trip keeps the joints, and prints a summary with the physical metrics.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from rich.console import Console

from ...motion.io import load_motion, save_motion
from .info import motion_summary_table

SAMPLE_MOTION = "cmu_02_01_walk.bvh"


def sample_motion_path() -> Path:
    """Path of the bundled sample BVH (`kinevid/motion/assets/cmu_02_01_walk.bvh`)."""
    return Path(str(resources.files("kinevid.motion").joinpath("assets", SAMPLE_MOTION)))


def run_demo(args: argparse.Namespace) -> int:
    console = Console()
    source = sample_motion_path()
    output_dir: Path = args.output_dir
    npz_path = output_dir / "cmu_02_01_walk.npz"
    bvh_path = output_dir / "cmu_02_01_walk_smpl24.bvh"

    motion = load_motion(source)
    save_motion(motion, npz_path)
    reloaded = load_motion(npz_path)
    save_motion(reloaded, bvh_path)
    round_trip = load_motion(bvh_path)
    error_mm = float((round_trip.joints - motion.joints).norm(dim=-1).max()) * 1000

    console.print(f"sample: {source.name} (CMU trial 02_01, walk; data from mocap.cs.cmu.edu)")
    console.print(f"wrote {npz_path} (AMASS/SMPL npz) and {bvh_path} (SMPL-24 BVH)")
    console.print(f"BVH -> npz -> BVH round trip: largest joint difference {error_mm:.4f} mm")
    console.print(motion_summary_table(round_trip, title="cmu_02_01_walk on SMPL-24"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="quick start: convert the bundled sample motion and print its summary and metrics",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        default=Path("outputs/demo"),
        help="where to write the files (default: outputs/demo)",
    )
    parser.set_defaults(func=run_demo)
