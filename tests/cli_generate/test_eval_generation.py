"""`kinevid.eval.video.generation`: the generation protocol on tiny random MoSA / EchoMotion pipelines and two
tiny rendered test-subject clips. An oracle judge (it knows the ground-truth renders) makes the ceiling exact:
the ground truth must then score PCK 1 and mask IoU 1, anything else less."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.eval.video import generation
from kinevid.eval.video.clothing import region_colors
from kinevid.eval.video.generation import (
    MOTION_ROWS,
    VIDEO_ROWS,
    evaluate_generation,
    render_test_clips,
    root_aligned_mpjpe_mm,
)
from kinevid.eval.video.generation_report import write_generation_report
from kinevid.eval.video.pose_judge import JUDGED_NAMES, PoseEstimate, judged_reference_keypoints
from kinevid.motion.metrics import physical_metrics
from kinevid.pipelines import EchoMotionPipeline, MoSAPipeline

SIZE, NUM_FRAMES, FPS = 32, 5, 16.0


class OracleJudge:
    """Finds the person exactly in the videos it was shown (the ground-truth renders), nobody elsewhere."""

    def __init__(self) -> None:
        self.known: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @staticmethod
    def _key(frames: np.ndarray) -> str:
        return hashlib.sha1(np.ascontiguousarray(frames).tobytes()).hexdigest()

    def learn(self, frames: np.ndarray, keypoints_2d: np.ndarray, masks: np.ndarray) -> None:
        self.known[self._key(frames)] = (judged_reference_keypoints(keypoints_2d), masks)

    def estimate(self, frames: np.ndarray) -> PoseEstimate:
        if self._key(frames) in self.known:
            keypoints, masks = self.known[self._key(frames)]
            return PoseEstimate(keypoints, np.ones(len(frames), bool), masks)
        empty = np.full((len(frames), len(JUDGED_NAMES), 2), np.nan)
        return PoseEstimate(empty, np.zeros(len(frames), bool), np.zeros(frames.shape[:3], bool))


@pytest.fixture(scope="module")
def clips(cmu_root):
    return render_test_clips(2, SIZE, SIZE, NUM_FRAMES, FPS, cmu_root, show_progress=False)


@pytest.fixture(scope="module")
def mosa(mosa_dir):
    return MoSAPipeline.from_pretrained(mosa_dir)


@pytest.fixture(scope="module")
def echomotion(echomotion_dir):
    return EchoMotionPipeline.from_pretrained(echomotion_dir)


@pytest.fixture(scope="module")
def mosa_motion(mosa, clips):
    judge = OracleJudge()
    for clip in clips:
        judge.learn(clip.frames, clip.keypoints_2d, clip.masks)
    evaluation = evaluate_generation(
        mosa, "mosa", clips=clips, mode="motion", seeds=2, num_inference_steps=2, judge=judge, show_progress=False
    )
    return evaluation


def test_rendered_clips_are_held_out_test_subjects(clips, cmu_root):
    from kinevid.data.cmu import CMUMocap

    test = CMUMocap(cmu_root, split="test")
    test_subjects = {test.index[trial_id].subject for trial_id in test.trial_ids}
    for clip in clips:
        assert clip.info["subject"] in test_subjects
        assert clip.frames.shape == (NUM_FRAMES, SIZE, SIZE, 3) and clip.masks.any()
        assert clip.motion.num_frames == NUM_FRAMES and clip.fps == FPS


def test_the_ground_truth_scores_its_own_ceiling(mosa_motion):
    means = mosa_motion.means
    assert mosa_motion.rows == VIDEO_ROWS
    assert means["ground truth"]["pck"] == 1.0 and means["ground truth"]["mask_iou"] == 1.0
    assert means["mean frame"]["mask_iou"] < means["ground truth"]["mask_iou"]
    assert means["mean frame"]["pck"] < 1.0
    for part in ("shirt", "trousers"):  # the ground truth reads as itself
        assert means["ground truth"][f"as_render/{part}"] == 1.0
    assert mosa_motion.ratios["pck"] == means["generated"]["pck"] / 1.0
    assert set(mosa_motion.goals()) == {"pck", "mask_iou", "colors_named"}


def test_every_field_is_reported_per_clip_and_per_seed(mosa_motion, clips):
    expected = {"pck", "mask_iou", "detection_rate", "named/shirt", "as_render/trousers", "dynamic_degree_dis"}
    expected |= {"motion_smoothness_flowwarp", *(f"pck/{name}" for name in JUDGED_NAMES)}
    for row in VIDEO_ROWS:
        assert expected <= set(mosa_motion.means[row])
        assert set(mosa_motion.per_clip[row]) == {clip.name for clip in clips}
        for scores in mosa_motion.per_clip[row].values():
            assert expected <= set(scores)
    assert "motion/jerk_m_per_s3" in mosa_motion.means["ground truth"]
    assert "captured" in mosa_motion.skipped  # no capture model given
    assert len(mosa_motion.per_seed) == 2
    # A static video: VBench's rule gives no dynamics, and flow-warp interpolation is exact.
    assert mosa_motion.means["mean frame"]["dynamic_degree_dis"] == 0.0
    assert mosa_motion.means["mean frame"]["motion_smoothness_flowwarp"] == pytest.approx(1.0)


def test_intervals_are_over_seeds(mosa_motion):
    for row in VIDEO_ROWS:
        for name, interval in mosa_motion.intervals[row].items():
            values = np.array([seed[row][name] for seed in mosa_motion.per_seed])
            if np.isfinite(values).all():
                assert interval == pytest.approx(1.96 * values.std(ddof=1) / np.sqrt(2))
                assert mosa_motion.means[row][name] == pytest.approx(values.mean())
    # The target does not depend on the seed in motion mode: its rows do not move; the generated one does.
    assert mosa_motion.intervals["ground truth"]["mask_iou"] == 0.0
    first, second = (seed["generated"]["motion_smoothness_flowwarp"] for seed in mosa_motion.per_seed)
    assert first != second


def test_text_mode_is_scored_against_the_generated_motion(mosa, clips):
    evaluation = evaluate_generation(
        mosa, "mosa", clips=clips, mode="text", seeds=1, num_inference_steps=1, judge=None, video_metrics=(),
        show_progress=False,
    )  # fmt: skip
    assert evaluation.skipped["pose"] == "no pose judge given"
    expected = []
    for clip in clips:  # what the pipeline generates for the caption with seed 0
        output = mosa(clip.caption, num_frames=NUM_FRAMES, height=SIZE, width=SIZE, fps=FPS, num_inference_steps=1,
                      generator=torch.Generator().manual_seed(0))  # fmt: skip
        expected.append(physical_metrics(output.motion[0])["jerk_m_per_s3"])
    assert evaluation.means["ground truth"]["motion/jerk_m_per_s3"] == pytest.approx(np.mean(expected), rel=1e-5)
    real = np.mean([physical_metrics(clip.motion)["jerk_m_per_s3"] for clip in clips])
    assert evaluation.means["ground truth"]["motion/jerk_m_per_s3"] != pytest.approx(real)


def test_echomotion_m2v_with_motion_captured_from_the_videos(echomotion, clips):
    evaluation = evaluate_generation(
        echomotion, "echomotion", clips=clips, seeds=1, num_inference_steps=1, capture_pipeline=echomotion,
        judge=None, video_metrics=("dynamic_degree_dis",), show_progress=False,
    )  # fmt: skip
    assert evaluation.mode == "m2v" and evaluation.rows == VIDEO_ROWS
    for row in VIDEO_ROWS:
        assert {"captured/mpjpe_mm", "captured/foot_skating_ratio", "dynamic_degree_dis"} <= set(evaluation.means[row])
    real = np.mean([physical_metrics(clip.motion)["foot_skating_ratio"] for clip in clips])
    assert evaluation.means["ground truth"]["motion/foot_skating_ratio"] == pytest.approx(real)
    assert "pck" not in evaluation.means["generated"]


def test_echomotion_t2vm_and_v2m(echomotion, clips):
    t2vm = evaluate_generation(echomotion, "echomotion", clips=clips, mode="t2vm", seeds=1, num_inference_steps=1,
                               judge=None, video_metrics=(), show_progress=False)  # fmt: skip
    assert {"named/shirt", "motion/jerk_m_per_s3"} <= set(t2vm.means["ground truth"])
    v2m = evaluate_generation(echomotion, "echomotion", clips=clips, mode="v2m", seeds=2, num_inference_steps=1,
                              show_progress=False)  # fmt: skip
    assert v2m.rows == MOTION_ROWS
    assert v2m.means["real motion"]["mpjpe_mm"] == 0.0  # a motion against itself
    assert v2m.means["mean pose"]["mpjpe_mm"] > 0.0
    assert {"mpjpe_mm", "physical/foot_skating_ratio"} <= set(v2m.means["captured"])
    assert "mpjpe_mm" in v2m.intervals["captured"]
    assert v2m.means["real motion"]["physical/jerk_m_per_s3"] == pytest.approx(
        np.mean([physical_metrics(clip.motion)["jerk_m_per_s3"] for clip in clips])
    )


def test_root_aligned_mpjpe_against_a_direct_computation():
    generator = torch.Generator().manual_seed(0)
    joints = torch.randn(4, 24, 3, generator=generator, dtype=torch.float64)
    assert root_aligned_mpjpe_mm(joints, joints) == 0.0
    assert root_aligned_mpjpe_mm(
        joints + torch.randn(4, 1, 3, generator=generator, dtype=torch.float64), joints
    ) == pytest.approx(0, abs=1e-9)
    moved = joints.clone()
    moved[:, 5] += torch.tensor([0.0, 0.03, 0.04])  # 50 mm on one joint of 24
    assert root_aligned_mpjpe_mm(moved, joints) == pytest.approx(50.0 / 24)
    with pytest.raises(InvalidInputError, match="MPJPE"):
        root_aligned_mpjpe_mm(joints[:, :20], joints)


def test_region_colors_names_painted_clothes():
    keypoints = np.zeros((2, 18, 2))
    keypoints[:, 1] = (16, 4)  # neck
    keypoints[:, [8, 11]] = (16, 20)  # hips
    keypoints[:, [9, 12]] = (16, 28)  # knees
    frames = np.zeros((2, 32, 32, 3), np.uint8)
    frames[:, :22] = (200, 30, 30)  # a red shirt down to the hips
    frames[:, 22:] = (30, 40, 190)  # blue trousers
    colors = region_colors(frames, np.ones((2, 32, 32), bool), keypoints)
    assert colors == {"shirt": "red", "trousers": "blue"}
    assert region_colors(frames, np.zeros((2, 32, 32), bool), keypoints) == {}


def test_without_mediapipe_the_pose_scores_are_skipped_with_a_reason(mosa, clips, monkeypatch):
    monkeypatch.setattr(generation, "is_mediapipe_available", lambda: False)
    evaluation = evaluate_generation(mosa, "mosa", clips=clips[:1], num_clips=1, seeds=1, num_inference_steps=1,
                                     video_metrics=(), show_progress=False)  # fmt: skip
    assert "MediaPipe is not installed" in evaluation.skipped["pose"]
    assert "pck" not in evaluation.means["ground truth"]


def test_bad_method_mode_and_data(mosa, clips, tmp_path):
    with pytest.raises(InvalidInputError, match="method"):
        evaluate_generation(mosa, "wan", clips=clips)
    with pytest.raises(InvalidInputError, match="m2v"):
        evaluate_generation(mosa, "mosa", clips=clips, mode="m2v")
    with pytest.raises(InvalidInputError, match="manifest"):
        evaluate_generation(mosa, "mosa", test_data_dir=tmp_path)


def test_report_files_and_atomic_replacement(mosa_motion, tmp_path):
    out = write_generation_report(mosa_motion, tmp_path / "report")
    names = {path.name for path in out.iterdir()}
    assert {"report.json", "report.md", "frames.png", "pck_per_joint.png", "hist_pck.png"} <= names
    data = json.loads((out / "report.json").read_text())
    assert set(data["means"]) == set(VIDEO_ROWS) and data["intervals_95"]["generated"]
    assert data["ratios_to_ground_truth"]["mask_iou"] == pytest.approx(mosa_motion.ratios["mask_iou"])
    markdown = (out / "report.md").read_text()
    assert "| metric | generated | ground truth | through the VAE | mean frame |" in markdown
    assert "![frames.png]" in markdown
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InvalidInputError, match="cannot write the report"):
        write_generation_report(mosa_motion, blocker / "report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "report"]


def test_a_pipeline_directory_is_loaded_and_a_bad_one_refused(mosa_dir, clips, tmp_path):
    from kinevid.errors import MissingWeightsError

    evaluation = evaluate_generation(mosa_dir, "mosa", clips=clips[:1], num_clips=1, seeds=1, num_inference_steps=1,
                                     judge=None, video_metrics=(), show_progress=False)  # fmt: skip
    assert set(evaluation.per_clip["generated"]) == {clips[0].name}
    with pytest.raises(MissingWeightsError, match=r"model_index\.json"):
        evaluate_generation(tmp_path, "mosa", clips=clips)


def test_the_vae_row_is_the_ground_truth_through_the_pipelines_vae(mosa, clips, mosa_motion):
    vae = mosa.vae
    target = generation._Target.of_clip(clips[0])
    video = torch.from_numpy(clips[0].frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    with torch.no_grad():  # diffusers' own calls: the latent mode, normalised and back
        latents = (vae.encode(video).latent_dist.mode() - mean) / std
        decoded = vae.decode(latents * std + mean).sample.clamp(-1, 1)[0]
    expected = ((decoded.permute(1, 2, 3, 0).numpy() + 1.0) * 127.5).clip(0, 255).round().astype(np.uint8)
    assert np.abs(target.through_vae(vae).astype(int) - expected.astype(int)).max() <= 1
    # the oracle knows only the renders: the VAE's copy of them is a video it cannot pose
    assert mosa_motion.means["through the VAE"]["pck"] < mosa_motion.means["ground truth"]["pck"]


def test_paired_scores_are_against_the_ground_truth_through_the_vae(mosa, clips, mosa_motion):
    through_vae = {clip.name: generation._Target.of_clip(clip).through_vae(mosa.vae) for clip in clips}
    assert not set(generation.PAIRED_SCORES) & set(mosa_motion.means["through the VAE"])  # it is the reference
    for row in ("generated", "ground truth", "mean frame"):
        assert set(generation.PAIRED_SCORES) <= set(mosa_motion.means[row])
    for clip in clips:
        truth = mosa_motion.per_clip["ground truth"][clip.name]
        assert truth["paired/psnr"] == pytest.approx(generation.video_psnr(clip.frames, through_vae[clip.name]))
        assert truth["paired/ssim_person"] == pytest.approx(
            generation.video_ssim(clip.frames, through_vae[clip.name], clip.masks)
        )
    # the fixed rows' scores are those of seed 0 in every seed; the generated video's change with the seed
    first, second = mosa_motion.per_seed
    assert first["mean frame"]["paired/psnr"] == second["mean frame"]["paired/psnr"]
    assert first["generated"]["paired/psnr"] != second["generated"]["paired/psnr"]
