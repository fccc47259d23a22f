"""LoRA adapters (PEFT) on a model's linear layers, and their merge back into plain weights.

`add_lora` injects adapters in place and leaves only them (plus the parameters named by
`keep_trainable`) trainable, so the optimiser, which takes the parameters with `requires_grad`,
trains exactly those. `merge_lora_state_dict` folds trained adapters into the base weights, giving a
state dict the model class without adapters loads (`from_pretrained`).
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


def merge_lora_state_dict(state_dict: dict[str, torch.Tensor], scaling: float) -> dict[str, torch.Tensor]:
    """The state dict of the adapted model with every LoRA update folded in: `W + scaling * B @ A`
    under the layer's own name (`x.to_q.weight`, not `x.to_q.base_layer.weight`).

    Args:
        state_dict (`dict[str, torch.Tensor]`): a full state dict of a model after `add_lora`.
        scaling (`float`): `alpha / rank` of the adapters.
    """
    merged = {}
    for key, value in state_dict.items():
        if is_lora_parameter(key):
            continue
        if ".base_layer." not in key:
            merged[key] = value
            continue
        layer, parameter = key.split(".base_layer.")
        if parameter == "weight":
            down = state_dict[f"{layer}.lora_A.{LORA_ADAPTER}.weight"]  # (r, in)
            up = state_dict[f"{layer}.lora_B.{LORA_ADAPTER}.weight"]  # (out, r)
            if value.ndim != 2:
                raise InvalidInputError(f"LoRA merge supports linear layers only; {layer} has a {value.ndim}-D weight.")
            value = (value.float() + scaling * (up.float() @ down.float())).to(value.dtype)
        merged[f"{layer}.{parameter}"] = value
    return merged
