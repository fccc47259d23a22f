"""`MotionPrimitiveDiffusionModel`: the autoregressive motion-primitive denoiser (DART / DiP style).

One call denoises a chunk of `num_future_frames` motion frames given `num_history_frames` clean
frames that precede it (or none, for the first chunk), a diffusion timestep and a pooled text
embedding. The network is a small DiT: history and noisy chunk frames are tokens of one sequence
with learned positions; timestep and text are combined into one conditioning vector that modulates
every block through adaptive LayerNorm with zero-initialised gates (adaLN-Zero). It predicts the
clean chunk (x0) in normalised feature space, which lets the training recipe put geometric and
contact losses directly on its output.

With `text_conditioning="tokens"` every block also cross-attends from the motion tokens to the text
encoder's per-token hidden states (DiT / MDM / DART style: the pooled embedding keeps modulating
through adaLN, the tokens ground the words it averages away: "left" vs "right", "backwards",
"kick"). The tokens are layer-normalised and projected once to a narrow `cross_attention_dim`
(the shipped size budget is tight); each block's cross-attention output projection starts at zero,
so a token model initialised from a pooled one starts out computing exactly what that one does.

Everything a call derives from the timestep and the text alone (timestep and pooled-text MLPs, every
block's adaLN modulation, the final norm's, and for a token model the projected text tokens and each
block's cross-attention keys and values) is gathered in a `MotionConditioning`. `forward` builds one
per call; a sampler whose calls share their timesteps and text (every chunk of an autoregressive
rollout) builds them once with `precompute_conditioning` and passes them as `conditioning=`, which
gives the same outputs without recomputing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ...body.skeleton import default_offsets
from .representation import FEATURE_DIM

TIMESTEP_CHANNELS = 256
TEXT_CONDITIONINGS = ("pooled", "tokens")


def _modulation_factors(shift: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """adaLN's `(B, D)` shift and scale -> `(shift, 1 + scale)`, each `(B, 1, D)`, so that the modulation
    `x * (1 + scale[:, None]) + shift[:, None]` of tokens `x` `(B, S, D)` is `x * factors[1] + factors[0]`."""
    return shift[:, None], (1 + scale)[:, None]


class MotionCrossAttention(nn.Module):
    """Multi-head attention from motion tokens (width `dim`) to text tokens (width `context_dim`).

    The queries are pre-normed motion tokens; keys and values come from the (already normed and
    projected) text tokens; the output projection is zero-initialised, so the block starts as an identity.

    Args:
        dim (`int`): motion token width.
        context_dim (`int`): text token width; also the attention's inner width.
        num_heads (`int`): heads (`context_dim` must divide evenly).
    """

    def __init__(self, dim: int, context_dim: int, num_heads: int):
        super().__init__()
        if context_dim % num_heads != 0:
            raise ValueError(
                f"`cross_attention_dim` ({context_dim}) must be divisible by `cross_attention_heads` ({num_heads})."
            )
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.to_q = nn.Linear(dim, context_dim)
        self.to_k = nn.Linear(context_dim, context_dim)
        self.to_v = nn.Linear(context_dim, context_dim)
        self.to_out = nn.Linear(context_dim, dim)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)

    def _split_heads(self, tokens: torch.Tensor) -> torch.Tensor:
        """`(B, N, C)` -> `(B, heads, N, C / heads)`."""
        return tokens.reshape(tokens.shape[0], tokens.shape[1], self.num_heads, -1).transpose(1, 2)

    def key_value(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention's keys and values, which depend on the text only.

        Args:
            context (`torch.Tensor` of shape `(B, L, context_dim)`): text tokens.

        Returns:
            (`key`, `value`), each `torch.Tensor` of shape `(B, heads, L, context_dim / heads)`.
        """
        return self._split_heads(self.to_k(context)), self._split_heads(self.to_v(context))

    def forward(
        self,
        hidden_states: torch.Tensor,
        context: torch.Tensor | None,
        context_mask: torch.Tensor,
        key_value: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """
        Args:
            hidden_states (`torch.Tensor` of shape `(B, S, dim)`): motion tokens.
            context (`torch.Tensor` of shape `(B, L, context_dim)`): text tokens (unused when `key_value`
                is given).
            context_mask (`torch.Tensor` of shape `(B, L)`, bool): True where a text token may be attended
                to; every row needs at least one True (the model always keeps its null token).
            key_value (`tuple` of two `torch.Tensor` of shape `(B, heads, L, context_dim / heads)`, *optional*):
                `self.key_value(context)`, precomputed.

        Returns:
            `torch.Tensor` of shape `(B, S, dim)`: the residual update.
        """
        batch_size, seq_len, _ = hidden_states.shape
        query = self._split_heads(self.to_q(self.norm(hidden_states)))
        key, value = self.key_value(context) if key_value is None else key_value
        attention = F.scaled_dot_product_attention(query, key, value, attn_mask=context_mask[:, None, None, :])
        return self.to_out(attention.transpose(1, 2).reshape(batch_size, seq_len, -1))


class MotionDiTBlock(nn.Module):
    """Self-attention and MLP, each pre-normed, modulated (shift, scale) and gated by the conditioning.

    Args:
        dim (`int`): token width.
        num_heads (`int`): attention heads (`dim` must divide evenly).
        mlp_ratio (`float`): MLP hidden width over `dim`.
        dropout (`float`): dropout on attention weights and MLP hidden units during training.
        cross_attention_dim (`int`, *optional*): width of the text tokens to cross-attend to between
            self-attention and MLP (PixArt's order); None: no cross-attention.
        cross_attention_heads (`int`, defaults to 2): heads of the cross-attention.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        dropout: float,
        cross_attention_dim: int | None = None,
        cross_attention_heads: int = 2,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.to_out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.ff = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Dropout(dropout))
        self.ff_out = nn.Linear(hidden, dim)
        self.adaln = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.adaln.weight)
        nn.init.zeros_(self.adaln.bias)
        self.cross_attention = (
            MotionCrossAttention(dim, cross_attention_dim, cross_attention_heads)
            if cross_attention_dim is not None
            else None
        )

    def modulation(self, temb: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The block's adaLN modulation from the activated conditioning `temb` `(B, D)`, ready to
        broadcast over tokens: `(shift_msa, 1 + scale_msa, gate_msa, shift_mlp, 1 + scale_mlp, gate_mlp)`,
        each `(B, 1, D)`."""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaln(temb).chunk(6, dim=-1)
        return (
            *_modulation_factors(shift_msa, scale_msa),
            gate_msa[:, None],
            *_modulation_factors(shift_mlp, scale_mlp),
            gate_mlp[:, None],
        )

    def forward(
        self,
        hidden_states: torch.Tensor,
        temb: torch.Tensor | None,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
        modulation: Sequence[torch.Tensor] | None = None,
        key_value: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """
        Args:
            hidden_states (`torch.Tensor` of shape `(B, S, D)`): tokens.
            temb (`torch.Tensor` of shape `(B, D)`): conditioning (timestep + text), already activated
                (unused when `modulation` is given).
            context (`torch.Tensor` of shape `(B, L, cross_attention_dim)`, *optional*): text tokens
                (required when the block has cross-attention and `key_value` is not given).
            context_mask (`torch.Tensor` of shape `(B, L)`, bool, *optional*): attendable text tokens.
            modulation (six `torch.Tensor` of shape `(B, 1, D)`, *optional*): `self.modulation(temb)`, precomputed.
            key_value (`tuple` of two `torch.Tensor`, *optional*): `self.cross_attention.key_value(context)`,
                precomputed.
        """
        batch_size, seq_len, dim = hidden_states.shape
        if modulation is None:
            modulation = self.modulation(temb)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = modulation  # scales are 1 + scale

        norm = self.norm1(hidden_states) * scale_msa + shift_msa
        qkv = self.to_qkv(norm).reshape(batch_size, seq_len, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, S, Dh)
        attention = F.scaled_dot_product_attention(
            query, key, value, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, S, Dh)
        attention = attention.transpose(1, 2).reshape(batch_size, seq_len, dim)
        hidden_states = hidden_states + gate_msa * self.to_out(attention)
        if self.cross_attention is not None:
            hidden_states = hidden_states + self.cross_attention(hidden_states, context, context_mask, key_value)

        norm = self.norm2(hidden_states) * scale_mlp + shift_mlp
        return hidden_states + gate_mlp * self.ff_out(self.ff(norm))


@dataclass
class MotionConditioning:
    """What one denoiser call derives from its timestep and text alone, for a batch of B samples.

    `MotionPrimitiveDiffusionModel.forward` builds one per call; `precompute_conditioning` builds one per
    timestep of a sampling schedule, to be passed as `forward(..., conditioning=...)` by every call that
    shares that timestep and text (every chunk of a rollout).

    Args:
        block_modulations (`tuple` of num_layers tuples of six `torch.Tensor` of shape `(B, 1, D)`): each
            block's adaLN `(shift_msa, 1 + scale_msa, gate_msa, shift_mlp, 1 + scale_mlp, gate_mlp)`
            (`MotionDiTBlock.modulation`).
        output_modulation (`tuple` of two `torch.Tensor` of shape `(B, 1, D)`): `(shift, 1 + scale)` of the
            final norm.
        context (`torch.Tensor` of shape `(B, 1 + L, cross_attention_dim)`, *optional*): `[null token;
            projected text tokens]` (token models only).
        context_mask (`torch.Tensor` of shape `(B, 1 + L)`, bool, *optional*): attendable text tokens.
        key_values (`tuple` of num_layers `(key, value)` pairs, *optional*): each block's cross-attention keys
            and values, `(B, heads, 1 + L, cross_attention_dim / heads)` (token models only).
    """

    block_modulations: tuple[tuple[torch.Tensor, ...], ...]
    output_modulation: tuple[torch.Tensor, torch.Tensor]
    context: torch.Tensor | None = None
    context_mask: torch.Tensor | None = None
    key_values: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None = None

    @property
    def batch_size(self) -> int:
        """B, the samples this conditioning is for."""
        return self.output_modulation[0].shape[0]

    def clone(self) -> MotionConditioning:
        """A copy with every tensor cloned (e.g. to record a call's inputs)."""
        return MotionConditioning(
            block_modulations=tuple(tuple(t.clone() for t in block) for block in self.block_modulations),
            output_modulation=(self.output_modulation[0].clone(), self.output_modulation[1].clone()),
            context=None if self.context is None else self.context.clone(),
            context_mask=None if self.context_mask is None else self.context_mask.clone(),
            key_values=None
            if self.key_values is None
            else tuple((key.clone(), value.clone()) for key, value in self.key_values),
        )


class MotionPrimitiveDiffusionModel(ModelMixin, ConfigMixin):
    """Text-conditioned denoiser of one motion primitive.

    Args:
        feature_dim (`int`, defaults to 223): per-frame feature size (`representation.FEATURE_DIM`).
        num_history_frames (`int`, defaults to 3): clean frames that condition a chunk.
        num_future_frames (`int`, defaults to 12): frames denoised per call.
        fps (`float`, defaults to 12.0): frame rate the model was trained at.
        text_dim (`int`, defaults to 384): pooled text embedding size (MiniLM).
        hidden_dim (`int`, defaults to 192): token width.
        num_layers (`int`, defaults to 4): transformer blocks.
        num_heads (`int`, defaults to 4): attention heads.
        mlp_ratio (`float`, defaults to 4.0): MLP width over `hidden_dim`.
        dropout (`float`, defaults to 0.1): dropout during training.
        text_norm (`bool`, defaults to False): LayerNorm the pooled text embedding before its MLP.
            Sentence embeddings are unit vectors (entries ~ 1 / sqrt(text_dim)), so without it the text
            enters the conditioning at a small fraction of the timestep embedding's scale and the
            model learns to use it slowly; DiT's class embeddings start at unit scale per entry.
        text_conditioning (`str`, defaults to "pooled"): "pooled" conditions on the pooled embedding
            only (through adaLN); "tokens" adds cross-attention to the text tokens in every block (the
            pooled embedding still goes through adaLN). A "pooled" model has no cross-attention
            parameters, so checkpoints saved before this option load and behave unchanged.
        cross_attention_dim (`int`, defaults to 64): width the text tokens are projected to, and the
            cross-attention's inner width ("tokens" only).
        cross_attention_heads (`int`, defaults to 2): cross-attention heads ("tokens" only).
    """

    _supports_gradient_checkpointing = False
    _no_split_modules: ClassVar[list[str]] = ["MotionDiTBlock"]
    _keep_in_fp32_modules: ClassVar[list[str]] = ["time_embedding", "feature_mean", "feature_std", "body_offsets"]

    @register_to_config
    def __init__(
        self,
        feature_dim: int = FEATURE_DIM,
        num_history_frames: int = 3,
        num_future_frames: int = 12,
        fps: float = 12.0,
        text_dim: int = 384,
        hidden_dim: int = 192,
        num_layers: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        text_norm: bool = False,
        text_conditioning: str = "pooled",
        cross_attention_dim: int = 64,
        cross_attention_heads: int = 2,
    ):
        super().__init__()
        if hidden_dim % num_heads != 0:
            raise ValueError(f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads}).")
        if text_conditioning not in TEXT_CONDITIONINGS:
            raise ValueError(
                f"`text_conditioning` must be one of {list(TEXT_CONDITIONINGS)}, got {text_conditioning!r}."
            )
        # Feature normalisation statistics and the mean training body (the body generated motions
        # are posed on), fitted on the training windows and saved with the weights.
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))
        self.register_buffer("body_offsets", default_offsets())

        self.time_proj = Timesteps(TIMESTEP_CHANNELS, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(TIMESTEP_CHANNELS, hidden_dim)
        self.text_input_norm = nn.LayerNorm(text_dim) if text_norm else nn.Identity()
        self.text_embedding = nn.Sequential(
            nn.Linear(text_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim)
        )
        self.null_text = nn.Parameter(torch.zeros(hidden_dim))
        uses_tokens = text_conditioning == "tokens"
        if uses_tokens:
            # Text tokens -> cross-attention width, once for all blocks. The learned null token is
            # always attendable: it is all a text-dropped (unconditional) sample sees, and it keeps
            # the softmax defined for a prompt whose tokens are all padding.
            self.text_token_proj = nn.Sequential(nn.LayerNorm(text_dim), nn.Linear(text_dim, cross_attention_dim))
            self.null_text_token = nn.Parameter(torch.zeros(cross_attention_dim))

        self.history_proj = nn.Linear(feature_dim, hidden_dim)
        self.missing_history = nn.Parameter(torch.zeros(num_history_frames, hidden_dim))
        self.sample_proj = nn.Linear(feature_dim, hidden_dim)
        self.pos_embedding = nn.Parameter(torch.randn(num_history_frames + num_future_frames, hidden_dim) * 0.02)

        self.blocks = nn.ModuleList(
            [
                MotionDiTBlock(
                    hidden_dim,
                    num_heads,
                    mlp_ratio,
                    dropout,
                    cross_attention_dim=cross_attention_dim if uses_tokens else None,
                    cross_attention_heads=cross_attention_heads,
                )
                for _ in range(num_layers)
            ]
        )
        self.norm_out = nn.LayerNorm(hidden_dim, elementwise_affine=False, eps=1e-6)
        self.adaln_out = nn.Linear(hidden_dim, 2 * hidden_dim)
        self.proj_out = nn.Linear(hidden_dim, feature_dim)
        nn.init.zeros_(self.adaln_out.weight)
        nn.init.zeros_(self.adaln_out.bias)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        """`(..., feature_dim)` features -> zero-mean, unit-variance space the network works in."""
        return (features - self.feature_mean) / self.feature_std

    def denormalize(self, features: torch.Tensor) -> torch.Tensor:
        """Inverse of `normalize`."""
        return features * self.feature_std + self.feature_mean

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        history: torch.Tensor,
        history_mask: torch.Tensor,
        text_embeds: torch.Tensor,
        text_mask: torch.Tensor,
        text_tokens: torch.Tensor | None = None,
        text_token_mask: torch.Tensor | None = None,
        pooled_mask: torch.Tensor | None = None,
        conditioning: MotionConditioning | None = None,
    ) -> torch.Tensor:
        """Predict the clean chunk.

        Args:
            sample (`torch.Tensor` of shape `(B, F, feature_dim)`): noisy normalised chunk.
            timestep (`torch.Tensor` of shape `(B,)` or `()`): diffusion timesteps.
            history (`torch.Tensor` of shape `(B, H, feature_dim)`): clean normalised history frames
                (ignored where `history_mask` is False).
            history_mask (`torch.Tensor` of shape `(B,)`, bool): whether each sample has a history.
            text_embeds (`torch.Tensor` of shape `(B, text_dim)`): pooled text embeddings.
            text_mask (`torch.Tensor` of shape `(B,)`, bool): False drops the text (unconditional;
                classifier-free guidance): both the pooled embedding and the tokens.
            text_tokens (`torch.Tensor` of shape `(B, L, text_dim)`, *optional*): the text encoder's
                per-token hidden states (`TextEmbeddings.tokens`); required when
                `config.text_conditioning == "tokens"`, ignored otherwise.
            text_token_mask (`torch.Tensor` of shape `(B, L)`, bool, *optional*): True for real tokens
                (`TextEmbeddings.mask`); padded tokens are never attended to. Defaults to all True.
            pooled_mask (`torch.Tensor` of shape `(B,)`, bool, *optional*): False replaces only the pooled
                embedding by the null embedding and keeps the tokens (training a token model to read them).
                Defaults to `text_mask`.
            conditioning (`MotionConditioning`, *optional*): this call's entry of `precompute_conditioning`
                for the same timestep and text; then `timestep`, `text_embeds`, `text_mask`, `text_tokens`,
                `text_token_mask` and `pooled_mask` are not read (they must be what it was computed from).
                None (default): computed from them.

        Returns:
            `torch.Tensor` of shape `(B, F, feature_dim)`: the predicted clean chunk, normalised.
        """
        batch_size, num_future, _ = sample.shape
        if conditioning is None:
            text, context, context_mask, key_values = self._text_conditioning(
                text_embeds, text_mask, text_tokens, text_token_mask, pooled_mask, sample.dtype
            )
            timestep = timestep.expand(batch_size) if timestep.ndim == 0 else timestep
            conditioning = self._timestep_conditioning(timestep, text, context, context_mask, key_values, sample.dtype)
        elif conditioning.batch_size != batch_size:
            raise ValueError(f"`conditioning` is for {conditioning.batch_size} samples, `sample` has {batch_size}.")

        history_tokens = self.history_proj(history)  # (B, H, D)
        history_tokens = torch.where(history_mask[:, None, None], history_tokens, self.missing_history)
        hidden_states = torch.cat([history_tokens, self.sample_proj(sample)], dim=1)  # (B, H + F, D)
        hidden_states = hidden_states + self.pos_embedding[: hidden_states.shape[1]]
        key_values = conditioning.key_values or (None,) * len(self.blocks)
        for block, modulation, key_value in zip(self.blocks, conditioning.block_modulations, key_values, strict=True):
            hidden_states = block(
                hidden_states, None, conditioning.context, conditioning.context_mask, modulation, key_value
            )

        shift, scale = conditioning.output_modulation  # (B, 1, D): shift, 1 + scale
        hidden_states = self.norm_out(hidden_states[:, -num_future:]) * scale + shift  # (B, F, D)
        return self.proj_out(hidden_states)  # (B, F, feature_dim)

    def precompute_conditioning(
        self,
        timesteps: torch.Tensor,
        text_embeds: torch.Tensor,
        text_mask: torch.Tensor,
        text_tokens: torch.Tensor | None = None,
        text_token_mask: torch.Tensor | None = None,
        pooled_mask: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> list[MotionConditioning]:
        """The conditioning of every timestep of a schedule, for calls that share this text.

        Computes, with the same operations as `forward` (so `forward(..., conditioning=result[i])` returns
        what `forward(..., timestep=timesteps[i], <the same text arguments>)` returns), the text part once
        and the timestep part once per timestep (call it under `torch.no_grad()` when sampling).

        Args:
            timesteps (`torch.Tensor` of shape `(T,)` or `(T, B)`): the schedule's timesteps (one per call,
                for the whole batch or per sample).
            text_embeds, text_mask, text_tokens, text_token_mask, pooled_mask: as in `forward` (batch B).
            dtype (`torch.dtype`, *optional*): the dtype of the samples `forward` will get (defaults to
                the model's).

        Returns:
            `list` of T `MotionConditioning`, one per timestep (sharing the text context).
        """
        dtype = self.dtype if dtype is None else dtype
        batch_size = text_embeds.shape[0]
        text, context, context_mask, key_values = self._text_conditioning(
            text_embeds, text_mask, text_tokens, text_token_mask, pooled_mask, dtype
        )
        return [
            self._timestep_conditioning(
                timestep.expand(batch_size) if timestep.ndim == 0 else timestep,
                text,
                context,
                context_mask,
                key_values,
                dtype,
            )
            for timestep in timesteps
        ]

    def _text_conditioning(
        self,
        text_embeds: torch.Tensor,
        text_mask: torch.Tensor,
        text_tokens: torch.Tensor | None,
        text_token_mask: torch.Tensor | None,
        pooled_mask: torch.Tensor | None,
        dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, tuple | None]:
        """The text's part: the pooled text embedding `(B, D)` (the null embedding where dropped), and
        for a token model the cross-attention context, its mask and every block's keys and values."""
        text = self.text_embedding(self.text_input_norm(text_embeds.to(dtype)))  # (B, D)
        pooled_mask = text_mask if pooled_mask is None else pooled_mask & text_mask
        text = torch.where(pooled_mask[:, None], text, self.null_text.to(text.dtype))
        context, context_mask = self._text_context(text_tokens, text_token_mask, text_mask, dtype)
        key_values = None
        if context is not None:
            key_values = tuple(block.cross_attention.key_value(context) for block in self.blocks)
        return text, context, context_mask, key_values

    def _timestep_conditioning(
        self,
        timestep: torch.Tensor,
        text: torch.Tensor,
        context: torch.Tensor | None,
        context_mask: torch.Tensor | None,
        key_values: tuple | None,
        dtype: torch.dtype,
    ) -> MotionConditioning:
        """Timesteps `(B,)` + the text's part (`_text_conditioning`) -> every block's modulation."""
        temb = self.time_embedding(self.time_proj(timestep).to(dtype))  # (B, D)
        conditioning = F.silu(temb + text)  # (B, D)
        return MotionConditioning(
            block_modulations=tuple(block.modulation(conditioning) for block in self.blocks),
            output_modulation=_modulation_factors(*self.adaln_out(conditioning).chunk(2, dim=-1)),
            context=context,
            context_mask=context_mask,
            key_values=key_values,
        )

    def _text_context(
        self,
        text_tokens: torch.Tensor | None,
        text_token_mask: torch.Tensor | None,
        text_mask: torch.Tensor,
        dtype: torch.dtype,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The cross-attention keys: `[null token; projected text tokens]` `(B, 1 + L, C)` and their
        mask `(B, 1 + L)` (text tokens masked out where padded or where `text_mask` drops the text);
        `(None, None)` for a pooled-only model."""
        if self.config.text_conditioning != "tokens":
            return None, None
        if text_tokens is None:
            raise ValueError("This model conditions on text tokens: pass `text_tokens` (B, L, text_dim).")
        batch_size, num_tokens = text_tokens.shape[:2]
        if text_token_mask is None:
            text_token_mask = torch.ones(batch_size, num_tokens, dtype=torch.bool, device=text_tokens.device)
        tokens = self.text_token_proj(text_tokens.to(dtype))  # (B, L, C)
        null = self.null_text_token.to(dtype).expand(batch_size, 1, -1)
        context = torch.cat([null, tokens], dim=1)
        keep = text_token_mask.bool() & text_mask[:, None]
        context_mask = torch.cat([keep.new_ones(batch_size, 1), keep], dim=1)
        # Masked positions are zeroed too, so a NaN in padding cannot leak through 0 x NaN.
        return context.masked_fill(~context_mask[..., None], 0.0), context_mask
