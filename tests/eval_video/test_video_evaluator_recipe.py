"""`kinevid train video-evaluator` end to end on two tiny synthetic datasets, and its config checks."""

from __future__ import annotations

import json

import pytest
import torch

from kinevid.cli.main import main
from kinevid.data.cmu import CMUMocap
from kinevid.data.synth import SynthConfig, build_synthetic_dataset
from kinevid.errors import InvalidInputError
from kinevid.eval.video.retrieval import load_video_evaluator
from kinevid.recipes.video_evaluator import RandomClipDataset, VideoEvaluatorTrainingConfig, load_prepared_clips

TRIALS = ["02_01", "05_02", "13_29"]
TINY_MODEL = {
    "num_frames": 9,
    "frame_size": 16,
    "channels": [4, 8],
    "token_grid": 2,
    "hidden_dim": 16,
    "num_layers": 1,
    "num_heads": 2,
    "ffn_dim": 32,
    "latent_dim": 8,
}


@pytest.fixture(scope="module")
def datasets(cmu_root, tmp_path_factory):
    trials = CMUMocap(cmu_root, trial_ids=TRIALS, fps=8, min_frames=9)
    root = tmp_path_factory.mktemp("synth")
    options = dict(num_clips=4, clips_per_shard=4, num_frames=9, height=32, width=32, num_track_points=4)
    train = build_synthetic_dataset(trials, root / "train", SynthConfig(**options, seed=0), show_progress=False)
    val = build_synthetic_dataset(trials, root / "val", SynthConfig(**options, seed=1), show_progress=False)
    return train, val


def _config(tmp_path, train, val, **train_changes) -> str:
    values = {
        "data": {"train_dir": str(train), "val_dir": str(val), "max_shift": 1},
        "model": TINY_MODEL,
        "train": {
            "max_steps": 2,
            "batch_size": 2,
            "learning_rate": 1e-3,
            "checkpoint_every": 2,
            "log_every": 1,
            "validate_every": 2,
            "best_metric": "val/top3",
            "num_threads": 1,
            **train_changes,
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    return str(path)


def test_train_command_keeps_a_loadable_best_model(tmp_path, datasets, capsys):
    config = _config(tmp_path, *datasets)
    assert main(["train", "video-evaluator", "--config", config, "--output", str(tmp_path / "run")]) == 0
    best = tmp_path / "run" / "best"
    record = json.loads((best / "best_metric.json").read_text())
    assert record["metric"] == "val/top3" and 0 <= record["value"] <= 1
    evaluator = load_video_evaluator(best)
    assert evaluator.model.config.num_frames == 9 and evaluator.model.config.token_grid == 2
    logs = [json.loads(line) for line in (tmp_path / "run" / "logs.jsonl").read_text().splitlines()]
    assert any("val/loss" in entry for entry in logs)
    assert "video evaluator: " in capsys.readouterr().out


def test_prepared_clips_and_samples_have_the_model_layout(datasets):
    clips = load_prepared_clips(datasets[0], {"num_frames": 9, "frame_size": 16, "fps": 8.0}, show_progress=False)
    assert clips.videos.shape == (4, 3, 9, 16, 16) and clips.videos.dtype == torch.float16
    assert len(clips.captions) == 4 and all("shirt" in caption for caption in clips.captions)
    embeddings = {caption: torch.full((5,), float(i)) for i, caption in enumerate(clips.captions)}
    dataset = RandomClipDataset(clips, embeddings, num_samples=6, max_shift=1, seed=3)
    first, again = dataset[4], dataset[4]
    assert first["videos"].shape == (3, 9, 16, 16) and first["text_embeddings"].shape == (5,)
    torch.testing.assert_close(first["videos"], again["videos"])  # a pure function of (seed, index)
    with pytest.raises(IndexError):
        dataset[6]


def test_bad_config_values_are_named(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"model": {"frame_sise": 16}, "train": {"max_steps": 1, "batch_size": 1, "learning_rate": 1e-3}})
    )
    with pytest.raises(InvalidInputError, match="frame_sise"):
        VideoEvaluatorTrainingConfig.load(path, output_dir=tmp_path / "run")
    path.write_text(
        json.dumps({"data": {"max_shift": -1}, "train": {"max_steps": 1, "batch_size": 1, "learning_rate": 1e-3}})
    )
    with pytest.raises(InvalidInputError, match="max_shift"):
        VideoEvaluatorTrainingConfig.load(path, output_dir=tmp_path / "run")
