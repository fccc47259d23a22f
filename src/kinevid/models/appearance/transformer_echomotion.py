"""EchoMotion's dual-modality DiT on Wan2.1: video latents and SMPL motion tokens in one self-attention.

The video branch *is* diffusers' `WanTransformer3DModel` (same modules, same parameter names), so a
Wan2.1 diffusers checkpoint loads without conversion and, with no motion input, the model computes
exactly what Wan computes. The motion branch adds, per dual block, its own q/k/v/out projections,
q/k norms, modulation table, text cross-attention and FFN (all prefixed `motion_`); both modalities
meet in one attention call over the concatenated sequence `[video; motion]` through diffusers'
attention dispatch. Motion positions follow MVS-RoPE (`kinevid.models.rope`).

Context parallelism (`model.enable_parallelism(config=ContextParallelConfig(...))`) shards each
modality along its own sequence: every rank holds a slice of the video tokens and a slice of the
motion tokens (and the matching slices of both RoPE tables and key masks), and the joint attention
runs through diffusers' Ulysses attention (ring attention only for calls without a key mask). See
`EchoMotionTransformer3DModel._cp_plan`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models._modeling_parallel import ContextParallelConfig, ContextParallelInput, ContextParallelOutput
from diffusers.models.attention import FeedForward
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401 - see below
from diffusers.models.normalization import FP32LayerNorm
from diffusers.models.transformers.transformer_wan import (
    WanAttention,
    WanAttnProcessor,
    WanTransformer3DModel,
    WanTransformerBlock,
    _get_qkv_projections,
)
from diffusers.utils import BaseOutput, apply_lora_scale
from torch import nn

from ...errors import InvalidInputError
from ...motion.codecs.echomotion import MOTION_FEATURE_DIM, TOKENS_PER_FRAME
from ...motion.codecs.normalizer import MotionNormalizer
from ..rope import MOTION_ROPES, apply_rotary_emb, motion_positions, rotary_embedding_3d
from ..warm_start import warm_start
from .motion_embedding import EchoMotionMotionEmbedding, EchoMotionMotionHead

# `DiffusionPipeline.from_pretrained` resolves a custom component's loader by looking its base classes
# (`ModelMixin`, ...) up in the component's own module, hence the import of `ModelMixin` above.

ECHOMOTION_TASKS = ("joint", "m2v", "v2m")
"""Task ids of the task embedding: 0 joint generation, 1 motion-to-video, 2 video-to-motion."""

MOTION_PARAMETER_PREFIXES = ("motion_", "task_")
"""A parameter belongs to the motion branch when a component of its name starts with one of these."""


def is_motion_parameter(name: str) -> bool:
    """Whether parameter `name` (e.g. `blocks.3.motion_attn1.to_q.weight`) belongs to the motion branch."""
    return any(part.startswith(MOTION_PARAMETER_PREFIXES) for part in name.split("."))


@dataclass
class EchoMotionTransformerOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(B, C, F, H, W)` or `None`): the video prediction (None when no
            video was given).
        motion_sample (`torch.Tensor` of shape `(B, T, 235)` or `None`): the motion prediction (None when
            no motion was given).
    """

    sample: torch.Tensor | None
    motion_sample: torch.Tensor | None


class EchoMotionJointAttnProcessor:
    """One self-attention over `[video; motion]` tokens with per-modality projections.

    Each modality's `WanAttention` computes its q/k/v, applies its RMS q/k norms and its RoPE; the
    concatenated sequence goes through `dispatch_attention_fn` once (so the backend chosen with
    `set_attention_backend` on the video attention applies, and so does the context-parallel config
    `enable_parallelism` gives it); the result is split and each part goes through its own output
    projection. Either modality may be absent.

    Under context parallelism each rank concatenates its slice of video tokens with its slice of
    motion tokens; attention is invariant to the order of the keys, and every query keeps its own
    place, so the rank-interleaved order of the gathered sequence changes nothing.
    """

    def __call__(
        self,
        attn: WanAttention,
        motion_attn: WanAttention,
        hidden_states: torch.Tensor | None,
        motion_hidden_states: torch.Tensor,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None,
        motion_rotary_emb: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """
        Args:
            hidden_states (`torch.Tensor` of shape `(B, S_v, D)` or `None`): normalised video tokens.
            motion_hidden_states (`torch.Tensor` of shape `(B, S_m, D)`): normalised motion tokens.
            rotary_emb, motion_rotary_emb: `(cos, sin)` of shape `(1, S, 1, head_dim)` per modality.
            attention_mask (`torch.Tensor` of shape `(B, 1, 1, S_v + S_m)`, bool, *optional*): keys
                that may be attended to.

        Returns:
            `(video_out (B, S_v, D) or None, motion_out (B, S_m, D))`.
        """
        streams = []
        if hidden_states is not None:
            streams.append((attn, hidden_states, rotary_emb))
        streams.append((motion_attn, motion_hidden_states, motion_rotary_emb))

        queries, keys, values = [], [], []
        for module, states, rope in streams:
            query, key, value = _get_qkv_projections(module, states, None)
            query = module.norm_q(query).unflatten(2, (module.heads, -1))  # (B, S, heads, head_dim)
            key = module.norm_k(key).unflatten(2, (module.heads, -1))
            value = value.unflatten(2, (module.heads, -1))
            queries.append(apply_rotary_emb(query, *rope))
            keys.append(apply_rotary_emb(key, *rope))
            values.append(value)

        out = self.attend(attn, torch.cat(queries, dim=1), torch.cat(keys, dim=1), torch.cat(values, dim=1),
                          attention_mask)  # fmt: skip
        out = out.flatten(2, 3).type_as(queries[0])  # (B, S_v + S_m, D)

        lengths = [states.shape[1] for _, states, _ in streams]
        outputs = [
            module.to_out[1](module.to_out[0](part))
            for (module, _, _), part in zip(streams, out.split(lengths, 1), strict=True)
        ]
        if hidden_states is None:
            return None, outputs[0]
        return outputs[0], outputs[1]

    def attend(
        self,
        attn: WanAttention,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """Attention over the joint sequence, `(B, S, heads, head_dim)` each -> `(B, S, heads, head_dim)`, through
        the video attention's backend and context-parallel config."""
        parallel_config = attn.processor._parallel_config
        if (
            parallel_config is not None
            and attention_mask is not None
            and parallel_config.context_parallel_config.ring_degree > 1
        ):
            # diffusers' ring attention applies one local mask to every rotated key/value chunk.
            raise InvalidInputError(
                "EchoMotion's joint attention needs a key mask here (padded or dropped motion frames, a dropped "
                "video condition, or motion frames appended so the tokens split evenly over the ranks), which "
                "diffusers' ring attention cannot apply; use `ContextParallelConfig(ulysses_degree=...)`"
            )
        return dispatch_attention_fn(
            query,
            key,
            value,
            attn_mask=attention_mask,
            dropout_p=0.0,
            is_causal=False,
            backend=attn.processor._attention_backend,
            parallel_config=parallel_config,
        )


def _modulation(scale_shift_table: torch.Tensor, temb: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Six `(B, 1, D)` modulation vectors (shift, scale, gate for attention, then for the FFN)."""
    return (scale_shift_table + temb.float()).chunk(6, dim=1)


def _text_and_feed_forward(
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    modulation: tuple[torch.Tensor, ...],
    norm2: nn.Module,
    attn2: WanAttention,
    norm3: nn.Module,
    ffn: nn.Module,
) -> torch.Tensor:
    """Text cross-attention (unmodulated) then the modulated, gated FFN of a Wan block. `(B, S, D)`."""
    _, _, _, c_shift, c_scale, c_gate = modulation
    norm_hidden_states = norm2(hidden_states.float()).type_as(hidden_states)
    hidden_states = hidden_states + attn2(norm_hidden_states, encoder_hidden_states, None, None)
    norm_hidden_states = (norm3(hidden_states.float()) * (1 + c_scale) + c_shift).type_as(hidden_states)
    ff_output = ffn(norm_hidden_states)
    return (hidden_states.float() + ff_output.float() * c_gate).type_as(hidden_states)


class EchoMotionDualBlock(WanTransformerBlock):
    r"""A Wan block with a motion stream: joint self-attention, per-modality cross-attention and FFN.

    The video modules keep `WanTransformerBlock`'s names; the motion modules mirror them with a
    `motion_` prefix. Called without motion tokens it is exactly a `WanTransformerBlock`.

    Args:
        dim (`int`), ffn_dim (`int`), num_heads (`int`), qk_norm (`str`), cross_attn_norm (`bool`),
        eps (`float`), added_kv_proj_dim (`int`, *optional*): as for `WanTransformerBlock`.
        motion_ffn_dim (`int`): hidden size of the motion FFN.
    """

    def __init__(
        self,
        dim: int,
        ffn_dim: int,
        num_heads: int,
        qk_norm: str = "rms_norm_across_heads",
        cross_attn_norm: bool = False,
        eps: float = 1e-6,
        added_kv_proj_dim: int | None = None,
        motion_ffn_dim: int | None = None,
    ) -> None:
        super().__init__(dim, ffn_dim, num_heads, qk_norm, cross_attn_norm, eps, added_kv_proj_dim)
        head_dim = dim // num_heads
        self.motion_norm1 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.motion_attn1 = WanAttention(
            dim=dim, heads=num_heads, dim_head=head_dim, eps=eps, processor=WanAttnProcessor()
        )
        self.motion_attn2 = WanAttention(
            dim=dim,
            heads=num_heads,
            dim_head=head_dim,
            eps=eps,
            cross_attention_dim_head=head_dim,
            processor=WanAttnProcessor(),
        )
        self.motion_norm2 = FP32LayerNorm(dim, eps, elementwise_affine=True) if cross_attn_norm else nn.Identity()
        self.motion_ffn = FeedForward(dim, inner_dim=motion_ffn_dim or ffn_dim, activation_fn="gelu-approximate")
        self.motion_norm3 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.motion_scale_shift_table = nn.Parameter(torch.empty(1, 6, dim))
        self.joint_attn_processor = EchoMotionJointAttnProcessor()
        self.reset_motion_parameters()

    @torch.no_grad()
    def reset_motion_parameters(self) -> None:
        """Initialise the block's own motion parameter (its children initialise themselves)."""
        dim = self.motion_scale_shift_table.shape[-1]
        self.motion_scale_shift_table.copy_(torch.randn_like(self.motion_scale_shift_table) / dim**0.5)

    def forward(
        self,
        hidden_states: torch.Tensor | None,
        encoder_hidden_states: torch.Tensor,
        temb: torch.Tensor | None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None,
        motion_hidden_states: torch.Tensor | None = None,
        motion_temb: torch.Tensor | None = None,
        motion_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor | None, torch.Tensor]:
        """
        Args:
            hidden_states (`torch.Tensor` of shape `(B, S_v, D)` or `None`): video tokens.
            encoder_hidden_states (`torch.Tensor` of shape `(B, L, D)`): projected text tokens.
            temb (`torch.Tensor` of shape `(B, 6, D)` or `None`): video modulation embedding.
            rotary_emb: video RoPE `(cos, sin)`, each `(1, S_v, 1, head_dim)`.
            motion_hidden_states (`torch.Tensor` of shape `(B, S_m, D)`, *optional*): motion tokens.
            motion_temb (`torch.Tensor` of shape `(B, 6, D)`): motion modulation embedding.
            motion_rotary_emb: MVS-RoPE `(cos, sin)`, each `(1, S_m, 1, head_dim)`.
            attention_mask (`torch.Tensor` of shape `(B, 1, 1, S_v + S_m)`, bool, *optional*).

        Returns:
            Without motion, the video tokens `(B, S_v, D)` (as `WanTransformerBlock`); otherwise the
            tuple `(video tokens or None, motion tokens (B, S_m, D))`.
        """
        if motion_hidden_states is None:
            return super().forward(hidden_states, encoder_hidden_states, temb, rotary_emb)
        if temb is not None and temb.ndim != 3:
            raise InvalidInputError("EchoMotionDualBlock supports one timestep per sample (`temb` of shape (B, 6, D))")

        motion_mod = _modulation(self.motion_scale_shift_table, motion_temb)
        m_shift, m_scale, m_gate = motion_mod[:3]
        norm_motion = (self.motion_norm1(motion_hidden_states.float()) * (1 + m_scale) + m_shift).type_as(
            motion_hidden_states
        )
        norm_video = None
        if hidden_states is not None:
            video_mod = _modulation(self.scale_shift_table, temb)
            v_shift, v_scale, v_gate = video_mod[:3]
            norm_video = (self.norm1(hidden_states.float()) * (1 + v_scale) + v_shift).type_as(hidden_states)

        video_attn, motion_attn = self.joint_attn_processor(
            self.attn1, self.motion_attn1, norm_video, norm_motion, rotary_emb, motion_rotary_emb, attention_mask
        )

        motion_hidden_states = (motion_hidden_states.float() + motion_attn * m_gate).type_as(motion_hidden_states)
        motion_hidden_states = _text_and_feed_forward(
            motion_hidden_states,
            encoder_hidden_states,
            motion_mod,
            self.motion_norm2,
            self.motion_attn2,
            self.motion_norm3,
            self.motion_ffn,
        )
        if hidden_states is not None:
            hidden_states = (hidden_states.float() + video_attn * v_gate).type_as(hidden_states)
            hidden_states = _text_and_feed_forward(
                hidden_states, encoder_hidden_states, video_mod, self.norm2, self.attn2, self.norm3, self.ffn
            )
        return hidden_states, motion_hidden_states


class ZeroInitLinear(nn.Linear):
    """`nn.Linear` whose weight and bias start at zero (also when materialised after a partial checkpoint load)."""

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class EchoMotionTaskEmbedding(nn.Module):
    """Task id -> embedding (`Embedding -> Linear -> SiLU -> Linear`) added to both modalities' time embeddings.

    The last layer starts at zero (as adaLN-Zero and the zero-initialised projections of
    diffusers' VACE do), so a fresh model's video modulation is exactly Wan's for every task: the
    task hint grows from nothing during training instead of shifting the pretrained time embedding.
    """

    def __init__(self, num_tasks: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_tasks, dim)
        self.linear_1 = nn.Linear(dim, dim)
        self.act = nn.SiLU()
        self.linear_2 = ZeroInitLinear(dim, dim)

    def forward(self, task: torch.Tensor) -> torch.Tensor:
        """`task` (`torch.LongTensor` of shape `(B,)`) -> `(B, dim)`."""
        return self.linear_2(self.act(self.linear_1(self.embedding(task))))


class EchoMotionPatchTokens(nn.Module):
    """Patch-embedded latents -> video tokens in Wan's order (a module so that `_cp_plan` can shard its output)."""

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """`patches` (`torch.Tensor` of shape `(B, D, F, H, W)`) -> `(B, F * H * W, D)`, `w` fastest."""
        return patches.flatten(2).transpose(1, 2).contiguous()


class EchoMotionRotaryEmbedding(nn.Module):
    """MVS-RoPE tables of the motion tokens (a module so that `_cp_plan` can shard its output)."""

    def __init__(self, attention_head_dim: int) -> None:
        super().__init__()
        self.attention_head_dim = attention_head_dim

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`positions` (`torch.Tensor` of shape `(S_m, 3)`) -> `(cos, sin)`, each `(1, S_m, 1, head_dim)`."""
        return rotary_embedding_3d(positions, self.attention_head_dim)


class EchoMotionJointKeyMask(nn.Module):
    """Per-modality key masks -> the joint key mask over `[video; motion]`.

    A module so that `_cp_plan` can shard each modality's keys exactly like its tokens.
    """

    def forward(self, video_keys: torch.Tensor | None, motion_keys: torch.Tensor) -> torch.Tensor:
        """
        Args:
            video_keys (`torch.Tensor` of shape `(B, S_v)`, bool, or `None` without video).
            motion_keys (`torch.Tensor` of shape `(B, S_m)`, bool).

        Returns:
            `torch.Tensor` of shape `(B, 1, 1, S_v + S_m)`, bool (True = may be attended to).
        """
        keys = motion_keys if video_keys is None else torch.cat([video_keys, motion_keys], dim=1)
        return keys[:, None, None, :]


class _ModalityStream(NamedTuple):
    """One modality on its way into the blocks."""

    tokens: torch.Tensor  # (B, S, D)
    rotary_emb: tuple[torch.Tensor, torch.Tensor]  # (cos, sin), each (1, S, 1, head_dim)
    temb: torch.Tensor  # (B, D) time (+ task) embedding, for the output head
    modulation: torch.Tensor  # (B, 6, D) block modulation


class EchoMotionTransformer3DModel(WanTransformer3DModel):
    r"""EchoMotion: Wan2.1's DiT with a motion modality (joint video + SMPL motion denoising).

    Args:
        patch_size ... pos_embed_seq_len: as for `diffusers.WanTransformer3DModel` (the video branch).
        motion_ffn_dim (`int`, *optional*): hidden size of the motion FFNs (defaults to `ffn_dim`).
        dual_block_indices (`list[int]`, *optional*): which blocks are dual-modality (default: all);
            the other blocks are plain Wan blocks that motion tokens skip.
        num_tasks (`int`, defaults to 3): size of the task embedding (`ECHOMOTION_TASKS`).
        vae_temporal_compression (`int`, defaults to 4): the VAE's temporal factor `r`: a video of
            `F` latent frames pairs with `r * (F - 1) + 1` motion frames; MVS-RoPE puts motion frame
            `f` at time `f / r`.
        motion_only_grid_size (`tuple[int, int]`, defaults to `(30, 52)`): the patch grid `(H, W)`
            used as MVS-RoPE's spatial offset when no video is given (480x832 for Wan2.1-1.3B). Only
            relative positions enter attention, so the choice does not change motion-only outputs.
        motion_rope_positions (`str`, defaults to `"mvs"`): motion-token positions: MVS-RoPE `(f / r, H + j, W + j)`,
            or `"colliding"`, `(f, j, j)` (`kinevid.models.rope.colliding_motion_positions`), the paper's
            ablation of MVS-RoPE.
        motion_feature_mean (`list[float]` of length 235, *optional*), motion_feature_std (same): the
            statistics the motion features were normalised with in training (like the VAE's
            `latents_mean`/`latents_std`); `None` means features are used as they are. See
            `motion_normalizer()` and `set_motion_normalizer()`.
    """

    _no_split_modules: ClassVar[list[str]] = ["WanTransformerBlock", "EchoMotionDualBlock"]
    _repeated_blocks: ClassVar[list[str]] = ["WanTransformerBlock", "EchoMotionDualBlock"]
    _keep_in_fp32_modules: ClassVar[list[str]] = [
        *WanTransformer3DModel._keep_in_fp32_modules,
        "motion_scale_shift_table",
        "motion_norm1",
        "motion_norm2",
        "motion_norm3",
    ]
    # Context parallelism: every rank holds a slice of the video tokens and a slice of the motion
    # tokens. Video as in Wan's plan (RoPE table split, tokens split before the first block, gathered
    # after `proj_out`), except that the tokens are split as `patch_tokens` outputs them rather than at
    # `blocks.0`'s input (a split hook checks its module's outputs, and a dual block returns
    # `(None, motion)` in motion-only calls). Motion alike: tokens, MVS-RoPE table and both key
    # masks split; tokens gathered after the head's token-wise output norm, before the 51 tokens of a
    # frame are decoded together. Wan's `""` entry (per-token timesteps) does not apply: EchoMotion
    # takes one timestep per sample.
    _cp_plan: ClassVar[dict] = {
        "rope": WanTransformer3DModel._cp_plan["rope"],
        "patch_tokens": {0: ContextParallelInput(split_dim=1, expected_dims=3, split_output=True)},
        "proj_out": WanTransformer3DModel._cp_plan["proj_out"],
        "motion_embedder": {0: ContextParallelInput(split_dim=1, expected_dims=3, split_output=True)},
        "motion_rope": {
            0: ContextParallelInput(split_dim=1, expected_dims=4, split_output=True),
            1: ContextParallelInput(split_dim=1, expected_dims=4, split_output=True),
        },
        "joint_key_mask": {
            "video_keys": ContextParallelInput(split_dim=1, expected_dims=2),
            "motion_keys": ContextParallelInput(split_dim=1, expected_dims=2),
        },
        "motion_proj_out.norm_out": ContextParallelOutput(gather_dim=1, expected_dims=3),
    }

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, ...] = (1, 2, 2),
        num_attention_heads: int = 40,
        attention_head_dim: int = 128,
        in_channels: int = 16,
        out_channels: int = 16,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 13824,
        num_layers: int = 40,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = None,
        added_kv_proj_dim: int | None = None,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
        motion_ffn_dim: int | None = None,
        dual_block_indices: list[int] | None = None,
        num_tasks: int = len(ECHOMOTION_TASKS),
        vae_temporal_compression: int = 4,
        motion_only_grid_size: tuple[int, int] = (30, 52),
        motion_feature_mean: list[float] | None = None,
        motion_feature_std: list[float] | None = None,
        motion_rope_positions: str = "mvs",
    ) -> None:
        super().__init__(
            patch_size=patch_size,
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=in_channels,
            out_channels=out_channels,
            text_dim=text_dim,
            freq_dim=freq_dim,
            ffn_dim=ffn_dim,
            num_layers=num_layers,
            cross_attn_norm=cross_attn_norm,
            qk_norm=qk_norm,
            eps=eps,
            image_dim=image_dim,
            added_kv_proj_dim=added_kv_proj_dim,
            rope_max_seq_len=rope_max_seq_len,
            pos_embed_seq_len=pos_embed_seq_len,
        )
        if motion_rope_positions not in MOTION_ROPES:
            raise ValueError(f"`motion_rope_positions` must be one of {MOTION_ROPES}; got {motion_rope_positions!r}")
        inner_dim = num_attention_heads * attention_head_dim
        dual = set(range(num_layers) if dual_block_indices is None else dual_block_indices)
        if not dual <= set(range(num_layers)):
            raise ValueError(f"`dual_block_indices` must lie in [0, {num_layers}); got {sorted(dual)}")
        self.blocks = nn.ModuleList(
            [
                EchoMotionDualBlock(
                    inner_dim,
                    ffn_dim,
                    num_attention_heads,
                    qk_norm,
                    cross_attn_norm,
                    eps,
                    added_kv_proj_dim,
                    motion_ffn_dim,
                )
                if index in dual
                else block
                for index, block in enumerate(self.blocks)
            ]
        )
        self.patch_tokens = EchoMotionPatchTokens()
        self.motion_embedder = EchoMotionMotionEmbedding(inner_dim)
        self.motion_rope = EchoMotionRotaryEmbedding(attention_head_dim)
        self.joint_key_mask = EchoMotionJointKeyMask()
        self.task_embedder = EchoMotionTaskEmbedding(num_tasks, inner_dim)
        self.motion_proj_out = EchoMotionMotionHead(inner_dim, eps)
        if (motion_feature_mean is None) != (motion_feature_std is None):
            raise ValueError("give both `motion_feature_mean` and `motion_feature_std`, or neither")
        if motion_feature_mean is not None:
            self.motion_normalizer()  # validates the statistics early

    def motion_normalizer(self) -> MotionNormalizer:
        """The `MotionNormalizer` of the motion features this model was trained on (identity if unset)."""
        mean, std = self.config.motion_feature_mean, self.config.motion_feature_std
        if mean is None:  # identity; explicit CPU tensors, also when built under `torch.device("meta")`
            mean, std = [0.0] * MOTION_FEATURE_DIM, [1.0] * MOTION_FEATURE_DIM
        return MotionNormalizer(
            torch.tensor(mean, dtype=torch.float32, device="cpu"), torch.tensor(std, dtype=torch.float32, device="cpu")
        )

    def set_motion_normalizer(self, normalizer: MotionNormalizer) -> None:
        """Record `normalizer`'s statistics in the config (saved with `save_pretrained`)."""
        self.register_to_config(
            motion_feature_mean=normalizer.mean.detach().cpu().tolist(),
            motion_feature_std=normalizer.std.detach().cpu().tolist(),
        )

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any
    ) -> EchoMotionTransformer3DModel:
        """`ModelMixin.from_pretrained`; also loads a Wan2.1 transformer directory (motion weights newly initialised).

        diffusers' low-memory loading leaves weights the checkpoint lacks on the meta device; they
        are materialised here with the same initialisation `__init__` uses.

        With `ignore_mismatched_sizes=True` the other keyword arguments are config overrides and weights whose
        shape changed (patch embedding, output projection after a VAE change) keep their fresh initialisation
        (`kinevid.models.warm_start`); `info["mismatched_keys"]` names them.
        """
        output_loading_info = kwargs.pop("output_loading_info", False)
        if kwargs.pop("ignore_mismatched_sizes", False):
            model, info = warm_start(cls, pretrained_model_name_or_path, **kwargs)
            return (model, info) if output_loading_info else model
        kwargs["output_loading_info"] = output_loading_info
        loaded = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        model = loaded[0] if output_loading_info else loaded
        model._materialize_missing_weights()
        return loaded

    @torch.no_grad()
    def _materialize_missing_weights(self) -> None:
        """Give every parameter still on the meta device real storage and its initial values.

        The dtype is the loaded one (`torch_dtype`), except float32 under `_keep_in_fp32_modules`.
        """
        device = self.patch_embedding.weight.device
        keep_in_fp32 = set(self._keep_in_fp32_modules)
        for module_name, module in self.named_modules():
            missing = [name for name, p in module.named_parameters(recurse=False) if p.is_meta]
            if not missing:
                continue
            for name in missing:
                meta = getattr(module, name)
                in_fp32 = any(part in keep_in_fp32 for part in f"{module_name}.{name}".split("."))
                dtype = torch.float32 if in_fp32 else meta.dtype
                setattr(module, name, nn.Parameter(torch.empty(meta.shape, dtype=dtype, device=device)))
            if hasattr(module, "reset_motion_parameters"):
                module.reset_motion_parameters()
            elif hasattr(module, "reset_parameters"):
                module.reset_parameters()
            else:
                raise RuntimeError(f"cannot initialise missing weights {missing} of {type(module).__name__}")

    # ------------------------------------------------------------------ helpers
    def motion_parameters(self) -> list[nn.Parameter]:
        """Parameters of the motion branch (motion tokenizer, motion streams, task embedding)."""
        return [p for name, p in self.named_parameters() if is_motion_parameter(name)]

    def video_parameters(self) -> list[nn.Parameter]:
        """Parameters of the video branch (everything a Wan checkpoint holds)."""
        return [p for name, p in self.named_parameters() if not is_motion_parameter(name)]

    def num_motion_frames(self, num_latent_frames: int) -> int:
        """Motion frames paired with `num_latent_frames` latent frames: `r * (F - 1) + 1`."""
        return self.config.vae_temporal_compression * (num_latent_frames - 1) + 1

    def _time_embedding(self, timestep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Wan's timestep path up to `temb` `(B, D)` (sinusoid -> MLP), shared by both modalities."""
        embedder = self.condition_embedder
        timestep = embedder.timesteps_proj(timestep)
        time_embedder_dtype = next(iter(embedder.time_embedder.parameters())).dtype
        if timestep.dtype != time_embedder_dtype and time_embedder_dtype != torch.int8:
            timestep = timestep.to(time_embedder_dtype)
        return embedder.time_embedder(timestep).to(dtype)

    def _modulation_embedding(self, temb: torch.Tensor) -> torch.Tensor:
        """`temb` `(B, D)` -> the six block modulation vectors `(B, 6, D)`."""
        embedder = self.condition_embedder
        return embedder.time_proj(embedder.act_fn(temb)).unflatten(1, (6, -1))

    @staticmethod
    def _per_sample_timestep(timestep: torch.Tensor | float | None, batch_size: int, name: str) -> torch.Tensor:
        if timestep is None:
            raise InvalidInputError(f"`{name}` is required when its modality is given")
        timestep = torch.as_tensor(timestep)
        if timestep.ndim == 0:
            timestep = timestep.expand(batch_size)
        if timestep.shape != (batch_size,):
            raise InvalidInputError(
                f"`{name}` must be a scalar or have shape ({batch_size},) (one timestep per sample); "
                f"got {tuple(timestep.shape)}"
            )
        return timestep

    def _check_inputs(
        self,
        hidden_states: torch.Tensor | None,
        encoder_hidden_states: torch.Tensor,
        motion_hidden_states: torch.Tensor | None,
        motion_attention_mask: torch.Tensor | None,
    ) -> None:
        if hidden_states is None and motion_hidden_states is None:
            raise InvalidInputError("give `hidden_states` (video latents), `motion_hidden_states`, or both")
        if encoder_hidden_states is None or encoder_hidden_states.ndim != 3:
            raise InvalidInputError("`encoder_hidden_states` must be text embeddings of shape (B, L, text_dim)")
        if encoder_hidden_states.shape[-1] != self.config.text_dim:
            raise InvalidInputError(
                f"`encoder_hidden_states` must have {self.config.text_dim} channels (text_dim); "
                f"got {encoder_hidden_states.shape[-1]}"
            )
        batch_size = encoder_hidden_states.shape[0]
        if hidden_states is not None:
            if hidden_states.ndim != 5 or hidden_states.shape[1] != self.config.in_channels:
                raise InvalidInputError(
                    f"`hidden_states` must be video latents of shape (B, {self.config.in_channels}, F, H, W); "
                    f"got {tuple(hidden_states.shape)}"
                )
            if not hidden_states.is_floating_point():
                raise InvalidInputError(f"`hidden_states` must be a float tensor; got {hidden_states.dtype}")
            p_t, p_h, p_w = self.config.patch_size
            _, _, num_frames, height, width = hidden_states.shape
            if num_frames % p_t or height % p_h or width % p_w:
                raise InvalidInputError(
                    f"`hidden_states` latent size (F, H, W) = {(num_frames, height, width)} must be divisible by "
                    f"the patch size {tuple(self.config.patch_size)}"
                )
            if hidden_states.shape[0] != batch_size:
                raise InvalidInputError("`hidden_states` and `encoder_hidden_states` must have the same batch size")
        if motion_hidden_states is None:
            return
        if motion_hidden_states.ndim != 3 or motion_hidden_states.shape[-1] != MOTION_FEATURE_DIM:
            raise InvalidInputError(
                f"`motion_hidden_states` must be motion features of shape (B, T, {MOTION_FEATURE_DIM}); "
                f"got {tuple(motion_hidden_states.shape)}"
            )
        if not motion_hidden_states.is_floating_point():
            raise InvalidInputError(f"`motion_hidden_states` must be a float tensor; got {motion_hidden_states.dtype}")
        if motion_hidden_states.shape[0] != batch_size:
            raise InvalidInputError("`motion_hidden_states` and `encoder_hidden_states` must have the same batch size")
        num_motion_frames = motion_hidden_states.shape[1]
        if hidden_states is not None:
            num_latent_frames = hidden_states.shape[2]
            expected = self.num_motion_frames(num_latent_frames)
            if num_motion_frames != expected:
                r = self.config.vae_temporal_compression
                raise InvalidInputError(
                    f"`motion_hidden_states` has {num_motion_frames} frames but the video latents have "
                    f"{num_latent_frames} latent frames, i.e. {expected} video frames ({r}k + 1 frames for k + 1 "
                    "latent frames); motion must have one frame per video frame"
                )
        if motion_attention_mask is not None:
            if (
                motion_attention_mask.shape != motion_hidden_states.shape[:2]
                or motion_attention_mask.dtype != torch.bool
            ):
                raise InvalidInputError(
                    f"`motion_attention_mask` must be a bool tensor of shape {tuple(motion_hidden_states.shape[:2])} "
                    f"(True = real frame); got {motion_attention_mask.dtype} {tuple(motion_attention_mask.shape)}"
                )
            if hidden_states is None and not bool(motion_attention_mask.any(dim=1).all()):
                raise InvalidInputError("without video, every sample needs at least one real motion frame")

    # ------------------------------------------------------------------ forward
    @apply_lora_scale("attention_kwargs")
    def forward(
        self,
        hidden_states: torch.Tensor | None,
        timestep: torch.Tensor | None,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        motion_hidden_states: torch.Tensor | None = None,
        motion_timestep: torch.Tensor | None = None,
        motion_attention_mask: torch.Tensor | None = None,
        task: torch.Tensor | None = None,
        video_condition_mask: torch.Tensor | None = None,
    ) -> EchoMotionTransformerOutput | tuple[torch.Tensor | None, torch.Tensor | None]:
        r"""
        Args:
            hidden_states (`torch.Tensor` of shape `(B, C, F, H, W)` or `None`): video latents; `None`
                for motion-only calls (stage-1 training, video-to-motion without the video condition).
            timestep (`torch.Tensor` of shape `(B,)` or scalar): video timesteps in [0, 1000] (0 for a
                clean conditioning video).
            encoder_hidden_states (`torch.Tensor` of shape `(B, L, text_dim)`): text embeddings.
            encoder_hidden_states_image (`torch.Tensor`, *optional*): image embeddings (Wan I2V).
            return_dict (`bool`, defaults to True): return an `EchoMotionTransformerOutput`.
            attention_kwargs (`dict`, *optional*): LoRA scale etc., as in diffusers.
            motion_hidden_states (`torch.Tensor` of shape `(B, T, 235)`, *optional*): normalised motion
                features; with video, `T = r * (F - 1) + 1`.
            motion_timestep (`torch.Tensor` of shape `(B,)` or scalar): motion timesteps (0 for a clean
                conditioning motion).
            motion_attention_mask (`torch.Tensor` of shape `(B, T)`, bool, *optional*): real motion frames
                (False = padding, or a dropped motion condition when the whole row is False). Masked
                frames are hidden from every query; their outputs are meaningless.
            task (`torch.LongTensor` of shape `(B,)`, *optional*): index into `ECHOMOTION_TASKS`
                (default 0, joint). Not used without motion.
            video_condition_mask (`torch.Tensor` of shape `(B,)`, bool, *optional*): False hides the video
                tokens of that sample from every query (a dropped video condition in video-to-motion).

        Returns:
            `EchoMotionTransformerOutput` (or the tuple `(sample, motion_sample)`): the flow-matching
            velocity of each given modality.
        """
        self._check_inputs(hidden_states, encoder_hidden_states, motion_hidden_states, motion_attention_mask)
        self._check_context_parallel_inputs(hidden_states, motion_hidden_states)
        batch_size = encoder_hidden_states.shape[0]
        dtype = encoder_hidden_states.dtype

        # 1. Text (and image) conditioning, projected once and shared by both modalities
        encoder_hidden_states = self.condition_embedder.text_embedder(encoder_hidden_states)
        if encoder_hidden_states_image is not None:
            encoder_hidden_states_image = self.condition_embedder.image_embedder(encoder_hidden_states_image)
            encoder_hidden_states = torch.concat([encoder_hidden_states_image, encoder_hidden_states], dim=1)

        # 2. Task embedding (only when motion takes part)
        task_emb = None
        if motion_hidden_states is not None:
            task_emb = self._task_embedding(task, motion_attention_mask, batch_size, motion_hidden_states.device, dtype)

        # 3. Video tokens, 4. motion tokens with MVS-RoPE and the joint key mask
        video = motion = attention_mask = None
        grid = None
        if hidden_states is not None:
            video, grid = self._embed_video(hidden_states, timestep, task_emb, batch_size, dtype)
        if motion_hidden_states is not None:
            num_motion_frames = motion_hidden_states.shape[1]
            motion, attention_mask, num_padded_frames = self._embed_motion(
                motion_hidden_states,
                motion_timestep,
                motion_attention_mask,
                video_condition_mask,
                task_emb,
                grid,
                batch_size,
                dtype,
            )

        # 5. Blocks: dual blocks attend over both modalities; plain Wan blocks see video only
        video_tokens, motion_tokens = self._run_blocks(video, motion, encoder_hidden_states, attention_mask)

        # 6. Output heads
        output = motion_output = None
        if video is not None:
            output = self._video_head(video_tokens, video.temb, batch_size, grid)
        if motion is not None:
            motion_output = self.motion_proj_out(motion_tokens, motion.temb, num_padded_frames)
            motion_output = motion_output[:, :num_motion_frames]

        if not return_dict:
            return (output, motion_output)
        return EchoMotionTransformerOutput(sample=output, motion_sample=motion_output)

    def _task_embedding(
        self,
        task: torch.Tensor | None,
        motion_attention_mask: torch.Tensor | None,
        batch_size: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """`(B, D)` task embedding (default task 0, joint); zero for a sample whose motion is fully masked,
        which is then video-only (the m2v "no motion" branch)."""
        if task is None:
            task = torch.zeros(batch_size, dtype=torch.long, device=device)
        task_emb = self.task_embedder(task).to(dtype)
        if motion_attention_mask is not None:
            task_emb = task_emb * motion_attention_mask.any(dim=1, keepdim=True).to(dtype)
        return task_emb

    def _embed_video(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor | float | None,
        task_emb: torch.Tensor | None,
        batch_size: int,
        dtype: torch.dtype,
    ) -> tuple[_ModalityStream, tuple[int, int, int]]:
        """Video latents `(B, C, F, H, W)` -> tokens `(B, S_v, D)` in Wan's order, RoPE, time embedding and
        modulation (the task embedding added to Wan's time embedding), and the patch grid `(F, H, W)`."""
        _, _, num_frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        grid = (num_frames // p_t, height // p_h, width // p_w)
        rotary_emb = self.rope(hidden_states)
        tokens = self.patch_tokens(self.patch_embedding(hidden_states))  # (B, S_v, D)
        timestep = self._per_sample_timestep(timestep, batch_size, "timestep").to(tokens.device)
        temb = self._time_embedding(timestep, dtype)
        if task_emb is not None:
            temb = temb + task_emb
        return _ModalityStream(tokens, rotary_emb, temb, self._modulation_embedding(temb)), grid

    def _embed_motion(
        self,
        motion_hidden_states: torch.Tensor,
        motion_timestep: torch.Tensor | float | None,
        motion_attention_mask: torch.Tensor | None,
        video_condition_mask: torch.Tensor | None,
        task_emb: torch.Tensor,
        grid: tuple[int, int, int] | None,
        batch_size: int,
        dtype: torch.dtype,
    ) -> tuple[_ModalityStream, torch.Tensor | None, int]:
        """Motion features `(B, T, 235)` -> tokens `(B, T' * 51, D)` (`T' >= T`: frames appended under context
        parallelism; each rank then holds a slice), MVS-RoPE, time embedding and modulation; the joint key
        mask `(B, 1, 1, S_v + S_m)` and `T'`."""
        motion_hidden_states, motion_attention_mask = self._pad_motion_for_context_parallel(
            motion_hidden_states, motion_attention_mask
        )
        num_frames = motion_hidden_states.shape[1]
        device = motion_hidden_states.device
        grid_h, grid_w = (grid[1], grid[2]) if grid is not None else tuple(self.config.motion_only_grid_size)
        positions = motion_positions(
            self.config.get("motion_rope_positions", "mvs"), num_frames, TOKENS_PER_FRAME, grid_h, grid_w,
            self.config.vae_temporal_compression, device=device,
        )  # fmt: skip
        rotary_emb = self.motion_rope(positions)
        tokens = self.motion_embedder(motion_hidden_states)  # (B, T' * 51, D)
        motion_timestep = self._per_sample_timestep(motion_timestep, batch_size, "motion_timestep").to(device)
        temb = self._time_embedding(motion_timestep, dtype) + task_emb
        # all ranks' video tokens: the key mask is split by its own module
        video_seq_len = 0 if grid is None else grid[0] * grid[1] * grid[2]
        attention_mask = self._joint_attention_mask(
            batch_size, video_seq_len, num_frames, motion_attention_mask, video_condition_mask, device
        )
        stream = _ModalityStream(tokens, rotary_emb, temb, self._modulation_embedding(temb))
        return stream, attention_mask, num_frames

    def _run_blocks(
        self,
        video: _ModalityStream | None,
        motion: _ModalityStream | None,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Every block in turn: `(video tokens or None, motion tokens or None)` after the last one."""
        hidden_states = None if video is None else video.tokens
        motion_hidden_states = None if motion is None else motion.tokens
        for block in self.blocks:
            is_dual = isinstance(block, EchoMotionDualBlock)
            if motion is not None and is_dual:
                args = (
                    hidden_states,
                    encoder_hidden_states,
                    None if video is None else video.modulation,
                    None if video is None else video.rotary_emb,
                    motion_hidden_states,
                    motion.modulation,
                    motion.rotary_emb,
                    attention_mask,
                )
            elif video is not None:
                args = (hidden_states, encoder_hidden_states, video.modulation, video.rotary_emb)
            else:
                continue
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                out = self._gradient_checkpointing_func(block, *args)
            else:
                out = block(*args)
            if motion is not None and is_dual:
                hidden_states, motion_hidden_states = out
            else:
                hidden_states = out
        return hidden_states, motion_hidden_states

    def _joint_attention_mask(
        self,
        batch_size: int,
        video_seq_len: int,
        num_motion_frames: int,
        motion_attention_mask: torch.Tensor | None,
        video_condition_mask: torch.Tensor | None,
        device: torch.device,
    ) -> torch.Tensor | None:
        """Key mask `(B, 1, 1, S_v + S_m)` over `[video; motion]`, or None when every key is visible."""
        if video_seq_len == 0:
            video_condition_mask = None
        if motion_attention_mask is None and video_condition_mask is None:
            return None
        video_keys = torch.ones(batch_size, video_seq_len, dtype=torch.bool, device=device)
        if video_condition_mask is not None:
            if video_condition_mask.shape != (batch_size,) or video_condition_mask.dtype != torch.bool:
                raise InvalidInputError(
                    f"`video_condition_mask` must be a bool tensor of shape ({batch_size},) (False = video "
                    f"condition dropped); got {video_condition_mask.dtype} {tuple(video_condition_mask.shape)}"
                )
            video_keys = video_keys & video_condition_mask.to(device)[:, None]
        if motion_attention_mask is None:
            motion_attention_mask = torch.ones(batch_size, num_motion_frames, dtype=torch.bool, device=device)
        motion_keys = motion_attention_mask.to(device).repeat_interleave(TOKENS_PER_FRAME, dim=1)  # (B, T * 51)
        return self.joint_key_mask(video_keys if video_seq_len else None, motion_keys)

    # ------------------------------------------------------------------ context parallelism
    def _context_parallel_config(self) -> ContextParallelConfig | None:
        """The config `enable_parallelism` set, or None when context parallelism is off."""
        return None if self._parallel_config is None else self._parallel_config.context_parallel_config

    def _check_context_parallel_inputs(
        self, hidden_states: torch.Tensor | None, motion_hidden_states: torch.Tensor | None
    ) -> None:
        """Under context parallelism: even shards with motion, and video tokens divisible by the world size."""
        cp_config = self._context_parallel_config()
        if cp_config is None:
            return
        if cp_config.ulysses_anything or cp_config.ring_anything:
            if motion_hidden_states is not None:
                raise InvalidInputError(
                    "EchoMotion with motion tokens supports context parallelism with even shards only; "
                    "set `ulysses_anything=False` and `ring_anything=False` in `ContextParallelConfig`"
                )
            return
        if hidden_states is None:
            return
        world_size = cp_config._flattened_mesh.size()
        p_t, p_h, p_w = self.config.patch_size
        _, _, num_frames, height, width = hidden_states.shape
        video_seq_len = (num_frames // p_t) * (height // p_h) * (width // p_w)
        if video_seq_len % world_size:
            raise InvalidInputError(
                f"context parallelism splits the {video_seq_len} video tokens (latent (F, H, W) = "
                f"{(num_frames, height, width)}, patch size {tuple(self.config.patch_size)}) over {world_size} "
                "ranks; the number of video tokens must be divisible by the world size"
            )

    def _pad_motion_for_context_parallel(
        self, motion_hidden_states: torch.Tensor, motion_attention_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Append hidden frames until the `T * 51` motion tokens split evenly over the context-parallel ranks.

        With video, `T = 4k + 1` makes the motion sequence odd, so padding is the rule, not the
        exception. Padded frames are masked as keys (no token attends to them) and their outputs are
        cut off after the head, so the result equals the unpadded one.

        Args:
            motion_hidden_states (`torch.Tensor` of shape `(B, T, 235)`).
            motion_attention_mask (`torch.Tensor` of shape `(B, T)`, bool, *optional*).

        Returns:
            `(motion (B, T', 235), mask (B, T') or None)`, unchanged without context parallelism or
            when `T * 51` already divides evenly.
        """
        cp_config = self._context_parallel_config()
        if cp_config is None:
            return motion_hidden_states, motion_attention_mask
        world_size = cp_config._flattened_mesh.size()
        batch_size, num_frames, _ = motion_hidden_states.shape
        num_padded_frames = num_frames
        while num_padded_frames * TOKENS_PER_FRAME % world_size:
            num_padded_frames += 1
        if num_padded_frames == num_frames:
            return motion_hidden_states, motion_attention_mask
        if motion_attention_mask is None:
            motion_attention_mask = torch.ones(
                batch_size, num_frames, dtype=torch.bool, device=motion_hidden_states.device
            )
        num_pad = num_padded_frames - num_frames
        motion_hidden_states = nn.functional.pad(motion_hidden_states, (0, 0, 0, num_pad))
        motion_attention_mask = nn.functional.pad(motion_attention_mask, (0, num_pad), value=False)
        return motion_hidden_states, motion_attention_mask

    def _video_head(
        self, hidden_states: torch.Tensor, temb: torch.Tensor, batch_size: int, grid: tuple[int, int, int]
    ) -> torch.Tensor:
        """Wan's modulated output norm, projection and unpatchify: `(B, S_v, D)` -> `(B, C, F, H, W)`."""
        shift, scale = (self.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        hidden_states = (self.norm_out(hidden_states.float()) * (1 + scale) + shift).type_as(hidden_states)
        hidden_states = self.proj_out(hidden_states)
        p_t, p_h, p_w = self.config.patch_size
        hidden_states = hidden_states.reshape(batch_size, *grid, p_t, p_h, p_w, -1)
        hidden_states = hidden_states.permute(0, 7, 1, 4, 2, 5, 3, 6)  # (B, C, F, p_t, H, p_h, W, p_w)
        return hidden_states.flatten(6, 7).flatten(4, 5).flatten(2, 3)
