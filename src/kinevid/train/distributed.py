"""Process setup for `accelerate launch` runs: DDP, FSDP and DeepSpeed, on GPUs and on CPU-only machines.

`accelerate launch --config_file configs/accelerate/<strategy>.yaml` starts one process per device
through torchrun. On a machine without accelerators, accelerate would treat those processes as
unrelated single-process runs unless told to use the CPU, and it applies FSDP only to
multi-*device* process groups. `process_state()` sets up a gloo group of CPU processes in that
case and lets FSDP shard over it, so the multi-process code paths run (and are tested) on a CPU.

`fsdp_wrap_classes` picks the transformer blocks FSDP shards as its wrap units.
"""

from __future__ import annotations

import os

import torch
from accelerate import PartialState
from accelerate.utils import DistributedType
from torch import nn

from ..errors import InvalidInputError

# Transformer blocks of the video and motion models (diffusers' and ours): FSDP's default wrap units.
# The MoSA models keep their backbone's blocks (their HADC sites sit between blocks).
TRANSFORMER_BLOCK_CLASSES = ("WanTransformerBlock", "EchoMotionDualBlock", "CogVideoXBlock", "MotionDiTBlock")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() in ("1", "true", "yes")


def _launched_without_accelerators() -> bool:
    """torchrun started several processes (WORLD_SIZE > 1) on a machine without a GPU."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def process_state() -> PartialState:
    """The accelerate process state of this run (rank, world size, device); recipes call it
    instead of `accelerate.PartialState()` (the `Trainer` does too).

    Under `accelerate launch` on a CPU-only machine the processes join one gloo process group
    (accelerate's `MULTI_CPU`); with an FSDP config they are then marked as a multi-device group,
    the only kind accelerate applies its FSDP plugin to.
    """
    state = PartialState(cpu=uses_cpu())
    if state.distributed_type == DistributedType.NO and _launched_without_accelerators():
        # Someone asked for `PartialState()` first, which treats CPU processes as unrelated runs; no
        # process group exists yet, so set the state up again as one gloo group.
        PartialState._reset_state()
        state = PartialState(cpu=True)
    if state.distributed_type == DistributedType.MULTI_CPU and _env_flag("ACCELERATE_USE_FSDP"):
        # Read by `AcceleratorState`, which enables FSDP for multi-device types only; the device stays the CPU.
        PartialState._shared_state["distributed_type"] = DistributedType.MULTI_GPU
    return state


def uses_cpu() -> bool:
    """Whether `process_state()` runs this process on the CPU (an `Accelerator(cpu=...)` argument)."""
    return _env_flag("ACCELERATE_USE_CPU") or _launched_without_accelerators()


def module_class_names(model: nn.Module) -> set[str]:
    return {type(module).__name__ for module in model.modules()}


def fsdp_wrap_classes(model: nn.Module, requested: tuple[str, ...] | list[str] | None) -> list[str]:
    """Class names of the modules FSDP wraps (shards) one by one.

    Args:
        model (`nn.Module`): the model to shard.
        requested (`tuple[str, ...]`, *optional*): class names (`TrainConfig.fsdp_wrap_modules`); each
            must occur in `model`. `None`: the `TRANSFORMER_BLOCK_CLASSES` that occur in `model`, else
            the model's `_no_split_modules`.
    """
    present = module_class_names(model)
    if requested is not None:
        missing = sorted(set(requested) - present)
        if missing:
            raise InvalidInputError(
                f"TrainConfig: `fsdp_wrap_modules` names {missing}, which {type(model).__name__} does not contain; "
                f"its block-like classes are {sorted(name for name in present if 'Block' in name)}."
            )
        return list(requested)
    names = [name for name in TRANSFORMER_BLOCK_CLASSES if name in present]
    names = names or [name for name in getattr(model, "_no_split_modules", None) or [] if name in present]
    if not names:
        raise InvalidInputError(
            f"FSDP needs wrap units, but {type(model).__name__} contains none of {list(TRANSFORMER_BLOCK_CLASSES)} "
            "and declares no `_no_split_modules`; set `TrainConfig.fsdp_wrap_modules` to its block class names."
        )
    return names
