"""Running diffusers' context parallelism on CPU processes (gloo), shared by the model tests that check it.

On a CPU-only torch, diffusers 0.42.1's `ModelMixin._resolve_parallel_config` picks the rank's device as
`rank % torch.accelerator.device_count()` and divides by zero; `enable_context_parallel` reports one device
while `enable_parallelism` runs (the device is only recorded; every tensor stays on the CPU).
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from diffusers import ContextParallelConfig

WORLD_SIZE = 2
TIMEOUT_SECONDS = 240


@contextlib.contextmanager
def gloo_process_group(rank: int, store: str) -> Iterator[None]:
    """A `WORLD_SIZE`-process gloo group rendezvousing at the file `store`, destroyed on exit."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=datetime.timedelta(seconds=TIMEOUT_SECONDS),
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


def enable_context_parallel(model: torch.nn.Module, config: ContextParallelConfig) -> None:
    """`model.enable_parallelism(config=config)` on a CPU-only torch."""
    with mock.patch.object(torch.accelerator, "device_count", return_value=1):
        model.enable_parallelism(config=config)


def spawn_workers(worker: Callable[..., None], root: Path, *args: object) -> list[dict]:
    """Run `worker(rank, str(root), store, *args)` on `WORLD_SIZE` processes within `TIMEOUT_SECONDS`.

    Each rank saves its results to `root / f"results_rank{rank}.pt"`; returns them in rank order.
    """
    context = mp.start_processes(
        worker,
        args=(str(root), str(root / "store"), *args),
        nprocs=WORLD_SIZE,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"context-parallel workers did not finish within {TIMEOUT_SECONDS} s")
    return [torch.load(root / f"results_rank{rank}.pt", weights_only=True) for rank in range(WORLD_SIZE)]
