"""Motion `.npz` files in the AMASS/SMPL layout, plus the body AMASS leaves to the SMPL model.

Keys (T frames):

| key | shape | meaning |
|---|---|---|
| `poses` | `(T, 72)` | axis-angle per SMPL-24 joint, joint 0 = global orientation (SMPL-H `(T, 156)`: first 72 read) |
| `trans` | `(T, 3)` | root translation, metres |
| `betas` | `(10,)` | SMPL shape (optional on read, zeros when absent; longer AMASS vectors are cut to 10) |
| `mocap_framerate` | `()` | frames per second (`mocap_frame_rate` is accepted on read) |
| `gender` | `()` str | written as `"neutral"` for AMASS tools; ignored on read |
| `kinevid_offsets` | `(24, 3)` | rest offsets of the body, metres (T-pose facing +Z) |
| `kinevid_format_version` | `()` int | layout version of the kinevid keys, currently 1 |

AMASS stores the body only as `betas` for the SMPL model to turn into a skeleton; kinevid has no
SMPL model, so it writes the skeleton itself (`kinevid_offsets`) and a saved motion reloads with
the same joints. A plain AMASS file (no `kinevid_offsets`) loads with the default adult body
`kinevid.body.default_offsets()` and the pelvis at `trans`; AMASS's own world is Z-up, and such
files are read as they are (no axis change).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ...body.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ...errors import MotionFileError
from ...utils.io import NPZ_READ_ERRORS, atomic_write
from ..motion import NUM_BETAS, Motion

FORMAT_VERSION = 1
OFFSETS_KEY = "kinevid_offsets"
VERSION_KEY = "kinevid_format_version"
FRAMERATE_KEYS = ("mocap_framerate", "mocap_frame_rate")
_POSE_WIDTHS = {72: "SMPL", 156: "SMPL-H"}
MAX_TRANSLATION_M = 1000.0
"""Farthest root from the origin a motion file may put the body: a capture volume is tens of metres, and
beyond about a kilometre float32 joints lose millimetres (larger values are a unit mistake, e.g. mm)."""


def _array(path: Path, data, key: str, expected: str) -> np.ndarray:
    if key not in data.files:
        raise MotionFileError(f"{path}: missing key `{key}`; expected an array of shape {expected}.")
    try:
        array = data[key]
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise MotionFileError(
                f"{path}: key `{key}` holds Python objects; expected a numeric array {expected}."
            ) from None
        raise MotionFileError(f"{path}: not a motion file (key `{key}` is not a readable array).") from None
    except NPZ_READ_ERRORS as error:
        raise MotionFileError(
            f"{path}: not a motion file (damaged archive: {type(error).__name__} reading `{key}`)."
        ) from None
    if not isinstance(array, np.ndarray):  # numpy hands back the raw bytes of a member that is no .npy
        raise MotionFileError(f"{path}: not a motion file (key `{key}` is not a readable array).")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise MotionFileError(
            f"{path}: key `{key}` has dtype {array.dtype}; expected a numeric array {expected} of real numbers."
        )
    array = array.astype(array.dtype.newbyteorder("="), copy=False)  # torch reads native byte order only
    if not np.isfinite(array).all():
        raise MotionFileError(
            f"{path}: key `{key}` contains {int((~np.isfinite(array)).sum())} NaN or infinite values."
        )
    return array


def load_npz(path: str | os.PathLike[str]) -> Motion:
    """Read an AMASS/SMPL-layout `.npz` (see the module docstring for the keys).

    Raises:
        `MotionFileError`: the file cannot be read, or a key is missing, not numeric, of the wrong
            shape, or holds NaN; the message names the file, the key and the expected shape.
    """
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except NPZ_READ_ERRORS:
        # numpy's own message advises enabling pickles: never for a file a user hands us.
        raise MotionFileError(
            f"{path}: not a motion file (not a readable .npz archive; expected named arrays `poses`, `trans`, "
            "`mocap_framerate` in the AMASS/SMPL layout)."
        ) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise MotionFileError(f"{path}: not a motion file (holds a single array, not an .npz archive of named arrays).")
    with data:
        if "poses" not in data.files and "trans" not in data.files:
            keys = ", ".join(f"`{key}`" for key in data.files[:8]) or "none"
            raise MotionFileError(
                f"{path}: not a motion file (no `poses` or `trans` array; its keys: {keys}); expected the "
                "AMASS/SMPL layout."
            )
        poses = _array(path, data, "poses", "(T, 72)")
        if poses.ndim != 2 or poses.shape[1] not in _POSE_WIDTHS or poses.shape[0] < 1:
            raise MotionFileError(
                f"{path}: key `poses` has shape {poses.shape}; expected (T, 72) axis-angle for 24 SMPL joints "
                f"(or (T, 156) SMPL-H), T >= 1."
            )
        num_frames = poses.shape[0]
        trans = _array(path, data, "trans", f"({num_frames}, 3)")
        if trans.shape != (num_frames, 3):
            raise MotionFileError(f"{path}: key `trans` has shape {trans.shape}; expected ({num_frames}, 3).")
        reach = float(np.abs(trans.astype(np.float64)).max())
        if reach > MAX_TRANSLATION_M:
            raise MotionFileError(
                f"{path}: key `trans` reaches {reach:.4g} m from the origin; expected metres within "
                f"{MAX_TRANSLATION_M:g} m (is it in millimetres?)."
            )
        framerate_key = next((key for key in FRAMERATE_KEYS if key in data.files), FRAMERATE_KEYS[0])
        framerate = _array(path, data, framerate_key, "() (frames per second)")
        if framerate.size != 1 or not float(framerate.reshape(())) > 0:
            raise MotionFileError(
                f"{path}: key `{framerate_key}` is {framerate.tolist()}; expected one positive number "
                "(frames per second)."
            )
        betas = np.zeros(NUM_BETAS)
        if "betas" in data.files:
            betas = _array(path, data, "betas", f"({NUM_BETAS},)")
            if betas.ndim != 1 or betas.shape[0] < NUM_BETAS:
                raise MotionFileError(f"{path}: key `betas` has shape {betas.shape}; expected ({NUM_BETAS},).")
            betas = betas[:NUM_BETAS]
        offsets = None
        if OFFSETS_KEY in data.files:
            if VERSION_KEY in data.files:
                version = _array(path, data, VERSION_KEY, "()")
                if version.size != 1 or int(version.reshape(())) > FORMAT_VERSION:
                    raise MotionFileError(
                        f"{path}: key `{VERSION_KEY}` is {version.tolist()}; this kinevid reads versions up to "
                        f"{FORMAT_VERSION}."
                    )
            offsets = _array(path, data, OFFSETS_KEY, "(24, 3)")
            if offsets.shape != (24, 3):
                raise MotionFileError(f"{path}: key `{OFFSETS_KEY}` has shape {offsets.shape}; expected (24, 3).")

    dtype = torch.float64 if poses.dtype == np.float64 else torch.float32
    axis_angle = torch.as_tensor(poses[:, :72], dtype=dtype).reshape(num_frames, 24, 3)
    rotations = axis_angle_to_matrix(axis_angle)
    if not torch.isfinite(rotations).all():  # finite angles whose norm overflows
        raise MotionFileError(
            f"{path}: key `poses` holds axis-angle values up to {float(np.abs(poses).max()):.3g} rad, too large to be "
            "rotations; expected radians."
        )
    motion = Motion(
        rotations=rotations,
        translation=torch.as_tensor(trans, dtype=dtype),
        fps=float(framerate.reshape(())),
        offsets=None if offsets is None else torch.as_tensor(offsets, dtype=dtype),
        betas=torch.as_tensor(betas, dtype=dtype),
    )
    return motion.validate(str(path))  # what the checks above cannot see (e.g. rotations too coarse to be proper)


def save_npz(motion: Motion, path: str | os.PathLike[str]) -> None:
    """Write `motion` as an AMASS/SMPL-layout `.npz` with the kinevid keys, atomically.

    Arrays are float64 for a float64 motion, float32 otherwise.
    """
    dtype = np.float64 if motion.dtype == torch.float64 else np.float32
    num_frames = motion.num_frames

    def numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().cpu().numpy().astype(dtype)

    arrays = {
        "poses": numpy(matrix_to_axis_angle(motion.rotations).reshape(num_frames, 72)),
        "trans": numpy(motion.translation),
        "betas": numpy(motion.betas),
        "mocap_framerate": np.array(motion.fps, dtype=np.float64),
        "gender": np.array("neutral"),
        OFFSETS_KEY: numpy(motion.offsets),
        VERSION_KEY: np.array(FORMAT_VERSION, dtype=np.int64),
    }
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
