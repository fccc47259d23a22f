"""T5 / umT5 text encoders from a local directory, encoded the way Wan2.1 encodes prompts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from diffusers.pipelines.wan.pipeline_wan import prompt_clean
from transformers import (
    AutoConfig,
    AutoTokenizer,
    MT5EncoderModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    T5EncoderModel,
    UMT5EncoderModel,
)

from kinevid.errors import MissingWeightsError
from kinevid.text.encoder import TextEmbeddings, TextEncoder, check_prompts, masked_mean, run_in_batches

#: Encoder class per `config.json` `model_type`.
ENCODER_CLASSES: dict[str, type[PreTrainedModel]] = {
    "t5": T5EncoderModel,
    "mt5": MT5EncoderModel,
    "umt5": UMT5EncoderModel,
}
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "tokenizer_config.json")


def locate_t5_checkpoint(local_dir: str | Path) -> tuple[Path, Path]:
    """Return (encoder dir, tokenizer dir) inside `local_dir`.

    Two layouts are accepted: a plain transformers directory (config.json, model.safetensors and the
    tokenizer files side by side) and a diffusers pipeline checkpoint such as
    `Wan-AI/Wan2.1-T2V-1.3B-Diffusers` (`text_encoder/` and `tokenizer/` subfolders).
    """
    root = Path(local_dir)
    expected = (
        "config.json, model.safetensors (or model.safetensors.index.json + shards) and a tokenizer "
        "(tokenizer.json or spiece.model, with tokenizer_config.json), either side by side or in "
        "text_encoder/ and tokenizer/ subfolders"
    )
    if not root.is_dir():
        raise MissingWeightsError(f"T5 text-encoder directory {root} does not exist; expected {expected}")
    encoder_dir, tokenizer_dir = root, root
    if (root / "text_encoder").is_dir():
        encoder_dir, tokenizer_dir = root / "text_encoder", root / "tokenizer"

    missing = []
    if not (encoder_dir / "config.json").is_file():
        missing.append(str(encoder_dir / "config.json"))
    if not any((encoder_dir / name).is_file() for name in _WEIGHT_FILES):
        missing.append(str(encoder_dir / _WEIGHT_FILES[0]))
    if not any((tokenizer_dir / name).is_file() for name in _TOKENIZER_FILES[:2]):
        missing.append(f"{tokenizer_dir / _TOKENIZER_FILES[0]} (or spiece.model)")
    if missing:
        raise MissingWeightsError(f"T5 text-encoder directory {root} lacks {', '.join(missing)}; expected {expected}")
    return encoder_dir, tokenizer_dir


class T5TextEncoder(TextEncoder):
    """A T5-family encoder (T5, mT5 or umT5, the latter being Wan2.1's text encoder) and its tokenizer.

    Prompts are encoded as diffusers' `WanPipeline._get_t5_prompt_embeds` does: cleaned
    (`prompt_clean`), tokenized with padding to exactly `max_sequence_length` tokens (truncating
    longer prompts, end-of-sequence token appended), encoded with the attention mask, and the
    hidden states past each prompt's length set to zero. `pooled` is the mean of the real tokens
    (not normalised).

    Build with `T5TextEncoder.from_pretrained(local_dir)`; nothing is downloaded.

    Args:
        tokenizer (`PreTrainedTokenizerBase`):
        model (`PreTrainedModel`): an encoder-only T5 model (`last_hidden_state` of width `d_model`).
        max_sequence_length (`int`, defaults to 512): L of every output (Wan2.1 uses 512).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, max_sequence_length: int = 512):
        super().__init__()
        if max_sequence_length < 1:
            raise ValueError(f"`max_sequence_length` must be positive, got {max_sequence_length}")
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False)
        self.max_sequence_length = max_sequence_length
        self.dim = int(model.config.d_model)

    @classmethod
    def from_pretrained(
        cls,
        local_dir: str | Path,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        max_sequence_length: int = 512,
    ) -> T5TextEncoder:
        """Load the encoder and tokenizer from `local_dir` (see `locate_t5_checkpoint` for layouts).

        Args:
            local_dir (`str` or `Path`): a local directory; a missing one raises `MissingWeightsError`.
            device (`str` or `torch.device`, defaults to `"cpu"`):
            dtype (`torch.dtype`, defaults to `torch.float32`): Wan runs umT5-XXL in `torch.bfloat16`.
            max_sequence_length (`int`, defaults to 512):
        """
        encoder_dir, tokenizer_dir = locate_t5_checkpoint(local_dir)
        config = AutoConfig.from_pretrained(encoder_dir, local_files_only=True)
        if config.model_type not in ENCODER_CLASSES:
            raise MissingWeightsError(
                f"{encoder_dir / 'config.json'}: `model_type` is {config.model_type!r}; "
                f"expected one of {sorted(ENCODER_CLASSES)}"
            )
        model = ENCODER_CLASSES[config.model_type].from_pretrained(encoder_dir, local_files_only=True, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
        return cls(tokenizer, model.to(device), max_sequence_length=max_sequence_length)

    @torch.no_grad()
    def encode(self, prompts: str | Sequence[str], batch_size: int = 8) -> TextEmbeddings:
        """Encode prompts.

        Args:
            prompts (`str` or `list[str]`): B prompts.
            batch_size (`int`, defaults to 8): rows per forward pass (does not change the result).

        Returns:
            `TextEmbeddings` with tokens `(B, max_sequence_length, d_model)` (zero past each prompt),
            mask `(B, max_sequence_length)` and pooled `(B, d_model)`.
        """
        prompts = [prompt_clean(prompt) for prompt in check_prompts(prompts, batch_size)]
        inputs = self.tokenizer(
            prompts,
            padding="max_length",
            max_length=self.max_sequence_length,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        input_ids = inputs.input_ids.to(self.device)
        mask = inputs.attention_mask.to(self.device).bool()
        tokens = run_in_batches(self.model, input_ids, mask.long(), batch_size)
        tokens = tokens * mask.unsqueeze(-1).to(tokens.dtype)
        return TextEmbeddings(tokens=tokens, mask=mask, pooled=masked_mean(tokens, mask))
