"""Text for kinevid: encoders (MiniLM by default, T5 / umT5 from a local path) and motion prompts.

Names import their module on first use: the encoders pull in transformers, which the prompt
tools (`kinevid.text.motion_prompt`) do not need.
"""

from __future__ import annotations

from kinevid.utils.lazy import lazy_exports

_EXPORTS = {
    "TEXT_ENCODER_NAMES": "loading",
    "MiniLMTextEncoder": "minilm",
    "T5TextEncoder": "t5",
    "TextEmbeddings": "encoder",
    "TextEncoder": "encoder",
    "extract_motion_prompt": "motion_prompt",
    "get_motion_prompt_extractor": "motion_prompt",
    "load_text_encoder": "loading",
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
