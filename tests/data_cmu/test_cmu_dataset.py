"""`kinevid.data.cmu` on the real CMU set and on small constructed directories."""

from __future__ import annotations

import csv
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from kinevid.body import CMU20, SMPL24
from kinevid.data.cmu import (
    CMUMocap,
    clean_description,
    cmu_joints_to_motions,
    cmu_texts,
    find_cmu_root,
    read_cmu_index,
    split_subjects,
)
from kinevid.errors import InvalidInputError, MissingDataError
from kinevid.motion import heading_angle

CMU_IN_SMPL = [SMPL24.index(name) for name in CMU20.joint_names]
SAMPLE_TRIALS = ["01_01", "02_01", "09_01", "13_10", "86_01"]


@pytest.fixture(scope="module")
def raw_joints(cmu_root: Path) -> dict[str, np.ndarray]:
    with np.load(cmu_root / "cmu_joints20_mm.npz", allow_pickle=False) as archive:
        return {t: archive[t].astype(np.float64) / 1000.0 for t in SAMPLE_TRIALS}


def _write_index(root: Path, rows: list[dict[str, str]]) -> None:
    columns = ["trial", "subject", "frames", "fps", "action_class", "description"]
    with open(root / "index.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


# ------------------------------------------------------------------------------------ finding the data
def test_find_cmu_root_explicit_and_env(cmu_root, monkeypatch):
    assert find_cmu_root(cmu_root) == cmu_root
    monkeypatch.setenv("KINEVID_CMU_ROOT", str(cmu_root))
    assert find_cmu_root() == cmu_root


def test_environment_variable_comes_before_the_default_location(tmp_path, monkeypatch):
    (tmp_path / "index.csv").write_text("trial,subject,frames,fps,action_class,description\n")
    np.savez(tmp_path / "cmu_joints20_mm.npz")
    monkeypatch.setenv("KINEVID_CMU_ROOT", str(tmp_path))
    assert find_cmu_root() == tmp_path
    assert len(CMUMocap()) == 0


def test_missing_data_lists_where_it_looked(tmp_path, monkeypatch):
    with pytest.raises(MissingDataError, match=str(tmp_path / "nowhere")):
        find_cmu_root(tmp_path / "nowhere")
    monkeypatch.setenv("KINEVID_CMU_ROOT", str(tmp_path / "env_dir"))
    monkeypatch.chdir(tmp_path)
    try:
        find_cmu_root()
    except MissingDataError as error:  # the repo-relative default may exist; if not, all places are named
        message = str(error)
        assert str(tmp_path / "env_dir") in message and "KINEVID_CMU_ROOT" in message
    with pytest.raises(MissingDataError):
        CMUMocap(root=tmp_path)


def test_index_matches_arrays(cmu_root):
    index = read_cmu_index(cmu_root)
    assert len(index) == 2514
    assert len({e.subject for e in index.values()}) == 112
    with np.load(cmu_root / "cmu_joints20_mm.npz", allow_pickle=False) as archive:
        assert set(archive.files) == set(index)
        for trial_id in SAMPLE_TRIALS:
            assert archive[trial_id].shape == (index[trial_id].num_frames, 20, 3)
    assert index["01_01"].action_class == "Jump"
    assert index["01_01"].description == "playground - forward jumps, turn around"


def test_malformed_index_and_arrays(tmp_path):
    (tmp_path / "index.csv").write_text("trial,subject\n01_01,01\n")
    np.savez(tmp_path / "cmu_joints20_mm.npz", **{"01_01": np.zeros((4, 20, 3), np.int16)})
    with pytest.raises(InvalidInputError, match="missing columns"):
        read_cmu_index(tmp_path)
    row = {"trial": "01_01", "subject": "01", "frames": "4", "fps": "12", "action_class": "", "description": ""}
    _write_index(tmp_path, [row])
    np.savez(tmp_path / "cmu_joints20_mm.npz", **{"01_01": np.zeros((4, 19, 3), np.int16)})
    with pytest.raises(InvalidInputError, match=r"01_01.*\(T, 20, 3\)"):
        CMUMocap(root=tmp_path)[0]


# ------------------------------------------------------------------------------------ splits
def test_split_subjects_is_a_deterministic_partition():
    subjects = [f"{i:02d}" for i in range(1, 113)]
    split = split_subjects(subjects)
    assert split == split_subjects(reversed(subjects))  # order of the input does not matter
    assert set().union(*split.values()) == set(subjects)
    assert not (split["train"] & split["test"]) and not (split["train"] & split["val"])
    assert not (split["val"] & split["test"])
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (90, 11, 11)
    assert split_subjects(subjects, seed=1) != split
    assert len(split_subjects(["a", "b", "c"])["test"]) == 1
    with pytest.raises(InvalidInputError, match="fractions"):
        split_subjects(subjects, fractions=(0.5, 0.5, 0.5))


def test_dataset_splits_separate_subjects(cmu_root):
    datasets = {s: CMUMocap(cmu_root, split=s) for s in ("train", "val", "test", "all")}
    subjects = {s: {d.index[t].subject for t in d.trial_ids} for s, d in datasets.items()}
    assert not subjects["test"] & subjects["train"]
    assert not subjects["val"] & subjects["train"]
    assert sum(len(datasets[s]) for s in ("train", "val", "test")) == len(datasets["all"]) == 2514
    with pytest.raises(InvalidInputError, match="split"):
        CMUMocap(cmu_root, split="training")


# ------------------------------------------------------------------------------------ texts
def test_texts_from_description_and_class():
    texts = cmu_texts("playground - forward jumps, turn around", "Jump")
    assert texts == ["forward jumps, turn around", "playground - forward jumps, turn around", "a person jumps"]
    assert cmu_texts("walk", "Walk") == ["walk", "a person walks"]
    assert cmu_texts("Unknown", None) == []
    assert cmu_texts("", None) == []
    assert cmu_texts("106_15.amc", "Wash") == ["a person cleans"]
    assert cmu_texts("", "Run") == ["a person runs"]
    assert cmu_texts("monkey (human subject)", "Animal Behavior") == ["monkey", "a person moves like a monkey"]
    assert cmu_texts("360-degree two-person whip", None) == ["360-degree two-person whip"]
    assert cmu_texts("wash windows; basketball - dribble, pass; throw ball", None)[0] == (
        "wash windows; dribble, pass; throw ball"
    )


def test_clean_description():
    assert clean_description("WalkEvasiveLeft CleanedGRS") == "walk evasive left"
    assert clean_description("LeftDrive (right then left) Cleaned GRS") == "left drive (right then left)"
    assert clean_description("A pulls B; B resists (2 subjects - subject A)") == "A pulls B; B resists"
    assert clean_description("  salsa   dance ") == "salsa dance"
    assert clean_description("bad AMC") == ""


def test_every_trial_with_text_source_has_texts(cmu_root):
    index = read_cmu_index(cmu_root)
    for entry in index.values():
        texts = cmu_texts(entry.description, entry.action_class)
        if entry.action_class or clean_description(entry.description):
            assert texts and all(t == t.strip() and t for t in texts), entry
        assert len(texts) == len(set(texts))


# ------------------------------------------------------------------------------------ motions
def test_items_reproduce_the_cmu_joints(cmu_root, raw_joints):
    dataset = CMUMocap(cmu_root, trial_ids=SAMPLE_TRIALS, canonicalize=False)
    assert dataset.trial_ids == SAMPLE_TRIALS
    for trial in dataset:
        raw = torch.from_numpy(raw_joints[trial.trial_id])
        motion = trial.motion.validate(trial.trial_id)
        assert motion.fps == 12.0 and motion.num_frames == raw.shape[0]
        joints = motion.joints.double()[:, CMU_IN_SMPL]
        error = (joints - raw).norm(dim=-1)  # (T, 20)
        assert error.mean() < 0.002, trial.trial_id
        assert error[:, [CMU20.index(n) for n in ("pelvis", "left_knee", "right_knee")]].max() < 0.002
        assert trial.subject == trial.trial_id.split("_")[0]


def test_canonical_resampled_items(cmu_root):
    dataset = CMUMocap(cmu_root, trial_ids=["02_01", "09_01"], fps=20)
    for trial in dataset:
        motion = trial.motion
        native = dataset.index[trial.trial_id].num_frames
        assert motion.fps == 20.0
        assert motion.num_frames == math.floor((native - 1) * 20 / 12) + 1
        joints = motion.joints
        assert joints[0, 0, [0, 2]].abs().max() < 1e-5
        assert abs(float(joints[..., 1].min())) < 1e-5
        assert abs(float(heading_angle(joints[0]))) < 1e-4


def test_load_all_matches_items(cmu_root):
    dataset = CMUMocap(cmu_root, trial_ids=SAMPLE_TRIALS, fps=30)
    batched = dataset.load_all(show_progress=False)
    assert [t.trial_id for t in batched] == SAMPLE_TRIALS
    for item, trial in enumerate(batched):
        single = dataset[item]
        torch.testing.assert_close(trial.motion.joints, single.motion.joints, atol=1e-5, rtol=0)
        assert trial.texts == single.texts


def test_dataset_pickles_without_its_open_archive(cmu_root):
    dataset = CMUMocap(cmu_root, trial_ids=SAMPLE_TRIALS[:2])
    first = dataset[0]
    copy = pickle.loads(pickle.dumps(dataset))  # as DataLoader workers receive it
    torch.testing.assert_close(copy[0].motion.joints, first.motion.joints)


def test_batched_retargeting_keeps_each_body(raw_joints):
    joints = [torch.from_numpy(raw_joints[t]).float() for t in SAMPLE_TRIALS[:3]]
    batched = cmu_joints_to_motions(joints)
    for joint, motion in zip(joints, batched, strict=True):
        (alone,) = cmu_joints_to_motions([joint])
        torch.testing.assert_close(motion.offsets, alone.offsets)
        torch.testing.assert_close(motion.joints, alone.joints, atol=1e-5, rtol=0)


def test_min_frames_and_trial_ids(cmu_root):
    index = read_cmu_index(cmu_root)
    dataset = CMUMocap(cmu_root, min_frames=25)
    expected = [t for t, e in index.items() if e.num_frames >= 25]
    assert dataset.trial_ids == expected
    at_24 = CMUMocap(cmu_root, fps=24, min_frames=49)
    assert at_24.trial_ids == [t for t, e in index.items() if (e.num_frames - 1) * 2 + 1 >= 49]
    with pytest.raises(InvalidInputError, match="99_99"):
        CMUMocap(cmu_root, trial_ids=["02_01", "99_99"])
    test_subject = next(iter(split_subjects(e.subject for e in index.values())["test"]))
    test_trial = next(t for t, e in index.items() if e.subject == test_subject)
    with pytest.raises(InvalidInputError, match="not in the 'train' split"):
        CMUMocap(cmu_root, split="train", trial_ids=[test_trial])
    with pytest.raises(InvalidInputError, match="fps"):
        CMUMocap(cmu_root, fps=0)
