"""MoSA's Human-Aware Dynamic Control (HADC) and what both MoSA backbones (Wan2.1, CogVideoX) share.

One `HADC` module sits after each chosen DiT block k ("site"). With the video tokens `a_i` of that block
and the skeleton tokens `t` of the `SkeletonEncoder` (shared by all sites):

    s^k   = S^k t                                  skeleton features, (B, L, D)  (S^k zero-initialised)
    w^k   = P^k(s^k, a_i) = W_o SiLU(W_a LN(a_i) + W_t t + b)     dynamic weights, (B, L, D)
    a_o   = a_i + w^k * s^k                         per token and per channel
    m^k   = U^k(w^k)                                mask logits, (B, L, p_t p_h p_w) -> (B, 1, F, H, W) latent

P^k is a bottleneck (width `hidden_dim`, default D / 4), which keeps HADC at about 1% of Wan2.1-1.3B's
forward FLOPs (`benchmarks/bench_mosa.py`). P^k reads the skeleton through its own projection W_t of the
shared tokens `t` rather than through s^k: W_a s^k = (W_a S^k) t spans the same functions, and it keeps
P^k (and the encoder behind it) trainable while S^k is still zero.

Initialisation: only S^k (the skeleton encoder's last, per-site projection, bias-free) starts at zero, so
a fresh model computes exactly its backbone (w * 0 = 0) while every other new weight has a gradient at
the first step: S^k from the denoising loss (dL/dS = (dL/da_o * w) t^T with w != 0), P^k, U^k and the
encoder trunk from the mask loss (U^k(w^k) with w^k depending on t and a_i). Zeroing w as well would be a
saddle: the gradients of both factors of w * s would vanish for ever.

MoSA's "w/o HADC" ablation (`structure_fusion="add"`): each site is a `SkeletonAddition`, `a_o = a_i + S^k t`
with the same zero-initialised S^k and no weight predictor, hence no mask logits and no mask loss.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers.models.normalization import FP32LayerNorm
from diffusers.utils import BaseOutput
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ...errors import InvalidInputError, MissingWeightsError
from ...utils.io import atomic_directory
from ..vae import VAE_SPATIAL_FACTOR, VAE_TEMPORAL_FACTOR
from ..warm_start import warm_start
from .skeleton_encoder import SkeletonEncoder

MOSA_MODULE_NAMES = ("hadc", "skeleton_encoder")
"""Top-level module names of MoSA's additions; every other parameter belongs to the backbone."""

MOSA_WEIGHTS_NAME = "mosa_weights.safetensors"
MOSA_CONFIG_NAME = "mosa_config.json"
MOSA_CONFIG_KEYS = ("hadc_layers", "skeleton_channels", "skeleton_encoder_dims", "hadc_hidden_dim")
"""`save_mosa_weights` files, and the model-config keys of MoSA's additions they record."""

STRUCTURE_FUSIONS = ("hadc", "add")
"""How a site injects the skeleton features: MoSA's HADC (`HADC`), or added directly (`SkeletonAddition`,
the paper's "w/o HADC" ablation)."""

LORA_TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
"""The backbone attention projections `add_backbone_lora` adapts by default."""


def is_mosa_parameter(name: str) -> bool:
    """Whether parameter `name` (e.g. `hadc.3.weight_out.weight`) belongs to HADC or the skeleton encoder."""
    return name.split(".", 1)[0] in MOSA_MODULE_NAMES


@dataclass
class MoSATransformerOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor`): the backbone's prediction, shaped like its input latents (Wan `(B, C, F, H, W)`,
            CogVideoX `(B, F, C, H, W)`).
        mask_logits (`torch.Tensor` of shape `(B, K, F, H, W)` or `None`): per HADC site `k`, the logits of the
            human mask at latent resolution (`sigmoid` gives the mask); `None` unless asked for and a skeleton
            was given.
    """

    sample: torch.Tensor
    mask_logits: torch.Tensor | None = None


class HADC(nn.Module):
    r"""One Human-Aware Dynamic Control site (see the module docstring for the equations).

    Args:
        dim (`int`): width `D` of the DiT's video tokens.
        skeleton_dim (`int`): width of the skeleton encoder's tokens.
        hidden_dim (`int`): bottleneck width of the weight predictor P.
        patch_size (`Sequence[int]` of length 3): the DiT's patch `(p_t, p_h, p_w)`; the mask head predicts one
            logit per latent cell of a token.
        eps (`float`, defaults to 1e-6): epsilon of the LayerNorm on the video tokens.
    """

    def __init__(
        self, dim: int, skeleton_dim: int, hidden_dim: int, patch_size: Sequence[int], eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.skeleton_proj = nn.Linear(skeleton_dim, dim, bias=False)
        self.norm = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.hidden_in = nn.Linear(dim, hidden_dim)
        self.skeleton_in = nn.Linear(skeleton_dim, hidden_dim, bias=False)
        self.act = nn.SiLU()
        self.weight_out = nn.Linear(hidden_dim, dim)
        self.mask_head = nn.Linear(dim, math.prod(patch_size))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Default init of P and U; zero skeleton projection S (a fresh site leaves the tokens unchanged)."""
        for layer in (self.hidden_in, self.skeleton_in, self.weight_out, self.mask_head):
            layer.reset_parameters()
        nn.init.zeros_(self.skeleton_proj.weight)

    def forward(self, hidden_states: torch.Tensor, skeleton_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            hidden_states (`torch.Tensor` of shape `(B, L, D)`): video tokens `a_i` after the site's block.
            skeleton_tokens (`torch.Tensor` of shape `(B, L, skeleton_dim)`): the skeleton encoder's tokens
                (all zero for a sample without skeleton, which then passes through unchanged).

        Returns:
            `(hidden_states (B, L, D), mask_logits (B, L, p_t * p_h * p_w))`: `a_o` and U(w) per token.
        """
        skeleton_tokens = skeleton_tokens.to(self.skeleton_proj.weight.dtype)
        skeleton_features = self.skeleton_proj(skeleton_tokens)  # s^k (B, L, D)
        hidden = self.hidden_in(self.norm(hidden_states)) + self.skeleton_in(skeleton_tokens)
        weights = self.weight_out(self.act(hidden))  # w^k (B, L, D)
        output = (hidden_states.float() + weights.float() * skeleton_features.float()).type_as(hidden_states)
        return output, self.mask_head(weights)


class SkeletonAddition(nn.Module):
    r"""A site of MoSA's "w/o HADC" ablation: the skeleton features added to the video tokens, `a_o = a_i + S t`.

    `S` (`skeleton_proj`, bias-free) starts at zero like HADC's, so a fresh site leaves the tokens unchanged;
    there is no weight predictor and so no mask head.

    Args:
        dim (`int`): width `D` of the DiT's video tokens.
        skeleton_dim (`int`): width of the skeleton encoder's tokens.
    """

    def __init__(self, dim: int, skeleton_dim: int) -> None:
        super().__init__()
        self.skeleton_proj = nn.Linear(skeleton_dim, dim, bias=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Zero skeleton projection S (a fresh site leaves the tokens unchanged)."""
        nn.init.zeros_(self.skeleton_proj.weight)

    def forward(self, hidden_states: torch.Tensor, skeleton_tokens: torch.Tensor) -> tuple[torch.Tensor, None]:
        """
        Args:
            hidden_states (`torch.Tensor` of shape `(B, L, D)`): video tokens after the site's block.
            skeleton_tokens (`torch.Tensor` of shape `(B, L, skeleton_dim)`): the skeleton encoder's tokens.

        Returns:
            `(hidden_states (B, L, D), None)`: `a_i + S t`, and no mask logits.
        """
        skeleton_features = self.skeleton_proj(skeleton_tokens.to(self.skeleton_proj.weight.dtype))  # (B, L, D)
        return (hidden_states.float() + skeleton_features.float()).type_as(hidden_states), None


def unpatchify_tokens(tokens: torch.Tensor, grid: Sequence[int], patch_size: Sequence[int]) -> torch.Tensor:
    """Per-token patch values -> a latent-resolution map.

    Args:
        tokens (`torch.Tensor` of shape `(B, F * H * W, p_t * p_h * p_w * C)`): tokens in (frame, row,
            column) order, each holding its patch as `(p_t, p_h, p_w, C)` (channel fastest).
        grid (`Sequence[int]`): the token grid `(F, H, W)`.
        patch_size (`Sequence[int]`): `(p_t, p_h, p_w)`.

    Returns:
        `torch.Tensor` of shape `(B, C, F * p_t, H * p_h, W * p_w)`.
    """
    p_t, p_h, p_w = patch_size
    tokens = tokens.reshape(tokens.shape[0], *grid, p_t, p_h, p_w, -1)
    tokens = tokens.permute(0, 7, 1, 4, 2, 5, 3, 6)  # (B, C, F, p_t, H, p_h, W, p_w)
    return tokens.flatten(6, 7).flatten(4, 5).flatten(2, 3)


class HADCMaskTokens(nn.Module):
    """Identity on the stacked mask tokens of all sites (a module so that a context-parallel plan can gather them)."""

    def forward(self, mask_tokens: torch.Tensor) -> torch.Tensor:
        """`mask_tokens` (`torch.Tensor` of shape `(B, L, p_t * p_h * p_w * K)`) -> the same tensor."""
        return mask_tokens


class MoSAMixin:
    """HADC sites, the skeleton encoder and the training helpers, shared by the Wan and CogVideoX MoSA models.

    The host is a diffusers transformer (`ModelMixin`, `ConfigMixin`, `PeftAdapterMixin`) that calls
    `_init_mosa` in its `__init__` and, in its forward, `_skeleton_tokens` once and `_apply_hadc` after each
    block.
    """

    hadc: nn.ModuleList
    skeleton_encoder: SkeletonEncoder
    _backbone_class_name: str = "diffusers transformer"

    def _init_mosa(
        self,
        *,
        dim: int,
        num_layers: int,
        patch_size: Sequence[int],
        hadc_layers: Sequence[int] | None,
        skeleton_channels: int,
        skeleton_encoder_dims: Sequence[int],
        hadc_hidden_dim: int | None,
        eps: float,
        structure_fusion: str = "hadc",
        skeleton_spatial_factor: int = VAE_SPATIAL_FACTOR,
    ) -> None:
        layers = list(range(num_layers)) if hadc_layers is None else [int(i) for i in hadc_layers]
        if sorted(set(layers)) != layers or not all(0 <= i < num_layers for i in layers):
            raise ValueError(f"`hadc_layers` must be increasing block indices in [0, {num_layers}); got {layers}")
        if structure_fusion not in STRUCTURE_FUSIONS:
            raise ValueError(f"`structure_fusion` must be one of {STRUCTURE_FUSIONS}; got {structure_fusion!r}")
        self.skeleton_encoder = SkeletonEncoder(
            skeleton_channels, skeleton_encoder_dims, patch_size, spatial_factor=skeleton_spatial_factor
        )
        self.skeleton_spatial_factor = int(skeleton_spatial_factor)
        hidden_dim = hadc_hidden_dim or max(1, dim // 4)
        skeleton_dim = self.skeleton_encoder.out_dim
        self.hadc = nn.ModuleList(
            [
                HADC(dim, skeleton_dim, hidden_dim, patch_size, eps)
                if structure_fusion == "hadc"
                else SkeletonAddition(dim, skeleton_dim)
                for _ in layers
            ]
        )
        self.structure_fusion = structure_fusion
        self.mask_tokens = HADCMaskTokens()
        self._hadc_site_of_block = {block: site for site, block in enumerate(layers)}
        self._mosa_patch_size = tuple(patch_size)

    @property
    def hadc_layers(self) -> list[int]:
        """Indices of the blocks followed by an HADC site, in site order."""
        return list(self._hadc_site_of_block)

    # ------------------------------------------------------------------ parameters and training modes
    def mosa_parameters(self) -> list[nn.Parameter]:
        """Parameters of MoSA's additions (HADC sites and skeleton encoder)."""
        return [p for name, p in self.named_parameters() if is_mosa_parameter(name)]

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Every other parameter (what a plain backbone checkpoint holds, plus LoRA adapters if added)."""
        return [p for name, p in self.named_parameters() if not is_mosa_parameter(name)]

    @torch.no_grad()
    def reset_mosa_parameters(self) -> None:
        """Initialise the skeleton encoder and every site afresh (as `__init__` does), keeping the backbone.

        What fine-tuning a pretrained DiT needs when its checkpoint already holds MoSA weights (e.g. the
        ablations' common base, `kinevid train mosa` with `model.fresh_mosa`).
        """
        self.skeleton_encoder.reset_parameters()
        for site in self.hadc:
            site.reset_parameters()

    def freeze_backbone(self) -> None:
        """Train only MoSA's parameters: `requires_grad` False on every backbone (and LoRA) parameter."""
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(is_mosa_parameter(name))

    def add_backbone_lora(
        self,
        rank: int,
        alpha: float | None = None,
        target_modules: Iterable[str] = LORA_TARGET_MODULES,
        adapter_name: str = "default",
    ) -> None:
        """Add PEFT LoRA adapters to the backbone's attention projections; train only LoRA and MoSA parameters.

        Args:
            rank (`int`): LoRA rank `r` (>= 1).
            alpha (`float`, *optional*): LoRA alpha (defaults to `rank`, i.e. scale 1).
            target_modules (`Iterable[str]`, defaults to `("to_q", "to_k", "to_v", "to_out.0")`): module-name
                suffixes to adapt; only backbone modules are matched (never HADC or the encoder).
            adapter_name (`str`, defaults to `"default"`): the PEFT adapter name.
        """
        from peft import LoraConfig

        if not isinstance(rank, int) or rank < 1:
            raise InvalidInputError(f"`rank` must be a positive integer; got {rank!r}")
        suffixes = tuple(target_modules)
        names = [
            name
            for name, _ in self.named_modules()
            if name and not is_mosa_parameter(name) and any(name == s or name.endswith(f".{s}") for s in suffixes)
        ]
        if not names:
            raise InvalidInputError(f"`target_modules` {list(suffixes)} match no backbone module")
        config = LoraConfig(
            r=rank, lora_alpha=float(rank if alpha is None else alpha), target_modules=names, init_lora_weights=True
        )
        self.add_adapter(config, adapter_name=adapter_name)
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(is_mosa_parameter(name) or ".lora_" in name)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> Any:
        """`ModelMixin.from_pretrained`, which also loads a plain backbone directory (MoSA weights new).

        diffusers builds the model without running weight initialisation and leaves weights the checkpoint
        lacks on the meta device (or uninitialised); MoSA's modules missing from the checkpoint get real
        storage and their initialisation here. A checkpoint missing backbone weights, or only part of a MoSA
        module, raises `MissingWeightsError`.

        With `ignore_mismatched_sizes=True` the other keyword arguments are config overrides and weights whose
        shape changed (patch embedding, output projection, mask heads, skeleton encoder after a VAE change) keep
        their fresh initialisation (`kinevid.models.warm_start`); `info["mismatched_keys"]` names them.
        """
        output_loading_info = kwargs.pop("output_loading_info", False)
        warm = kwargs.pop("ignore_mismatched_sizes", False)
        if warm:  # every weight already has its `__init__` value
            model, info = warm_start(cls, pretrained_model_name_or_path, **kwargs)
        else:
            model, info = super().from_pretrained(pretrained_model_name_or_path, output_loading_info=True, **kwargs)
        missing = set(info["missing_keys"])
        backbone_missing = sorted(name for name in missing if not is_mosa_parameter(name))
        if backbone_missing:
            raise MissingWeightsError(
                f"{pretrained_model_name_or_path} lacks {len(backbone_missing)} backbone weights of "
                f"{cls.__name__} (e.g. {backbone_missing[:3]}); expected a {cls._backbone_class_name} checkpoint"
            )
        if not warm:
            model._initialise_missing_mosa_modules(missing, str(pretrained_model_name_or_path))
        return (model, info) if output_loading_info else model

    def _backbone_geometry(self) -> dict[str, Any]:
        """What MoSA weights depend on in the backbone: width, depth and patch size."""
        return {
            "class": type(self).__name__,
            "inner_dim": int(self.hadc[0].skeleton_proj.out_features) if len(self.hadc) else None,
            "num_layers": int(self.config.num_layers),
            "patch_size": [int(p) for p in self._mosa_patch_size],
        }

    def save_mosa_weights(self, save_directory: str | os.PathLike) -> None:
        """Write only MoSA's parameters (HADC sites, skeleton encoder) and their config keys.

        What someone who trained MoSA on a full-size public backbone (e.g. Wan2.1-T2V-1.3B-Diffusers)
        shares: `mosa_weights.safetensors` and `mosa_config.json` (`MOSA_CONFIG_KEYS` plus the backbone's
        geometry), a few MB, while the backbone stays the public checkpoint (`from_backbone` puts them
        together again). The directory appears complete or not at all. PEFT LoRA adapters of the backbone
        are not included (save them with the transformer's `save_lora_adapter`).
        """
        with atomic_directory(save_directory) as staging:
            state = {n: p.detach().cpu().contiguous() for n, p in self.named_parameters() if is_mosa_parameter(n)}
            save_file(state, str(staging / MOSA_WEIGHTS_NAME))
            config = {key: self.config[key] for key in MOSA_CONFIG_KEYS}
            config["hadc_layers"] = self.hadc_layers
            if self.structure_fusion != "hadc":  # weights written before the option existed are HADC's
                config["structure_fusion"] = self.structure_fusion
            if self.skeleton_spatial_factor != VAE_SPATIAL_FACTOR:  # likewise: older weights are for an 8x VAE
                config["skeleton_spatial_factor"] = self.skeleton_spatial_factor
            config["backbone"] = self._backbone_geometry()
            (staging / MOSA_CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")

    @classmethod
    def from_backbone(
        cls, backbone_path: str | os.PathLike, mosa_weights_path: str | os.PathLike, **kwargs: Any
    ) -> Any:
        """A plain backbone checkpoint (e.g. the `transformer/` of Wan2.1-T2V-1.3B-Diffusers) with the MoSA
        weights `save_mosa_weights` wrote put on top.

        Args:
            backbone_path: the backbone's diffusers directory.
            mosa_weights_path: a directory with `mosa_weights.safetensors` and `mosa_config.json`.
            **kwargs: passed to `from_pretrained` (e.g. `torch_dtype`).

        Raises:
            `MissingWeightsError`: a file is missing or damaged, the weights were trained on a backbone of
                another width, depth or patch size, or they lack or add MoSA parameters.
        """
        weights_dir = Path(mosa_weights_path)
        files = [weights_dir / MOSA_CONFIG_NAME, weights_dir / MOSA_WEIGHTS_NAME]
        missing_files = [str(f) for f in files if not f.is_file()]
        if missing_files:
            raise MissingWeightsError(
                f"{weights_dir}: not a MoSA weights directory (missing {missing_files}); write one with "
                "`model.save_mosa_weights(DIR)`"
            )
        try:
            config = json.loads(files[0].read_text())
            state = load_file(str(files[1]))
        except (json.JSONDecodeError, UnicodeDecodeError, SafetensorError, OSError) as error:
            raise MissingWeightsError(f"{weights_dir}: damaged MoSA weights ({error})") from None
        if not isinstance(config, dict) or not set(MOSA_CONFIG_KEYS) <= set(config):
            raise MissingWeightsError(f"{files[0]}: expected a JSON object with {list(MOSA_CONFIG_KEYS)}")
        optional = ("structure_fusion", "skeleton_spatial_factor")
        options = {key: config[key] for key in (*MOSA_CONFIG_KEYS, *optional) if key in config}
        model = cls.from_pretrained(backbone_path, **options, **kwargs)
        trained_on, backbone = config.get("backbone", {}), model._backbone_geometry()
        mismatched = {k: (trained_on[k], backbone[k]) for k in ("inner_dim", "num_layers", "patch_size") if
                      k in trained_on and trained_on[k] != backbone[k]}  # fmt: skip
        if mismatched:
            raise MissingWeightsError(
                f"{weights_dir} was trained on another backbone than {backbone_path} (trained on / given: {mismatched})"
            )
        expected = {name for name, _ in model.named_parameters() if is_mosa_parameter(name)}
        if set(state) != expected:
            lacking, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise MissingWeightsError(
                f"{files[1]}: MoSA parameters do not match the model (missing {lacking[:3]}, unexpected {extra[:3]})"
            )
        parameters = dict(model.named_parameters())
        wrong = [n for n, t in state.items() if t.shape != parameters[n].shape]
        if wrong:
            raise MissingWeightsError(f"{files[1]}: {wrong[:3]} have other shapes than the model's")
        with torch.no_grad():
            for name, tensor in state.items():
                parameters[name].copy_(tensor.to(parameters[name].dtype))
        return model

    @torch.no_grad()
    def _initialise_missing_mosa_modules(self, missing: set[str], source: str) -> None:
        """Materialise and initialise every MoSA module (encoder, HADC site) whose weights were all missing."""
        reference = next(p for name, p in self.named_parameters() if not is_mosa_parameter(name) and not p.is_meta)
        modules = {"skeleton_encoder": self.skeleton_encoder}
        modules.update({f"hadc.{k}": site for k, site in enumerate(self.hadc)})
        for prefix, module in modules.items():
            names = {f"{prefix}.{name}" for name, _ in module.named_parameters()}
            if not names & missing:
                continue
            if not names <= missing:
                raise MissingWeightsError(
                    f"{source} holds only part of `{prefix}` (missing {sorted(names & missing)[:3]}); "
                    "the checkpoint is incomplete"
                )
            for submodule in module.modules():
                for name, parameter in list(submodule.named_parameters(recurse=False)):
                    if parameter.is_meta:
                        dtype = parameter.dtype if parameter.dtype.is_floating_point else reference.dtype
                        empty = torch.empty(parameter.shape, dtype=dtype, device=reference.device)
                        setattr(submodule, name, nn.Parameter(empty))
            module.reset_parameters()

    # ------------------------------------------------------------------ forward helpers
    def _check_latents_and_text(
        self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor, *, channel_dim: int, text_dim: int
    ) -> tuple[int, int, int]:
        """Check the video latents and the text embeddings the backbone's forward gets.

        Args:
            hidden_states (`torch.Tensor`): latents `(B, C, F, H, W)` (`channel_dim=1`, Wan) or `(B, F, C, H, W)`
                (`channel_dim=2`, CogVideoX), with `C = in_channels` and `(F, H, W)` divisible by the token patch.
            encoder_hidden_states (`torch.Tensor` of shape `(B, L, text_dim)`): text embeddings.

        Returns:
            The latent size `(F, H, W)`.
        """
        channels = self.config.in_channels
        if (
            not isinstance(hidden_states, torch.Tensor)
            or hidden_states.ndim != 5
            or hidden_states.shape[channel_dim] != channels
        ):
            layout = ["B", "F", "H", "W"]
            layout.insert(channel_dim, str(channels))
            got = tuple(hidden_states.shape) if isinstance(hidden_states, torch.Tensor) else type(hidden_states)
            raise InvalidInputError(f"`hidden_states` must be video latents of shape ({', '.join(layout)}); got {got}")
        batch_size = hidden_states.shape[0]
        num_frames, height, width = (size for dim, size in enumerate(hidden_states.shape[1:], 1) if dim != channel_dim)
        p_t, p_h, p_w = self._mosa_patch_size
        if num_frames % p_t or height % p_h or width % p_w:
            raise InvalidInputError(
                f"`hidden_states` latent size (F, H, W) = {(num_frames, height, width)} must be divisible by the "
                f"patch size {self._mosa_patch_size}"
            )
        if (
            not isinstance(encoder_hidden_states, torch.Tensor)
            or encoder_hidden_states.ndim != 3
            or encoder_hidden_states.shape[0] != batch_size
            or encoder_hidden_states.shape[2] != text_dim
        ):
            got = (
                tuple(encoder_hidden_states.shape)
                if isinstance(encoder_hidden_states, torch.Tensor)
                else type(encoder_hidden_states)
            )
            raise InvalidInputError(f"`encoder_hidden_states` must have shape ({batch_size}, L, {text_dim}); got {got}")
        return num_frames, height, width

    def _skeleton_tokens(
        self,
        skeleton_video: torch.Tensor | None,
        skeleton_dropout: torch.Tensor | None,
        batch_size: int,
        latent_size: tuple[int, int, int],
    ) -> torch.Tensor | None:
        """Check the skeleton inputs against the latents, encode, and zero the tokens of dropped samples.

        Args:
            skeleton_video (`torch.Tensor` of shape `(B, C_s, 4(F - 1) + 1, f H, f W)` or `None`), f =
                `skeleton_spatial_factor` (the VAE's spatial factor).
            skeleton_dropout (`torch.Tensor` of shape `(B,)`, bool, or `None`): True = no skeleton.
            batch_size (`int`), latent_size (`(F, H, W)`): of the latents.

        Returns:
            `torch.Tensor` of shape `(B, L, skeleton_dim)`, or `None` without skeleton (HADC is skipped).
        """
        if skeleton_video is None:
            if skeleton_dropout is not None:
                raise InvalidInputError("`skeleton_dropout` was given without `skeleton_video`")
            return None
        num_frames, height, width = latent_size
        factor = self.skeleton_spatial_factor
        expected = (
            batch_size,
            self.skeleton_encoder.in_channels,
            VAE_TEMPORAL_FACTOR * (num_frames - 1) + 1,
            factor * height,
            factor * width,
        )
        if not isinstance(skeleton_video, torch.Tensor) or tuple(skeleton_video.shape) != expected:
            got = tuple(skeleton_video.shape) if isinstance(skeleton_video, torch.Tensor) else type(skeleton_video)
            raise InvalidInputError(
                f"`skeleton_video` must have shape {expected} (B, {expected[1]}, 4(F - 1) + 1, {factor}H, {factor}W) "
                f"for latents with (F, H, W) = {latent_size}; got {got}"
            )
        tokens = self.skeleton_encoder(skeleton_video)  # (B, L, skeleton_dim)
        if skeleton_dropout is not None:
            if (
                not isinstance(skeleton_dropout, torch.Tensor)
                or skeleton_dropout.dtype != torch.bool
                or tuple(skeleton_dropout.shape) != (batch_size,)
            ):
                got = (
                    f"{skeleton_dropout.dtype} {tuple(skeleton_dropout.shape)}"
                    if isinstance(skeleton_dropout, torch.Tensor)
                    else type(skeleton_dropout).__name__
                )
                raise InvalidInputError(
                    f"`skeleton_dropout` must be a bool tensor of shape ({batch_size},) (True = no skeleton); got {got}"
                )
            keep = (~skeleton_dropout).to(device=tokens.device, dtype=tokens.dtype)
            tokens = tokens * keep[:, None, None]
        return tokens

    def _apply_hadc(
        self,
        block_index: int,
        hidden_states: torch.Tensor,
        skeleton_tokens: torch.Tensor | None,
        mask_tokens: list[torch.Tensor],
    ) -> torch.Tensor:
        """Apply the HADC site after block `block_index`, if there is one (appending its mask tokens)."""
        site = self._hadc_site_of_block.get(block_index)
        if skeleton_tokens is None or site is None:
            return hidden_states
        module = self.hadc[site]
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            hidden_states, mask = self._gradient_checkpointing_func(module, hidden_states, skeleton_tokens)
        else:
            hidden_states, mask = module(hidden_states, skeleton_tokens)
        if mask is not None:  # `SkeletonAddition` sites predict no mask
            mask_tokens.append(mask)
        return hidden_states

    def _mask_logits(
        self, mask_tokens: list[torch.Tensor], grid: Sequence[int], patch_size: Sequence[int]
    ) -> torch.Tensor | None:
        """Mask tokens of every site -> `(B, K, F, H, W)` at latent resolution (None without sites run)."""
        if not mask_tokens:
            return None
        stacked = self.mask_tokens(torch.stack(mask_tokens, dim=-1).flatten(2))  # (B, L, P * K), site fastest
        return unpatchify_tokens(stacked, grid, patch_size)

    def _mosa_output(
        self,
        sample: torch.Tensor,
        mask_tokens: list[torch.Tensor],
        latent_size: tuple[int, int, int],
        return_mask_logits: bool,
        return_dict: bool,
    ) -> MoSATransformerOutput | tuple[torch.Tensor, ...]:
        """The forward's result: `sample` and, if asked for, the sites' mask logits on the latent grid `(F, H, W)`."""
        patch_size = self._mosa_patch_size
        grid = tuple(size // p for size, p in zip(latent_size, patch_size, strict=True))
        mask_logits = self._mask_logits(mask_tokens, grid, patch_size) if return_mask_logits else None
        if not return_dict:
            return (sample,) if not return_mask_logits else (sample, mask_logits)
        return MoSATransformerOutput(sample=sample, mask_logits=mask_logits)
