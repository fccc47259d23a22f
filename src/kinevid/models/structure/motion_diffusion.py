"""`MotionPrimitiveDiffusionModel`: the autoregressive motion-primitive denoiser (DART / DiP style).

One call denoises a chunk of `num_future_frames` motion frames given `num_history_frames` clean
frames that precede it (or none, for the first chunk), a diffusion timestep and a pooled text
embedding. The network is a small DiT: history and noisy chunk frames are tokens of one sequence
with learned positions; timestep and text are combined into one conditioning vector that modulates
every block through adaptive LayerNorm with zero-initialised gates (adaLN-Zero). It predicts the
clean chunk (x0) in normalised feature space, which lets the training recipe put geometric and
contact losses directly on its output.
"""

from __future__ import annotations

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


def _modulate(hidden_states: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return hidden_states * (1 + scale[:, None]) + shift[:, None]


class MotionDiTBlock(nn.Module):
    """Self-attention and MLP, each pre-normed, modulated (shift, scale) and gated by the conditioning.

    Args:
        dim (`int`): token width.
        num_heads (`int`): attention heads (`dim` must divide evenly).
        mlp_ratio (`float`): MLP hidden width over `dim`.
        dropout (`float`): dropout on attention weights and MLP hidden units during training.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, dropout: float):
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

    def forward(self, hidden_states: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """
        Args:
            hidden_states (`torch.Tensor` of shape `(B, S, D)`): tokens.
            temb (`torch.Tensor` of shape `(B, D)`): conditioning (timestep + text), already activated.
        """
        batch_size, seq_len, dim = hidden_states.shape
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaln(temb).chunk(6, dim=-1)

        norm = _modulate(self.norm1(hidden_states), shift_msa, scale_msa)
        qkv = self.to_qkv(norm).reshape(batch_size, seq_len, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, S, Dh)
        attention = F.scaled_dot_product_attention(
            query, key, value, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, S, Dh)
        attention = attention.transpose(1, 2).reshape(batch_size, seq_len, dim)
        hidden_states = hidden_states + gate_msa[:, None] * self.to_out(attention)

        norm = _modulate(self.norm2(hidden_states), shift_mlp, scale_mlp)
        return hidden_states + gate_mlp[:, None] * self.ff_out(self.ff(norm))


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
    ):
        super().__init__()
        if hidden_dim % num_heads != 0:
            raise ValueError(f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads}).")
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

        self.history_proj = nn.Linear(feature_dim, hidden_dim)
        self.missing_history = nn.Parameter(torch.zeros(num_history_frames, hidden_dim))
        self.sample_proj = nn.Linear(feature_dim, hidden_dim)
        self.pos_embedding = nn.Parameter(torch.randn(num_history_frames + num_future_frames, hidden_dim) * 0.02)

        self.blocks = nn.ModuleList(
            [MotionDiTBlock(hidden_dim, num_heads, mlp_ratio, dropout) for _ in range(num_layers)]
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
                classifier-free guidance).

        Returns:
            `torch.Tensor` of shape `(B, F, feature_dim)`: the predicted clean chunk, normalised.
        """
        batch_size, num_future, _ = sample.shape
        timestep = timestep.expand(batch_size) if timestep.ndim == 0 else timestep
        temb = self.time_embedding(self.time_proj(timestep).to(sample.dtype))  # (B, D)
        text = self.text_embedding(self.text_input_norm(text_embeds.to(sample.dtype)))  # (B, D)
        text = torch.where(text_mask[:, None], text, self.null_text.to(text.dtype))
        conditioning = F.silu(temb + text)  # (B, D)

        history_tokens = self.history_proj(history)  # (B, H, D)
        history_tokens = torch.where(history_mask[:, None, None], history_tokens, self.missing_history)
        hidden_states = torch.cat([history_tokens, self.sample_proj(sample)], dim=1)  # (B, H + F, D)
        hidden_states = hidden_states + self.pos_embedding[: hidden_states.shape[1]]
        for block in self.blocks:
            hidden_states = block(hidden_states, conditioning)

        shift, scale = self.adaln_out(conditioning).chunk(2, dim=-1)
        hidden_states = _modulate(self.norm_out(hidden_states[:, -num_future:]), shift, scale)  # (B, F, D)
        return self.proj_out(hidden_states)  # (B, F, feature_dim)
