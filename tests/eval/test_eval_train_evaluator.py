"""Evaluator training recipe: config, the random window dataset, and a smoke run on a few real trials
through `kinevid.train.Trainer` (best checkpoint, resume identical to an uninterrupted run)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kinevid.body.skeleton import SMPL24
from kinevid.cli.main import main as kinevid_main
from kinevid.errors import InvalidInputError
from kinevid.eval import TextMotionEvaluator, TextMotionRetrievalModel
from kinevid.eval.motion_features import mirror_joint_motion_features
from kinevid.recipes.evaluator import (
    EvaluatorTrainingConfig,
    RandomWindowDataset,
    TrialFeatures,
    collate_windows,
    main,
)

REPO_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "evaluator_cmu.json"


def test_repository_config_parses_into_a_trainer_config(tmp_path):
    config = EvaluatorTrainingConfig.load(REPO_CONFIG, output_dir=tmp_path)
    train = config.train
    assert train.output_dir == str(tmp_path)
    assert (train.batch_size, train.learning_rate, train.weight_decay, train.warmup_steps) == (64, 5e-4, 0.01, 200)
    assert (train.max_steps, train.validate_every, train.num_threads, train.seed) == (3000, 250, 1, 0)
    assert (train.best_metric, train.best_metric_mode) == ("val/top3", "max")
    arguments = config.model_arguments()
    assert arguments["fps"] == 12.0 and arguments["text_encoder"] == "minilm"
    model = TextMotionRetrievalModel(**arguments, text_embedding_dim=384)
    assert model.config.hidden_dim == 128 and model.config.num_layers == 3


@pytest.mark.parametrize(
    ("values", "bad_key"),
    [
        ({"batch_size": 4}, "batch_size"),  # the old flat layout
        ({"train": {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3, "batch_sise": 4}}, "batch_sise"),
        ({"train": {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3}, "data": {"mirrorr": True}}, "mirrorr"),
        ({"train": {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3}, "model": {"hidden": 8}}, "hidden"),
        ({"train": {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3}, "model": {"text_embedding_dim": 8}}, ""),
    ],
)
def test_unknown_config_keys_are_rejected_with_the_file_name(tmp_path, values, bad_key):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    with pytest.raises(InvalidInputError, match=rf"{path}.*unknown keys \['{bad_key or 'text_embedding_dim'}'\]"):
        EvaluatorTrainingConfig.load(path, output_dir=tmp_path / "run")


def test_missing_or_invalid_config_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        EvaluatorTrainingConfig.load(tmp_path / "missing.json", output_dir=tmp_path)
    path = tmp_path / "config.json"
    path.write_text("{")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        EvaluatorTrainingConfig.load(path, output_dir=tmp_path)
    path.write_text(json.dumps({"train": {"batch_size": 4, "learning_rate": 1e-3}}))
    with pytest.raises(InvalidInputError, match="max_steps"):
        EvaluatorTrainingConfig.load(path, output_dir=tmp_path)


# ---------------------------------------------------------------------- the window dataset
def synthetic_trials() -> tuple[TrialFeatures, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    lengths = [40, 15, 60]
    texts = [["turn left"], ["jump", "hop in place"], ["walk"]]
    features = [torch.randn(length, 145, generator=generator) for length in lengths]
    embeddings = {text: torch.randn(8, generator=generator) for captions in texts for text in captions}
    return TrialFeatures(["a", "b", "c"], features, texts), embeddings


def locate(window: torch.Tensor, data: TrialFeatures) -> tuple[int, int, bool]:
    """(trial, start, mirrored) of a window, found by brute force over every trial and start."""
    for trial, features in enumerate(data.features):
        mirrored_features = mirror_joint_motion_features(features, SMPL24.mirror_indices)
        for start in range(len(features) - len(window) + 1):
            if torch.equal(features[start : start + len(window)], window):
                return trial, start, False
            if torch.equal(mirrored_features[start : start + len(window)], window):
                return trial, start, True
    raise AssertionError("window not found in any trial")


def test_window_items_are_pure_functions_of_seed_and_index():
    data, embeddings = synthetic_trials()
    dataset = RandomWindowDataset(data, embeddings, num_samples=300, min_frames=10, max_frames=30, seed=5)
    again = RandomWindowDataset(data, embeddings, num_samples=300, min_frames=10, max_frames=30, seed=5)
    other_seed = RandomWindowDataset(data, embeddings, num_samples=300, min_frames=10, max_frames=30, seed=6)
    assert len(dataset) == 300
    for index in (0, 7, 299, 7):
        item, repeat = dataset[index], again[index]
        assert torch.equal(item["motion_features"], repeat["motion_features"])
        assert torch.equal(item["text_embeddings"], repeat["text_embeddings"])
    assert not torch.equal(dataset[3]["motion_features"], dataset[4]["motion_features"])
    differs = [
        dataset[i]["motion_features"].shape != other_seed[i]["motion_features"].shape
        or not torch.equal(dataset[i]["motion_features"], other_seed[i]["motion_features"])
        for i in range(10)
    ]
    assert any(differs)
    with pytest.raises(IndexError):
        dataset[300]


def test_window_sampling_semantics():
    data, embeddings = synthetic_trials()
    dataset = RandomWindowDataset(data, embeddings, num_samples=300, min_frames=10, max_frames=30, seed=0)
    trials, mirrored_by_trial, lengths, captions = Counter(), Counter(), [], Counter()
    for index in range(len(dataset)):
        item = dataset[index]
        window = item["motion_features"]
        trial, _, mirrored = locate(window, data)
        trials[trial] += 1
        mirrored_by_trial[trial] += mirrored
        # The length is drawn in [10, 30] and capped by the trial (trial "b" has 15 frames).
        assert 10 <= len(window) <= min(30, len(data.features[trial]))
        lengths.append(len(window))
        caption = [text for text in data.texts[trial] if torch.equal(embeddings[text], item["text_embeddings"])]
        assert len(caption) == 1
        captions[caption[0]] += 1
    assert all(count > 60 for count in trials.values())  # uniform over 3 trials: 100 expected each
    assert mirrored_by_trial[0] == 0  # "turn left" names a side: never mirrored
    assert 0.3 < mirrored_by_trial[1] / trials[1] < 0.7 and 0.3 < mirrored_by_trial[2] / trials[2] < 0.7
    assert captions["jump"] > 25 and captions["hop in place"] > 25  # both captions of trial "b" are drawn
    assert min(lengths) < 14 and max(lengths) > 26
    no_mirror = RandomWindowDataset(data, embeddings, 100, 10, 30, mirror=False, seed=0)
    assert not any(locate(no_mirror[i]["motion_features"], data)[2] for i in range(100))


def test_collate_pads_windows_and_stacks_captions():
    data, embeddings = synthetic_trials()
    dataset = RandomWindowDataset(data, embeddings, num_samples=8, min_frames=5, max_frames=30, seed=0)
    items = [dataset[i] for i in range(8)]
    batch = collate_windows(items)
    longest = max(len(item["motion_features"]) for item in items)
    assert batch["motion_features"].shape == (8, longest, 145) and batch["text_embeddings"].shape == (8, 8)
    for row, item in enumerate(items):
        length = len(item["motion_features"])
        assert batch["frame_mask"][row].tolist() == [True] * length + [False] * (longest - length)
        assert torch.equal(batch["motion_features"][row, :length], item["motion_features"])
        assert not batch["motion_features"][row, length:].any()
        assert torch.equal(batch["text_embeddings"][row], item["text_embeddings"])


# ---------------------------------------------------------------------- end to end on real trials
def write_config(tmp_path: Path, cmu_root: Path) -> Path:
    config = {
        "data": {"cmu_root": str(cmu_root), "max_trials": 6},
        "model": {"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 16, "latent_dim": 8},
        "train": {
            "max_steps": 4,
            "batch_size": 4,
            "learning_rate": 1e-3,
            "warmup_steps": 1,
            # A schedule that does not depend on `max_steps`: the test interrupts with `--max-steps 2`.
            "lr_scheduler": "constant_with_warmup",
            "validate_every": 2,
            "checkpoint_every": 2,
            "log_every": 2,
            "best_metric": "val/top3",
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(directory / "diffusion_pytorch_model.safetensors")


def test_smoke_training_keeps_the_best_model_and_resumes_exactly(tmp_path, cmu_root):
    config = write_config(tmp_path, cmu_root)
    full = tmp_path / "full"
    best_dir = main(["--config", str(config), "--output", str(full)])
    assert best_dir == full / "best"
    assert (full / "cache" / "train_fps12_min2s_first6_features.safetensors").is_file()
    records = [json.loads(line) for line in (full / "logs.jsonl").read_text().splitlines()]
    val = {record["step"]: record["val/top3"] for record in records if "val/top3" in record}
    assert sorted(val) == [2, 4]
    best_step = 2 if val[2] >= val[4] else 4  # the first of equal values stays best
    record = json.loads((best_dir / "best_metric.json").read_text())
    assert (record["step"], record["value"]) == (best_step, val[best_step])
    evaluator = TextMotionEvaluator.from_pretrained(best_dir)
    assert evaluator.model.config.hidden_dim == 16 and float(evaluator.model.feature_std.min()) > 0
    checkpoint = load_file(full / "checkpoints" / f"step_{best_step:07d}" / "model.safetensors")
    best = weights(best_dir)
    assert all(torch.equal(best[name], checkpoint[name]) for name in best)  # no EMA: the step's weights

    # Interrupted at step 2, resumed through `kinevid train evaluator`: the same data, noise and weights.
    resumed = tmp_path / "resumed"
    argv = ["train", "evaluator", "--config", str(config), "--output", str(resumed)]
    assert kinevid_main([*argv, "--max-steps", "2"]) == 0
    assert kinevid_main([*argv, "--resume"]) == 0
    full_final, resumed_final = weights(full / "final"), weights(resumed / "final")
    assert all(torch.equal(full_final[name], resumed_final[name]) for name in full_final)
    assert json.loads((resumed / "best" / "best_metric.json").read_text()) == record
    resumed_records = [json.loads(line) for line in (resumed / "logs.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed_records if "val/top3" in r] == [2, 4]
    assert [r["val/top3"] for r in resumed_records if "val/top3" in r] == [val[2], val[4]]
