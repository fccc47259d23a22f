"""Tiny random MoSA and EchoMotion pipeline directories for the `kinevid generate / animate / capture` tests,
built with the pipeline tests' own builders and saved once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for builders in ("mosa_pipeline", "echomotion"):
    if str(TESTS / builders) not in sys.path:
        sys.path.insert(0, str(TESTS / builders))


@pytest.fixture(scope="session")
def mosa_dir(tmp_path_factory) -> Path:
    from mosa_pipeline_tiny import tiny_pipeline

    path = tmp_path_factory.mktemp("models") / "mosa"
    tiny_pipeline(structure=True).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def echomotion_dir(tmp_path_factory) -> Path:
    from test_echomotion_pipeline import _components

    from kinevid.pipelines import EchoMotionPipeline

    path = tmp_path_factory.mktemp("models") / "echomotion"
    EchoMotionPipeline(**_components(), max_sequence_length=8).save_pretrained(path)
    return path
