"""Wall-clock helpers the benchmark scripts share (best of several runs, so that load spikes drop out)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def best_seconds(function: Callable[[], object], repeats: int = 3) -> float:
    """The shortest of `repeats` timed calls of `function`."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def best_interleaved_seconds(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Per run the shortest of `repeats` timed calls under `torch.no_grad()`, after one warm-up call each.

    The runs take turns, so that load changes on a shared machine hit all of them alike.
    """
    samples: dict[str, list[float]] = {name: [] for name in runs}
    with torch.no_grad():
        for run in runs.values():
            run()
        for _ in range(repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in samples.items()}
