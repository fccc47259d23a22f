"""Tiny configurations and fixtures shared by the test packages of the video models (CPU, seconds).

Importable from any test module (pytest puts `tests/` on `sys.path` for `tests/conftest.py`).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

TINY_WAN_CONFIG: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 16,
    "freq_dim": 32,
    "ffn_dim": 32,
    "num_layers": 2,
    "cross_attn_norm": True,
    "rope_max_seq_len": 32,
}
"""A two-block `WanTransformer3DModel` config (width 24); also valid for the MoSA and EchoMotion Wan models."""


def tiny_wan_config(**overrides: Any) -> dict[str, Any]:
    """`TINY_WAN_CONFIG` with `overrides` (e.g. `num_layers=3`, or `in_channels=16` for a real VAE's latents)."""
    return {**TINY_WAN_CONFIG, **overrides}


@pytest.fixture(autouse=True, scope="module")
def single_threaded():
    """Tiny models run fastest on one thread; on a loaded machine two threads contend (up to 40x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
