"""`scripts/run_ablations.py` end to end on tiny configs: trains the base and two rows, scores them, writes the
tables, and a second call reuses everything (heavy: several trainings and evaluations, minutes on one core)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from mosa_pipeline_tiny import TINY_MOSA_CONFIG, build_tiny_cache, single_threaded, tiny_vae  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("run_ablations_heavy", REPO_ROOT / "scripts" / "run_ablations.py")
run_ablations = importlib.util.module_from_spec(spec)
sys.modules["run_ablations_heavy"] = run_ablations
spec.loader.exec_module(run_ablations)


def _test_split_dataset(root: Path) -> Path:
    """Two clips of the sample walk recorded as the test split (what `evaluate_generation` accepts)."""
    from kinevid.data.cmu import CMUTrial
    from kinevid.data.synth import SynthConfig, build_synthetic_dataset
    from kinevid.motion import Motion
    from kinevid.motion.io import sample_motion_path

    trial = CMUTrial("02_01", "02", Motion.load(sample_motion_path()), ["walk forward"], "walk", "Walk")
    config = SynthConfig(num_clips=2, clips_per_shard=2, num_frames=5, height=32, width=32, fps=8.0,
                         num_track_points=16, seed=2, split="test")  # fmt: skip
    build_synthetic_dataset([trial], root / "test", config, show_progress=False)
    return root / "test"


def _tiny_configs(root: Path, cache: Path, vae: Path) -> Path:
    """The real `configs/ablations/*.json` with the tiny model, cache, VAE and text length."""
    directory = root / "configs"
    directory.mkdir()
    for path in (REPO_ROOT / "configs" / "ablations").glob("*.json"):
        values = json.loads(path.read_text())
        values["data"].update(cache_dir=str(cache), val_cache_dir=None)
        values["vae"] = str(vae)
        if "objective" in values and "max_sequence_length" in values["objective"]:
            values["objective"]["max_sequence_length"] = 16
        if values.get("model", {}).get("config"):
            values["model"]["config"] = {
                **TINY_MOSA_CONFIG,
                **{
                    k: v
                    for k, v in values["model"]["config"].items()
                    if k in ("structure_fusion", "motion_rope_positions")
                },
            }
        values["train"]["batch_size"] = 2
        (directory / path.name).write_text(json.dumps(values))
    return directory


@pytest.mark.heavy
def test_runner_trains_scores_and_resumes(tmp_path):
    vae = tiny_vae()
    vae.save_pretrained(tmp_path / "vae")
    cache = build_tiny_cache(tmp_path, vae)
    test_data = _test_split_dataset(tmp_path)
    from kinevid.data.cache import build_latent_cache
    from kinevid.data.paired import SyntheticPairedDataset
    from kinevid.text import load_text_encoder

    test_cache = build_latent_cache(SyntheticPairedDataset(test_data), tmp_path / "test_cache", vae,
                                    load_text_encoder("minilm"), "minilm", show_progress=False)  # fmt: skip
    arguments = [
        "--paper", "mosa", "--rows", "full", "no_hadc", "--steps", "2", "--base-steps", "2", "--eval-clips", "2",
        "--eval-seeds", "2", "--inference-steps", "1", "--no-judge", "--output", str(tmp_path / "out"),
        "--test-data", str(test_data), "--test-cache", str(test_cache),
        "--config-dir", str(_tiny_configs(tmp_path, cache, tmp_path / "vae")),
    ]  # fmt: skip
    assert run_ablations.main(arguments) == 0
    table = json.loads((tmp_path / "out" / "mosa_ablations.json").read_text())
    assert set(table["rows"]) == {"full", "no_hadc"}
    for row, entry in table["rows"].items():
        assert entry["test loss/diffusion"]["n"] == 2 and entry["test loss/diffusion"]["mean"] > 0
        assert entry["motion/paired/psnr"]["n"] == 2 and entry["motion/paired/psnr"]["interval_95"] is not None
        assert ("test loss/mask" in entry) == (row == "full")  # no HADC, no mask
    markdown = (tmp_path / "out" / "mosa_ablations.md").read_text()
    assert "| no_hadc |" in markdown and "paired/ssim_person" in markdown
    assert (tmp_path / "out" / "mosa_full" / "eval_motion" / "report.md").is_file()
    assert (
        json.loads((tmp_path / "out" / "mosa_no_hadc" / "final" / "config.json").read_text())["structure_fusion"]
        == "add"
    )
    # a second call trains and scores nothing again
    scores = tmp_path / "out" / "mosa_full" / "ablation_scores.json"
    stamp, final = scores.stat().st_mtime_ns, (tmp_path / "out" / "base" / "final").stat().st_mtime_ns
    assert run_ablations.main(arguments) == 0
    assert scores.stat().st_mtime_ns == stamp and (tmp_path / "out" / "base" / "final").stat().st_mtime_ns == final
