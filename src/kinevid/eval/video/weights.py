"""Reading the weight files of the metric networks (I3D, RAFT), which come as state dicts from local files."""

from __future__ import annotations

from pathlib import Path

import torch

from ...errors import InvalidInputError


def read_state_dict(path: Path, name: str) -> dict[str, torch.Tensor]:
    """The state dict in `path`: `.safetensors`, or a `torch.save` file read with `weights_only=True`.

    A checkpoint wrapping it as `{"state_dict": ...}` is unwrapped and DataParallel's `module.` prefixes are
    dropped, as released checkpoints often have them. `name` (e.g. `"RAFT"`) names the network in errors.
    """
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # header, pickle, zip and version errors all mean "not a state dict we can read"
        reader = "safetensors" if path.suffix == ".safetensors" else "torch.load(weights_only=True)"
        detail = (str(error).strip().splitlines() or [""])[0]  # torch's messages span many lines
        if detail.startswith("Weights only load failed"):
            detail = "it holds objects other than tensors, or is not a torch file"
        raise InvalidInputError(
            f"{path}: not a readable {name} state dict ({reader}: {type(error).__name__}: {detail}); "
            "expected .safetensors or a torch-saved dict of tensors."
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise InvalidInputError(f"{path}: expected the {name} weights as a state dict (a dict of tensors).")
    return {key.removeprefix("module."): value for key, value in state.items()}
