"""Motion-prompt extraction: the rule-based fixture, input errors, and the LLM backends' fallbacks."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.text import extract_motion_prompt, get_motion_prompt_extractor
from kinevid.text.motion_prompt import (
    MAX_PROMPT_CHARS,
    NO_MOTION_PROMPT,
    CausalLMMotionPromptExtractor,
    ChatCompletionsMotionPromptExtractor,
    RuleBasedMotionPromptExtractor,
    clean_llm_output,
)
from kinevid.text.motion_prompt.morphology import VERB_FORMS, inflect
from kinevid.text.motion_prompt.rules import find_verbs, tokenize

FIXTURE = Path(__file__).with_name("motion_prompts.json")
CASES = json.loads(FIXTURE.read_text())["cases"]


# ------------------------------------------------------------------------------------------------
# rules


def test_fixture_is_large_and_varied() -> None:
    assert len(CASES) >= 30
    assert len({case["prompt"] for case in CASES}) == len(CASES)
    assert all(case["expected"].startswith("a person ") for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["prompt"][:48] for case in CASES])
def test_rules_fixture(case: dict[str, str]) -> None:
    assert extract_motion_prompt(case["prompt"]) == case["expected"]


def test_rules_are_idempotent() -> None:
    """A motion prompt is its own motion prompt: nothing in the expected outputs is dropped again."""
    extractor = RuleBasedMotionPromptExtractor()
    for case in CASES:
        assert extractor(case["expected"]) == case["expected"]


def test_rules_drop_non_body_words() -> None:
    dropped = {"beach", "sunset", "cinematic", "lighting", "dress", "camera", "street", "shot", "4k", "style"}
    for case in CASES:
        assert not dropped & set(extract_motion_prompt(case["prompt"]).replace(",", "").split())


def test_rules_without_motion() -> None:
    assert extract_motion_prompt("Portrait of a smiling woman, golden hour, 85mm") == NO_MOTION_PROMPT
    # light and weak verbs alone are not motion
    assert extract_motion_prompt("A man does his homework") == NO_MOTION_PROMPT
    assert extract_motion_prompt("A man looks at the camera") == NO_MOTION_PROMPT


def test_rules_other_subjects_are_ignored() -> None:
    assert extract_motion_prompt("The camera slowly moves forward as a man jumps") == "a person jumps"
    assert extract_motion_prompt("A dog runs beside a man who walks slowly") == "a person walks slowly"


@pytest.mark.parametrize(
    ("lemma", "third", "gerund"),
    [("walk", "walks", "walking"), ("dance", "dances", "dancing"), ("run", "runs", "running"),
     ("lie", "lies", "lying"), ("carry", "carries", "carrying"), ("punch", "punches", "punching"),
     ("go", "goes", "going"), ("tiptoe", "tiptoes", "tiptoeing")],
)  # fmt: skip
def test_inflection(lemma: str, third: str, gerund: str) -> None:
    assert inflect(lemma, "third") == third and inflect(lemma, "ing") == gerund
    assert VERB_FORMS[third].lemma == lemma and VERB_FORMS[gerund].kind == "ing"


@pytest.mark.parametrize("prompt", ["", "   \n\t ", None, 42])
def test_empty_or_non_text_prompt(prompt) -> None:
    with pytest.raises(InvalidInputError, match="prompt"):
        extract_motion_prompt(prompt)


def test_over_long_prompt() -> None:
    with pytest.raises(InvalidInputError, match=rf"at most {MAX_PROMPT_CHARS}"):
        extract_motion_prompt("a man walks forward " * 200)
    assert extract_motion_prompt("a man walks forward " * 90).startswith("a person walks forward")


def test_unknown_backend_and_options() -> None:
    with pytest.raises(InvalidInputError, match="expected one of"):
        extract_motion_prompt("a man walks", backend="gpt")
    with pytest.raises(InvalidInputError, match="rules"):
        extract_motion_prompt("a man walks", backend="rules", temperature=0.3)
    with pytest.raises(InvalidInputError, match="base_url"):
        get_motion_prompt_extractor("openai", base_url="http://127.0.0.1:1/v1", modle="typo")


# ------------------------------------------------------------------------------------------------
# cleaning LLM answers


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("A person walks forward.", "a person walks forward"),
        ('Motion prompt: "a person jumps twice"\nExplanation: I removed the beach.', "a person jumps twice"),
        ("\n\n  a person   spins  slowly  \n", "a person spins slowly"),
        ("", None),
        ("The beach at sunset.", None),  # no subject, no motion
        ("a person on a beach", None),  # no motion verb
        ("a person walks " + "forward " * 80, None),  # too long
        ("a person walks 🙂 <|endoftext|>", None),  # not plain text
    ],
)
def test_clean_llm_output(answer: str, expected: str | None) -> None:
    assert clean_llm_output(answer) == expected


# ------------------------------------------------------------------------------------------------
# OpenAI-compatible endpoint, against a local stub server


class _StubChatServer:
    """A chat-completions server on 127.0.0.1 whose next answer the test sets (`mode`)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.answer = "A person walks forward slowly."
        self.requests: list[tuple[dict, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append((self.path, dict(self.headers), body))
                if stub.mode == "slow":
                    time.sleep(1.0)
                if stub.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    return
                content = stub.answer if stub.mode in ("ok", "slow") else "<<<garbage>>> 12 @@"
                payload = {"choices": [{"message": {"role": "assistant", "content": content}}]}
                data = b"{not json" if stub.mode == "bad_json" else json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def chat_server():
    server = _StubChatServer()
    yield server
    server.close()


def test_openai_backend_success(chat_server: _StubChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_LLM_KEY", "secret-token")
    prompt = "A woman in a red coat walks forward slowly through the snow, film grain"
    result = extract_motion_prompt(
        prompt, backend="openai", base_url=chat_server.base_url, model="stub-model", api_key_env="STUB_LLM_KEY"
    )
    assert result == "a person walks forward slowly"
    path, headers, body = chat_server.requests[-1]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer secret-token"
    assert body["model"] == "stub-model" and body["temperature"] == 0.0
    assert body["messages"][0]["role"] == "system" and body["messages"][-1] == {"role": "user", "content": prompt}


def test_openai_backend_configured_by_environment(chat_server: _StubChatServer, monkeypatch) -> None:
    monkeypatch.setenv("KINEVID_LLM_BASE_URL", chat_server.base_url)
    monkeypatch.setenv("KINEVID_LLM_MODEL", "env-model")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chat_server.answer = "a person spins twice"
    assert extract_motion_prompt("A dancer spins twice on stage", backend="openai") == "a person spins twice"
    _, headers, body = chat_server.requests[-1]
    assert body["model"] == "env-model" and "Authorization" not in headers


@pytest.mark.parametrize("mode", ["error", "garbage", "bad_json", "slow"])
def test_openai_backend_falls_back(chat_server: _StubChatServer, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    chat_server.mode = mode
    prompt = "Close-up shot of a man jumping forward twice in a busy street"
    with caplog.at_level(logging.WARNING, logger="kinevid.text.motion_prompt.llm"):
        result = extract_motion_prompt(prompt, backend="openai", base_url=chat_server.base_url, model="m", timeout=0.3)
    assert result == RuleBasedMotionPromptExtractor()(prompt) == "a person jumps forward twice"
    assert "rule-based extractor" in caplog.text
    assert len(chat_server.requests) == 1


def test_openai_backend_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        result = extract_motion_prompt("A man walks", backend="openai", base_url="http://127.0.0.1:9/v1", model="m")
    assert result == "a person walks" and "failed" in caplog.text


def test_openai_backend_needs_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KINEVID_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("KINEVID_LLM_MODEL", raising=False)
    with pytest.raises(InvalidInputError, match="KINEVID_LLM_BASE_URL"):
        ChatCompletionsMotionPromptExtractor()
    with pytest.raises(InvalidInputError, match="http"):
        ChatCompletionsMotionPromptExtractor(base_url="127.0.0.1:8000", model="m")


# ------------------------------------------------------------------------------------------------
# local causal LM: a tiny random GPT-2 saved to disk


def _save_tiny_gpt2(directory: Path, chat_template: str | None) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<unk>"])
    corpus = [case["prompt"] for case in CASES] + [case["expected"] for case in CASES]
    tokenizer.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", unk_token="<unk>")
    if chat_template is not None:
        fast.chat_template = chat_template
    fast.save_pretrained(directory)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(fast), n_positions=1024, n_embd=16, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(directory)


@pytest.mark.parametrize("chat_template", [None, "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"])
def test_causal_lm_garbage_falls_back(tmp_path: Path, chat_template, caplog: pytest.LogCaptureFixture) -> None:
    _save_tiny_gpt2(tmp_path, chat_template)
    prompt = "A woman in a red dress dances gracefully on a beach at sunset, cinematic lighting"
    with caplog.at_level(logging.WARNING, logger="kinevid.text.motion_prompt.llm"):
        result = extract_motion_prompt(prompt, backend="transformers", model_dir=tmp_path, max_new_tokens=12)
    assert result == "a person dances gracefully"
    assert "unusable answer" in caplog.text


def test_causal_lm_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match=rf"{tmp_path / 'nope'}.*config\.json"):
        CausalLMMotionPromptExtractor(tmp_path / "nope")


def test_causal_lm_answer_is_used(tmp_path: Path) -> None:
    """A hand-wired GPT-2 whose greedy continuation of ":" is "a person walks forward": the answer is taken."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["<|endoftext|>", "<unk>", ":", "a", "person", "walks", "forward"]
    vocab = {word: index for index, word in enumerate(words)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", unk_token="<unk>")
    size = len(words)
    config = GPT2Config(
        vocab_size=size, n_positions=2048, n_embd=size, n_layer=1, n_head=1, tie_word_embeddings=False, eos_token_id=0
    )
    model = GPT2LMHeadModel(config)
    with torch.no_grad():
        # the block adds nothing (zero projections), so logits depend on the current token only:
        # one-hot embeddings and a head that maps each token to its successor (else end of text)
        for parameter in model.parameters():
            parameter.zero_()
        for norm in (model.transformer.h[0].ln_1, model.transformer.h[0].ln_2, model.transformer.ln_f):
            norm.weight.fill_(1.0)
        model.transformer.wte.weight.copy_(torch.eye(size) * 10.0)
        for current, successor in {":": "a", "a": "person", "person": "walks", "walks": "forward"}.items():
            model.lm_head.weight[vocab[successor], vocab[current]] = 10.0
    fast.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)

    prompt = "A man strolls forward in a park"
    assert RuleBasedMotionPromptExtractor()(prompt) == "a person strolls forward"
    assert extract_motion_prompt(prompt, backend="transformers", model_dir=tmp_path) == "a person walks forward"


@pytest.mark.parametrize(
    ("prompt", "verbs"),
    [
        ("a man kicks the ball", ["kicks"]),
        ("a man performs a high kick", ["performs"]),  # "kick" is a noun after "a high"
        ("a man takes three steps", ["takes"]),
        ("a man in running shoes jogs", ["jogs"]),  # "running" modifies "shoes"
        ("a running man waves", ["running", "waves"]),  # but a running man runs
        ("he walks with his arms raised", ["walks"]),  # a pose, not an action
        ("the camera moves left as a man jumps", ["jumps"]),  # the camera is not the person
        ("a hip hop dancer breakdances", ["breakdances"]),
        ("she does a jumping jack exercise", ["does"]),
        ("a man walks slow", ["walks"]),
    ],
)
def test_find_verbs(prompt: str, verbs: list[str]) -> None:
    tokens = tokenize(prompt)
    assert [tokens[index] for index in find_verbs(tokens)] == verbs
