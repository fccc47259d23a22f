"""`kinevid data cache` under `accelerate launch` with 2 CPU processes (gloo): each encodes its share of the
shards, and the cache equals a 1-process one bit for bit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kinevid.cli.main import main
from kinevid.data.cache import LatentCacheDataset

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.heavy  # two fresh interpreters import torch + diffusers: about 60 s on the shared 2-core machine
def test_two_processes_write_the_same_cache_as_one(synth_dir, vae_dir, tmp_path):
    common = [str(synth_dir), "--vae", str(vae_dir), "--clips-per-shard", "1"]
    single, double = tmp_path / "single", tmp_path / "double"
    assert main(["data", "cache", *common, "-o", str(single)]) == 0
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file",
        str(REPO_ROOT / "configs" / "accelerate" / "ddp.yaml"), "--num_processes", "2",
        "--main_process_port", str(_free_port()), "-m", "kinevid.cli.main", "data", "cache", *common,
        "-o", str(double),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "caching clips (process 1/2): 100%|██████████| 3/3" in result.stderr  # shards 0, 2, 4 on the main one
    one, two = LatentCacheDataset(single), LatentCacheDataset(double)
    assert len(two) == len(one) == 5 and two.text_length == one.text_length
    for index in range(5):
        for name, tensor in one.arrays(index).items():
            assert torch.equal(two.arrays(index)[name], tensor), (index, name)
