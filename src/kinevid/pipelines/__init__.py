"""diffusers-style pipelines: `EchoMotionPipeline` (text/motion/video -> video + motion), `MoSAPipeline`
(text/motion/skeleton video -> video; `MoSACogVideoXPipeline` on CogVideoX), `TextToMotionPipeline` (text -> motion)."""

from .pipeline_echomotion import ECHOMOTION_MODES, EchoMotionPipeline
from .pipeline_mosa import MoSAPipeline, MoSAPipelineOutput
from .pipeline_mosa_cogvideox import MoSACogVideoXPipeline
from .pipeline_output import KinevidPipelineOutput
from .pipeline_text_to_motion import TextToMotionPipeline

__all__ = [
    "ECHOMOTION_MODES",
    "EchoMotionPipeline",
    "KinevidPipelineOutput",
    "MoSACogVideoXPipeline",
    "MoSAPipeline",
    "MoSAPipelineOutput",
    "TextToMotionPipeline",
]
