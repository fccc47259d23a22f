"""Synthetic paired data: shards read back identical, determinism independent of sharding, resume, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kinevid.cli.main import main
from kinevid.data.cmu import CMUMocap
from kinevid.data.paired import SyntheticPairedDataset
from kinevid.data.synth import FORMAT, MANIFEST, SynthConfig, build_synthetic_dataset, shard_name, synthesize_clip
from kinevid.errors import InvalidInputError

TRIALS = ["02_01", "05_02", "13_29"]


@pytest.fixture(scope="module")
def trials(cmu_root):
    return CMUMocap(cmu_root, trial_ids=TRIALS, fps=8, min_frames=9)


def _config(**changes) -> SynthConfig:
    options = dict(num_clips=5, clips_per_shard=2, num_frames=9, height=32, width=32, num_track_points=16, seed=7)
    options.update(changes)
    return SynthConfig(**options)


@pytest.fixture(scope="module")
def dataset_dir(trials, tmp_path_factory):
    return build_synthetic_dataset(trials, tmp_path_factory.mktemp("synth"), _config(), show_progress=False)


def test_shards_read_back_identical(trials, dataset_dir):
    dataset = SyntheticPairedDataset(dataset_dir)
    assert len(dataset) == 5
    assert sorted(p.name for p in dataset_dir.glob("*.safetensors")) == [shard_name(i) for i in range(3)]
    for index in range(5):
        arrays, info = synthesize_clip(trials, index, _config())
        stored = dataset.arrays(index)
        assert stored.keys() == arrays.keys()
        for name in arrays:
            assert stored[name].dtype == arrays[name].dtype, name
            np.testing.assert_array_equal(stored[name], arrays[name], err_msg=name)
        assert dataset.info(index) == json.loads(json.dumps(info))
        assert info["trial_id"] in TRIALS and info["caption"]


def test_items_are_model_ready(dataset_dir):
    dataset = SyntheticPairedDataset(dataset_dir)
    item = dataset[3]
    assert item["video"].shape == (3, 9, 32, 32) and item["video"].dtype == torch.float32
    assert item["video"].min() >= -1 and item["video"].max() <= 1
    assert item["skeleton"].shape == (3, 9, 32, 32)
    assert item["mask"].shape == (1, 9, 32, 32) and set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert item["tracks"].shape == (9, 16, 2) and item["track_visibility"].dtype == torch.bool
    assert isinstance(item["caption"], str) and item["fps"] == 8.0
    # The stored motion and camera reproduce the stored joints and keypoints.
    motion, camera = dataset.motion(3), dataset.camera(3)
    torch.testing.assert_close(motion.joints, item["joints"], atol=1e-5, rtol=0)
    assert motion.num_frames == 9
    pixels, depth = camera.project(item["joints"].double())
    assert camera.in_frame(pixels, depth).all()  # the sampled camera keeps every joint in frame
    # Feet on the floor after the body was randomised.
    assert abs(float(item["joints"][..., 1].min())) < 1e-4
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    assert batch["video"].shape == (2, 3, 9, 32, 32)


def test_clips_do_not_depend_on_sharding(trials, dataset_dir, tmp_path):
    other = SyntheticPairedDataset(
        build_synthetic_dataset(trials, tmp_path, _config(clips_per_shard=3), show_progress=False)
    )
    reference = SyntheticPairedDataset(dataset_dir)
    for index in (0, 4):
        np.testing.assert_array_equal(other.arrays(index)["frames"], reference.arrays(index)["frames"])
    # Another seed gives other clips.
    assert not np.array_equal(synthesize_clip(trials, 0, _config(seed=8))[0]["frames"], reference.arrays(0)["frames"])


def test_resume_keeps_finished_shards_and_rebuilds_missing(trials, dataset_dir, tmp_path):
    build_synthetic_dataset(trials, tmp_path, _config(), show_progress=False)
    kept = (tmp_path / shard_name(0)).stat().st_mtime_ns
    (tmp_path / shard_name(1)).unlink()
    with pytest.raises(InvalidInputError, match="shard missing"):
        SyntheticPairedDataset(tmp_path).arrays(2)
    build_synthetic_dataset(trials, tmp_path, _config(), show_progress=False)
    assert (tmp_path / shard_name(0)).stat().st_mtime_ns == kept
    # Same tensors and metadata (safetensors orders metadata keys arbitrarily, so bytes may differ).
    rebuilt, reference = SyntheticPairedDataset(tmp_path), SyntheticPairedDataset(dataset_dir)
    for index in (2, 3):
        assert rebuilt.info(index) == reference.info(index)
        for name, array in reference.arrays(index).items():
            np.testing.assert_array_equal(rebuilt.arrays(index)[name], array, err_msg=name)
    with pytest.raises(InvalidInputError, match="num_frames"):
        build_synthetic_dataset(trials, tmp_path, _config(num_frames=5), show_progress=False)


def test_incomplete_or_missing_dataset_is_reported(tmp_path):
    with pytest.raises(InvalidInputError, match="no manifest"):
        SyntheticPairedDataset(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"format": FORMAT, "config": {}, "num_clips": 1,
                                                 "shards": [], "complete": False}))  # fmt: skip
    with pytest.raises(InvalidInputError, match="incomplete"):
        SyntheticPairedDataset(tmp_path)


def test_corrupt_shard_names_the_file_and_is_rebuilt(trials, tmp_path):
    build_synthetic_dataset(trials, tmp_path, _config(), show_progress=False)
    data = (tmp_path / shard_name(1)).read_bytes()
    (tmp_path / shard_name(1)).write_bytes(data[: len(data) // 3])
    with pytest.raises(InvalidInputError, match=rf"{shard_name(1)}: corrupt or truncated shard"):
        SyntheticPairedDataset(tmp_path)[2]
    build_synthetic_dataset(trials, tmp_path, _config(), show_progress=False)  # resume makes it again
    assert SyntheticPairedDataset(tmp_path)[2]["video"].shape == (3, 9, 32, 32)


def test_v1_dataset_asks_for_a_rebuild(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "kinevid-synth-v1", "config": {}, "num_clips": 1,
                                                 "shards": [], "complete": True}))  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"manifest.json: a 'kinevid-synth-v1' dataset.*rebuild"):
        SyntheticPairedDataset(tmp_path)


def test_cli_synth_and_render(cmu_root, tmp_path, capsys):
    output = tmp_path / "synth"
    code = main(["data", "synth", "-o", str(output), "--cmu-root", str(cmu_root), "--trials", "02_01",
                 "--num-clips", "2", "--frames", "5", "--size", "32", "--track-points", "8"])  # fmt: skip
    assert code == 0
    dataset = SyntheticPairedDataset(output)
    assert len(dataset) == 2 and dataset[1]["video"].shape == (3, 5, 32, 32)

    motion = dataset.motion(0)
    motion_path = tmp_path / "clip.npz"
    motion.save(motion_path)
    for style in ("mannequin", "skeleton", "grid"):
        video = tmp_path / f"{style}.mp4"
        assert main(["render", str(motion_path), "-o", str(video), "--style", style, "--size", "64"]) == 0
        assert video.is_file()
    from kinevid.render import read_video

    frames = read_video(tmp_path / "mannequin.mp4")
    assert frames.shape[1:] == (64, 64, 3) and len(frames) == len(motion.__class__.load(motion_path))
    assert main(["render", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "x.mp4")]) == 1
    assert main(["render", str(motion_path), "-o", str(tmp_path / "x.mp4"), "--size", "63"]) == 1
    assert "even" in capsys.readouterr().err
