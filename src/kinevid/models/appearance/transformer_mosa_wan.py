"""MoSA on Wan2.1: diffusers' `WanTransformer3DModel` with HADC sites between its blocks.

The backbone keeps every diffusers module and parameter name, so a Wan2.1 diffusers transformer directory
loads without conversion (HADC and skeleton-encoder weights are reported as new and initialised); without
a skeleton, or with fresh HADC sites, the model computes exactly what Wan computes. As in diffusers'
`WanVACETransformer3DModel`, the extra modules live beside the blocks (`hadc`, `skeleton_encoder`) and are
applied after chosen block indices (`hadc_layers`). See `hadc.py` for the HADC equations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models._modeling_parallel import ContextParallelInput, ContextParallelOutput
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401 - DiffusionPipeline resolves loaders here
from diffusers.models.transformers.transformer_wan import WanTransformer3DModel
from diffusers.utils import apply_lora_scale

from ...errors import InvalidInputError
from .hadc import MoSAMixin, MoSATransformerOutput, unpatchify_tokens


class MoSAWanTransformer3DModel(MoSAMixin, WanTransformer3DModel):
    r"""Wan2.1's DiT steered by MoSA's HADC modules from a skeleton-map video.

    Args:
        patch_size ... pos_embed_seq_len: as for `diffusers.WanTransformer3DModel` (same names and defaults).
        hadc_layers (`list[int]`, *optional*): increasing indices of the blocks after which an HADC site sits
            (`None` = after every block).
        skeleton_channels (`int`, defaults to 3): channels of the skeleton maps.
        skeleton_encoder_dims (`tuple[int, int, int]`, defaults to `(32, 64, 128)`): channels of the skeleton
            encoder's three Conv3d layers; the last is the skeleton-token width.
        hadc_hidden_dim (`int`, *optional*): bottleneck width of each site's weight predictor (defaults to
            `inner_dim // 4`).
        structure_fusion (`str`, defaults to `"hadc"`): what a site is: MoSA's HADC, or `"add"`, the skeleton
            features added directly with no weight predictor and no mask logits (the paper's "w/o HADC"
            ablation, `SkeletonAddition`).
        skeleton_spatial_factor (`int`, defaults to 8): pixels per latent cell along each side of the video VAE
            the model works with (`kinevid.models.vae.vae_spatial_factor`): the skeleton video is
            `(B, 3, 4(F - 1) + 1, f H, f W)` for latents `(B, C, F, H, W)`. 8 for Wan2.1's VAE; a 4x VAE
            with `patch_size` (1, 4, 4) keeps the token count of 8x with (1, 2, 2). Configs written before the
            field existed load as 8.

    Context parallelism (`model.enable_parallelism(config=ContextParallelConfig(...))`) follows Wan's plan
    (video tokens split before the first block, gathered after `proj_out`); the skeleton tokens are split
    the same way as the encoder outputs them, and every site's mask tokens are gathered before they are
    unpatchified (`mask_tokens`). HADC works token by token, so it needs no communication. Wan's `""` entry
    (per-token timesteps, Wan2.2 TI2V) is left out: its hook requires the model to return a plain tuple of
    tensors, which `MoSATransformerOutput` is not; per-token timesteps under context parallelism raise.
    """

    _cp_plan: ClassVar[dict] = {
        "rope": WanTransformer3DModel._cp_plan["rope"],
        "blocks.0": WanTransformer3DModel._cp_plan["blocks.0"],
        "proj_out": WanTransformer3DModel._cp_plan["proj_out"],
        "skeleton_encoder": {0: ContextParallelInput(split_dim=1, expected_dims=3, split_output=True)},
        "mask_tokens": ContextParallelOutput(gather_dim=1, expected_dims=3),
    }
    _backbone_class_name = "WanTransformer3DModel"

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
        hadc_layers: list[int] | None = None,
        skeleton_channels: int = 3,
        skeleton_encoder_dims: Sequence[int] = (32, 64, 128),
        hadc_hidden_dim: int | None = None,
        structure_fusion: str = "hadc",
        skeleton_spatial_factor: int = 8,
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
        self._init_mosa(
            dim=num_attention_heads * attention_head_dim,
            num_layers=num_layers,
            patch_size=patch_size,
            hadc_layers=hadc_layers,
            skeleton_channels=skeleton_channels,
            skeleton_encoder_dims=skeleton_encoder_dims,
            hadc_hidden_dim=hadc_hidden_dim,
            eps=eps,
            structure_fusion=structure_fusion,
            skeleton_spatial_factor=skeleton_spatial_factor,
        )

    @apply_lora_scale("attention_kwargs")
    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        *,
        skeleton_video: torch.Tensor | None = None,
        skeleton_dropout: torch.Tensor | None = None,
        return_mask_logits: bool = False,
    ) -> MoSATransformerOutput | tuple[torch.Tensor, ...]:
        r"""
        Args:
            hidden_states (`torch.Tensor` of shape `(B, C, F, H, W)`): noisy video latents.
            timestep (`torch.Tensor` of shape `(B,)`, or `(B, L)` per token as Wan2.2 TI2V): timesteps in [0, 1000].
            encoder_hidden_states (`torch.Tensor` of shape `(B, L_text, text_dim)`): text embeddings.
            encoder_hidden_states_image (`torch.Tensor`, *optional*): image embeddings (Wan I2V).
            return_dict (`bool`, defaults to True): return a `MoSATransformerOutput` instead of a tuple.
            attention_kwargs (`dict`, *optional*): LoRA scale etc., as in diffusers.
            skeleton_video (`torch.Tensor` of shape `(B, 3, 4(F - 1) + 1, fH, fW)`, *optional*): skeleton maps in
                [-1, 1] on the pixel grid of the latents (f = `skeleton_spatial_factor`). `None` skips every HADC
                site (the bare backbone: the "no skeleton" branch of classifier-free guidance).
            skeleton_dropout (`torch.Tensor` of shape `(B,)`, bool, *optional*): True = that sample gets no
                skeleton (its tokens pass every site unchanged, exactly as with `skeleton_video=None`).
            return_mask_logits (`bool`, defaults to False): also return the sites' mask logits (None with
                `structure_fusion="add"`, whose sites predict no mask).

        Returns:
            `MoSATransformerOutput(sample (B, C_out, F, H, W), mask_logits (B, K, F, H, W) or None)`, or the tuple
            `(sample,)` / `(sample, mask_logits)` when `return_dict=False` (the latter with `return_mask_logits`).
        """
        latent_size = self._check_latents_and_text(
            hidden_states, encoder_hidden_states, channel_dim=1, text_dim=self.config.text_dim
        )
        grid = tuple(size // p for size, p in zip(latent_size, self.config.patch_size, strict=True))
        skeleton_tokens = self._skeleton_tokens(skeleton_video, skeleton_dropout, hidden_states.shape[0], latent_size)

        # 1. Patch embedding and RoPE
        rotary_emb = self.rope(hidden_states)
        hidden_states = self.patch_embedding(hidden_states).flatten(2).transpose(1, 2).contiguous()  # (B, L, D)

        # 2. Timestep, text (and image) conditioning
        temb, timestep_proj, encoder_hidden_states = self._condition(
            timestep, encoder_hidden_states, encoder_hidden_states_image
        )

        # 3. Blocks, each followed by its HADC site if it has one
        mask_tokens: list[torch.Tensor] = []
        for index, block in enumerate(self.blocks):
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                hidden_states = self._gradient_checkpointing_func(
                    block, hidden_states, encoder_hidden_states, timestep_proj, rotary_emb
                )
            else:
                hidden_states = block(hidden_states, encoder_hidden_states, timestep_proj, rotary_emb)
            hidden_states = self._apply_hadc(index, hidden_states, skeleton_tokens, mask_tokens)

        # 4. Output head
        output = self._output_head(hidden_states, temb, grid)
        return self._mosa_output(output, mask_tokens, latent_size, return_mask_logits, return_dict)

    def _condition(
        self,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Wan's condition embedder: `(temb (B, D) or (B, L, D), timestep_proj (B[, L], 6, D), text tokens)`."""
        ts_seq_len = None
        if timestep.ndim == 2:  # one timestep per token (Wan2.2 TI2V)
            if self._parallel_config is not None:
                raise InvalidInputError(
                    "per-token `timestep` of shape (B, L) is not supported under context parallelism; give (B,)"
                )
            ts_seq_len = timestep.shape[1]
            timestep = timestep.flatten()
        temb, timestep_proj, encoder_hidden_states, encoder_hidden_states_image = self.condition_embedder(
            timestep, encoder_hidden_states, encoder_hidden_states_image, timestep_seq_len=ts_seq_len
        )
        timestep_proj = timestep_proj.unflatten(2 if ts_seq_len is not None else 1, (6, -1))
        if encoder_hidden_states_image is not None:
            encoder_hidden_states = torch.concat([encoder_hidden_states_image, encoder_hidden_states], dim=1)
        return temb, timestep_proj, encoder_hidden_states

    def _output_head(self, hidden_states: torch.Tensor, temb: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """Wan's modulated output norm, projection and unpatchify: `(B, L, D)` -> `(B, C_out, F, H, W)`."""
        if temb.ndim == 3:  # (B, L, D): per-token timesteps
            shift, scale = (self.scale_shift_table.unsqueeze(0).to(temb.device) + temb.unsqueeze(2)).chunk(2, dim=2)
            shift, scale = shift.squeeze(2), scale.squeeze(2)
        else:
            shift, scale = (self.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        shift, scale = shift.to(hidden_states.device), scale.to(hidden_states.device)
        hidden_states = (self.norm_out(hidden_states.float()) * (1 + scale) + shift).type_as(hidden_states)
        return unpatchify_tokens(self.proj_out(hidden_states), grid, self.config.patch_size)
