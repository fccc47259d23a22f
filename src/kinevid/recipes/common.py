"""What the video recipes (`mosa`, `echomotion`) do alike around `kinevid.train.Trainer`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import InvalidInputError
from ..train.engine import TrainConfig, check_config_keys
from ..utils.io import atomic_directory, atomic_write


def apply_cli_overrides(train: TrainConfig, args: argparse.Namespace) -> None:
    """Set `--max-steps N` (if given) and `--resume` of a `kinevid train ...` command on `train`."""
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise InvalidInputError(f"`--max-steps` must be a positive integer, got {args.max_steps}.")
        train.max_steps = args.max_steps
    train.resume = args.resume


def training_loader(
    dataset: torch.utils.data.Dataset, train: TrainConfig, num_workers: int, source: str, num_clips: int
) -> torch.utils.data.DataLoader:
    """Shuffled full batches of `train.batch_size`; `source` (and its `num_clips`) names the data in the error."""
    dataloader = torch.utils.data.DataLoader(
        dataset, batch_size=train.batch_size, shuffle=True, drop_last=True, num_workers=num_workers
    )
    if len(dataloader) == 0:
        raise InvalidInputError(f"{source}: {num_clips} clips are fewer than train.batch_size {train.batch_size}")
    return dataloader


def fixed_batches(dataset: torch.utils.data.Dataset, batch_size: int, num_batches: int) -> list[dict[str, Any]]:
    """The first `batch_size * num_batches` items (or all there are), collated in order: validation batches."""
    count = min(len(dataset), batch_size * num_batches)
    return [
        torch.utils.data.default_collate([dataset[i] for i in range(start, min(start + batch_size, count))])
        for start in range(0, count, batch_size)
    ]


def mean_terms(
    batches: list[dict[str, Any]], device: torch.device, terms: Callable[[dict[str, Any]], dict[str, torch.Tensor]]
) -> dict[str, float]:
    """The mean over `batches` (their tensors moved to `device`) of each scalar `terms(batch)` returns."""
    totals: dict[str, float] = {}
    for batch in batches:
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        for name, value in terms(batch).items():
            totals[name] = totals.get(name, 0.0) + float(value) / len(batches)
    return totals


def write_run_config(output_dir: Path, filename: str, config: dict[str, Any]) -> None:
    """Create `output_dir` and write the run's resolved config there as JSON (atomically)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(output_dir / filename) as tmp:
        tmp.write_text(json.dumps(config, indent=2))


def save_pipeline(pipeline: Any, pipeline_dir: Path) -> Path:
    """`pipeline.save_pretrained(pipeline_dir)`, all or nothing (written beside it, then renamed)."""
    with atomic_directory(pipeline_dir) as staging:
        pipeline.save_pretrained(staging)
    return pipeline_dir


SAMPLING_KEYS = {"num_inference_steps": int, "guidance_scale": (int, float)}
"""What a recipe config's `sampling` section may set: the exported pipeline's sampling defaults."""


def check_sampling_section(sampling: dict, source: str = "sampling") -> None:
    """Raise `InvalidInputError` unless `sampling` maps `SAMPLING_KEYS` to positive numbers of their kind."""
    check_config_keys(sampling, set(SAMPLING_KEYS), source)
    for name, kind in SAMPLING_KEYS.items():
        value = sampling.get(name)
        if name in sampling and (isinstance(value, bool) or not isinstance(value, kind) or not value > 0):
            raise InvalidInputError(
                f"`{source}.{name}` must be a positive {kind if isinstance(kind, type) else 'number'}, got {value!r}"
            )
