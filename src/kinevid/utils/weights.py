"""Loading `save_pretrained` directories so that a damaged one is a kinevid error naming it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from ..errors import KinevidError, MissingWeightsError

T = TypeVar("T")


def load_pretrained(model_class: type[T], directory: str | os.PathLike[str], what: str = "model", **kwargs) -> T:
    """`model_class.from_pretrained(directory, **kwargs)`, with any failure of reading the files (a damaged
    config.json or safetensors header, weights of the wrong shapes) raised as `MissingWeightsError`
    naming the directory."""
    try:
        return model_class.from_pretrained(directory, **kwargs)
    except KinevidError:
        raise
    except Exception as error:  # diffusers/safetensors raise OSError, ValueError, RuntimeError, SafetensorError...
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MissingWeightsError(f"{Path(directory)}: not a loadable {what} directory ({reason}).") from error
