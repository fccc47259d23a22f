"""diffusers-style pipelines: `EchoMotionPipeline` (text/motion/video -> video + motion)."""

from .pipeline_echomotion import ECHOMOTION_MODES, EchoMotionPipeline
from .pipeline_output import KinevidPipelineOutput

__all__ = ["ECHOMOTION_MODES", "EchoMotionPipeline", "KinevidPipelineOutput"]
