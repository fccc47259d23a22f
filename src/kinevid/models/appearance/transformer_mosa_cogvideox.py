"""MoSA on CogVideoX (the paper's own backbone): diffusers' `CogVideoXTransformer3DModel` with HADC sites.

CogVideoX attends jointly over `[text; video]` tokens, but its blocks carry the two parts as separate
streams (`encoder_hidden_states`, `hidden_states`); HADC acts on the video stream only. As on Wan, the
backbone keeps diffusers' modules and names (a CogVideoX diffusers transformer directory loads without
conversion) and a fresh or skeleton-less model computes exactly what CogVideoX computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401 - DiffusionPipeline resolves loaders here
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXTransformer3DModel
from diffusers.utils import apply_lora_scale

from .hadc import MoSAMixin, MoSATransformerOutput


class MoSACogVideoXTransformer3DModel(MoSAMixin, CogVideoXTransformer3DModel):
    r"""CogVideoX's DiT steered by MoSA's HADC modules from a skeleton-map video.

    Args:
        num_attention_heads ... patch_bias: as for `diffusers.CogVideoXTransformer3DModel` (same names and
            defaults).
        hadc_layers (`list[int]`, *optional*): increasing indices of the blocks after which an HADC site sits
            (`None` = after every block).
        skeleton_channels (`int`, defaults to 3), skeleton_encoder_dims (`tuple[int, int, int]`, defaults to
            `(32, 64, 128)`), hadc_hidden_dim (`int`, *optional*, defaults to `inner_dim // 4`): as for
            `MoSAWanTransformer3DModel`.
    """

    _backbone_class_name = "CogVideoXTransformer3DModel"

    @register_to_config
    def __init__(
        self,
        num_attention_heads: int = 30,
        attention_head_dim: int = 64,
        in_channels: int = 16,
        out_channels: int | None = 16,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        time_embed_dim: int = 512,
        ofs_embed_dim: int | None = None,
        text_embed_dim: int = 4096,
        num_layers: int = 30,
        dropout: float = 0.0,
        attention_bias: bool = True,
        sample_width: int = 90,
        sample_height: int = 60,
        sample_frames: int = 49,
        patch_size: int = 2,
        patch_size_t: int | None = None,
        temporal_compression_ratio: int = 4,
        max_text_seq_length: int = 226,
        activation_fn: str = "gelu-approximate",
        timestep_activation_fn: str = "silu",
        norm_elementwise_affine: bool = True,
        norm_eps: float = 1e-5,
        spatial_interpolation_scale: float = 1.875,
        temporal_interpolation_scale: float = 1.0,
        use_rotary_positional_embeddings: bool = False,
        use_learned_positional_embeddings: bool = False,
        patch_bias: bool = True,
        hadc_layers: list[int] | None = None,
        skeleton_channels: int = 3,
        skeleton_encoder_dims: Sequence[int] = (32, 64, 128),
        hadc_hidden_dim: int | None = None,
    ) -> None:
        super().__init__(
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=in_channels,
            out_channels=out_channels,
            flip_sin_to_cos=flip_sin_to_cos,
            freq_shift=freq_shift,
            time_embed_dim=time_embed_dim,
            ofs_embed_dim=ofs_embed_dim,
            text_embed_dim=text_embed_dim,
            num_layers=num_layers,
            dropout=dropout,
            attention_bias=attention_bias,
            sample_width=sample_width,
            sample_height=sample_height,
            sample_frames=sample_frames,
            patch_size=patch_size,
            patch_size_t=patch_size_t,
            temporal_compression_ratio=temporal_compression_ratio,
            max_text_seq_length=max_text_seq_length,
            activation_fn=activation_fn,
            timestep_activation_fn=timestep_activation_fn,
            norm_elementwise_affine=norm_elementwise_affine,
            norm_eps=norm_eps,
            spatial_interpolation_scale=spatial_interpolation_scale,
            temporal_interpolation_scale=temporal_interpolation_scale,
            use_rotary_positional_embeddings=use_rotary_positional_embeddings,
            use_learned_positional_embeddings=use_learned_positional_embeddings,
            patch_bias=patch_bias,
        )
        self._init_mosa(
            dim=num_attention_heads * attention_head_dim,
            num_layers=num_layers,
            patch_size=self.token_patch_size,
            hadc_layers=hadc_layers,
            skeleton_channels=skeleton_channels,
            skeleton_encoder_dims=skeleton_encoder_dims,
            hadc_hidden_dim=hadc_hidden_dim,
            eps=norm_eps,
        )

    @property
    def token_patch_size(self) -> tuple[int, int, int]:
        """The patch `(p_t, p_h, p_w)` of one video token on the latent grid (`p_t` = 1 for CogVideoX 1.0)."""
        return (self.config.patch_size_t or 1, self.config.patch_size, self.config.patch_size)

    @apply_lora_scale("attention_kwargs")
    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: int | float | torch.LongTensor,
        timestep_cond: torch.Tensor | None = None,
        ofs: int | float | torch.LongTensor | None = None,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
        *,
        skeleton_video: torch.Tensor | None = None,
        skeleton_dropout: torch.Tensor | None = None,
        return_mask_logits: bool = False,
    ) -> MoSATransformerOutput | tuple[torch.Tensor, ...]:
        r"""
        Args:
            hidden_states (`torch.Tensor` of shape `(B, F, C, H, W)`): noisy video latents (CogVideoX's layout).
            encoder_hidden_states (`torch.Tensor` of shape `(B, L_text, text_embed_dim)`): text embeddings.
            timestep, timestep_cond, ofs, image_rotary_emb, attention_kwargs, return_dict: as for
                `CogVideoXTransformer3DModel.forward`.
            skeleton_video (`torch.Tensor` of shape `(B, 3, 4(F - 1) + 1, 8H, 8W)`, *optional*): skeleton maps in
                [-1, 1]; `None` skips every HADC site (the bare backbone).
            skeleton_dropout (`torch.Tensor` of shape `(B,)`, bool, *optional*): True = that sample gets no skeleton.
            return_mask_logits (`bool`, defaults to False): also return the sites' mask logits.

        Returns:
            `MoSATransformerOutput(sample (B, F, C_out, H, W), mask_logits (B, K, F, H, W) or None)`, or the tuple
            `(sample,)` / `(sample, mask_logits)` when `return_dict=False`.
        """
        latent_size = self._check_latents_and_text(
            hidden_states, encoder_hidden_states, channel_dim=2, text_dim=self.config.text_embed_dim
        )
        batch_size = hidden_states.shape[0]
        skeleton_tokens = self._skeleton_tokens(skeleton_video, skeleton_dropout, batch_size, latent_size)

        # 1. Time (and ofs) embedding
        emb = self._time_embedding(timestep, timestep_cond, ofs, hidden_states.dtype)

        # 2. Patch embedding of [text; video], then the two streams apart
        hidden_states = self.embedding_dropout(self.patch_embed(encoder_hidden_states, hidden_states))
        text_seq_length = encoder_hidden_states.shape[1]
        encoder_hidden_states = hidden_states[:, :text_seq_length]
        hidden_states = hidden_states[:, text_seq_length:]  # (B, L, D) video tokens

        # 3. Blocks, each followed by its HADC site (on the video stream) if it has one
        mask_tokens: list[torch.Tensor] = []
        for index, block in enumerate(self.transformer_blocks):
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                hidden_states, encoder_hidden_states = self._gradient_checkpointing_func(
                    block, hidden_states, encoder_hidden_states, emb, image_rotary_emb, attention_kwargs
                )
            else:
                hidden_states, encoder_hidden_states = block(
                    hidden_states=hidden_states,
                    encoder_hidden_states=encoder_hidden_states,
                    temb=emb,
                    image_rotary_emb=image_rotary_emb,
                    attention_kwargs=attention_kwargs,
                )
            hidden_states = self._apply_hadc(index, hidden_states, skeleton_tokens, mask_tokens)

        # 4. Output head and unpatchify
        output = self._output_head(hidden_states, emb, (batch_size, *latent_size))
        return self._mosa_output(output, mask_tokens, latent_size, return_mask_logits, return_dict)

    def _time_embedding(
        self,
        timestep: int | float | torch.Tensor,
        timestep_cond: torch.Tensor | None,
        ofs: int | float | torch.Tensor | None,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """CogVideoX's timestep (plus ofs) embedding `(B, time_embed_dim)`."""
        emb = self.time_embedding(self.time_proj(timestep).to(dtype=dtype), timestep_cond)
        if self.ofs_embedding is not None:
            emb = emb + self.ofs_embedding(self.ofs_proj(ofs).to(dtype=dtype))
        return emb

    def _output_head(
        self, hidden_states: torch.Tensor, emb: torch.Tensor, latent_size: tuple[int, int, int, int]
    ) -> torch.Tensor:
        """Final norm, adaptive norm, projection and unpatchify: `(B, L, D)` -> `(B, F, C_out, H, W)`."""
        batch_size, num_frames, height, width = latent_size
        hidden_states = self.norm_out(self.norm_final(hidden_states), temb=emb)
        hidden_states = self.proj_out(hidden_states)
        p, p_t = self.config.patch_size, self.config.patch_size_t
        if p_t is None:
            output = hidden_states.reshape(batch_size, num_frames, height // p, width // p, -1, p, p)
            return output.permute(0, 1, 4, 2, 5, 3, 6).flatten(5, 6).flatten(3, 4)
        num_token_frames = (num_frames + p_t - 1) // p_t
        output = hidden_states.reshape(batch_size, num_token_frames, height // p, width // p, -1, p_t, p, p)
        return output.permute(0, 1, 5, 4, 2, 6, 3, 7).flatten(6, 7).flatten(4, 5).flatten(1, 2)
