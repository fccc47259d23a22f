"""The CMU training recipe end to end (tiny), and the `kinevid motion` / `kinevid train` commands."""

from __future__ import annotations

import json

import pytest
import torch

from kinevid.cli.main import main
from kinevid.errors import InvalidInputError
from kinevid.motion.motion import Motion
from kinevid.pipelines import TextToMotionPipeline
from kinevid.recipes.structure import StructureTrainingConfig, export_checkpoint, train_text_to_motion

TINY = {
    "normalization_windows": 200,
    "validation_batches": 1,
    "data": {"max_trials": 2, "stride": 4},
    "model": {"num_history_frames": 2, "num_future_frames": 6, "hidden_dim": 32, "num_layers": 1, "num_heads": 2},
    "train": {"max_steps": 60, "batch_size": 8, "learning_rate": 0.003, "checkpoint_every": 30, "log_every": 5,
              "validate_every": 5, "ema_decay": 0.9, "num_threads": 1},
}  # fmt: skip


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, cmu_root):
    output = tmp_path_factory.mktemp("structure_run")
    config = StructureTrainingConfig.from_dict({**TINY, "data": {**TINY["data"], "cmu_root": str(cmu_root)}}, output)
    return output, train_text_to_motion(config)


def test_recipe_trains_and_writes_a_loadable_pipeline(trained_run):
    output, pipeline_dir = trained_run
    records = [json.loads(line) for line in (output / "logs.jsonl").read_text().splitlines()]
    # Validation uses fixed windows and fixed noise, so its loss is comparable across steps.
    val_losses = [record["val/diffusion"] for record in records if "val/diffusion" in record]
    assert len(val_losses) == 12 and val_losses[-1] < 0.9 * val_losses[0]
    assert {"diffusion", "joints", "velocity", "contact", "floor", "lr"} <= set(records[0])
    assert (output / "checkpoints" / "step_0000060").is_dir()
    pipeline = TextToMotionPipeline.from_pretrained(pipeline_dir)
    motion = pipeline("a person walks", seconds=1.5, seed=0).motions[0]
    assert motion.num_frames == 18
    motion.validate()
    # Feature statistics were fitted on the data (not left at the 0 / 1 defaults).
    assert pipeline.model.feature_std[:3].ne(1.0).all()
    assert 0.5 < float(pipeline.model.feature_mean[1]) < 2.0  # mean pelvis height (trials 01_01-02 climb), metres


def test_export_checkpoint_matches_final_ema_weights(trained_run, tmp_path):
    output, pipeline_dir = trained_run
    exported = export_checkpoint(output, tmp_path / "exported")
    reference = TextToMotionPipeline.from_pretrained(pipeline_dir).model.state_dict()
    for name, value in TextToMotionPipeline.from_pretrained(exported).model.state_dict().items():
        torch.testing.assert_close(value, reference[name], atol=0, rtol=0, msg=name)


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown keys"):
        StructureTrainingConfig.from_dict({**TINY, "modle": {}}, tmp_path)
    with pytest.raises(InvalidInputError, match="model"):
        StructureTrainingConfig.from_dict({**TINY, "model": {"hidden": 3}}, tmp_path)
    with pytest.raises(InvalidInputError, match="does not exist"):
        StructureTrainingConfig.load(tmp_path / "missing.json", tmp_path)


def test_motion_command_writes_files_and_rejects_bad_input(trained_run, tmp_path, capsys):
    _, pipeline_dir = trained_run
    out = tmp_path / "walk.npz"

    def generate(path):
        args = ["motion", "a person walks", "-o", str(path), "--seconds", "2", "--seed", "0"]
        return main([*args, "--checkpoint", str(pipeline_dir)])

    assert generate(out) == 0
    motion = Motion.load(out)
    assert motion.num_frames == 24 and motion.fps == 12.0
    again = tmp_path / "again.npz"
    assert generate(again) == 0
    torch.testing.assert_close(Motion.load(again).rotations, motion.rotations)

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# comment\na person walks\n\na person jumps\n")
    batch_dir = tmp_path / "batch"
    assert main(["motion", "--prompts", str(prompts), "-o", str(batch_dir), "--seconds", "1", "--seed", "1",
                 "--checkpoint", str(pipeline_dir)]) == 0  # fmt: skip
    assert sorted(p.name for p in batch_dir.iterdir()) == ["000.npz", "001.npz", "prompts.txt"]
    assert "a person jumps" in (batch_dir / "prompts.txt").read_text()

    capsys.readouterr()
    bad = tmp_path / "bad.npz"
    cases = [
        ["motion", "", "-o", str(bad)],
        ["motion", "walk", "-o", str(bad), "--seconds", "0"],
        ["motion", "walk", "-o", str(bad), "--seconds", "-2"],
        ["motion", "walk " * 150, "-o", str(bad)],
        ["motion", "walk", "-o", str(tmp_path / "bad.txt")],
        ["motion", "walk", "-o", str(bad), "--checkpoint", str(tmp_path / "nowhere")],
    ]
    for argv in cases:
        checkpoint = [] if "--checkpoint" in argv else ["--checkpoint", str(pipeline_dir)]
        assert main(argv + checkpoint) == 1, argv
        assert "error" in capsys.readouterr().err
    assert not bad.exists() and not list(tmp_path.glob(".bad*"))


def test_train_command_rejects_a_missing_config(tmp_path, capsys):
    assert main(["train", "structure", "--config", str(tmp_path / "none.json"), "--output", str(tmp_path / "run")]) == 1
    assert "does not exist" in capsys.readouterr().err
