"""`read_state_dict`: the weight-file reader of the I3D and RAFT metric networks."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from kinevid.errors import InvalidInputError
from kinevid.eval.video.weights import read_state_dict


def test_reads_safetensors_and_torch_files_unwrapping_released_checkpoints(tmp_path):
    weight = torch.arange(6.0).reshape(2, 3)
    save_file({"conv.weight": weight}, tmp_path / "plain.safetensors")
    torch.save({"state_dict": {"module.conv.weight": weight}}, tmp_path / "wrapped.pth")
    for name in ("plain.safetensors", "wrapped.pth"):
        state = read_state_dict(tmp_path / name, "RAFT")
        assert list(state) == ["conv.weight"] and torch.equal(state["conv.weight"], weight)


def test_rejects_unreadable_files_and_non_tensor_dicts(tmp_path):
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidInputError, match=r"garbage\.pth: not a readable I3D state dict"):
        read_state_dict(tmp_path / "garbage.pth", "I3D")
    torch.save({"step": 3}, tmp_path / "trainer.pt")
    with pytest.raises(InvalidInputError, match=r"trainer\.pt: expected the RAFT weights as a state dict"):
        read_state_dict(tmp_path / "trainer.pt", "RAFT")
