from .io import atomic_directory, atomic_write, atomic_write_group, check_output_path
from .threads import torch_threads

__all__ = ["atomic_directory", "atomic_write", "atomic_write_group", "check_output_path", "torch_threads"]
