"""LoRA adapters (PEFT) on a model's linear layers, and their merge back into plain weights.

`add_lora` injects adapters in place and leaves only them (plus the parameters named by
`keep_trainable`) trainable, so the optimiser, which takes the parameters with `requires_grad`,
trains exactly those. `merge_lora_state_dict` folds trained adapters into the base weights, giving a
state dict the model class without adapters loads (`from_pretrained`); the `Trainer` saves `final/`
and `best/` that way for any model with PEFT LoRA layers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import nn

from ..errors import InvalidInputError

# The attention projections of diffusers' transformers (Wan, CogVideoX) and ours.
DEFAULT_LORA_TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
LORA_ADAPTER = "default"


def add_lora(
    model: nn.Module,
    rank: int,
    alpha: float | None = None,
    target_modules: Iterable[str] = DEFAULT_LORA_TARGET_MODULES,
    keep_trainable: Iterable[str] = (),
) -> list[str]:
    """Inject LoRA adapters into `model` (in place); returns the names of the parameters left trainable.

    Args:
        model (`nn.Module`): the model; its `target_modules` layers get a low-rank update `B A`
            (B zero-initialised, so the model's function is unchanged until training moves it).
        rank (`int`): LoRA rank r.
        alpha (`float`, *optional*): scale numerator; the update is `alpha / r * B A` (defaults to r).
        target_modules (`Iterable[str]`): module names (or name suffixes) to adapt, PEFT's matching.
        keep_trainable (`Iterable[str]`): regular expressions; parameters whose names match one stay
            trainable beside the adapters (e.g. newly added modules trained in full).
    """
    from peft import LoraConfig, inject_adapter_in_model

    if not isinstance(rank, int) or rank < 1:
        raise InvalidInputError(f"LoRA `rank` must be a positive integer, got {rank!r}.")
    target_modules = list(target_modules)
    config = LoraConfig(r=rank, lora_alpha=rank if alpha is None else alpha, target_modules=target_modules)
    try:
        inject_adapter_in_model(config, model, adapter_name=LORA_ADAPTER)
    except ValueError as error:  # PEFT's "Target modules ... not found in the base model"
        raise InvalidInputError(
            f"LoRA `target_modules` {target_modules} do not match layers of {type(model).__name__}: {error}"
        ) from error
    patterns = [re.compile(pattern) for pattern in keep_trainable]
    trainable = []
    for name, parameter in model.named_parameters():
        keep = is_lora_parameter(name) or any(pattern.search(name) for pattern in patterns)
        parameter.requires_grad_(keep)
        if keep:
            trainable.append(name)
    return trainable


def is_lora_parameter(name: str) -> bool:
    return ".lora_A." in name or ".lora_B." in name


def lora_scalings(model: nn.Module) -> dict[str, dict[str, float]]:
    """Per LoRA-adapted layer of `model` (by module name), its adapters' scales `alpha / r`; empty
    for a model without PEFT LoRA layers (whoever injected them: `add_lora` or a model's own method)."""
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return {}
    return {name: dict(module.scaling) for name, module in model.named_modules() if isinstance(module, LoraLayer)}


def merge_lora_state_dict(
    state_dict: dict[str, torch.Tensor], scalings: dict[str, dict[str, float]]
) -> dict[str, torch.Tensor]:
    """The state dict of the adapted model with every LoRA update folded in: `W + scale * B @ A` per
    adapter, under the layer's own name (`x.to_q.weight`, not `x.to_q.base_layer.weight`).

    Args:
        state_dict (`dict[str, torch.Tensor]`): a full state dict of a model with LoRA layers.
        scalings (`dict[str, dict[str, float]]`): `lora_scalings` of that model.
    """
    unsupported = sorted(key for key in state_dict if ".lora_" in key and not is_lora_parameter(key))
    if unsupported:
        raise InvalidInputError(f"LoRA merge supports plain LoRA (lora_A, lora_B) only; found {unsupported[:3]}.")
    merged = {key: value for key, value in state_dict.items() if not is_lora_parameter(key)}
    for layer, adapters in scalings.items():
        weight = merged.pop(f"{layer}.base_layer.weight")
        if weight.ndim != 2:
            raise InvalidInputError(f"LoRA merge supports linear layers only; {layer} has a {weight.ndim}-D weight.")
        update = torch.zeros_like(weight, dtype=torch.float32)
        for adapter, scale in adapters.items():
            down = state_dict[f"{layer}.lora_A.{adapter}.weight"]  # (r, in)
            up = state_dict[f"{layer}.lora_B.{adapter}.weight"]  # (out, r)
            update += scale * (up.float() @ down.float())
        merged[f"{layer}.weight"] = (weight.float() + update).to(weight.dtype)
        if f"{layer}.base_layer.bias" in merged:
            merged[f"{layer}.bias"] = merged.pop(f"{layer}.base_layer.bias")
    return merged
