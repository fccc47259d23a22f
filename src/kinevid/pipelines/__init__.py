"""diffusers-style pipelines: `EchoMotionPipeline` (text/motion/video -> video + motion), `MoSAPipeline`
(text/motion/skeleton video -> video; `MoSACogVideoXPipeline` on CogVideoX), `TextToMotionPipeline` (text -> motion).

Each pipeline's module imports on first use of its name: `kinevid motion` needs only the
text-to-motion pipeline, not the video models behind the others.
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "ECHOMOTION_MODES": "pipeline_echomotion",
    "EchoMotionPipeline": "pipeline_echomotion",
    "KinevidPipelineOutput": "pipeline_output",
    "MoSACogVideoXPipeline": "pipeline_mosa_cogvideox",
    "MoSAPipeline": "pipeline_mosa",
    "MoSAPipelineOutput": "pipeline_mosa",
    "TextToMotionPipeline": "pipeline_text_to_motion",
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
