"""The text-encoder interface shared by every conditioning model: tokens, mask and a pooled vector."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from kinevid.errors import InvalidInputError


@dataclass
class TextEmbeddings:
    """The output of a `TextEncoder`.

    Args:
        tokens (`torch.Tensor` of shape `(B, L, D)`):
            Per-token hidden states of the encoder's last layer. Positions where `mask` is False are zero.
        mask (`torch.Tensor` of shape `(B, L)`, bool):
            True for real tokens (special tokens included), False for padding.
        pooled (`torch.Tensor` of shape `(B, D)`):
            One vector per prompt (the encoder's sentence embedding; see each encoder for its definition).
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> TextEmbeddings:
        """Move `tokens` and `pooled` to `device` / cast them to `dtype`; `mask` stays bool."""
        return TextEmbeddings(
            tokens=self.tokens.to(device=device, dtype=dtype),
            mask=self.mask.to(device=device),
            pooled=self.pooled.to(device=device, dtype=dtype),
        )


class TextEncoder(nn.Module, abc.ABC):
    """A frozen text encoder: `encode(prompts)` -> `TextEmbeddings` with `D = self.dim`.

    Subclasses hold a tokenizer and a transformers model, run without gradients in eval mode and
    are deterministic: the same prompts give the same embeddings, whatever the batch they come in
    (up to float rounding).
    """

    dim: int

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @abc.abstractmethod
    def encode(self, prompts: str | Sequence[str], batch_size: int = 32) -> TextEmbeddings:
        """Encode `prompts` (a string or a non-empty list of strings; "" is allowed, e.g. a CFG null prompt)."""

    def forward(self, prompts: str | Sequence[str]) -> TextEmbeddings:
        return self.encode(prompts)


def check_prompts(prompts: str | Sequence[str], batch_size: int) -> list[str]:
    """Return `prompts` as a list of strings, raising `InvalidInputError` on anything else."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise InvalidInputError(f"`prompts` must be a string or a non-empty list of strings, got {prompts!r}")
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise InvalidInputError(f"`prompts[{index}]` must be a string, got {type(prompt).__name__}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"`batch_size` must be a positive integer, got {batch_size!r}")
    return list(prompts)


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `tokens` (B, L, D) over positions where `mask` (B, L) is True -> (B, D).

    Computed as sentence-transformers' mean pooling does (sum of masked tokens over the count,
    clamped at 1e-9 so an all-padding row gives zeros rather than NaN).
    """
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    summed = (tokens * weights).sum(dim=1)
    counts = weights.sum(dim=1).clamp(min=1e-9)
    return summed / counts


def run_in_batches(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """`model(input_ids, attention_mask).last_hidden_state` in chunks of `batch_size` rows -> (B, L, D).

    Rows are grouped by length (longest first) and each chunk is cut to its longest row, so short
    prompts do not pay for the padding of long ones (T5 pads every prompt to 512 tokens). Padding
    is masked out of attention, so real tokens come out the same as in one full-width call;
    padded positions of the result are zero.
    """
    lengths = attention_mask.sum(dim=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    hidden_states = None
    for start in range(0, input_ids.shape[0], batch_size):
        rows = order[start : start + batch_size]
        width = max(int(lengths[rows].max()), 1)
        chunk = model(input_ids=input_ids[rows, :width], attention_mask=attention_mask[rows, :width]).last_hidden_state
        if hidden_states is None:
            hidden_states = chunk.new_zeros(input_ids.shape[0], input_ids.shape[1], chunk.shape[-1])
        hidden_states[rows, :width] = chunk
    return hidden_states
