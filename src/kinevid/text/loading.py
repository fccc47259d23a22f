"""`load_text_encoder`: pick a text encoder by name or local directory."""

from __future__ import annotations

from pathlib import Path

import torch

from kinevid.errors import MissingWeightsError
from kinevid.text.encoder import TextEncoder

#: Names `load_text_encoder` accepts besides a directory.
TEXT_ENCODER_NAMES = ("minilm",)


def load_text_encoder(
    name_or_path: str | Path = "minilm",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    max_sequence_length: int = 512,
) -> TextEncoder:
    """Load a text encoder.

    Args:
        name_or_path (`str` or `Path`, defaults to `"minilm"`):
            `"minilm"` for the bundled all-MiniLM-L6-v2; a sentence-transformers directory (with
            `modules.json`) for another sentence encoder; any other local directory is read as a
            T5 / umT5 checkpoint (plain, or a diffusers pipeline with `text_encoder/` + `tokenizer/`).
        device (`str` or `torch.device`, defaults to `"cpu"`):
        dtype (`torch.dtype`, defaults to `torch.float32`):
        max_sequence_length (`int`, defaults to 512): the padded length of T5 outputs (ignored for MiniLM).
    """
    from kinevid.text.minilm import MiniLMTextEncoder  # imported here: T5 and MiniLM need different transformers models

    if isinstance(name_or_path, str) and name_or_path.lower() in TEXT_ENCODER_NAMES:
        return MiniLMTextEncoder(device=device, dtype=dtype)
    path = Path(name_or_path)
    if not path.is_dir():
        raise MissingWeightsError(
            f"Text encoder {str(name_or_path)!r} is neither one of {list(TEXT_ENCODER_NAMES)} nor an existing "
            "directory; expected a T5 / umT5 checkpoint directory (config.json, model.safetensors, tokenizer "
            "files) or a sentence-transformers directory (modules.json, config.json, model.safetensors, "
            "tokenizer.json)"
        )
    if (path / "modules.json").is_file():
        return MiniLMTextEncoder(model_dir=path, device=device, dtype=dtype)
    from kinevid.text.t5 import T5TextEncoder

    return T5TextEncoder.from_pretrained(path, device=device, dtype=dtype, max_sequence_length=max_sequence_length)
