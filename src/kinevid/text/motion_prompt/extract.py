"""`extract_motion_prompt`: the front door of motion-prompt extraction, with backends chosen by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from kinevid.errors import InvalidInputError
from kinevid.text.motion_prompt.llm import CausalLMMotionPromptExtractor, ChatCompletionsMotionPromptExtractor
from kinevid.text.motion_prompt.rules import RuleBasedMotionPromptExtractor, normalize_prompt

#: Backend name -> extractor class. Options of `extract_motion_prompt` go to the class's constructor.
MOTION_PROMPT_BACKENDS: dict[str, type] = {
    "rules": RuleBasedMotionPromptExtractor,
    "transformers": CausalLMMotionPromptExtractor,
    "openai": ChatCompletionsMotionPromptExtractor,
}


def get_motion_prompt_extractor(backend: str = "rules", **backend_options: object) -> Callable[[str], str]:
    """Build the extractor `backend` ("rules", "transformers" or "openai") with its options.

    Options (keyword arguments) are those of the backend class: `model_dir`, `device`,
    `max_new_tokens` for "transformers" (`CausalLMMotionPromptExtractor`); `base_url`, `model`,
    `api_key_env`, `timeout`, `max_tokens` for "openai" (`ChatCompletionsMotionPromptExtractor`);
    none for "rules".
    """
    if backend not in MOTION_PROMPT_BACKENDS:
        raise InvalidInputError(
            f"Unknown motion-prompt backend {backend!r}; expected one of {sorted(MOTION_PROMPT_BACKENDS)}"
        )
    extractor_class = MOTION_PROMPT_BACKENDS[backend]
    signature = inspect.signature(extractor_class)
    try:
        signature.bind(**backend_options)
    except TypeError as error:
        raise InvalidInputError(
            f"Bad options {sorted(backend_options)} for the {backend!r} motion-prompt backend ({error}); "
            f"it accepts {list(signature.parameters) or 'no options'}"
        ) from None
    return extractor_class(**backend_options)


def extract_motion_prompt(prompt: str, backend: str = "rules", **backend_options: object) -> str:
    """Rewrite a video prompt p into its motion prompt p' (MoSA): what the body does, nothing else.

    Args:
        prompt (`str`): the full prompt; empty or longer than `MAX_PROMPT_CHARS` raises `InvalidInputError`.
        backend (`str`, defaults to `"rules"`):
            "rules" (offline, deterministic), "transformers" (a local causal LM directory) or "openai"
            (an OpenAI-compatible chat-completions endpoint). LLM backends fall back to the rules on
            any failure, logging a warning.
        backend_options: the backend's constructor options (see `get_motion_prompt_extractor`).

    Returns:
        `str`: e.g. "a person dances gracefully" for "A woman in a red dress dances gracefully on a
        beach at sunset, cinematic lighting".

    Examples:
        >>> extract_motion_prompt("Close-up shot of a man jumping forward twice in a busy street")
        'a person jumps forward twice'
    """
    prompt = normalize_prompt(prompt)
    return get_motion_prompt_extractor(backend, **backend_options)(prompt)
