"""configs/ablations: each row is the shipped recipe with its one switch, and `scripts/run_ablations.py`'s plan,
paths, budget and tables."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from kinevid.errors import InvalidInputError
from kinevid.recipes.echomotion import EchoMotionStageConfig
from kinevid.recipes.mosa import MoSATrainingConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "configs"
ABLATIONS = CONFIGS / "ablations"

spec = importlib.util.spec_from_file_location("run_ablations", REPO_ROOT / "scripts" / "run_ablations.py")
run_ablations = importlib.util.module_from_spec(spec)
sys.modules["run_ablations"] = run_ablations  # its dataclasses look their module up
spec.loader.exec_module(run_ablations)


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _changes(path: Path, reference: Path) -> dict:
    ours, theirs = _flatten(json.loads(path.read_text())), _flatten(json.loads(reference.read_text()))
    return {key: ours.get(key) for key in set(ours) | set(theirs) if ours.get(key) != theirs.get(key)}


MOSA_SWITCHES = {
    "mosa_no_structure": {"objective.skeleton_dropout": 1.0},
    "mosa_no_hadc": {"model.config.structure_fusion": "add", "loss.lambda_mask": 0.0},
    "mosa_no_mask_loss": {"loss.lambda_mask": 0.0},
    "mosa_no_track": {"loss.lambda_track": 0.0},
    "mosa_static_track": {"loss.temporal_weighting": False},
    "mosa_no_contact": {"loss.lambda_contact": 0.0},
}


def test_mosa_rows_are_the_shipped_fine_tune_with_one_switch():
    full = ABLATIONS / "mosa_full.json"
    assert _changes(full, CONFIGS / "mosa_synth_finetune.json") == {
        "model.pretrained": "runs/ablations/base/final",
        "model.fresh_mosa": True,
    }
    for name, switch in MOSA_SWITCHES.items():
        assert _changes(ABLATIONS / f"{name}.json", full) == switch, name
        MoSATrainingConfig.load(ABLATIONS / f"{name}.json", output_dir="unused")  # a valid config
    base = _changes(ABLATIONS / "base_t2v.json", CONFIGS / "mosa_synth.json")
    assert base["objective.skeleton_dropout"] == 1.0 and base["data.cache_dir"].startswith("data/cache/vae_long")


def test_echomotion_rows_share_everything_but_their_switch():
    joint = ABLATIONS / "echomotion_joint.json"
    assert _changes(joint, CONFIGS / "echomotion_stage2.json") == {"init_from": "runs/ablations/echomotion_stage1"}
    assert _changes(ABLATIONS / "echomotion_video_only.json", joint) == {"objective.video_only": True}
    assert _changes(ABLATIONS / "echomotion_colliding.json", joint) == {
        "init_from": "runs/ablations/echomotion_stage1_colliding"
    }
    stage1 = ABLATIONS / "echomotion_stage1.json"
    assert _changes(stage1, CONFIGS / "echomotion_stage1.json") == {"model.pretrained": "runs/ablations/base/final"}
    assert _changes(ABLATIONS / "echomotion_stage1_colliding.json", stage1) == {
        "model.config.motion_rope_positions": "colliding"
    }
    for name in ("echomotion_joint", "echomotion_video_only", "echomotion_stage1_colliding"):
        EchoMotionStageConfig.load(ABLATIONS / f"{name}.json", output_dir="unused")


def test_video_only_is_refused_in_stage_1(tmp_path):
    values = json.loads((ABLATIONS / "echomotion_stage1.json").read_text())
    values["objective"]["video_only"] = True
    with pytest.raises(InvalidInputError, match="video_only"):
        EchoMotionStageConfig.from_dict(values, tmp_path)


def test_plan_trains_dependencies_first_and_once(tmp_path):
    settings = run_ablations.parse_args(["--paper", "echomotion", "--output", str(tmp_path), "--seeds", "0", "3"])
    names = [(run.name, seed) for run, seed in run_ablations.plan(settings)]
    assert names[:5] == [
        ("base", 0), ("echomotion_stage1", 0), ("echomotion_joint", 0), ("echomotion_video_only", 0),
        ("echomotion_stage1_colliding", 0),
    ]  # fmt: skip
    assert len(names) == 2 * 6 and names[6] == ("base", 3)
    assert run_ablations.run_dir(settings, "base", 3) == tmp_path / "seed3" / "base"


def test_resolved_config_moves_paths_seed_and_budget(tmp_path):
    settings = run_ablations.parse_args(["--paper", "mosa", "--output", str(tmp_path), "--steps", "40"])
    values = run_ablations.resolved_config(settings, run_ablations.RUNS["mosa_no_hadc"], seed=2)
    assert values["model"]["pretrained"] == str(tmp_path / "seed2" / "base" / "final")
    assert values["train"]["seed"] == 2 and values["train"]["max_steps"] == 40 and values["train"]["warmup_steps"] == 4
    assert values["data"]["cache_dir"] == "data/cache/vae_long/synth128v2_train"  # data paths stay
    base = run_ablations.resolved_config(settings, run_ablations.RUNS["base"], seed=0)
    assert base["train"]["max_steps"] == 3500  # --base-steps not given: the config's


def test_bad_rows_and_modes_are_one_line_errors(tmp_path, capsys):
    assert run_ablations.main(["--paper", "mosa", "--output", str(tmp_path), "--rows", "full", "joint"]) == 1
    assert "joint" in capsys.readouterr().err
    assert run_ablations.main(["--paper", "echomotion", "--output", str(tmp_path), "--modes", "motion"]) == 1


def _scores(psnr: list[list[float]], loss: list[float], mode: str = "motion") -> dict:
    """Stored scores of one training seed: `psnr[s][c]` is clip c's PSNR at generation seed s."""
    per_seed = [{"generated": {"paired/psnr": float(np.mean(p)), "fd_kinevid": 1.0 + s},
                 "mean frame": {"paired/psnr": 10.0}} for s, p in enumerate(psnr)]  # fmt: skip
    clips = np.asarray(psnr).mean(axis=0)
    per_clip = {"generated": {f"clip{c}": {"paired/psnr": float(v)} for c, v in enumerate(clips)},
                "mean frame": {f"clip{c}": {"paired/psnr": 10.0} for c in range(len(clips))}}  # fmt: skip
    entry = {"rows": ["generated", "mean frame"], "per_seed": per_seed, "per_clip": per_clip}
    return {"cache_loss": {"diffusion": loss}, "modes": {mode: entry}}


def test_summary_means_intervals_and_markdown(tmp_path):
    """Per-clip scores: interval over clips (each the mean over generation seeds); set scores (one value per
    generation seed, like FD): interval over seeds; losses over clips."""
    summary = run_ablations.summarise(
        "mosa",
        {"full": [_scores([[19.0, 21.0], [21.0, 23.0]], [0.3, 0.5])], "no_hadc": [_scores([[18.0]], [0.6, 0.6, 0.9])]},
        ("motion",),
    )
    full = summary["rows"]["full"]
    assert full["motion/paired/psnr"]["mean"] == 21.0 and full["motion/paired/psnr"]["n"] == 2  # clips 20, 22
    assert full["motion/paired/psnr"]["interval_95"] == pytest.approx(1.96 * 2**0.5 / 2**0.5)
    fd = full["motion/fd_kinevid"]
    assert fd["mean"] == 1.5 and fd["interval_95"] == pytest.approx(1.96 * 0.5)
    assert full["test loss/diffusion"]["mean"] == pytest.approx(0.4)
    assert summary["rows"]["no_hadc"]["motion/paired/psnr"]["interval_95"] is None
    assert summary["references"]["motion: mean frame"]["paired/psnr"]["mean"] == 10.0
    settings = run_ablations.parse_args(["--paper", "mosa", "--output", str(tmp_path), "--rows", "full", "no_hadc"])
    markdown = run_ablations.to_markdown(summary, settings)
    assert "| full | all components | 0.4000 ± 0.1960 | 21.0000 ± 1.9600 |" in markdown
    assert "structure_fusion: add" in markdown and "motion: mean frame" in markdown
    assert "motion/fd_kinevid ↓" in markdown and "| 1.5000 ± 0.9800 |" in markdown  # a set score, lower is better
    json_path, markdown_path = run_ablations.write_tables(summary, settings)
    assert markdown_path.read_text() == markdown
    assert json.loads(json_path.read_text())["rows"]["full"]["motion/paired/psnr"]["mean"] == 21.0


def test_a_run_made_with_other_settings_is_not_reused(tmp_path):
    settings = run_ablations.parse_args(["--paper", "mosa", "--output", str(tmp_path), "--base-steps", "5"])
    base = run_ablations.RUNS["base"]
    values = run_ablations.resolved_config(settings, base, seed=0)
    run_ablations._check_same_settings(tmp_path / "base", values, base)
    run_ablations._check_same_settings(tmp_path / "base", values, base)  # the same settings: fine
    other = run_ablations.resolved_config(
        run_ablations.parse_args(["--paper", "mosa", "--output", str(tmp_path)]), base, seed=0
    )
    with pytest.raises(InvalidInputError, match="other settings"):
        run_ablations._check_same_settings(tmp_path / "base", other, base)


def test_num_threads_reaches_the_trainer_but_not_the_recorded_settings(tmp_path, monkeypatch):
    import kinevid.recipes.mosa as mosa_recipe

    seen = []
    monkeypatch.setattr(mosa_recipe, "train_mosa", lambda config: seen.append(config.train))
    arguments = ["--paper", "mosa", "--output", str(tmp_path), "--base-steps", "5"]
    base = run_ablations.RUNS["base"]
    run_ablations.train_run(run_ablations.parse_args([*arguments, "--num-threads", "2"]), base, seed=0)
    (tmp_path / "base" / "checkpoints" / "step_0000003").mkdir(parents=True)
    run_ablations.train_run(run_ablations.parse_args(arguments), base, seed=0)  # same run, the config's threads
    assert [train.num_threads for train in seen] == [2, 1]
    assert [train.resume for train in seen] == [False, True]
    recorded = json.loads((tmp_path / "base" / "ablation_config.json").read_text())
    assert recorded["train"]["num_threads"] == 1  # the config's value, whatever --num-threads said


def test_attention_alignment_columns_and_chance_reference(tmp_path):
    scores = _scores([[19.0, 21.0]], [0.3, 0.5], mode="t2vm")
    scores["attention"] = {"aligned_mass": [0.5, 0.7], "slope": [0.2, 0.2], "chance": [0.2, 0.2],
                           "diagonal_slope": [0.24, 0.24]}  # fmt: skip
    summary = run_ablations.summarise("echomotion", {"joint": [scores]}, ("t2vm",))
    joint = summary["rows"]["joint"]
    assert joint["attention/aligned_mass"]["mean"] == pytest.approx(0.6) and joint["attention/slope"]["n"] == 2
    assert summary["references"]["attention: chance (uniform attention)"]["aligned_mass"]["mean"] == 0.2
    diagonal = summary["references"]["attention: 4:1 diagonal (on the aligned frame)"]
    assert diagonal["slope"]["mean"] == pytest.approx(0.24) and diagonal["aligned_mass"]["mean"] == 1.0
    settings = run_ablations.parse_args(["--paper", "echomotion", "--output", str(tmp_path), "--rows", "joint",
                                         "--modes", "t2vm"])  # fmt: skip
    markdown = run_ablations.to_markdown(summary, settings)
    assert "attention/aligned_mass ↑" in markdown and "attention/slope (the 4:1 diagonal's: see references)" in markdown
    assert "| attention: chance (uniform attention) |" in markdown


def test_scores_on_disk_get_only_their_missing_attention_part(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(run_ablations, "_cache_losses", lambda *a: calls.append("losses") or {"joint/video": [1.0]})
    monkeypatch.setattr(run_ablations, "_generation_scores", lambda *a: calls.append("generation") or {})
    monkeypatch.setattr(
        run_ablations, "_attention_alignment",
        lambda *a: calls.append("attention") or {"aligned_mass": [0.3], "slope": [0.1], "chance": [0.2],
                                                 "diagonal_slope": [0.24], "mean_map": [[0.5, 0.5]]},
    )  # fmt: skip
    settings = run_ablations.parse_args(["--paper", "echomotion", "--output", str(tmp_path), "--modes", "t2vm"])
    joint = run_ablations.RUNS["echomotion_joint"]
    first = run_ablations.score_run(settings, joint, seed=0)  # nothing on disk: every part
    assert calls == ["losses", "generation", "attention"] and first["attention"]["aligned_mass"] == [0.3]
    path = tmp_path / "echomotion_joint" / "ablation_scores.json"
    stored = json.loads(path.read_text())
    del stored["attention"]  # scores written before the attention part existed
    path.write_text(json.dumps(stored))
    calls.clear()
    assert run_ablations.score_run(settings, joint, seed=0)["attention"]["slope"] == [0.1]
    assert calls == ["attention"]  # the losses and generation scores on disk are kept
    calls.clear()
    run_ablations.score_run(settings, joint, seed=0)
    assert calls == []  # complete: read back
