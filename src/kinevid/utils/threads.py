"""CPU thread control for small models."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..errors import InvalidInputError


@contextlib.contextmanager
def torch_threads(num_threads: int) -> Iterator[None]:
    """Run the block with `torch.set_num_threads(num_threads)`, restoring the previous count after.

    kinevid's shipped models are small: a second thread mostly adds synchronisation, and on a busy
    machine it can make them several times slower.
    """
    if num_threads < 1:
        raise InvalidInputError(f"`num_threads` must be >= 1, got {num_threads}.")
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
