from .io import atomic_write
from .threads import torch_threads

__all__ = ["atomic_write", "torch_threads"]
