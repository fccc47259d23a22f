"""`evaluate_generation`: how well a MoSA or EchoMotion pipeline's videos follow their motion and prompt, on
held-out test-subject clips (the protocol of `kinevid eval generate` and `benchmarks/bench_mosa_quality.py`).

Test clips come from a `kinevid data synth` dataset of CMU test subjects (`load_test_clips`) or are rendered
on the fly with the same builder (`render_test_clips`; seed 2 and the test split reproduce
`data/synth128v2_test`). Each has a motion, the camera it is seen by, the renderer's ground-truth video
(mannequin, clothes and scene as the caption says), its person mask and COCO-18 keypoints.

Modes (`GENERATION_MODES`), each run once per seed (`torch.Generator().manual_seed(seed)`, seeds 0..N-1):

- MoSA `motion`: the pipeline animates the clip's motion seen by the clip's camera with the clip's caption.
- MoSA `text`: the full text -> video job on the caption; the target is the generated motion seen by the
  camera the pipeline drew it with, and its ground truth the mannequin render of that motion in the clip's
  scene.
- EchoMotion `m2v`: video from the clip's motion and caption. EchoMotion takes no camera, so the video is
  scored through the clip's camera (the view distribution it was trained on); a different view lowers it.
- EchoMotion `t2vm`: video + motion from the caption, scored against the generated motion seen by a camera
  sampled from the seed to keep it in frame (as `kinevid generate` does); the same caveat applies.
- EchoMotion `v2m`: motion captured from the ground-truth render, scored as MPJPE after root alignment (mm)
  against the clip's motion, and by the physical metrics of `kinevid.motion.metrics` next to the real
  motion's. Reference: every frame predicted as the mean root-relative test pose.

Video modes score four rows with the same judges, so every number stands beside its ceiling and a
reference without learning: `generated`; `ground truth` (the renderer's video of the target: the judge's
ceiling); `through the VAE` (the ground truth encoded and decoded by the pipeline's own VAE: the ceiling of
any model that generates in that latent space); `mean frame` (the ground truth's temporal mean repeated:
right colours in the right place, no motion). Scores per video:

- pose following (issue 13): MediaPipe PCK@0.1 against the target keypoints, detection rate and mask IoU
  against the target mask (`pose_judge`; needs the `judge` extra, else skipped with the reason);
- appearance following: `clothing.region_colors` named like the caption (`named/<part>`) and like the
  ground truth reads (`as_render/<part>`; the renderer's shading moves some colours to a neighbouring name,
  so read `named` against the ground truth's);
- the weight-free video metrics of `evaluate_videos` (`DEFAULT_VIDEO_METRICS` that `METRICS` knows and whose
  inputs are at hand; the ground truth is the reference set and the captions the prompts);
- paired scores, which need no judge (`PAIRED_SCORES`): the ground truth through the VAE is the best the
  pipeline can draw for the clip's caption, motion and camera, so each row (but that one) is compared with
  it pixel by pixel: `paired/psnr` and `paired/ssim` over the whole video, `paired/psnr_person` and
  `paired/ssim_person` inside the renderer's person mask (`video_psnr`, `video_ssim`), and
  `paired/delta_e_background`, the mean CIELAB distance of the pixels outside it (`video_delta_e`: does the
  model paint the floor and wall the caption names?). They separate models that every judge scores at its floor;
- motion plausibility (with `capture_pipeline`, an EchoMotion pipeline): the physical metrics of the motion
  captured from the video (`captured/<metric>`), and of the target motion itself on the ground-truth row
  (`motion/<metric>`).

Set-level scores are means over clips per seed; the result holds their mean and 95% interval over seeds
(`kinevid.eval.metrics.mean_and_interval`) and per-clip scores averaged over seeds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from ...errors import InvalidInputError, KinevidError, MissingWeightsError
from ...motion import Motion
from ...motion.metrics import physical_metrics
from ...render.camera import Camera, sample_camera
from ...render.frames import frames_to_tensor
from ...render.mannequin import render_mannequin
from ...render.skeleton_maps import render_skeleton_maps
from ...render.video import write_video
from ..metrics import mean_and_interval
from .clothing import CLOTHING_REGIONS, region_colors
from .evaluate import WEIGHT_FREE_METRICS, VideoEvaluationInputs, check_metrics, evaluate_videos
from .pose_judge import MediaPipePoseJudge, is_mediapipe_available, pose_following

GENERATION_MODES: dict[str, tuple[str, ...]] = {"mosa": ("motion", "text"), "echomotion": ("m2v", "t2vm", "v2m")}
DEFAULT_MODES = {"mosa": "motion", "echomotion": "m2v"}
VIDEO_ROWS = ("generated", "ground truth", "through the VAE", "mean frame")
MOTION_ROWS = ("captured", "real motion", "mean pose")
TEST_DATA_SEED = 2  # the seed of data/synth128v2_test
# Weight-free or shipped video metrics, used when `METRICS` has them and their inputs exist.
DEFAULT_VIDEO_METRICS = (
    "dynamic_degree_dis",
    "motion_smoothness_flowwarp",
    "motion_smoothness",
    "retrieval_precision",
    "fd_kinevid",
)
PAIRED_SCORES = (
    "paired/psnr",
    "paired/ssim",
    "paired/psnr_person",
    "paired/ssim_person",
    "paired/delta_e_background",
)
"""Scores of a row against the ground truth through the pipeline's VAE (the `through the VAE` row)."""
PAIRED_REFERENCE_ROW = "through the VAE"
SSIM_SIGMA, SSIM_TRUNCATE, SSIM_K1, SSIM_K2 = 1.5, 3.5, 0.01, 0.03  # Wang et al. 2004, as skimage's Gaussian SSIM
GOALS = {"pck": 0.85, "mask_iou": 0.9}  # issue 13: generated / ground truth
COLOR_GOAL = 0.9
PELVIS = 0


# ---------------------------------------------------------------------- test clips
@dataclass
class TestClip:
    """One held-out clip and what the renderer knows about it.

    Args:
        name (`str`): `clip<index>`.
        frames (`np.ndarray` of shape `(T, H, W, 3)`): the ground-truth render, uint8.
        masks (`np.ndarray` of shape `(T, H, W)`): bool person mask.
        keypoints_2d (`np.ndarray` of shape `(T, 18, 2)`): COCO-18 pixels of the motion through `camera`.
        motion (`Motion`): `T` frames at the clip's fps.
        camera (`Camera`): the view (image size `H x W`).
        info (`dict`): the synth metadata (`caption`, `colors`, `scene`, `subject`, ...).
    """

    __test__ = False  # not a pytest class

    name: str
    frames: np.ndarray
    masks: np.ndarray
    keypoints_2d: np.ndarray
    motion: Motion
    camera: Camera
    info: dict

    @property
    def caption(self) -> str:
        return self.info["caption"]

    @property
    def fps(self) -> float:
        return float(self.motion.fps)


def _clip_from_arrays(index: int, arrays: dict[str, np.ndarray], info: dict, fps: float) -> TestClip:
    motion = Motion(
        rotations=torch.as_tensor(arrays["rotations"]),
        translation=torch.as_tensor(arrays["translation"]),
        fps=fps,
        offsets=torch.as_tensor(arrays["offsets"]),
        betas=torch.as_tensor(arrays["betas"]),
    )
    return TestClip(
        name=f"clip{index:03d}",
        frames=np.asarray(arrays["frames"]),
        masks=np.asarray(arrays["masks"]).astype(bool),
        keypoints_2d=np.asarray(arrays["keypoints_2d"], np.float64),
        motion=motion,
        camera=Camera.from_dict(info["camera"]),
        info=info,
    )


def load_test_clips(data_dir: str | os.PathLike[str], num_clips: int) -> list[TestClip]:
    """The first `num_clips` clips of a `kinevid data synth` dataset (a training-split dataset is refused)."""
    from ...data.paired import SyntheticPairedDataset

    if num_clips < 1:
        raise InvalidInputError(f"`num_clips` must be >= 1, got {num_clips}.")
    dataset = SyntheticPairedDataset(data_dir)
    if dataset.split in ("train", "all"):
        raise InvalidInputError(
            f"{data_dir}: holds the {dataset.split!r} split; the protocol runs on held-out test subjects "
            "(`kinevid data synth --split test`)."
        )
    count = min(num_clips, len(dataset))
    return [_clip_from_arrays(i, dataset.arrays(i), dataset.info(i), dataset.fps) for i in range(count)]


def render_test_clips(
    num_clips: int,
    height: int,
    width: int,
    num_frames: int,
    fps: float,
    cmu_root: str | os.PathLike[str] | None = None,
    seed: int = TEST_DATA_SEED,
    show_progress: bool = True,
) -> list[TestClip]:
    """Clips `0..num_clips-1` of the test-split synthetic dataset `kinevid data synth --split test --seed
    SEED` would build at this size (`kinevid.data.synth.synthesize_clip` on CMU's test subjects)."""
    from ...data.cmu import CMUMocap
    from ...data.synth import SynthConfig, synthesize_clip

    if num_clips < 1:
        raise InvalidInputError(f"`num_clips` must be >= 1, got {num_clips}.")
    config = SynthConfig(
        num_clips=num_clips, clips_per_shard=num_clips, num_frames=num_frames, height=height, width=width,
        fps=fps, seed=seed, split="test",
    )  # fmt: skip
    trials = CMUMocap(cmu_root, split="test", fps=fps, min_frames=num_frames)
    if len(trials) == 0:
        raise InvalidInputError(f"no CMU test-split trial has {num_frames} frames at {fps:g} fps.")
    clips = []
    for index in tqdm(range(num_clips), desc="test clips", unit="clip", disable=not show_progress):
        arrays, info = synthesize_clip(trials, index, config)
        clips.append(_clip_from_arrays(index, arrays, info, fps))
    return clips


# ---------------------------------------------------------------------- scores
def root_aligned_mpjpe_mm(predicted: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean per-joint position error (millimetres) after moving both pelvises to the origin in every frame.

    Args:
        predicted (`torch.Tensor` of shape `(T, J, 3)`), reference (`torch.Tensor` of shape `(T, J, 3)`): metres.
    """
    predicted, reference = torch.as_tensor(predicted, dtype=torch.float64), torch.as_tensor(reference).double()
    if predicted.shape != reference.shape or predicted.ndim != 3 or predicted.shape[-1] != 3:
        raise InvalidInputError(f"MPJPE needs two (T, J, 3) joint arrays of one shape; got {predicted.shape}, "
                                f"{reference.shape}.")  # fmt: skip
    aligned = (predicted - predicted[:, PELVIS : PELVIS + 1]) - (reference - reference[:, PELVIS : PELVIS + 1])
    return float(aligned.norm(dim=-1).mean() * 1000.0)


@dataclass
class _Target:
    """What a video is scored against: the target motion seen by a camera, and its ground-truth render."""

    motion: Motion
    camera: Camera
    frames: np.ndarray
    masks: np.ndarray
    keypoints_2d: np.ndarray

    @classmethod
    def of_clip(cls, clip: TestClip) -> _Target:
        return cls(clip.motion, clip.camera, clip.frames, clip.masks, clip.keypoints_2d)

    @classmethod
    def rendered(cls, motion: Motion, camera: Camera, clip: TestClip) -> _Target:
        """The mannequin render of `motion` through `camera` in the clip's scene."""
        from ...data.synth import scene_from_info

        motion = motion.to(dtype=torch.float32)
        render = render_mannequin(motion, camera, scene_from_info(clip.info), num_track_points=1)
        _, keypoints, _ = render_skeleton_maps(motion.joints.detach(), camera)
        return cls(motion, camera, render.rgb, render.mask.astype(bool), keypoints.double().numpy())

    def mean_frame(self) -> np.ndarray:
        return np.repeat(self.frames.mean(0, keepdims=True).round().astype(np.uint8), len(self.frames), 0)

    def skeleton(self) -> np.ndarray:
        return render_skeleton_maps(self.motion.joints.detach().float(), self.camera)[0]

    def through_vae(self, vae) -> np.ndarray:
        """The ground truth encoded and decoded by `vae` (`vae_round_trip`)."""
        return vae_round_trip(vae, self.frames)


def vae_round_trip(vae, frames: np.ndarray) -> np.ndarray:
    """`(T, H, W, 3)` uint8 frames encoded and decoded by `vae` (normalised latents, as the pipelines sample
    them): the best any model drawing in that latent space can do. Returns `(T, H, W, 3)` uint8."""
    from ...models.vae import decode_latents, encode_video

    video = frames_to_tensor(frames)[None].to(vae.device, vae.dtype)  # (1, 3, T, H, W) in [-1, 1]
    with torch.no_grad():
        decoded = decode_latents(vae, encode_video(vae, video))[0].float().cpu()
    return ((decoded.permute(1, 2, 3, 0).numpy() + 1.0) * 127.5).clip(0, 255).round().astype(np.uint8)


def _video_scores(
    frames: np.ndarray, target: _Target, colors: dict[str, str], judge: MediaPipePoseJudge | None
) -> dict[str, float]:
    """Pose following (with a judge) and clothing colours of one video against its target."""
    drawn = region_colors(frames, target.masks, target.keypoints_2d)
    rendered = region_colors(target.frames, target.masks, target.keypoints_2d)
    scores = {f"named/{part}": float(drawn.get(part) == colors.get(part)) for part in CLOTHING_REGIONS}
    scores.update({f"as_render/{part}": float(drawn.get(part) == rendered.get(part)) for part in CLOTHING_REGIONS})
    if judge is not None:
        scores.update(pose_following(judge.estimate(frames), target.keypoints_2d, target.masks))
    return scores


def _check_paired(frames: np.ndarray, reference: np.ndarray, mask: np.ndarray | None) -> None:
    if frames.shape != reference.shape or frames.ndim != 4 or frames.shape[-1] != 3:
        raise InvalidInputError(
            f"paired scores need two (T, H, W, 3) videos of one shape; got {frames.shape} and {reference.shape}."
        )
    if mask is not None and mask.shape != frames.shape[:3]:
        raise InvalidInputError(f"the person mask must have shape {frames.shape[:3]} (T, H, W); got {mask.shape}.")


def video_psnr(frames: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR (dB, peak 255) of a video against a reference: `10 log10(255^2 / MSE)` over all its pixels.

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`), reference (same): uint8 (or values in [0, 255]).
        mask (`np.ndarray` of shape `(T, H, W)`, bool, *optional*): only these pixels count (all channels).

    Returns:
        `float`: inf for identical videos, NaN for an empty mask.
    """
    _check_paired(frames, reference, mask)
    error = (frames.astype(np.float64) - reference.astype(np.float64)) ** 2  # (T, H, W, 3)
    if mask is not None:
        if not mask.any():
            return float("nan")
        error = error[mask.astype(bool)]
    mse = float(error.mean())
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(255.0**2 / mse))


def _gaussian_window() -> torch.Tensor:
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    window = torch.exp(-(x**2) / (2.0 * SSIM_SIGMA**2))
    return window / window.sum()


def ssim_map(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Wang et al.'s SSIM per pixel and channel, with an 11-tap Gaussian window (sigma 1.5) and peak 255.

    The statistics are Gaussian-weighted means (no sample-covariance correction), as skimage's
    `structural_similarity(gaussian_weights=True, use_sample_covariance=False, data_range=255)`; only pixels
    whose whole window lies in the frame are kept (skimage crops the same border before averaging).

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`), reference (same).

    Returns:
        `np.ndarray` of shape `(T, H - 2r, W - 2r, 3)`, float64 (`r = 5`, the window's radius).
    """
    _check_paired(frames, reference, None)
    window = _gaussian_window()
    radius = (len(window) - 1) // 2
    if min(frames.shape[1:3]) <= 2 * radius:
        raise InvalidInputError(f"SSIM needs frames larger than {2 * radius + 1} pixels; got {frames.shape[1:3]}.")

    def blur(image: torch.Tensor) -> torch.Tensor:  # (N, 1, H, W) -> (N, 1, H - 2r, W - 2r), separable
        image = torch.nn.functional.conv2d(image, window.view(1, 1, -1, 1))
        return torch.nn.functional.conv2d(image, window.view(1, 1, 1, -1))

    def planes(video: np.ndarray) -> torch.Tensor:  # (T, H, W, 3) -> (T * 3, 1, H, W)
        return torch.from_numpy(video.astype(np.float64)).permute(0, 3, 1, 2).reshape(-1, 1, *video.shape[1:3])

    x, y = planes(frames), planes(reference)
    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2
    covariance = blur(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * 255.0) ** 2, (SSIM_K2 * 255.0) ** 2
    ssim = ((2 * mu_x * mu_y + c1) * (2 * covariance + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    num_frames, height, width = len(frames), *ssim.shape[-2:]
    return ssim.reshape(num_frames, 3, height, width).permute(0, 2, 3, 1).numpy()


def video_ssim(frames: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM (`ssim_map`) of a video against a reference, over frames, pixels and channels.

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`), reference (same).
        mask (`np.ndarray` of shape `(T, H, W)`, bool, *optional*): only pixels inside it count (of those
            whose whole window lies in the frame).

    Returns:
        `float`: 1 for identical videos, NaN when the mask keeps no pixel.
    """
    _check_paired(frames, reference, mask)
    values = ssim_map(frames, reference)
    if mask is None:
        return float(values.mean())
    radius = (frames.shape[1] - values.shape[1]) // 2
    kept = mask.astype(bool)[:, radius : frames.shape[1] - radius, radius : frames.shape[2] - radius]
    return float(values[kept].mean()) if kept.any() else float("nan")


def video_delta_e(frames: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean colour difference (CIE76 Delta E: Euclidean distance in CIELAB, D65) of a video against a reference.

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`), reference (same): uint8 sRGB.
        mask (`np.ndarray` of shape `(T, H, W)`, bool, *optional*): only these pixels count.

    Returns:
        `float`: 0 for identical videos (about 2.3 is a just-noticeable difference), NaN for an empty mask.
    """
    _check_paired(frames, reference, mask)
    keep = np.ones(frames.shape[:3], bool) if mask is None else mask.astype(bool)
    if not keep.any():
        return float("nan")

    def lab(video: np.ndarray) -> np.ndarray:  # (N, 3) uint8 -> (N, 3) L*a*b*
        pixels = (video[keep].astype(np.float32) / 255.0).reshape(-1, 1, 3)
        return cv2.cvtColor(pixels, cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float64)

    return float(np.linalg.norm(lab(frames) - lab(reference), axis=1).mean())


def paired_scores(frames: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """`PAIRED_SCORES` of a video against the ground truth through the VAE, `mask` the person's `(T, H, W)`."""
    return {
        "paired/psnr": video_psnr(frames, reference),
        "paired/ssim": video_ssim(frames, reference),
        "paired/psnr_person": video_psnr(frames, reference, mask),
        "paired/ssim_person": video_ssim(frames, reference, mask),
        "paired/delta_e_background": video_delta_e(frames, reference, ~mask.astype(bool)),
    }


def _prefixed(prefix: str, scores: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}/{name}": value for name, value in scores.items()}


# ---------------------------------------------------------------------- result
@dataclass
class GenerationEvaluation:
    """Everything `evaluate_generation` measured.

    Args:
        method (`str`), mode (`str`): what ran.
        rows (`tuple[str, ...]`): `VIDEO_ROWS` or, for v2m, `MOTION_ROWS`.
        per_seed (`list[dict[str, dict[str, float]]]`): per seed, row -> metric -> mean over clips.
        per_clip (`dict[str, dict[str, dict[str, float]]]`): row -> clip -> metric -> mean over seeds.
        means (`dict[str, dict[str, float]]`), intervals (`dict[str, dict[str, float]]`): row -> metric ->
            mean and 95% interval half-width over seeds (no intervals with one seed).
        ratios (`dict[str, float]`): generated / ground truth of the pose scores.
        skipped (`dict[str, str]`): what was not measured -> why.
        settings (`dict`): the protocol's inputs.
        samples (`dict[str, dict[str, np.ndarray]]`): a few clips of seed 0: clip -> view -> `(T, H, W, 3)`
            uint8 (`generated`, `ground truth`, `skeleton`; for v2m `video`, `captured`, `real`).
    """

    method: str
    mode: str
    rows: tuple[str, ...]
    per_seed: list[dict[str, dict[str, float]]]
    per_clip: dict[str, dict[str, dict[str, float]]]
    means: dict[str, dict[str, float]]
    intervals: dict[str, dict[str, float]]
    ratios: dict[str, float]
    skipped: dict[str, str]
    settings: dict
    samples: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def goals(self) -> dict[str, dict]:
        """Issue 13's goals: pose ratios to the ceiling and colours named as the prompt says."""
        goals = {key: {"value": self.ratios[key], "goal": goal, "met": self.ratios[key] >= goal}
                 for key, goal in GOALS.items() if key in self.ratios}  # fmt: skip
        generated = self.means.get("generated", {})
        named = [generated[f"named/{part}"] for part in CLOTHING_REGIONS if f"named/{part}" in generated]
        if named:
            value = float(np.mean(named))
            goals["colors_named"] = {"value": value, "goal": COLOR_GOAL, "met": value >= COLOR_GOAL}
        return goals

    def to_dict(self) -> dict:
        """JSON-ready data (NaN becomes None)."""

        def clean(value):
            if isinstance(value, dict):
                return {key: clean(item) for key, item in value.items()}
            if isinstance(value, list | tuple):
                return [clean(item) for item in value]
            if isinstance(value, float | np.floating):
                return float(value) if np.isfinite(value) else None
            return value

        return clean({
            "method": self.method, "mode": self.mode, "rows": list(self.rows), "settings": self.settings,
            "means": self.means, "intervals_95": self.intervals, "ratios_to_ground_truth": self.ratios,
            "goals": self.goals(), "skipped": self.skipped, "per_seed": self.per_seed, "per_clip": self.per_clip,
        })  # fmt: skip


# ---------------------------------------------------------------------- protocol
def _load_pipeline(pipeline_or_dir, method: str):
    if not isinstance(pipeline_or_dir, str | os.PathLike):
        return pipeline_or_dir
    from ...pipelines import EchoMotionPipeline, MoSAPipeline

    directory = Path(pipeline_or_dir)
    if not (directory / "model_index.json").is_file():
        raise MissingWeightsError(f"{directory}: not a pipeline directory (no model_index.json).")
    pipeline_class = MoSAPipeline if method == "mosa" else EchoMotionPipeline
    return pipeline_class.from_pretrained(directory)


class _Runner:
    """Runs one mode of a pipeline on a clip with a seed."""

    def __init__(self, pipeline, method: str, mode: str, num_inference_steps: int | None) -> None:
        self.pipeline, self.method, self.mode = pipeline, method, mode
        self.options = {} if num_inference_steps is None else {"num_inference_steps": num_inference_steps}

    def _common(self, clip: TestClip, seed: int) -> dict:
        num_frames, height, width = clip.frames.shape[:3]
        generator = torch.Generator().manual_seed(seed)
        return {"height": height, "width": width, "num_frames": num_frames, "fps": clip.fps,
                "generator": generator, **self.options}  # fmt: skip

    def video(self, clip: TestClip, seed: int) -> tuple[np.ndarray, _Target]:
        """The generated video `(T, H, W, 3)` uint8 and the target it is scored against."""
        common = self._common(clip, seed)
        if self.mode == "motion":
            output = self.pipeline(clip.caption, motion=clip.motion, camera=clip.camera, **common)
            target = _Target.of_clip(clip)
        elif self.mode == "text":
            output = self.pipeline(clip.caption, **common)
            target = _Target.rendered(output.motion[0], output.cameras[0], clip)
        elif self.mode == "m2v":
            output = self.pipeline(clip.caption, mode="m2v", motion=clip.motion, **common)
            target = _Target.of_clip(clip)
        else:  # t2vm
            output = self.pipeline(clip.caption, mode="t2vm", **common)
            motion = output.motion[0].to(dtype=torch.float32)
            height, width = clip.frames.shape[1:3]
            camera = sample_camera(motion.joints, width, height, generator=torch.Generator().manual_seed(seed))
            target = _Target.rendered(motion, camera, clip)
        frames = (np.clip(np.asarray(output.frames[0], np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)
        return frames, target


def capture_motion(pipeline, frames: np.ndarray, fps: float, seed: int, num_inference_steps: int | None) -> Motion:
    """EchoMotion v2m on a uint8 video `(T, H, W, 3)` (`T = 4k + 1`, sides multiples of 16) at `fps`."""
    num_frames, height, width = frames.shape[:3]
    options = {} if num_inference_steps is None else {"num_inference_steps": num_inference_steps}
    output = pipeline(
        "", mode="v2m", video=frames_to_tensor(frames)[None], height=height, width=width, num_frames=num_frames,
        fps=fps, generator=torch.Generator().manual_seed(seed), **options,
    )  # fmt: skip
    return output.motion[0].to(dtype=torch.float32)


def _selected_video_metrics(
    names: tuple[str, ...], inputs: VideoEvaluationInputs, skipped: dict[str, str]
) -> list[str]:
    """The metrics of `names` whose inputs are at hand (the ground truth and captions always are); the others
    go to `skipped` with the reason."""
    from .evaluate import METRICS

    at_hand = dataclasses.replace(inputs, reference_dir=Path("ground-truth renders"), prompts_file=Path("captions"))
    selected = []
    for name in names:
        if name not in METRICS:
            skipped[name] = "not in kinevid.eval.video.METRICS of this installation"
            continue
        try:
            check_metrics([name], at_hand)
        except InvalidInputError as error:
            skipped[name] = str(error)
            continue
        selected.append(name)
    return selected


def _run_video_metrics(
    videos: dict[str, list[dict[str, np.ndarray]]],
    truth: dict[str, np.ndarray],
    captions: dict[str, str],
    fps: float,
    metrics: list[str],
    inputs: VideoEvaluationInputs,
    skipped: dict[str, str],
    show_progress: bool,
) -> tuple[dict[str, list[dict[str, float]]], dict[str, dict[str, dict[str, float]]]]:
    """`evaluate_videos` on each row (one repeat per seed), the ground-truth renders as the reference set and
    the captions as the prompts. The weight-free metrics run together; each other metric runs alone, and one
    that cannot run here (missing weights, too few clips) goes to `skipped` with its error.

    Args:
        videos: row -> per seed, clip -> frames.
        truth: clip -> ground-truth frames (for seed-dependent targets, seed 0's).

    Returns:
        `(per_seed, per_clip)`: row -> per seed set metrics, and row -> clip -> metric -> mean over seeds.
    """
    groups = [[name for name in metrics if name in WEIGHT_FREE_METRICS]]
    groups += [[name] for name in metrics if name not in WEIGHT_FREE_METRICS]
    per_seed: dict[str, list[dict[str, float]]] = {row: [{} for _ in seeds] for row, seeds in videos.items()}
    values: dict[str, dict[str, dict[str, list[float]]]] = {row: {} for row in videos}
    with tempfile.TemporaryDirectory(prefix="kinevid-eval-generate-") as scratch:
        scratch = Path(scratch)
        for clip, frames in truth.items():
            write_video(frames, scratch / "reference" / f"{clip}.mp4", fps=fps)
        (scratch / "prompts.json").write_text(json.dumps(captions))
        inputs = dataclasses.replace(inputs, reference_dir=scratch / "reference", prompts_file=scratch / "prompts.json")
        row_dirs = {}
        for row, seeds in videos.items():
            row_dirs[row] = scratch / row.replace(" ", "_")
            for seed, clips in enumerate(seeds):
                for clip, frames in clips.items():
                    subdir = f"seed{seed}" if len(seeds) > 1 else ""
                    write_video(frames, row_dirs[row] / subdir / f"{clip}.mp4", fps=fps)
        for group in filter(None, groups):
            try:
                evaluations = {row: evaluate_videos(row_dirs[row], inputs, metrics=group, show_progress=show_progress)
                               for row in videos}  # fmt: skip
            except KinevidError as error:
                if group[0] in WEIGHT_FREE_METRICS:
                    raise
                skipped[group[0]] = str(error)
                continue
            for row, evaluation in evaluations.items():
                for seed, repeat in enumerate(evaluation.repeats):
                    per_seed[row][seed].update(repeat.set_metrics)
                    for clip, scores in repeat.per_video.items():
                        for name, value in scores.items():
                            values[row].setdefault(clip, {}).setdefault(name, []).append(value)
    per_clip = {row: {clip: {name: _finite_mean(v) for name, v in scores.items()} for clip, scores in table.items()}
                for row, table in values.items()}  # fmt: skip
    return per_seed, per_clip


def _finite_mean(values: list[float]) -> float:
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _mean_over(items: list[dict[str, float]]) -> dict[str, float]:
    """Metric -> mean of its finite values over `items` (NaN when none is finite)."""
    names = list(dict.fromkeys(name for item in items for name in item))
    return {name: _finite_mean([item[name] for item in items if name in item]) for name in names}


def evaluate_generation(
    pipeline_or_dir,
    method: str,
    test_data_dir: str | os.PathLike[str] | None = None,
    num_clips: int = 8,
    mode: str | None = None,
    seeds: int = 2,
    num_inference_steps: int | None = None,
    capture_pipeline=None,
    judge="auto",
    clips: list[TestClip] | None = None,
    cmu_root: str | os.PathLike[str] | None = None,
    video_inputs: VideoEvaluationInputs | None = None,
    video_metrics: tuple[str, ...] = DEFAULT_VIDEO_METRICS,
    num_sample_clips: int = 4,
    show_progress: bool = True,
) -> GenerationEvaluation:
    """Run the protocol of the module doc.

    Args:
        pipeline_or_dir: a loaded `MoSAPipeline` / `EchoMotionPipeline`, or its directory.
        method (`str`): `"mosa"` or `"echomotion"`.
        test_data_dir (`str` or `Path`, *optional*): a test-split `kinevid data synth` dataset; without it (and
            without `clips`) clips are rendered at the pipeline's recorded size (`render_test_clips`).
        num_clips (`int`, defaults to 8): clips used.
        mode (`str`, *optional*): one of `GENERATION_MODES[method]` (default `DEFAULT_MODES[method]`).
        seeds (`int`, defaults to 2): generation seeds 0..seeds-1 (intervals need >= 2).
        num_inference_steps (`int`, *optional*): denoising steps (default: the pipeline's).
        capture_pipeline (`EchoMotionPipeline`, *optional*): recovers motion from the videos (plausibility).
        judge (*optional*): the pose judge, an object whose `estimate(frames)` returns a `PoseEstimate`;
            `"auto"` (default): `MediaPipePoseJudge` when MediaPipe is installed; `None`: no pose scores.
        clips (`list[TestClip]`, *optional*): test clips already at hand (overrides `test_data_dir`).
        cmu_root (`str` or `Path`, *optional*): CMU data for `render_test_clips`.
        video_inputs (`VideoEvaluationInputs`, *optional*): weights for further `evaluate_videos` metrics.
        video_metrics (`tuple[str, ...]`): `evaluate_videos` metrics to try (see `DEFAULT_VIDEO_METRICS`).
        num_sample_clips (`int`, defaults to 4): clips kept for the report's frame grid.
        show_progress (`bool`, defaults to `True`): progress bars.

    Returns:
        `GenerationEvaluation`.
    """
    if method not in GENERATION_MODES:
        raise InvalidInputError(f"`method` must be one of {list(GENERATION_MODES)}, got {method!r}.")
    mode = DEFAULT_MODES[method] if mode is None else mode
    if mode not in GENERATION_MODES[method]:
        raise InvalidInputError(f"`mode` of {method} must be one of {list(GENERATION_MODES[method])}, got {mode!r}.")
    if seeds < 1:
        raise InvalidInputError(f"`seeds` must be >= 1, got {seeds}.")
    pipeline = _load_pipeline(pipeline_or_dir, method)
    if clips is None:
        if test_data_dir is not None:
            clips = load_test_clips(test_data_dir, num_clips)
        else:
            config = pipeline.config
            clips = render_test_clips(
                num_clips, int(config.get("height", 480)), int(config.get("width", 832)),
                int(config.get("num_frames", 81)), float(config.fps), cmu_root, show_progress=show_progress,
            )  # fmt: skip
    clips = clips[:num_clips]
    for component in (pipeline, capture_pipeline):
        if component is not None and hasattr(component, "set_progress_bar_config"):
            component.set_progress_bar_config(disable=True)
    settings = {
        "method": method, "mode": mode, "clips": len(clips), "seeds": seeds,
        "num_inference_steps": num_inference_steps or "pipeline default",
        "test_data": str(test_data_dir) if test_data_dir is not None else "rendered (render_test_clips, seed 2)",
        "subjects": sorted({str(clip.info.get("subject")) for clip in clips}),
        "size": list(clips[0].frames.shape[:3]), "fps": clips[0].fps,
        "captions": {clip.name: clip.caption for clip in clips},
    }  # fmt: skip
    if mode == "v2m":
        return _evaluate_capture(pipeline, clips, seeds, num_inference_steps, settings, num_sample_clips, show_progress)
    return _evaluate_videos_mode(
        _Runner(pipeline, method, mode, num_inference_steps), clips, seeds, capture_pipeline, num_inference_steps,
        video_inputs or VideoEvaluationInputs(), video_metrics, judge, settings, num_sample_clips, show_progress,
    )  # fmt: skip


def _evaluate_videos_mode(
    runner: _Runner,
    clips: list[TestClip],
    seeds: int,
    capture_pipeline,
    num_inference_steps: int | None,
    video_inputs: VideoEvaluationInputs,
    video_metrics: tuple[str, ...],
    judge,
    settings: dict,
    num_sample_clips: int,
    show_progress: bool,
) -> GenerationEvaluation:
    skipped: dict[str, str] = {}
    if isinstance(judge, str) and judge == "auto":
        judge = MediaPipePoseJudge() if is_mediapipe_available() else None
        if judge is None:
            skipped["pose"] = "MediaPipe is not installed (pip install kinevid[judge])"
    elif judge is None:
        skipped["pose"] = "no pose judge given"
    settings["judge"] = type(judge).__name__ if judge is not None else None
    if capture_pipeline is None:
        skipped["captured"] = "no EchoMotion capture model given (--capture-model), so no motion was recovered"
    fixed_target = runner.mode in ("motion", "m2v")  # the target (and its rows' scores) does not depend on the seed
    scores: dict[str, list[dict[str, dict[str, float]]]] = {row: [] for row in VIDEO_ROWS}  # row -> seed -> clip
    videos: dict[str, list[dict[str, np.ndarray]]] = {row: [] for row in VIDEO_ROWS}
    samples: dict[str, dict[str, np.ndarray]] = {}
    fixed: dict[str, dict[str, dict[str, float]]] = {}
    work = [(seed, clip) for seed in range(seeds) for clip in clips]
    for seed, clip in tqdm(work, desc=f"{runner.method} {runner.mode}", unit="video", disable=not show_progress):
        if clip is clips[0]:
            for row in VIDEO_ROWS:
                scores[row].append({})
                videos[row].append({})
        generated, target = runner.video(clip, seed)
        row_videos = {"generated": generated, "ground truth": target.frames, "mean frame": target.mean_frame()}
        if fixed_target and seed > 0:
            through_vae = videos[PAIRED_REFERENCE_ROW][0][clip.name]
        else:
            through_vae = row_videos[PAIRED_REFERENCE_ROW] = target.through_vae(runner.pipeline.vae)
        for row in VIDEO_ROWS:
            if row != "generated" and fixed_target and seed > 0:
                row_scores, frames = fixed[clip.name][row], videos[row][0][clip.name]
            else:
                frames = row_videos[row]
                row_scores = _video_scores(frames, target, clip.info.get("colors", {}), judge)
                if row != PAIRED_REFERENCE_ROW:
                    row_scores.update(paired_scores(frames, through_vae, target.masks))
                if capture_pipeline is not None:
                    captured = capture_motion(capture_pipeline, frames, clip.fps, seed, num_inference_steps)
                    row_scores.update(_prefixed("captured", physical_metrics(captured)))
                    row_scores["captured/mpjpe_mm"] = root_aligned_mpjpe_mm(captured.joints, target.motion.joints)
                if row == "ground truth":
                    row_scores.update(_prefixed("motion", physical_metrics(target.motion)))
                fixed.setdefault(clip.name, {})[row] = row_scores
            scores[row][seed][clip.name] = row_scores
            videos[row][seed][clip.name] = frames
        if seed == 0 and len(samples) < num_sample_clips:
            samples[clip.name] = {"generated": generated, "ground truth": target.frames, "skeleton": target.skeleton()}

    # The standard video metrics, through evaluate_videos (one repeat per seed).
    metrics = _selected_video_metrics(tuple(video_metrics), video_inputs, skipped)
    video_seed, video_clip = {}, {}
    if metrics:
        if fixed_target:  # identical across seeds: score them once
            for row in VIDEO_ROWS[1:]:
                videos[row] = videos[row][:1]
        video_seed, video_clip = _run_video_metrics(
            videos, videos["ground truth"][0], {clip.name: clip.caption for clip in clips}, clips[0].fps, metrics,
            video_inputs, skipped, show_progress,
        )  # fmt: skip
    per_seed = []
    for seed in range(seeds):
        entry = {}
        for row in VIDEO_ROWS:
            entry[row] = _mean_over(list(scores[row][seed].values()))
            repeats = video_seed.get(row, [])
            if repeats:
                entry[row].update(repeats[min(seed, len(repeats) - 1)])
        per_seed.append(entry)
    per_clip = {row: {clip.name: _mean_over([scores[row][s][clip.name] for s in range(seeds)]) for clip in clips}
                for row in VIDEO_ROWS}  # fmt: skip
    for row, table in video_clip.items():
        for clip_name, values in table.items():
            per_clip[row][clip_name].update(values)
    settings["video_metrics"] = [name for name in metrics if name not in skipped]
    return _finish(runner.method, runner.mode, VIDEO_ROWS, per_seed, per_clip, skipped, settings, samples)


def _evaluate_capture(
    pipeline,
    clips: list[TestClip],
    seeds: int,
    num_inference_steps: int | None,
    settings: dict,
    num_sample_clips: int,
    show_progress: bool,
) -> GenerationEvaluation:
    """v2m: motion captured from each ground-truth render, against the clip's motion."""
    joints = [clip.motion.joints.detach().double() for clip in clips]
    root_relative = [positions - positions[:, PELVIS : PELVIS + 1] for positions in joints]
    mean_pose = torch.cat(root_relative).mean(0)  # (24, 3), pelvis at the origin
    real = {clip.name: {"mpjpe_mm": root_aligned_mpjpe_mm(clip.motion.joints, clip.motion.joints),
                        **_prefixed("physical", physical_metrics(clip.motion))} for clip in clips}  # fmt: skip
    reference = {clip.name: {"mpjpe_mm": root_aligned_mpjpe_mm(mean_pose.expand_as(joints), joints)}
                 for clip, joints in zip(clips, root_relative, strict=True)}  # fmt: skip
    captured: list[dict[str, dict[str, float]]] = []
    samples: dict[str, dict[str, np.ndarray]] = {}
    work = [(seed, clip) for seed in range(seeds) for clip in clips]
    for seed, clip in tqdm(work, desc="echomotion v2m", unit="video", disable=not show_progress):
        if clip is clips[0]:
            captured.append({})
        motion = capture_motion(pipeline, clip.frames, clip.fps, seed, num_inference_steps)
        captured[seed][clip.name] = {
            "mpjpe_mm": root_aligned_mpjpe_mm(motion.joints, clip.motion.joints),
            **_prefixed("physical", physical_metrics(motion)),
        }
        if seed == 0 and len(samples) < num_sample_clips:
            # EchoMotion estimates no camera: the captured motion is drawn root-aligned in the clip's camera.
            placed = motion.joints.detach() - motion.joints.detach()[:, :1] + clip.motion.joints.detach()[:, :1]
            samples[clip.name] = {
                "video": clip.frames,
                "captured": render_skeleton_maps(placed.float(), clip.camera)[0],
                "real": render_skeleton_maps(clip.motion.joints.detach().float(), clip.camera)[0],
            }
    rows = {"captured": captured, "real motion": [real] * seeds, "mean pose": [reference] * seeds}
    per_seed = [{row: _mean_over(list(tables[seed].values())) for row, tables in rows.items()} for seed in range(seeds)]
    per_clip = {row: {clip.name: _mean_over([tables[s][clip.name] for s in range(seeds)]) for clip in clips}
                for row, tables in rows.items()}  # fmt: skip
    return _finish("echomotion", "v2m", MOTION_ROWS, per_seed, per_clip, {}, settings, samples)


def _finish(method, mode, rows, per_seed, per_clip, skipped, settings, samples) -> GenerationEvaluation:
    means, intervals = {}, {}
    for row in rows:
        means[row], intervals[row] = mean_and_interval([entry[row] for entry in per_seed])
    ratios = {}
    if rows == VIDEO_ROWS:
        for key in GOALS:
            ceiling = means["ground truth"].get(key, float("nan"))
            if key in means["generated"] and np.isfinite(ceiling) and ceiling > 0:
                ratios[key] = means["generated"][key] / ceiling
    return GenerationEvaluation(
        method, mode, tuple(rows), per_seed, per_clip, means, intervals, ratios, skipped, settings, samples
    )
