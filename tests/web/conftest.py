"""A model directory for the web demo's tests: the tiny random MoSA and EchoMotion pipelines of the pipeline
tests, saved once per session as `<dir>/mosa` and `<dir>/echomotion` (what `kinevid serve --model-dir` reads)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for builders in ("mosa_pipeline", "echomotion"):
    if str(TESTS / builders) not in sys.path:
        sys.path.insert(0, str(TESTS / builders))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    from mosa_pipeline_tiny import tiny_pipeline
    from test_echomotion_pipeline import _components

    from kinevid.pipelines import EchoMotionPipeline

    path = tmp_path_factory.mktemp("models")
    tiny_pipeline(structure=True).save_pretrained(path / "mosa")
    EchoMotionPipeline(**_components(), max_sequence_length=8).save_pretrained(path / "echomotion")
    for method, size in (("mosa", 32), ("echomotion", 16)):
        record_sampling_defaults(path / method, size)
    return path


def record_sampling_defaults(path: Path, size: int) -> None:
    """Record a tiny clip (size x size, 5 frames at 16 fps, 2 steps) as the pipeline's defaults, as
    `kinevid train` does for the size it trained at, so that the page's blank fields give a fast run."""
    index = json.loads((path / "model_index.json").read_text())
    index.update(height=size, width=size, num_frames=5, num_inference_steps=2, fps=16.0)
    (path / "model_index.json").write_text(json.dumps(index))


@pytest.fixture(scope="session")
def mosa_only_dir(model_dir, tmp_path_factory) -> Path:
    """Only the MoSA pipeline: EchoMotion is missing, as in the shipped assets today."""
    path = tmp_path_factory.mktemp("mosa_only")
    (path / "mosa").symlink_to(model_dir / "mosa", target_is_directory=True)
    return path
