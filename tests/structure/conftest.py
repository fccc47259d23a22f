"""Fixtures of the structure tests: a tiny random text-to-motion pipeline with a hashing text encoder,
and a text encoder with one token state per word (token-conditioned models)."""

from __future__ import annotations

import pytest
import torch

from kinevid.models.structure import MotionPrimitiveDiffusionModel
from kinevid.pipelines import TextToMotionPipeline
from kinevid.recipes.structure import DiffusionConfig
from kinevid.text import TextEmbeddings


class PromptHashEncoder:
    """Deterministic stand-in for MiniLM: a pooled unit vector seeded by each prompt's characters."""

    dim = 384

    def encode(self, prompts, batch_size: int = 32) -> TextEmbeddings:
        pooled = torch.stack(
            [torch.randn(self.dim, generator=torch.Generator().manual_seed(sum(map(ord, p)))) for p in prompts]
        )
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return TextEmbeddings(tokens=pooled[:, None], mask=torch.ones(len(prompts), 1, dtype=torch.bool), pooled=pooled)


class WordTokenEncoder:
    """One token state per word plus [CLS] / [SEP], each seeded by its word: lengths vary by prompt."""

    dim = 384

    def encode(self, prompts, batch_size: int = 32) -> TextEmbeddings:
        words = [["[CLS]", *prompt.split(), "[SEP]"] for prompt in prompts]
        length = max(map(len, words))
        tokens = torch.zeros(len(prompts), length, self.dim)
        mask = torch.zeros(len(prompts), length, dtype=torch.bool)
        for row, sentence in enumerate(words):
            for column, word in enumerate(sentence):
                seed = sum(map(ord, word)) * 31 + column
                tokens[row, column] = torch.randn(self.dim, generator=torch.Generator().manual_seed(seed))
                mask[row, column] = True
        pooled = torch.nn.functional.normalize(tokens.sum(1), dim=-1)
        return TextEmbeddings(tokens=tokens, mask=mask, pooled=pooled)


@pytest.fixture
def word_token_encoder() -> WordTokenEncoder:
    return WordTokenEncoder()


@pytest.fixture
def tiny_motion_pipeline() -> TextToMotionPipeline:
    """A 2-layer, 24-wide random model (12 fps, 2 history + 4 future frames), perturbed off its zero init."""
    torch.manual_seed(0)
    model = MotionPrimitiveDiffusionModel(
        num_history_frames=2, num_future_frames=4, fps=12.0, hidden_dim=24, num_layers=2, num_heads=2, dropout=0.0
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return TextToMotionPipeline(
        model, DiffusionConfig().sampling_scheduler(), text_encoder=PromptHashEncoder(), num_inference_steps=2
    )
