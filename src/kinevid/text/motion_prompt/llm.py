"""LLM motion-prompt backends: a local transformers causal LM or an OpenAI-compatible HTTP endpoint.

Both ask the model the same question (`build_messages`), accept an answer only if it passes
`clean_llm_output` (one short line that starts with "a person" and names a motion verb), and
otherwise fall back to the rule-based extractor, logging a warning: a slow, unreachable or
confused model never stops a generation run.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import torch

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.text.motion_prompt.rules import SUBJECT, RuleBasedMotionPromptExtractor, find_verbs, tokenize

logger = logging.getLogger(__name__)

#: Longest motion prompt (in words) accepted from a model.
MAX_MOTION_PROMPT_WORDS = 60

MOTION_PROMPT_INSTRUCTIONS = (
    "You rewrite video prompts into motion prompts for a 3D human motion generator. Keep only what the "
    "person's body does: actions, body parts, directions, counts and tempo. Drop scenery, clothing, "
    "appearance, camera, lighting and style words. Start with 'a person', use the present tense, write "
    "'their' for his/her, and answer with the motion prompt only, on one line."
)

#: Worked examples shown to the model before the prompt (few-shot).
MOTION_PROMPT_EXAMPLES = (
    ("A woman in a red dress dances gracefully on a beach at sunset, cinematic lighting", "a person dances gracefully"),
    ("Close-up shot of a man jumping forward twice in a busy street", "a person jumps forward twice"),
    (
        "An old man in a grey coat walks slowly up the stairs and waves his left hand, 4k",
        "a person walks slowly up the stairs and waves their left hand",
    ),
)

_ANSWER_LABEL = re.compile(r"^(?:motion prompt|output|answer|result)\s*:\s*", re.IGNORECASE)
_ALLOWED_CHARACTERS = re.compile(r"^[a-z0-9 ,'\-]+$")


def build_messages(prompt: str) -> list[dict[str, str]]:
    """Chat messages asking for the motion prompt of `prompt` (system, few-shot pairs, user)."""
    messages = [{"role": "system", "content": MOTION_PROMPT_INSTRUCTIONS}]
    for example_prompt, example_answer in MOTION_PROMPT_EXAMPLES:
        messages.append({"role": "user", "content": example_prompt})
        messages.append({"role": "assistant", "content": example_answer})
    messages.append({"role": "user", "content": prompt})
    return messages


def build_completion_prompt(prompt: str) -> str:
    """The same request as plain text, for causal LMs without a chat template."""
    lines = [MOTION_PROMPT_INSTRUCTIONS, ""]
    for example_prompt, example_answer in MOTION_PROMPT_EXAMPLES:
        lines += [f"Prompt: {example_prompt}", f"Motion prompt: {example_answer}", ""]
    lines += [f"Prompt: {prompt}", "Motion prompt:"]
    return "\n".join(lines)


def clean_llm_output(text: str) -> str | None:
    """Normalise a model's answer, or return None if it is not a usable motion prompt.

    The first non-empty line is kept, a leading label ("Motion prompt:") and quotes are stripped,
    the text is lower-cased with a trailing period removed. It is accepted only if it starts with
    "a person", holds at most `MAX_MOTION_PROMPT_WORDS` words of plain text and names a motion verb.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    answer = _ANSWER_LABEL.sub("", lines[0]).strip().strip("\"'`").strip().rstrip(".!").strip().lower()
    answer = " ".join(answer.split())
    if not answer.startswith(SUBJECT + " ") or not _ALLOWED_CHARACTERS.match(answer):
        return None
    if len(answer.split()) > MAX_MOTION_PROMPT_WORDS:
        return None
    if not find_verbs(tokenize(answer)):
        return None
    return answer


class _FallbackExtractor:
    """Shared fallback logic: run `_ask`, clean its answer, use the rules on any failure."""

    name = "llm"

    def __init__(self) -> None:
        self.fallback = RuleBasedMotionPromptExtractor()

    def _ask(self, prompt: str) -> str:
        raise NotImplementedError

    def __call__(self, prompt: str) -> str:
        return self.extract(prompt)

    def extract(self, prompt: str) -> str:
        try:
            answer = self._ask(prompt)
        except Exception as error:  # any backend failure (network, timeout, model error) falls back
            logger.warning("%s motion-prompt backend failed (%s); using the rule-based extractor", self.name, error)
            return self.fallback(prompt)
        cleaned = clean_llm_output(answer)
        if cleaned is None:
            logger.warning(
                "%s motion-prompt backend gave an unusable answer %r; using the rule-based extractor",
                self.name,
                answer[:200],
            )
            return self.fallback(prompt)
        return cleaned


class ChatCompletionsMotionPromptExtractor(_FallbackExtractor):
    """Ask an OpenAI-compatible `/chat/completions` endpoint (OpenAI, vLLM, llama.cpp, Ollama, ...).

    Args:
        base_url (`str`, *optional*):
            The API root, e.g. `"http://127.0.0.1:8000/v1"`; defaults to `$KINEVID_LLM_BASE_URL`.
        model (`str`, *optional*): the model name; defaults to `$KINEVID_LLM_MODEL`.
        api_key_env (`str`, defaults to `"OPENAI_API_KEY"`):
            Name of the environment variable holding the API key (sent as a Bearer token when set;
            local servers usually need none). The key itself is never taken as an argument.
        timeout (`float`, defaults to 30.0): seconds before the request is abandoned (-> fallback).
        max_tokens (`int`, defaults to 64):
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 30.0,
        max_tokens: int = 64,
    ) -> None:
        super().__init__()
        base_url = base_url or os.environ.get("KINEVID_LLM_BASE_URL")
        model = model or os.environ.get("KINEVID_LLM_MODEL")
        if not base_url or not model:
            raise InvalidInputError(
                "The `openai` motion-prompt backend needs `base_url` and `model` (or $KINEVID_LLM_BASE_URL and "
                f"$KINEVID_LLM_MODEL); got base_url={base_url!r}, model={model!r}"
            )
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(f"`base_url` must start with http:// or https://, got {base_url!r}")
        if timeout <= 0:
            raise InvalidInputError(f"`timeout` must be positive, got {timeout}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_tokens = max_tokens

    def _ask(self, prompt: str) -> str:
        body = {
            "model": self.model,
            "messages": build_messages(prompt),
            "temperature": 0.0,
            "max_tokens": self.max_tokens,
        }
        headers = {"Content-Type": "application/json"}
        api_key = os.environ.get(self.api_key_env)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            payload = json.loads(response.read().decode("utf-8"))
        content = payload["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise ValueError(f"`choices[0].message.content` is {type(content).__name__}, expected a string")
        return content


@functools.lru_cache(maxsize=2)
def _load_causal_lm(model_dir: str, device: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    model.to(device).eval().requires_grad_(False)
    return tokenizer, model


class CausalLMMotionPromptExtractor(_FallbackExtractor):
    """Ask a local transformers causal LM (a directory with config, safetensors weights and tokenizer).

    Decoding is greedy (deterministic). Models with a chat template get `build_messages`, others the
    plain-text `build_completion_prompt`; only the first generated line is read. Loaded once per
    process and device.

    Args:
        model_dir (`str` or `Path`): a local directory; a missing one raises `MissingWeightsError`.
        device (`str`, defaults to `"cpu"`):
        max_new_tokens (`int`, defaults to 48):
    """

    name = "transformers"

    def __init__(self, model_dir: str | Path, device: str = "cpu", max_new_tokens: int = 48) -> None:
        super().__init__()
        root = Path(model_dir)
        if not (root / "config.json").is_file() or not any(root.glob("*.safetensors*")):
            raise MissingWeightsError(
                f"Causal LM directory {root} lacks config.json or *.safetensors weights; expected a transformers "
                "checkpoint (config.json, model.safetensors, tokenizer files) saved with save_pretrained"
            )
        if max_new_tokens < 1:
            raise InvalidInputError(f"`max_new_tokens` must be positive, got {max_new_tokens}")
        self.model_dir = root
        self.device = device
        self.max_new_tokens = max_new_tokens

    @torch.no_grad()
    def _ask(self, prompt: str) -> str:
        tokenizer, model = _load_causal_lm(str(self.model_dir.resolve()), self.device)
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(build_messages(prompt), add_generation_prompt=True, tokenize=False)
        else:
            text = build_completion_prompt(prompt)
        inputs = tokenizer(text, return_tensors="pt").to(self.device)
        pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        output = model.generate(
            **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad_token_id
        )
        return tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
