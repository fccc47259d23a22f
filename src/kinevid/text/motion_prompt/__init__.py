"""Motion-prompt extraction (MoSA): keep what the body does, drop scenery, clothing, camera and style."""

from kinevid.text.motion_prompt.extract import (
    MOTION_PROMPT_BACKENDS,
    extract_motion_prompt,
    get_motion_prompt_extractor,
)
from kinevid.text.motion_prompt.llm import (
    CausalLMMotionPromptExtractor,
    ChatCompletionsMotionPromptExtractor,
    clean_llm_output,
)
from kinevid.text.motion_prompt.rules import (
    MAX_PROMPT_CHARS,
    NO_MOTION_PROMPT,
    RuleBasedMotionPromptExtractor,
)

__all__ = [
    "MAX_PROMPT_CHARS",
    "MOTION_PROMPT_BACKENDS",
    "NO_MOTION_PROMPT",
    "CausalLMMotionPromptExtractor",
    "ChatCompletionsMotionPromptExtractor",
    "RuleBasedMotionPromptExtractor",
    "clean_llm_output",
    "extract_motion_prompt",
    "get_motion_prompt_extractor",
]
