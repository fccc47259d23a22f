"""diffusers-style pipelines: `EchoMotionPipeline` (text/motion/video -> video + motion)."""

from .pipeline_echomotion import ECHOMOTION_MODES, EchoMotionPipeline
from .pipeline_output import KinevidPipelineOutput
from .pipeline_text_to_motion import TextToMotionPipeline

__all__ = ["ECHOMOTION_MODES", "EchoMotionPipeline", "KinevidPipelineOutput", "TextToMotionPipeline"]
