"""The pipelines of the web demo, loaded once per process and shared by every request."""

from __future__ import annotations

import threading
from pathlib import Path

from ...errors import InvalidInputError
from ..commands.generate import METHODS, load_pipeline

TEXT_TO_MOTION = "text-to-motion"


class ModelCache:
    """Loads each pipeline at its first use and keeps it.

    Args:
        model_dir (`Path`, *optional*): a directory holding one pipeline directory per method, named
            `<method>` or `<method>_tiny` (as `kinevid/assets`); default: the pipelines shipped with kinevid.
        motion_checkpoint (`Path`, *optional*): the text-to-motion model of the text -> motion tab; default:
            the shipped structure model.
    """

    def __init__(self, model_dir: Path | None = None, motion_checkpoint: Path | None = None) -> None:
        self.model_dir = None if model_dir is None else Path(model_dir)
        self.motion_checkpoint = motion_checkpoint
        self.loads: dict[str, int] = {}
        self._pipelines: dict[str, object] = {}
        self._lock = threading.Lock()

    def model_path(self, method: str) -> Path | None:
        """The pipeline directory of `method` (`None`: `load_pipeline`'s shipped default)."""
        if self.model_dir is None:
            return None
        candidates = [self.model_dir / method, self.model_dir / f"{method}_tiny"]
        return next((path for path in candidates if path.is_dir()), candidates[0])

    def video_pipeline(self, method: str):
        """The `method` ("mosa" | "echomotion") pipeline; `MissingWeightsError` when it is not there."""
        if method not in METHODS:
            raise InvalidInputError(f"method {method!r}: expected one of {list(METHODS)}.")
        return self._get(method, lambda: load_pipeline(method, self.model_path(method)))

    def motion_pipeline(self):
        """The text-to-motion pipeline (`kinevid motion`'s and `kinevid demo`'s)."""
        from ...pipelines.pipeline_text_to_motion import TextToMotionPipeline

        return self._get(TEXT_TO_MOTION, lambda: TextToMotionPipeline.from_pretrained(self.motion_checkpoint))

    def _get(self, key: str, load):
        with self._lock:  # one load per key even when two requests arrive together
            if key not in self._pipelines:
                self._pipelines[key] = load()
                self.loads[key] = self.loads.get(key, 0) + 1
            return self._pipelines[key]
