"""Shared test fixtures: where the real CMU data lives, seeded randomness."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
# Tests run tiny models, for which thread start-up costs more than it gains; on a busy 2-core machine
# two threads per process made the suite many times slower. `KINEVID_TEST_THREADS` overrides.
torch.set_num_threads(int(os.environ.get("KINEVID_TEST_THREADS", "1")))
SHARED_DATA = Path(os.environ.get("KINEVID_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` (or `$KINEVID_SHARED_DATA`): the CMU joints and BVH samples."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}; set KINEVID_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cmu_root(shared_data: Path) -> Path:
    return shared_data / "cmu_mocap"


@pytest.fixture(scope="session")
def bvh_dir(shared_data: Path) -> Path:
    return shared_data / "bvh"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
