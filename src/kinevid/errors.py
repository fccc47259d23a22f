"""Errors that users can cause, each naming the file or field at fault and what was expected."""

from __future__ import annotations


class KinevidError(Exception):
    """Base class of every error kinevid raises on bad input."""


class InvalidInputError(KinevidError, ValueError):
    """An argument or array has the wrong shape, dtype or value (NaN, negative fps, ...)."""


class MotionFileError(KinevidError, ValueError):
    """A motion file (npz, BVH) is malformed, truncated or of an unsupported layout."""


class UnknownJointError(KinevidError, KeyError):
    """A joint name is not part of the skeleton, or a skeleton cannot be mapped onto SMPL-24."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class MissingWeightsError(KinevidError, FileNotFoundError):
    """A checkpoint directory or weight file is missing."""


class MissingDataError(KinevidError, FileNotFoundError):
    """A dataset (directory or file) cannot be found where it was looked for."""
