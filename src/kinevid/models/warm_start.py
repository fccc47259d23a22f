"""Warm starts: a model built from a changed config, initialised from a checkpoint wherever the shapes agree.

A new VAE changes the latent grid a DiT sees (e.g. 8x -> 4x spatial compression with patch (1, 2, 2) ->
(1, 4, 4)): the patch embedding, the output projection and every per-patch head change shape while the
blocks, text and time embeddings keep theirs. diffusers' `from_pretrained(..., ignore_mismatched_sizes=True)`
means exactly this, but refuses models with `_keep_in_fp32_modules` (both Wan-based DiTs here) and its
low-memory path leaves the mismatched weights on the meta device. `warm_start` builds the model from the
merged config (so every weight has its `__init__` initialisation), then copies in each checkpoint tensor
whose name and shape match.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

import torch
from diffusers.utils import SAFETENSORS_WEIGHTS_NAME
from safetensors.torch import load_file

from ..errors import MissingWeightsError

ModelT = TypeVar("ModelT")

SAFETENSORS_INDEX_NAME = SAFETENSORS_WEIGHTS_NAME + ".index.json"


def load_checkpoint_state_dict(directory: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a diffusers model directory (`diffusion_pytorch_model.safetensors`, or its sharded index)."""
    root = Path(directory)
    single, index = root / SAFETENSORS_WEIGHTS_NAME, root / SAFETENSORS_INDEX_NAME
    if single.is_file():
        return load_file(single)
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(root / shard))
        return state
    raise MissingWeightsError(f"{root}: neither {SAFETENSORS_WEIGHTS_NAME} nor {SAFETENSORS_INDEX_NAME} exists")


def warm_start(
    model_class: type[ModelT], pretrained_model_name_or_path: str | os.PathLike[str], **config_overrides: Any
) -> tuple[ModelT, dict[str, list]]:
    """`model_class` built from the checkpoint's config updated with `config_overrides`, with every checkpoint
    tensor whose name and shape match copied in (cast to the model's float32); the rest keep `__init__`'s values.

    Args:
        model_class: a diffusers `ModelMixin` + `ConfigMixin` class.
        pretrained_model_name_or_path: a local model directory (`config.json` + safetensors weights).
        config_overrides: config fields to change (e.g. `patch_size=(1, 4, 4)`).

    Returns:
        The model (train mode, float32) and diffusers' loading info: `missing_keys` (model weights the checkpoint
        lacks), `unexpected_keys` (checkpoint tensors the model has no weight for, ignored) and
        `mismatched_keys` ((name, checkpoint shape, model shape) of weights whose shape changed); missing and
        mismatched weights keep their fresh initialisation.
    """
    root = Path(pretrained_model_name_or_path)
    if not (root / "config.json").is_file():
        raise MissingWeightsError(f"{root}: no config.json; expected a diffusers model directory")
    config = dict(model_class.load_config(root))
    config.update(config_overrides)
    model = model_class.from_config(config)
    checkpoint = load_checkpoint_state_dict(root)
    own = model.state_dict()
    matched, mismatched = {}, []
    for name, tensor in checkpoint.items():
        if name not in own:
            continue
        if tuple(tensor.shape) == tuple(own[name].shape):
            matched[name] = tensor
        else:
            mismatched.append((name, tuple(tensor.shape), tuple(own[name].shape)))
    model.load_state_dict(matched, strict=False)
    info = {
        "missing_keys": sorted(name for name in own if name not in checkpoint),
        "unexpected_keys": sorted(name for name in checkpoint if name not in own),
        "mismatched_keys": sorted(mismatched),
    }
    return model, info
