"""CLIPSIM (text-video similarity) and CLIP image embeddings, from a transformers `CLIPModel` on disk.

CLIPSIM of a video and its prompt is the mean over frames of the raw cosine between the CLIP
image embedding of the frame and the CLIP text embedding of the prompt (projected embeddings,
`get_image_features` / `get_text_features`); no x100 scaling, no clipping at 0. Current models
score about 0.29-0.31 with ViT-B/32.

Frames are preprocessed as VBench's `clip_transform`: shorter side resized to the model's
`image_size` (bicubic, no antialias, rounded to 8-bit levels as torchvision does on uint8), central
square crop, normalised with the mean/std of the directory's `preprocessor_config.json` (OpenAI's
CLIP values when it has none). Prompts are tokenized by the directory's tokenizer, truncated to the
text model's context length.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InvalidInputError, MissingWeightsError
from .videos import center_crop, resize_uint8_frames

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipEncoder:
    """CLIP image and text embeddings.

    Args:
        model (`transformers.CLIPModel`): the model.
        tokenizer: its tokenizer (`CLIPTokenizer` / `CLIPTokenizerFast`).
        image_mean (`tuple[float, float, float]`), image_std (`tuple[float, float, float]`): normalisation.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        image_mean: tuple[float, ...] = OPENAI_CLIP_MEAN,
        image_std: tuple[float, ...] = OPENAI_CLIP_STD,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.image_size = int(model.config.vision_config.image_size)
        self.context_length = int(model.config.text_config.max_position_embeddings)
        self.image_mean = torch.tensor(image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.image_std = torch.tensor(image_std, dtype=torch.float32).view(1, 3, 1, 1)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str]) -> ClipEncoder:
        """Load `CLIPModel` and its tokenizer from a local directory (e.g. a saved `openai/clip-vit-base-patch32`)."""
        from transformers import AutoTokenizer, CLIPModel

        path = Path(path)
        if not (path / "config.json").is_file():
            raise MissingWeightsError(f"{path}: no CLIP model directory (expected a transformers `config.json`).")
        try:
            model = CLIPModel.from_pretrained(path)
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as error:
            raise MissingWeightsError(f"{path}: cannot load a CLIPModel and its tokenizer: {error}") from None
        mean, std = OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
        processor_config = path / "preprocessor_config.json"
        if processor_config.is_file():
            settings = json.loads(processor_config.read_text(encoding="utf-8"))
            mean, std = tuple(settings.get("image_mean", mean)), tuple(settings.get("image_std", std))
        return cls(model, tokenizer, mean, std)

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 frames `(T, H, W, 3)` -> normalised `(T, 3, S, S)` with S the model's `image_size`."""
        images = center_crop(resize_uint8_frames(frames, self.image_size, mode="bicubic"), self.image_size)
        return (images - self.image_mean) / self.image_std

    @torch.no_grad()
    def image_embeddings(self, frames: np.ndarray, batch_size: int = 16) -> torch.Tensor:
        """Projected image embeddings `(T, D)` of uint8 frames `(T, H, W, 3)` (not normalised)."""
        images = self.preprocess(frames)
        return torch.cat(
            [
                _as_tensor(self.model.get_image_features(pixel_values=images[start : start + batch_size]))
                for start in range(0, len(images), batch_size)
            ]
        )

    @torch.no_grad()
    def text_embeddings(self, texts: list[str]) -> torch.Tensor:
        """Projected text embeddings `(N, D)` (not normalised)."""
        if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
            raise InvalidInputError("CLIP text embeddings need non-empty prompt strings.")
        tokens = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.context_length, return_tensors="pt"
        )
        return _as_tensor(
            self.model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        )


def _as_tensor(output) -> torch.Tensor:
    """`get_*_features` return a tensor (transformers < 5) or an output with `pooler_output` (>= 5)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def clipsim(frames: np.ndarray, prompt: str, encoder: ClipEncoder) -> float:
    """CLIPSIM of one video: mean over frames of cos(image embedding, text embedding)."""
    images = F.normalize(encoder.image_embeddings(frames).to(torch.float64), dim=-1)  # (T, D)
    text = F.normalize(encoder.text_embeddings([prompt]).to(torch.float64), dim=-1)  # (1, D)
    return float((images @ text.T).mean())
