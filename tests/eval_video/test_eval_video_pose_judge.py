"""The pose judge: PCK and mask IoU against hand computations, and MediaPipe on mannequin renders
(skipped when MediaPipe is not installed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kinevid.errors import InvalidInputError
from kinevid.eval.video.pose_judge import (
    JUDGED_NAMES,
    PoseEstimate,
    is_mediapipe_available,
    mask_iou,
    pck_per_joint,
    pose_following,
)


def test_pck_counts_points_within_alpha_of_the_reference_box():
    reference = np.array([[[0.0, 0.0], [100.0, 0.0], [0.0, 50.0]]])  # box 100 x 50: threshold 10 px
    predicted = np.array([[[9.0, 0.0], [100.0, 10.5], [np.nan, np.nan]]])
    correct, counted = pck_per_joint(predicted, reference, alpha=0.1)
    assert correct.tolist() == [1, 0, 0] and counted.tolist() == [1, 1, 1]
    reference[0, 2] = np.nan  # an unknown reference point is skipped, not counted wrong
    assert pck_per_joint(predicted, reference)[1].tolist() == [1, 1, 0]
    with pytest.raises(InvalidInputError, match="both be"):
        pck_per_joint(predicted[:, :2], reference)


def test_mask_iou_and_pose_following_on_a_hand_made_estimate():
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[:, :2] = True  # 16 pixels over the clip
    predicted = np.zeros_like(masks)
    predicted[:, :1] = True  # 8 of them
    assert mask_iou(predicted, masks) == pytest.approx(0.5)
    assert np.isnan(mask_iou(np.zeros_like(masks), np.zeros_like(masks)))
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 100, size=(2, 18, 2))
    judged = keypoints[:, [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]]
    estimate = PoseEstimate(judged.copy(), np.array([True, False]), predicted)
    estimate.keypoints[1] = np.nan  # second frame undetected: all its points wrong
    scores = pose_following(estimate, keypoints, masks)
    assert scores["pck"] == pytest.approx(0.5) and scores["detection_rate"] == 0.5
    assert scores["mask_iou"] == pytest.approx(0.5)
    assert all(scores[f"pck/{name}"] == 0.5 for name in JUDGED_NAMES)
    with pytest.raises(InvalidInputError, match="COCO-18"):
        pose_following(estimate, keypoints[:, :13])


@pytest.mark.heavy  # about 20 s: two 128 px mannequin renders, MediaPipe over 4 x 17 frames
@pytest.mark.skipif(not is_mediapipe_available(), reason="MediaPipe (kinevid[judge]) is not installed")
def test_mediapipe_judge_follows_mannequin_renders_and_rejects_a_wrong_condition(tmp_path, cmu_root):
    from kinevid.cli.main import main
    from kinevid.data.cmu import CMUMocap
    from kinevid.data.synth import SynthConfig, synthesize_clip
    from kinevid.render.video import write_video

    trials = CMUMocap(cmu_root, split="test", fps=8, min_frames=17)
    config = SynthConfig(num_frames=17, height=128, width=128, fps=8.0, seed=0)
    generated, poses, swapped = tmp_path / "generated", tmp_path / "poses", tmp_path / "swapped"
    # Two clips the judge reads well (it flips sides on some back views; the README's ceiling averages over 64).
    clips = [synthesize_clip(trials, index, config)[0] for index in (0, 4)]
    for index, arrays in enumerate(clips):
        write_video(arrays["frames"], generated / f"clip{index}.mp4", fps=8, crf=10)
        for directory, source in ((poses, arrays), (swapped, clips[1 - index])):
            directory.mkdir(exist_ok=True)
            np.savez(directory / f"clip{index}.npz", keypoints_2d=source["keypoints_2d"], masks=source["masks"])
    for directory, name in ((poses, "right"), (swapped, "wrong")):
        argv = ["eval", "video", str(generated), "--metrics", "pose", "--poses", str(directory)]
        assert main([*argv, "-o", str(tmp_path / name)]) == 0
    right = json.loads((tmp_path / "right" / "report.json").read_text())["means"]
    wrong = json.loads((tmp_path / "wrong" / "report.json").read_text())["means"]
    # The README's ceiling at 128 px is PCK@0.1 about 0.8 and IoU >= 0.92; these bounds leave room.
    assert right["detection_rate"] > 0.9 and right["pck"] > 0.6 and right["mask_iou"] > 0.85
    assert wrong["pck"] < right["pck"] - 0.2 and wrong["mask_iou"] < right["mask_iou"] - 0.2
    assert (tmp_path / "right" / "pck_per_joint.png").is_file()


@pytest.mark.skipif(not is_mediapipe_available(), reason="MediaPipe (kinevid[judge]) is not installed")
def test_malformed_pose_conditions_fail_with_one_line(tmp_path, capsys):
    from video_cases import moving_video

    from kinevid.cli.main import main
    from kinevid.render.video import write_video

    write_video(moving_video(5, 32, 32, step=1), tmp_path / "videos" / "a.mp4", fps=8)
    (tmp_path / "poses").mkdir()
    argv = ["eval", "video", str(tmp_path / "videos"), "--metrics", "pose", "--poses", str(tmp_path / "poses")]
    np.savez(tmp_path / "poses" / "a.npz", keypoints_2d=np.zeros((4, 18, 2)))
    assert main([*argv, "-o", str(tmp_path / "r")]) == 1
    assert "`keypoints_2d` must be (5, 18, 2)" in capsys.readouterr().err.splitlines()[-1]
    np.savez(tmp_path / "poses" / "a.npz", points=np.zeros((5, 18, 2)))
    assert main([*argv, "-o", str(tmp_path / "r")]) == 1
    assert "expected an npz with `keypoints_2d`" in capsys.readouterr().err.splitlines()[-1]
    assert not (tmp_path / "r").exists()
