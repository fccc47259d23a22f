"""Evaluator training recipe: a smoke run on a few real trials (cache, best checkpoint, resume)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kinevid.cli.main import main as kinevid_main
from kinevid.errors import InvalidInputError
from kinevid.eval import TextMotionRetrievalModel
from kinevid.eval.train_evaluator import EvaluatorTrainConfig, main

REPO_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "evaluator_cmu.json"


def test_repository_config_parses():
    config = EvaluatorTrainConfig.from_json(REPO_CONFIG)
    assert config.model.fps == 12.0 and config.batch_size > 0


def test_unknown_config_keys_are_rejected(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"batch_sise": 4}))
    with pytest.raises(InvalidInputError, match="batch_sise"):
        EvaluatorTrainConfig.from_json(path)


def test_smoke_training_run_saves_a_loadable_best_model_and_resumes(tmp_path, cmu_root):
    config = {
        "output_dir": str(tmp_path / "run"),
        "cmu_root": str(cmu_root),
        "model": {"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 16, "latent_dim": 8},
        "batch_size": 4,
        "warmup_steps": 1,
        "max_steps": 2,
        "validate_every": 2,
        "max_trials": 6,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    best = main(["--config", str(tmp_path / "config.json")])
    assert best["step"] == 2 and 0.0 <= best["val/top1"] <= best["val/top3"] <= 1.0
    run = tmp_path / "run"
    assert (run / "cache" / "train_first6_features.safetensors").is_file()
    model = TextMotionRetrievalModel.from_pretrained(run / "best")
    assert model.config.hidden_dim == 16 and float(model.feature_std.min()) > 0
    # Resume (through `kinevid train evaluator`) continues from step 2 up to the new limit.
    argv = ["train", "evaluator", "--config", str(tmp_path / "config.json"), "--output", str(run)]
    assert kinevid_main([*argv, "--resume", "--max-steps", "4"]) == 0
    steps = [json.loads(line)["step"] for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert steps == [2, 4]
