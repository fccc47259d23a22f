"""Exporting synthetic clips as an evaluation set, and scoring it with `kinevid eval video`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kinevid.cli.main import main
from kinevid.data.cmu import CMUMocap
from kinevid.data.paired import SyntheticPairedDataset
from kinevid.data.synth import SynthConfig, build_synthetic_dataset
from kinevid.eval.video.reference_set import export_reference_set
from kinevid.motion import Motion
from kinevid.render.video import read_video


def test_exported_clips_round_trip_and_score_as_real_data(tmp_path, cmu_root):
    trials = CMUMocap(cmu_root, trial_ids=["02_01", "05_02"], fps=8, min_frames=9)
    config = SynthConfig(num_clips=2, clips_per_shard=2, num_frames=9, height=32, width=32, num_track_points=4)
    build_synthetic_dataset(trials, tmp_path / "synth", config, show_progress=False)
    out = export_reference_set(tmp_path / "synth", tmp_path / "reference", show_progress=False)
    dataset = SyntheticPairedDataset(tmp_path / "synth")
    prompts = json.loads((out / "prompts.json").read_text())
    assert list(prompts) == ["clip_0", "clip_1"] and prompts["clip_1"] == dataset.info(1)["caption"]
    for index, name in enumerate(prompts):
        arrays = dataset.arrays(index)
        assert np.abs(read_video(out / "videos" / f"{name}.mp4").astype(int) - arrays["frames"]).mean() < 6
        with np.load(out / "poses" / f"{name}.npz", allow_pickle=False) as condition:
            assert np.array_equal(condition["keypoints_2d"], arrays["keypoints_2d"])
            assert np.array_equal(condition["masks"], arrays["masks"])
        motion = Motion.load(out / "motions" / f"{name}.npz")
        assert motion.joints.numpy() == pytest.approx(dataset.motion(index).joints.numpy(), abs=1e-5)
    argv = ["eval", "video", str(out / "videos"), "--motions", str(out / "motions"), "-o", str(tmp_path / "r")]
    assert main(argv) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert {"dynamic_degree_dis", "motion_smoothness_flowwarp", "physical"} == set(report["settings"]["metrics"])
    assert report["means"]["physical/foot_skating_ratio"] is not None
