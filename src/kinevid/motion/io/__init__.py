"""Motion files: `.npz` in the AMASS/SMPL layout and `.bvh`, read and written as SMPL-24 `Motion`s.

`load_motion` and `save_motion` pick the format from the file suffix; `Motion.load` / `Motion.save`
call them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from ...errors import InvalidInputError, MotionFileError
from ..motion import Motion, register_file_io
from .bvh import BvhFile, BvhJoint, read_bvh, write_bvh
from .bvh_retarget import bvh_to_motion, detect_scale, motion_to_bvh
from .joint_names import NAMING_CONVENTIONS, map_joint_names, normalize_joint_name
from .npz import load_npz, save_npz

SUPPORTED_SUFFIXES = (".npz", ".bvh")
SAMPLE_MOTION = "cmu_02_01_walk.bvh"


def sample_motion_path() -> Path:
    """Path of the bundled sample BVH (`kinevid/motion/assets/cmu_02_01_walk.bvh`, CMU trial 02_01, a walk)."""
    return Path(str(resources.files("kinevid.motion").joinpath("assets", SAMPLE_MOTION)))


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise MotionFileError(
            f"{path}: unknown motion file type `{path.suffix or '(no suffix)'}`; expected one of {SUPPORTED_SUFFIXES}."
        )
    return suffix


def load_motion(
    path: str | os.PathLike[str], joint_map: Mapping[str, str] | None = None, scale: float | None = None
) -> Motion:
    """Read a SMPL-24 motion from `.npz` (AMASS/SMPL layout) or `.bvh` (any skeleton).

    Args:
        path (`str` or `os.PathLike`): the file; its suffix picks the format.
        joint_map (`Mapping[str, str]`, *optional*): BVH only: `{bvh_joint_name: smpl_joint_name}`
            overriding the joint-name rules.
        scale (`float`, *optional*): BVH only: metres per file unit (detected when omitted).

    Returns:
        `Motion`.

    Raises:
        `MotionFileError`: unknown suffix, missing, malformed or truncated file.
        `UnknownJointError`: a BVH skeleton that cannot be mapped onto SMPL-24.
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise MotionFileError(f"{path}: no such motion file.")
    if suffix == ".npz":
        if joint_map is not None or scale is not None:
            raise InvalidInputError(f"{path}: `joint_map` and `scale` apply to BVH files only.")
        return load_npz(path)
    if scale is not None and not (scale > 0):
        raise InvalidInputError(f"`scale` must be a positive number of metres per BVH unit, got {scale}.")
    return bvh_to_motion(read_bvh(path), joint_map=joint_map, scale=scale, source=path)


def save_motion(motion: Motion, path: str | os.PathLike[str]) -> None:
    """Write `motion` atomically as `.npz` (AMASS/SMPL layout + kinevid extras) or `.bvh` (SMPL-24 hierarchy).

    Raises:
        `MotionFileError`: unknown suffix.
        `InvalidInputError`: `motion` fails `Motion.validate` (shapes, NaN, ...).
    """
    path = Path(path)
    suffix = _suffix(path)
    motion.validate(str(path))
    if suffix == ".npz":
        save_npz(motion, path)
    else:
        write_bvh(motion_to_bvh(motion), path)


register_file_io(load_motion, save_motion)

__all__ = [
    "NAMING_CONVENTIONS",
    "SUPPORTED_SUFFIXES",
    "BvhFile",
    "BvhJoint",
    "bvh_to_motion",
    "detect_scale",
    "load_motion",
    "load_npz",
    "map_joint_names",
    "motion_to_bvh",
    "normalize_joint_name",
    "read_bvh",
    "sample_motion_path",
    "save_motion",
    "save_npz",
    "write_bvh",
]
