"""`Trainer`: the training loop every kinevid model goes through, on accelerate.

The loop is task-agnostic: a recipe hands it a model, a `compute_loss(model, batch)` returning named
loss terms (one of them `"loss"`, the one to minimise) and a dataloader. The trainer does the rest:
`accelerator.prepare`, gradient accumulation, clipping, an optional EMA of the weights, learning-rate
warmup and schedule, `save_state` checkpoints that resume bit-for-bit (model, optimiser, scheduler,
EMA, RNG states, data position), a progress bar on the main process, logs to
`output_dir/logs.jsonl`, the console and optionally TensorBoard, and a final `save_pretrained` into
`output_dir/final`. With `best_metric` set, the model of the best validation so far is kept in
`output_dir/best`. A non-finite loss stops the run with `TrainingDivergedError` naming the step; the
checkpoints written before it stay.

The same loop runs on one process or many (`accelerate launch` with a config from
`configs/accelerate/`: DDP, FSDP sharding the transformer blocks, DeepSpeed ZeRO-2/3), in fp32,
bf16 or fp16, optionally with gradient checkpointing and LoRA adapters (`kinevid.train.lora`).
Logged loss terms are means over every process, so a run logs the same numbers on any number of
processes with the same global batch.

Layout of `output_dir`:

    logs.jsonl                       one JSON object per logged step (loss terms, lr, steps/s); a
                                     resumed run first drops the lines after its checkpoint
    tensorboard/                     TensorBoard events (with `log_with=("tensorboard",)`)
    config.json                      the TrainConfig of the run
    checkpoints/step_0001000/        accelerate state + trainer_state.json (step, epoch, best so far)
    final/                           save_pretrained of the (EMA) model
    best/                            save_pretrained of the (EMA) model at the best validation, and
                                     best_metric.json (metric, mode, value, step)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, broadcast_object_list, set_seed
from diffusers.models.modeling_utils import ModelMixin
from diffusers.optimization import get_scheduler
from torch import nn
from tqdm.auto import tqdm

from ..errors import InvalidInputError, KinevidError, MissingWeightsError
from ..utils.io import atomic_write
from .distributed import fsdp_wrap_classes, process_state, uses_cpu
from .lora import DEFAULT_LORA_TARGET_MODULES, add_lora, lora_scalings, merge_lora_state_dict

if TYPE_CHECKING:
    from diffusers.training_utils import EMAModel

LOG_FILE = "logs.jsonl"
CHECKPOINT_DIR = "checkpoints"
FINAL_DIR = "final"
BEST_DIR = "best"
BEST_RECORD = "best_metric.json"
TRAINER_STATE = "trainer_state.json"
MIXED_PRECISION = ("no", "fp16", "bf16")
LR_SCHEDULERS = ("constant", "constant_with_warmup", "cosine", "cosine_with_min_lr", "linear")
BEST_METRIC_MODES = ("max", "min")
LOG_TRACKERS = ("tensorboard",)
TENSORBOARD_DIR = "tensorboard"


class TrainingDivergedError(KinevidError, FloatingPointError):
    """The loss became NaN or infinite; the run stopped, keeping the checkpoints written before."""


@dataclass
class TrainConfig:
    """How to train (not what): optimisation, checkpointing and logging.

    Args:
        output_dir (`str`): run directory (logs, checkpoints, final weights).
        max_steps (`int`): optimiser steps to run in total.
        batch_size (`int`): samples per micro-batch (recipes build their dataloader with it).
        learning_rate (`float`): peak AdamW learning rate.
        weight_decay (`float`, defaults to 0.0): AdamW weight decay.
        warmup_steps (`int`, defaults to 0): linear warmup steps.
        gradient_accumulation_steps (`int`, defaults to 1): micro-batches per optimiser step.
        max_grad_norm (`float`, defaults to 1.0): gradient clipping norm (<= 0 disables).
        mixed_precision (`str`, defaults to "no"): "no", "fp16" or "bf16".
        checkpoint_every (`int`, defaults to 1000): steps between `save_state` checkpoints.
        log_every (`int`, defaults to 50): steps between log lines.
        seed (`int`, defaults to 0): seed of every random number generator and of data shuffling.
        resume (`bool`, defaults to False): continue from the latest checkpoint in `output_dir`.
        ema_decay (`float`, *optional*): keep an exponential moving average of the weights with this
            decay; the final weights are the EMA's.
        lr_scheduler (`str`, defaults to "constant_with_warmup"): one of `LR_SCHEDULERS`; all are
            diffusers' except "cosine_with_min_lr" (transformers'), a cosine decay to
            `min_lr_rate * learning_rate` instead of 0.
        min_lr_rate (`float`, defaults to 0.0): floor of "cosine_with_min_lr" as a fraction of the peak
            learning rate (only that schedule uses it).
        adam_betas (`tuple[float, float]`, defaults to (0.9, 0.999)): AdamW betas.
        validate_every (`int`, *optional*): steps between `validate` calls (defaults to `checkpoint_every`).
        checkpoints_total_limit (`int`, *optional*, defaults to 3): keep at most this many checkpoints.
        num_threads (`int`, *optional*): CPU threads for torch (`torch.set_num_threads`); on a shared
            CPU, 1 thread is often several times faster than oversubscribed cores.
        best_metric (`str`, *optional*): a logged validation value (e.g. "val/top3", the name `validate`
            returns with the `val/` prefix); whenever it improves, the (EMA) model is saved to
            `output_dir/best`. The best value and step are part of every checkpoint, so a resumed run
            keeps them.
        best_metric_mode (`str`, defaults to "max"): "max" if larger `best_metric` is better, else "min".
        split_batches (`bool`, defaults to False): with several processes, split each dataloader batch
            across them (`batch_size` is then the global micro-batch, the same for any number of
            processes); by default every process draws its own `batch_size` samples (global
            micro-batch `batch_size * num_processes`). Either way the processes together see the
            batches a single process would, in the same order (use `drop_last=True` or a dataset
            size divisible by the global batch, so no process pads its last batch).
        gradient_checkpointing (`bool`, defaults to False): recompute activations in the backward pass
            (the model's `enable_gradient_checkpointing`; an error for models without one).
        fsdp_wrap_modules (`tuple[str, ...]`, *optional*): class names of the modules FSDP shards one
            by one (its wrap units); defaults to the accelerate config's list, else the transformer
            blocks of `kinevid.train.distributed.TRANSFORMER_BLOCK_CLASSES` the model contains.
        lora_rank (`int`, *optional*): train LoRA adapters of this rank on `lora_target_modules`
            instead of the model's weights; `final/` and `best/` hold the merged weights.
        lora_alpha (`float`, *optional*): LoRA scale numerator (defaults to `lora_rank`).
        lora_target_modules (`tuple[str, ...]`): layers adapted by LoRA (the attention projections).
        lora_keep_trainable (`tuple[str, ...]`, defaults to ()): regular expressions of parameter names
            trained in full beside the adapters (e.g. modules new to a pretrained backbone).
        log_with (`tuple[str, ...]`, defaults to ()): extra loggers beside `logs.jsonl`: "tensorboard"
            (events in `output_dir/tensorboard`).
        ddp_find_unused_parameters (`bool`, defaults to False): let DDP handle trainable parameters that
            get no gradient in some steps (e.g. a branch only some batches use); costs a graph traversal
            per step.
        lr_schedule_steps (`int`, *optional*): length of the learning-rate schedule, when it differs from
            `max_steps` (a run stopped before the end of the schedule it was trained with); defaults to
            `max_steps`.
    """

    output_dir: str
    max_steps: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0
    warmup_steps: int = 0
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    checkpoint_every: int = 1000
    log_every: int = 50
    seed: int = 0
    resume: bool = False
    ema_decay: float | None = None
    lr_scheduler: str = "constant_with_warmup"
    adam_betas: tuple[float, float] = (0.9, 0.999)
    validate_every: int | None = None
    checkpoints_total_limit: int | None = 3
    num_threads: int | None = None
    min_lr_rate: float = 0.0
    best_metric: str | None = None
    best_metric_mode: str = "max"
    split_batches: bool = False
    gradient_checkpointing: bool = False
    fsdp_wrap_modules: tuple[str, ...] | None = None
    lora_rank: int | None = None
    lora_alpha: float | None = None
    lora_target_modules: tuple[str, ...] = DEFAULT_LORA_TARGET_MODULES
    lora_keep_trainable: tuple[str, ...] = ()
    log_with: tuple[str, ...] = ()
    ddp_find_unused_parameters: bool = False
    lr_schedule_steps: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "gradient_accumulation_steps", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"TrainConfig: `{name}` must be a positive integer, got {value!r}.")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise InvalidInputError(f"TrainConfig: `learning_rate` must be positive, got {self.learning_rate!r}.")
        if self.lr_schedule_steps is not None and not (
            isinstance(self.lr_schedule_steps, int) and self.lr_schedule_steps >= self.max_steps
        ):
            raise InvalidInputError(
                f"TrainConfig: `lr_schedule_steps` must be an integer >= `max_steps` ({self.max_steps}), "
                f"got {self.lr_schedule_steps!r}."
            )
        if self.mixed_precision not in MIXED_PRECISION:
            raise InvalidInputError(
                f"TrainConfig: `mixed_precision` must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}."
            )
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise InvalidInputError(
                f"TrainConfig: `lr_scheduler` must be one of {LR_SCHEDULERS}, got {self.lr_scheduler!r}."
            )
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise InvalidInputError(f"TrainConfig: `ema_decay` must lie in (0, 1), got {self.ema_decay!r}.")
        if not 0.0 <= self.min_lr_rate < 1.0:
            raise InvalidInputError(f"TrainConfig: `min_lr_rate` must lie in [0, 1), got {self.min_lr_rate!r}.")
        if self.min_lr_rate and self.lr_scheduler != "cosine_with_min_lr":
            raise InvalidInputError(
                f"TrainConfig: `min_lr_rate` only applies to `lr_scheduler` 'cosine_with_min_lr', "
                f"got it with {self.lr_scheduler!r}."
            )
        if self.best_metric_mode not in BEST_METRIC_MODES:
            raise InvalidInputError(
                f"TrainConfig: `best_metric_mode` must be one of {BEST_METRIC_MODES}, got {self.best_metric_mode!r}."
            )
        if self.lora_rank is not None and (not isinstance(self.lora_rank, int) or self.lora_rank < 1):
            raise InvalidInputError(f"TrainConfig: `lora_rank` must be a positive integer, got {self.lora_rank!r}.")
        if isinstance(self.log_with, str):
            self.log_with = (self.log_with,)
        if set(self.log_with) - set(LOG_TRACKERS):
            raise InvalidInputError(
                f"TrainConfig: `log_with` must be a subset of {LOG_TRACKERS}, got {list(self.log_with)}."
            )
        self.adam_betas = tuple(self.adam_betas)
        for name in ("lora_target_modules", "lora_keep_trainable", "log_with"):
            setattr(self, name, tuple(getattr(self, name)))
        if self.fsdp_wrap_modules is not None:
            self.fsdp_wrap_modules = tuple(self.fsdp_wrap_modules)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> TrainConfig:
        """Build from a dict (e.g. a JSON section), rejecting unknown keys by name."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidInputError(
                f"{source}: unknown training options {unknown}; expected a subset of {sorted(known)}."
            )
        return build_config_section(cls, values, source)


def _matches(value, annotation) -> bool:
    """Whether a JSON value fits a field annotation (bool is not a number; ints are floats; unknown types pass)."""
    origin = typing.get_origin(annotation)
    if annotation is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (tuple, list) or annotation in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        arguments = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if origin is tuple and arguments and Ellipsis not in typing.get_args(annotation):
            return len(value) == len(arguments) and all(map(_matches, value, arguments))
        return all(_matches(item, arguments[0]) for item in value) if arguments else True
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    return True


def build_config_section(section_type: type, values: dict, source: str):
    """`section_type(**values)` for a dataclass config section read from JSON, with every value checked against
    its field's annotation first and any error of the section's own checks reported as `InvalidInputError`
    naming `source` and the key."""
    if not isinstance(values, dict):
        raise InvalidInputError(f"{source}: expected a JSON object, got {type(values).__name__}.")
    hints = typing.get_type_hints(section_type)
    for name, value in values.items():
        if name in hints and not _matches(value, hints[name]):
            expected = getattr(hints[name], "__name__", None) or str(hints[name]).replace("typing.", "")
            raise InvalidInputError(f"{source}: `{name}` must be {expected}, got {json.dumps(value)}.")
    try:
        return section_type(**values)
    except KinevidError:
        raise
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{source}: {error}") from error


def read_json_config(path: str | os.PathLike[str]) -> dict:
    """The JSON object in the training config file `path` (a clear error if it is missing or not an object)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Training config {path} does not exist.")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"{path}: not valid JSON ({error}).") from error
    if not isinstance(values, dict):
        raise InvalidInputError(f"{path}: expected a JSON object of config sections, got {type(values).__name__}.")
    return values


def check_config_keys(values: dict, allowed: Iterable[str], source: str) -> None:
    """Raise `InvalidInputError` naming `source` if `values` is not a dict or has keys outside `allowed`."""
    allowed = set(allowed)
    if not isinstance(values, dict):
        raise InvalidInputError(f"{source}: expected a JSON object, got {type(values).__name__}.")
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise InvalidInputError(f"{source}: unknown keys {unknown}; expected a subset of {sorted(allowed)}.")


class RecipeConfig:
    """Base of a recipe's JSON config (a dataclass with a `train: TrainConfig` field): reading from a
    file, and writing back without the run directory (which comes from the command line).

    Subclasses implement `from_dict(values, output_dir, source)`.
    """

    @classmethod
    def load(cls, path: str | os.PathLike[str], output_dir: str | os.PathLike[str]):
        """Read a JSON config; `output_dir` fills `train.output_dir`. Unknown keys and values of the wrong type
        are errors naming the file."""
        try:
            return cls.from_dict(read_json_config(path), output_dir=output_dir, source=str(path))
        except KinevidError:
            raise
        except (TypeError, ValueError, AttributeError) as error:  # a value of a kind the section did not expect
            raise InvalidInputError(f"{path}: {error}") from error

    def to_dict(self) -> dict:
        values = asdict(self)
        values["train"].pop("output_dir")
        return values


class Trainer:
    """Runs `compute_loss` over `train_dataloader` for `config.max_steps` optimiser steps.

    Args:
        model (`ModelMixin`): the model to train (saved with `save_pretrained` at the end).
        compute_loss (`Callable[[nn.Module, dict], dict[str, torch.Tensor]]`): named scalar loss terms
            for one batch; `"loss"` is minimised, every term is logged.
        train_dataloader (`torch.utils.data.DataLoader`): yields the batches; reshuffled every epoch
            from `config.seed` (accelerate's seedable sampler), so runs and resumes are reproducible.
            With several processes, accelerate shards it (see `TrainConfig.split_batches`).
        config (`TrainConfig`): optimisation, checkpointing and logging options.
        validate (`Callable[[nn.Module, int], dict[str, float]]`, *optional*): called with the
            unwrapped model (EMA weights when enabled, eval mode, no grad, on a forked RNG so it does
            not change the training's random numbers) and the step every `validate_every` steps and
            at the last step; its values are logged with a `val/` prefix. Required with
            `config.best_metric`; with several processes, the main process's values decide the best.

    Several processes: start the script with `accelerate launch --config_file
    configs/accelerate/<ddp|fsdp|zero2|zero3>.yaml`; every process builds the same model and
    dataloader and calls `fit`. Each process seeds its random number generators with
    `config.seed + process index`, so noise drawn inside `compute_loss` differs between processes.
    """

    def __init__(
        self,
        model: ModelMixin,
        compute_loss: Callable[[nn.Module, dict], dict[str, torch.Tensor]],
        train_dataloader: torch.utils.data.DataLoader,
        config: TrainConfig,
        validate: Callable[[nn.Module, int], dict[str, float]] | None = None,
    ):
        self.config = config
        self.compute_loss = compute_loss
        self.validate = validate
        if config.best_metric is not None and validate is None:
            raise InvalidInputError(
                f"TrainConfig: `best_metric` is {config.best_metric!r} but the Trainer got no `validate` callback."
            )
        self.output_dir = Path(config.output_dir)
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        process_state()
        self.accelerator = Accelerator(
            cpu=uses_cpu(),
            mixed_precision=config.mixed_precision,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            dataloader_config=DataLoaderConfiguration(
                split_batches=config.split_batches, use_seedable_sampler=True, data_seed=config.seed
            ),
            log_with=list(config.log_with) or None,
            project_dir=str(self.output_dir),
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=config.ddp_find_unused_parameters)],
        )
        set_seed(config.seed, device_specific=True)
        self._check_sharding_options()
        if config.gradient_checkpointing:
            enable_gradient_checkpointing(model)
        if config.lora_rank is not None:
            add_lora(model, config.lora_rank, config.lora_alpha, config.lora_target_modules, config.lora_keep_trainable)
        if self.accelerator.distributed_type == DistributedType.FSDP:
            self._configure_fsdp_wrapping(model)
        if self.accelerator.distributed_type == DistributedType.DEEPSPEED:
            self._configure_deepspeed()
        trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
        if not trainable:
            raise InvalidInputError(
                f"{type(model).__name__} has no trainable parameters (all have requires_grad False)."
            )
        optimizer = torch.optim.AdamW(
            trainable, lr=config.learning_rate, betas=config.adam_betas, weight_decay=config.weight_decay
        )
        lr_scheduler = self._build_lr_scheduler(optimizer)
        self.model, self.optimizer, self.train_dataloader, self.lr_scheduler = self.accelerator.prepare(
            model, optimizer, train_dataloader, lr_scheduler
        )
        self.ema: EMAModel | None = None
        if config.ema_decay is not None:
            from diffusers.training_utils import EMAModel  # imports every diffusers model: only when needed

            self.ema = EMAModel(self._ema_parameters(), decay=config.ema_decay)
            self.accelerator.register_for_checkpointing(self.ema)
        self.step = 0
        self.epoch = 0
        self.best_value: float | None = None
        self.best_step: int | None = None
        self._checkpoint_to_load: Path | None = None

    @property
    def shards_weights(self) -> bool:
        """Whether each process holds only a shard of the weights (FSDP, DeepSpeed ZeRO-3)."""
        if self.accelerator.distributed_type == DistributedType.FSDP:
            return True
        if self.accelerator.distributed_type == DistributedType.DEEPSPEED:
            return self.accelerator.state.deepspeed_plugin.zero_stage == 3
        return False

    def _check_sharding_options(self) -> None:
        if self.config.ema_decay is not None and self.shards_weights:
            raise InvalidInputError(
                "TrainConfig: `ema_decay` is not supported with sharded weights (FSDP, DeepSpeed ZeRO-3): a process "
                "holds only its shard, and the EMA is checkpointed by the main process; use DDP or ZeRO-2 for EMA runs."
            )

    def _configure_fsdp_wrapping(self, model: nn.Module) -> None:
        from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

        plugin = self.accelerator.state.fsdp_plugin
        if self.config.fsdp_wrap_modules is not None or not plugin.transformer_cls_names_to_wrap:
            plugin.transformer_cls_names_to_wrap = fsdp_wrap_classes(model, self.config.fsdp_wrap_modules)
        if plugin.auto_wrap_policy is None:
            plugin.auto_wrap_policy = transformer_auto_wrap_policy

    def _configure_deepspeed(self) -> None:
        # DeepSpeed accumulates and clips itself: hand it the TrainConfig's values (the json says "auto").
        deepspeed_config = self.accelerator.state.deepspeed_plugin.deepspeed_config
        deepspeed_config["gradient_accumulation_steps"] = self.config.gradient_accumulation_steps
        deepspeed_config["gradient_clipping"] = max(self.config.max_grad_norm, 0.0)

    def _ema_parameters(self) -> list[nn.Parameter]:
        return [parameter for parameter in self.model.parameters() if parameter.requires_grad]

    def _build_lr_scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        # The prepared scheduler steps once per process per optimiser step (once in all with `split_batches`).
        scale = 1 if self.config.split_batches else self.accelerator.num_processes
        num_warmup_steps = self.config.warmup_steps * scale
        num_training_steps = (self.config.lr_schedule_steps or self.config.max_steps) * scale
        if self.config.lr_scheduler == "cosine_with_min_lr":
            from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

            return get_cosine_with_min_lr_schedule_with_warmup(
                optimizer, num_warmup_steps, num_training_steps, min_lr_rate=self.config.min_lr_rate
            )
        return get_scheduler(
            self.config.lr_scheduler,
            optimizer=optimizer,
            num_warmup_steps=num_warmup_steps,
            num_training_steps=num_training_steps,
        )

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_root(self) -> Path:
        return self.output_dir / CHECKPOINT_DIR

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint with the highest step in `output_dir/checkpoints`, if any."""
        if not self.checkpoint_root.is_dir():
            return None
        candidates = [path for path in self.checkpoint_root.glob("step_*") if (path / TRAINER_STATE).is_file()]
        return max(candidates, key=lambda path: int(path.name.split("_")[1]), default=None)

    def save_checkpoint(self) -> Path:
        """`save_state` into `checkpoints/step_XXXXXXX`; older checkpoints beyond the limit are removed.

        Every process writes its part (its RNG states, its shard under FSDP/DeepSpeed) into a
        temporary directory that the main process renames once all are done, so a checkpoint is
        either complete or absent.
        """
        path = self.checkpoint_root / f"step_{self.step:07d}"
        partial = path.with_name(path.name + ".partial")
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            shutil.rmtree(partial, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(partial), safe_serialization=True)
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            state = {
                "step": self.step,
                "epoch": self.epoch,
                "best_metric": self.config.best_metric,
                "best_metric_mode": self.config.best_metric_mode,
                "best_value": self.best_value,
                "best_step": self.best_step,
            }
            with atomic_write(partial / TRAINER_STATE) as tmp:
                tmp.write_text(json.dumps(state))
            shutil.rmtree(path, ignore_errors=True)
            partial.rename(path)
            self._prune_checkpoints()
        self.accelerator.wait_for_everyone()
        return path

    def _prune_checkpoints(self) -> None:
        limit = self.config.checkpoints_total_limit
        if limit is None:
            return
        checkpoints = sorted(self.checkpoint_root.glob("step_*"), key=lambda path: path.name)
        for old in [path for path in checkpoints if not path.name.endswith(".partial")][:-limit]:
            shutil.rmtree(old, ignore_errors=True)

    def _resume(self) -> None:
        checkpoint = self.latest_checkpoint()
        if checkpoint is None:
            raise MissingWeightsError(
                f"`resume` is set but {self.checkpoint_root} holds no checkpoint (step_*/{TRAINER_STATE})."
            )
        state = json.loads((checkpoint / TRAINER_STATE).read_text())
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        # A best value only counts for the metric and direction it was measured with.
        same_metric = (state.get("best_metric"), state.get("best_metric_mode")) == (
            self.config.best_metric,
            self.config.best_metric_mode,
        )
        if same_metric:
            self.best_value, self.best_step = state.get("best_value"), state.get("best_step")
        self._checkpoint_to_load = checkpoint

    def _load_checkpoint(self) -> None:
        self.accelerator.load_state(str(self._checkpoint_to_load))
        self._checkpoint_to_load = None

    # ------------------------------------------------------------------ logging
    def _log(self, values: dict[str, float], progress: tqdm | None) -> None:
        if not self.accelerator.is_main_process:
            return
        record = {"step": self.step, **values}
        with open(self.output_dir / LOG_FILE, "a") as handle:  # appended line by line: a log, not a result file
            handle.write(json.dumps(record) + "\n")
        self.accelerator.log(values, step=self.step)
        text = " ".join(f"{key}={value:.4g}" for key, value in values.items())
        (progress.write if progress is not None else print)(f"step {self.step}: {text}")

    def _drop_log_after(self, step: int) -> None:
        """Keep the log lines up to `step` (a resumed run logs the later steps again)."""
        path = self.output_dir / LOG_FILE
        if not self.accelerator.is_main_process or not path.is_file():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # the last line of a killed run may be cut off
                continue
            if isinstance(record, dict) and record.get("step", math.inf) <= step:
                kept.append(line + "\n")
        with atomic_write(path) as tmp:
            tmp.write_text("".join(kept))

    def _mean_over_processes(self, totals: dict[str, float], count: int) -> dict[str, float]:
        """`totals / count`, averaged over every process (each process's totals cover its own samples)."""
        keys = sorted(totals)
        means = torch.tensor([totals[key] / count for key in keys], dtype=torch.float64, device=self.accelerator.device)
        if self.accelerator.num_processes > 1:
            means = self.accelerator.reduce(means, reduction="mean")
        return dict(zip(keys, means.tolist(), strict=True))

    def _run_validation(self, progress: tqdm | None) -> dict[str, float]:
        if self.validate is None:
            return {}
        model = self.accelerator.unwrap_model(self.model)
        if self.ema is not None:
            self.ema.store(self._ema_parameters())
            self.ema.copy_to(self._ema_parameters())
        model.eval()
        try:
            # Forked RNG: validating (or not, e.g. at the last step of an interrupted run) must not
            # change the random numbers training draws afterwards.
            with torch.no_grad(), torch.random.fork_rng(devices=self._rng_devices()):
                values = {f"val/{key}": float(value) for key, value in self.validate(model, self.step).items()}
        finally:
            model.train()
            if self.ema is not None:
                self.ema.restore(self._ema_parameters())
        self._log(values, progress)
        self._update_best(values, progress)
        return values

    def _rng_devices(self) -> list[int]:
        device = self.accelerator.device
        return [device.index or 0] if device.type == "cuda" else []

    def _update_best(self, values: dict[str, float], progress: tqdm | None) -> None:
        """Save the model to `output_dir/best` if `values[config.best_metric]` beats the best so far."""
        name = self.config.best_metric
        if name is None:
            return
        if name not in values:
            raise InvalidInputError(
                f"TrainConfig: `best_metric` {name!r} is not among the validation values {sorted(values)}; "
                "name one of them (`validate`'s keys with the 'val/' prefix)."
            )
        value = [values[name]]
        if self.accelerator.num_processes > 1:
            broadcast_object_list(value)  # every process takes the main process's decision
        value = value[0]
        if not math.isfinite(value):
            return
        if self.best_value is not None:
            improved = value > self.best_value if self.config.best_metric_mode == "max" else value < self.best_value
            if not improved:
                return
        self.best_value, self.best_step = value, self.step
        record = {"metric": name, "mode": self.config.best_metric_mode, "value": value, "step": self.step}
        path = self._save_pretrained(self.output_dir / BEST_DIR, record=record)
        if self.accelerator.is_main_process:
            (progress.write if progress is not None else print)(f"step {self.step}: best {name}={value:.4g} -> {path}")

    def _check_finite(self, terms: dict[str, torch.Tensor]) -> None:
        """Raise `TrainingDivergedError` on every process if any process's loss is NaN or infinite."""
        finite = torch.isfinite(terms["loss"].detach()).all().reshape(1).int()
        if self.accelerator.num_processes > 1:
            finite = self.accelerator.gather(finite)
        if bool(finite.all()):
            return
        values = ", ".join(f"{key}={float(value.detach().float().mean()):.4g}" for key, value in terms.items())
        checkpoint = self.latest_checkpoint()
        kept = (
            f"the last good checkpoint is {checkpoint} (continue from it with `resume`, e.g. at a lower learning rate)"
            if checkpoint is not None
            else "no checkpoint had been written yet"
        )
        raise TrainingDivergedError(
            f"step {self.step + 1}: the loss is not finite ({values} on process {self.accelerator.process_index}); "
            f"training stopped, {kept}."
        )

    # ------------------------------------------------------------------ loop
    def _batches(self):
        """Yield batches forever, epoch after epoch, starting at the data position of `self.step`."""
        accumulation = self.config.gradient_accumulation_steps
        steps_per_epoch = max(len(self.train_dataloader) // accumulation, 1)
        skip = (self.step % steps_per_epoch) * accumulation if self.step else 0
        self.epoch = self.step // steps_per_epoch
        while True:
            self.train_dataloader.set_epoch(self.epoch)
            loader = self.accelerator.skip_first_batches(self.train_dataloader, skip) if skip else self.train_dataloader
            # A dataloader iterator draws a base seed from the global RNG when it yields its first
            # batch (accelerate's iterators are lazy). The uninterrupted run drew it at the start of
            # the epoch: before the checkpoint when resuming mid-epoch, after it when resuming at an
            # epoch boundary. Restore the RNG states on the same side of that draw, so the resumed
            # run draws the same random numbers (noise, timesteps, dropout) as the uninterrupted one.
            iterator = iter(loader)
            if self._checkpoint_to_load is not None:
                if skip:
                    first = next(iterator, None)
                    self._load_checkpoint()
                    if first is not None:
                        yield first
                else:
                    self._load_checkpoint()
            yield from iterator
            skip = 0
            self.epoch += 1

    def fit(self) -> dict[str, float]:
        """Train to `config.max_steps`; returns the last logged values (and validation values)."""
        config = self.config
        self._checkpoint_to_load = None
        if config.resume:
            self._resume()
            if self.step >= config.max_steps:  # nothing left to train: no batch would load the checkpoint
                self._load_checkpoint()
        if self.accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            with atomic_write(self.output_dir / "config.json") as tmp:
                tmp.write_text(json.dumps(asdict(config), indent=2))
            self._drop_log_after(self.step)
        self.accelerator.wait_for_everyone()
        if config.log_with:
            self.accelerator.init_trackers(TENSORBOARD_DIR)
        progress = tqdm(
            total=config.max_steps, initial=self.step, desc="train", disable=not self.accelerator.is_local_main_process
        )
        try:
            last_values = self._train(progress)
        finally:
            progress.close()
            for tracker in self.accelerator.trackers:
                tracker.finish()
        self.save_final()
        return last_values

    def _train(self, progress: tqdm) -> dict[str, float]:
        config = self.config
        self.model.train()
        totals: dict[str, float] = {}
        micro_batches = 0
        last_values: dict[str, float] = {}
        tic = time.perf_counter()
        steps_since_log = 0
        validated_step: int | None = None
        batches = self._batches()
        while self.step < config.max_steps:
            batch = next(batches)
            with self.accelerator.accumulate(self.model):
                terms = self.compute_loss(self.model, batch)
                if "loss" not in terms:
                    raise InvalidInputError(
                        f"`compute_loss` must return a dict with a 'loss' entry, got {sorted(terms)}."
                    )
                self._check_finite(terms)
                self.accelerator.backward(terms["loss"])
                if self.accelerator.sync_gradients and config.max_grad_norm > 0:
                    self.accelerator.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
                self.optimizer.step()
                self.lr_scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
            for key, value in terms.items():
                totals[key] = totals.get(key, 0.0) + float(value.detach().float().mean())
            micro_batches += 1
            if not self.accelerator.sync_gradients:
                continue
            if self.ema is not None:
                self.ema.step(self._ema_parameters())
            self.step += 1
            steps_since_log += 1
            progress.update(1)
            progress.set_postfix(loss=f"{float(terms['loss'].detach()):.4f}")
            if self.step % config.log_every == 0 or self.step == config.max_steps:
                elapsed = time.perf_counter() - tic
                last_values = self._mean_over_processes(totals, micro_batches)
                last_values["lr"] = self.lr_scheduler.get_last_lr()[0]
                last_values["steps_per_s"] = steps_since_log / max(elapsed, 1e-9)
                self._log(last_values, progress)
                totals, micro_batches, steps_since_log, tic = {}, 0, 0, time.perf_counter()
            # Validate before checkpointing, so a checkpoint holds the best value up to its step.
            validate_every = config.validate_every or config.checkpoint_every
            if self.step % validate_every == 0 or self.step == config.max_steps:
                last_values.update(self._run_validation(progress))
                validated_step = self.step
            if self.step % config.checkpoint_every == 0 or self.step == config.max_steps:
                self.save_checkpoint()
        if validated_step != self.step:  # resumed at `max_steps`: nothing ran
            last_values.update(self._run_validation(None))
        return last_values

    def save_final(self) -> Path:
        """`save_pretrained` the model (EMA weights when enabled) into `output_dir/final`."""
        return self._save_pretrained(self.output_dir / FINAL_DIR)

    def _save_pretrained(self, path: Path, record: dict | None = None) -> Path:
        """`save_pretrained` the (EMA) model into `path` (plus `record` as `BEST_RECORD`), all or nothing.

        Every process takes part (under FSDP/DeepSpeed the full weights are gathered from the
        shards); PEFT LoRA layers are merged, so `path` loads into the model class as a plain model.
        """
        self.accelerator.wait_for_everyone()
        model = self.accelerator.unwrap_model(self.model)
        if self.ema is not None:
            self.ema.store(self._ema_parameters())
            self.ema.copy_to(self._ema_parameters())
        try:
            scalings = lora_scalings(model)
            standalone = not scalings and not self.shards_weights
            state_dict = None if standalone else self.accelerator.get_state_dict(self.model)
            if self.accelerator.is_main_process:
                to_save = model if standalone else self._plain_model(model, state_dict, scalings)
                partial = path.with_name(path.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                to_save.save_pretrained(str(partial))
                if record is not None:
                    (partial / BEST_RECORD).write_text(json.dumps(record, indent=2))
                shutil.rmtree(path, ignore_errors=True)
                partial.rename(path)
        finally:
            if self.ema is not None:
                self.ema.restore(self._ema_parameters())
        self.accelerator.wait_for_everyone()
        return path

    @staticmethod
    def _plain_model(
        model: nn.Module, state_dict: dict[str, torch.Tensor], lora: dict[str, dict[str, float]]
    ) -> ModelMixin:
        """A model of `model`'s own class (not FSDP's wrapper class, LoRA merged) holding `state_dict`."""
        from accelerate import init_empty_weights
        from torch.distributed.fsdp import FSDPModule

        if lora:
            state_dict = merge_lora_state_dict(state_dict, lora)
        # FSDP2 swaps the model's class for a subclass of (FSDPModule, the model's class).
        model_class = next(cls for cls in type(model).__mro__ if not issubclass(cls, FSDPModule))
        with init_empty_weights():
            plain = model_class.from_config(model.config)
        plain.load_state_dict(state_dict, assign=True)
        return plain


def enable_gradient_checkpointing(model: nn.Module) -> None:
    """Call the model's `enable_gradient_checkpointing` (diffusers' models have one); a clear error otherwise."""
    enable = getattr(model, "enable_gradient_checkpointing", None)
    if enable is None:
        raise InvalidInputError(
            f"TrainConfig: `gradient_checkpointing` is set but {type(model).__name__} has no "
            "`enable_gradient_checkpointing`."
        )
    try:
        enable()
    except ValueError as error:  # diffusers: the class does not set `_supports_gradient_checkpointing`
        raise InvalidInputError(f"TrainConfig: `gradient_checkpointing`: {error}") from error
