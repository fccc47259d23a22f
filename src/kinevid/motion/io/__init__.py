"""Motion files: `.npz` in the AMASS/SMPL layout, `.bvh` and ASF/AMC, read (and npz/BVH written) as SMPL-24 `Motion`s.

`load_motion` and `save_motion` pick the format from the file suffix; `Motion.load` / `Motion.save`
call them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from ...errors import InvalidInputError, MotionFileError
from ..motion import Motion, register_file_io
from .asf_amc import DEFAULT_AMC_FPS, AsfSkeleton, asf_amc_to_bvh, find_asf, read_amc, read_asf
from .bvh import BvhFile, BvhJoint, read_bvh, write_bvh
from .bvh_retarget import UNIT_SCALES, bvh_to_motion, check_frame_rate, detect_scale, motion_to_bvh
from .joint_names import NAMING_CONVENTIONS, map_joint_names, normalize_joint_name
from .npz import load_npz, save_npz

SUPPORTED_SUFFIXES = (".npz", ".bvh", ".amc")
WRITABLE_SUFFIXES = (".npz", ".bvh")
SAMPLE_MOTION = "cmu_02_01_walk.bvh"


def sample_motion_path() -> Path:
    """Path of the bundled sample BVH (`kinevid/motion/assets/cmu_02_01_walk.bvh`, CMU trial 02_01, a walk)."""
    return Path(str(resources.files("kinevid.motion").joinpath("assets", SAMPLE_MOTION)))


def _suffix(path: Path, suffixes: tuple[str, ...] = SUPPORTED_SUFFIXES) -> str:
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise MotionFileError(
            f"{path}: unknown motion file type `{path.suffix or '(no suffix)'}`; expected one of {suffixes}."
        )
    return suffix


def check_motion_suffix(path: str | os.PathLike[str], writable: bool = False) -> None:
    """Raise `MotionFileError` unless `path` has a motion file suffix (`writable`: one `save_motion` writes)."""
    _suffix(Path(path), WRITABLE_SUFFIXES if writable else SUPPORTED_SUFFIXES)


def load_motion(
    path: str | os.PathLike[str],
    joint_map: Mapping[str, str] | None = None,
    scale: float | None = None,
    fps: float | None = None,
    skeleton: str | os.PathLike[str] | None = None,
) -> Motion:
    """Read a SMPL-24 motion from `.npz` (AMASS/SMPL layout), `.bvh` (any skeleton) or `.amc` (+ `.asf`).

    Args:
        path (`str` or `os.PathLike`): the file; its suffix picks the format.
        joint_map (`Mapping[str, str]`, *optional*): BVH/AMC only: `{joint_name: smpl_joint_name}`
            overriding the joint-name rules.
        scale (`float`, *optional*): BVH/AMC only: metres per file unit (BVH: detected from the
            skeleton's proportions; ASF: its declared `:units length`).
        fps (`float`, *optional*): BVH/AMC only: the true frame rate (BVH: overrides `Frame Time`;
            AMC: default 120, CMU's capture rate).
        skeleton (`str` or `os.PathLike`, *optional*): AMC only: the `.asf` file (default: looked up
            beside the `.amc`, see `find_asf`).

    Returns:
        `Motion`.

    Raises:
        `MotionFileError`: unknown suffix, missing, malformed or truncated file, or not a motion file.
        `UnknownJointError`: a BVH/ASF skeleton that cannot be mapped onto SMPL-24.
        `InvalidInputError`: an option that does not apply to the format, or a non-positive `scale` / `fps`.

    Warns:
        `UserWarning` (BVH/AMC) when the declared frame rate looks implausible for the motion's
        speeds (`check_frame_rate`) or the rest pose is not a T-pose.
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise MotionFileError(f"{path}: no such motion file.")
    if suffix == ".npz":
        if joint_map is not None or scale is not None or fps is not None or skeleton is not None:
            raise InvalidInputError(f"{path}: `joint_map`, `scale`, `fps` and `skeleton` apply to BVH/AMC files only.")
        return load_npz(path)
    if scale is not None and not (scale > 0):
        raise InvalidInputError(f"`scale` must be a positive number of metres per file unit, got {scale}.")
    if suffix == ".bvh":
        if skeleton is not None:
            raise InvalidInputError(f"{path}: `skeleton` (an .asf file) applies to AMC files only.")
        motion = bvh_to_motion(read_bvh(path), joint_map=joint_map, scale=scale, source=path, fps=fps)
    else:
        asf_path = find_asf(path) if skeleton is None else Path(skeleton)
        if asf_path.suffix.lower() != ".asf":
            raise InvalidInputError(f"`skeleton` must be an .asf file, got {asf_path}.")
        if not asf_path.is_file():
            raise MotionFileError(f"{asf_path}: no such skeleton (.asf) file.")
        asf = read_asf(asf_path)
        root, bones, degrees = read_amc(path, asf)
        fps = DEFAULT_AMC_FPS if fps is None else fps
        if not (fps > 0):
            raise InvalidInputError(f"`fps` must be a positive number, got {fps}.")
        bvh = asf_amc_to_bvh(asf, root, bones, degrees, fps)
        scale = asf.metres_per_unit if scale is None else scale
        motion = bvh_to_motion(bvh, joint_map=joint_map, scale=scale, source=path)
    motion.validate(str(path))  # e.g. offsets of 1e308 units overflow to inf on the way to metres
    message = check_frame_rate(motion, path)
    if message is not None:
        warnings.warn(message, stacklevel=2)
    return motion


def save_motion(motion: Motion, path: str | os.PathLike[str]) -> None:
    """Write `motion` atomically as `.npz` (AMASS/SMPL layout + kinevid extras) or `.bvh` (SMPL-24 hierarchy).

    Raises:
        `MotionFileError`: unknown suffix.
        `InvalidInputError`: `motion` fails `Motion.validate` (shapes, NaN, ...).
    """
    path = Path(path)
    suffix = _suffix(path, WRITABLE_SUFFIXES)
    motion.validate(str(path))
    if suffix == ".npz":
        save_npz(motion, path)
    else:
        write_bvh(motion_to_bvh(motion), path)


register_file_io(load_motion, save_motion)

__all__ = [
    "DEFAULT_AMC_FPS",
    "NAMING_CONVENTIONS",
    "SUPPORTED_SUFFIXES",
    "UNIT_SCALES",
    "WRITABLE_SUFFIXES",
    "AsfSkeleton",
    "BvhFile",
    "BvhJoint",
    "asf_amc_to_bvh",
    "bvh_to_motion",
    "check_frame_rate",
    "check_motion_suffix",
    "detect_scale",
    "find_asf",
    "load_motion",
    "load_npz",
    "map_joint_names",
    "motion_to_bvh",
    "normalize_joint_name",
    "read_amc",
    "read_asf",
    "read_bvh",
    "sample_motion_path",
    "save_motion",
    "save_npz",
    "write_bvh",
]
