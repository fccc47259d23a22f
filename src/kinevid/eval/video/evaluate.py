"""`evaluate_videos`: every selected video metric over a generated set (and its repeats).

Layout of a generated set: a directory of videos (one run), or a directory of sub-directories
(one per repeat, e.g. `seed0/`, `seed1/`) holding videos with the same names. Set-level scores are
computed per repeat; with two or more repeats, their mean and 95% interval over repeats
(`kinevid.eval.metrics.mean_and_interval`) are reported.

Companions, matched by video name:

- `prompts`: JSON `{name: prompt}` (CLIPSIM, video R-precision);
- `reference_dir`: real videos (FVD, FD-kinevid; names need not match);
- `poses_dir`: `<name>.npz` with `keypoints_2d` `(T, 18, 2)` COCO-18 pixels at the video's size
  and optionally `masks` `(T, H, W)` (pose following);
- `motions_dir`: `<name>.npz` / `.bvh` motions recovered from each video, laid out like the
  generated set (motion plausibility with `kinevid.motion.metrics.physical_metrics`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...errors import InvalidInputError
from ...motion import Motion
from ...motion.io import load_motion
from ...motion.metrics import physical_metrics
from ...render.video import VIDEO_SUFFIXES
from ...utils.io import NPZ_READ_ERRORS
from ..metrics import R_PRECISION_BATCH_SIZE, fid, mean_and_interval
from .amt import AmtInterpolator
from .clip_score import ClipEncoder, clipsim
from .flow import dis_flow, flow_warp_interpolate
from .fvd import I3DFeatureExtractor
from .pose_judge import MediaPipePoseJudge, pose_following
from .raft import RaftFlow
from .retrieval import fd_kinevid, load_video_evaluator, video_r_precision
from .vbench import (
    DinoEncoder,
    background_consistency,
    dynamic_degree_is_dynamic,
    motion_smoothness,
    pooled_frame_mean,
    subject_consistency,
)
from .videos import VideoItem, list_videos, load_video_set, read_prompts

# name -> what it measures (the report's legend); VBench's own networks are named, ours say "ours".
METRICS: dict[str, str] = {
    "fvd": "FVD, I3D Kinetics-400 logits, 16 frames, 224 px (down)",
    "clipsim": "CLIPSIM, mean frame-prompt CLIP cosine (up)",
    "subject_consistency": "VBench subject consistency, DINO (up)",
    "background_consistency": "VBench background consistency, CLIP (up)",
    "dynamic_degree": "VBench dynamic degree, RAFT flow (frames >= 128 px) (up = more motion)",
    "dynamic_degree_dis": "dynamic degree, VBench rule with OpenCV DIS flow (ours, not VBench's RAFT)",
    "motion_smoothness": "VBench motion smoothness, AMT-S interpolation (frames > 112 px) (up)",
    "motion_smoothness_flowwarp": "motion smoothness, VBench formula with DIS flow-warp interpolation "
    "(ours, not VBench's AMT)",
    "pose": "pose following: MediaPipe PCK@0.1, detection rate, mask IoU (ours)",
    "physical": "motion plausibility: physical metrics of the recovered motion (ours)",
    "retrieval_precision": "video R-precision top-1/2/3 among 32, our text-video evaluator (ours)",
    "fd_kinevid": "FD-kinevid, Frechet distance in our text-video evaluator's space (ours, not FVD) (down)",
}
NOT_IMPLEMENTED: dict[str, str] = {}  # name -> why (and what to use instead)
WEIGHT_FREE_METRICS = ("dynamic_degree_dis", "motion_smoothness_flowwarp")
# Set-level metrics of the shipped video evaluator, computed only when named (R-precision needs >= 32 videos).
OPT_IN_METRICS = ("retrieval_precision", "fd_kinevid")


@dataclass
class VideoEvaluationInputs:
    """What the metrics need besides the generated videos (each optional).

    Args:
        reference_dir (`Path`): real videos (FVD).
        prompts_file (`Path`): JSON `{name: prompt}` (CLIPSIM).
        i3d_weights (`Path`): I3D state dict or TorchScript detector (FVD).
        clip_dir (`Path`): transformers CLIPModel directory (CLIPSIM, background consistency).
        dino_dir (`Path`): transformers ViT / DINOv2 directory (subject consistency).
        raft_weights (`Path`): RAFT state dict, e.g. `raft-things.pth` (VBench dynamic degree).
        amt_weights (`Path`): AMT-S state dict, e.g. `amt-s.pth` (VBench motion smoothness).
        poses_dir (`Path`): `<name>.npz` conditions (pose following).
        motions_dir (`Path`): recovered motions (motion plausibility).
        video_evaluator_dir (`Path`): our text-video evaluator (retrieval_precision, fd_kinevid; default: shipped).
    """

    reference_dir: Path | None = None
    prompts_file: Path | None = None
    i3d_weights: Path | None = None
    clip_dir: Path | None = None
    dino_dir: Path | None = None
    raft_weights: Path | None = None
    amt_weights: Path | None = None
    poses_dir: Path | None = None
    motions_dir: Path | None = None
    video_evaluator_dir: Path | None = None

    def requirements(self) -> dict[str, list[tuple[str, Path | None]]]:
        """Per metric, the (option name, value) pairs it needs."""
        return {
            "fvd": [("--reference", self.reference_dir), ("--i3d", self.i3d_weights)],
            "clipsim": [("--prompts", self.prompts_file), ("--clip", self.clip_dir)],
            "subject_consistency": [("--dino", self.dino_dir)],
            "background_consistency": [("--clip", self.clip_dir)],
            "dynamic_degree": [("--raft", self.raft_weights)],
            "dynamic_degree_dis": [],
            "motion_smoothness": [("--amt", self.amt_weights)],
            "motion_smoothness_flowwarp": [],
            "pose": [("--poses", self.poses_dir)],
            "physical": [("--motions", self.motions_dir)],
            "retrieval_precision": [("--prompts", self.prompts_file)],
            "fd_kinevid": [("--reference", self.reference_dir)],
        }

    def available_metrics(self) -> list[str]:
        """Metrics whose inputs are all given (the default selection; `OPT_IN_METRICS` only when named)."""
        return [
            name
            for name, needs in self.requirements().items()
            if name not in OPT_IN_METRICS and all(value is not None for _, value in needs)
        ]


@dataclass
class RepeatResult:
    """Scores of one run of the generated set.

    Args:
        name (`str`): the repeat's directory name (`"run"` for a flat set).
        per_video (`dict[str, dict[str, float]]`): video name -> metric -> score.
        set_metrics (`dict[str, float]`): set-level scores (VBench's pooling, FVD).
    """

    name: str
    per_video: dict[str, dict[str, float]] = field(default_factory=dict)
    set_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class VideoEvaluation:
    """All results of `evaluate_videos`.

    Args:
        repeats (`list[RepeatResult]`): one per run.
        means (`dict[str, float]`), intervals (`dict[str, float]`): over repeats (intervals only with >= 2).
        settings (`dict`): inputs and protocol.
        sample_frames (`dict[str, np.ndarray]`): a few videos of the first repeat, for the frame grid.
    """

    repeats: list[RepeatResult]
    means: dict[str, float]
    intervals: dict[str, float]
    settings: dict
    sample_frames: dict[str, np.ndarray] = field(default_factory=dict)


def find_repeats(generated_dir: str | os.PathLike[str]) -> list[Path]:
    """The run directories of a generated set: itself when it holds videos, else its sub-directories."""
    generated_dir = Path(generated_dir)
    if not generated_dir.is_dir():
        raise InvalidInputError(f"{generated_dir}: not a directory of generated videos.")
    if any(p.suffix.lower() in VIDEO_SUFFIXES for p in generated_dir.iterdir()):
        return [generated_dir]
    repeats = sorted(p for p in generated_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not repeats:
        raise InvalidInputError(f"{generated_dir}: holds neither videos nor repeat sub-directories of videos.")
    names = [sorted(p.stem for p in list_videos(r)) for r in repeats]
    for repeat, repeat_names in zip(repeats[1:], names[1:], strict=True):
        if repeat_names != names[0]:
            raise InvalidInputError(
                f"{repeat}: repeats must hold the same video names as {repeats[0]} "
                f"(differ: {sorted(set(repeat_names) ^ set(names[0]))[:5]})."
            )
    return repeats


def check_metrics(metrics: Sequence[str] | None, inputs: VideoEvaluationInputs) -> list[str]:
    """Validate a metric selection (default: every metric whose inputs are given)."""
    if metrics is None:
        return inputs.available_metrics()
    for name in metrics:
        if name in NOT_IMPLEMENTED:
            raise InvalidInputError(f"metric {name!r}: {NOT_IMPLEMENTED[name]}.")
        if name not in METRICS:
            raise InvalidInputError(f"unknown metric {name!r}; expected one of {list(METRICS)}.")
        missing = [option for option, value in inputs.requirements()[name] if value is None]
        if missing:
            raise InvalidInputError(f"metric {name!r} needs {' and '.join(missing)}.")
    if not metrics:
        raise InvalidInputError("`--metrics` is empty: name at least one metric.")
    return list(dict.fromkeys(metrics))


def _motions_dir(inputs: VideoEvaluationInputs, repeat_dir: Path, num_repeats: int) -> Path:
    """Recovered motions mirror the generated layout: one sub-directory per repeat when there are repeats."""
    return inputs.motions_dir / repeat_dir.name if num_repeats > 1 else inputs.motions_dir


def _check_companions(repeats: list[Path], names: list[str], metrics: list[str], inputs: VideoEvaluationInputs) -> None:
    """Every video has its pose condition and recovered motion file (checked before any work)."""
    if "pose" in metrics:
        missing = [n for n in names if not (inputs.poses_dir / f"{n}.npz").is_file()]
        if missing:
            raise InvalidInputError(f"{inputs.poses_dir}: no pose condition <name>.npz for the video(s) {missing[:5]}.")
    if "physical" in metrics:
        for repeat_dir in repeats:
            directory = _motions_dir(inputs, repeat_dir, len(repeats))
            missing = [n for n in names if not any((directory / f"{n}{s}").is_file() for s in (".npz", ".bvh"))]
            if missing:
                raise InvalidInputError(
                    f"{directory}: no recovered motion <name>.npz or .bvh for the video(s) {missing[:5]}."
                )


def _load_condition(poses_dir: Path, video: VideoItem) -> tuple[np.ndarray, np.ndarray | None]:
    path = poses_dir / f"{video.name}.npz"
    if not path.is_file():
        raise InvalidInputError(f"{path}: no pose condition for video {video.name!r} (expected <name>.npz).")
    try:
        with np.load(path, allow_pickle=False) as data:
            keypoints = np.asarray(data["keypoints_2d"], np.float64)
            masks = np.asarray(data["masks"]).astype(bool) if "masks" in data else None
    except NPZ_READ_ERRORS as error:
        raise InvalidInputError(f"{path}: expected an npz with `keypoints_2d` (T, 18, 2): {error}") from None
    if keypoints.shape != (len(video.frames), 18, 2):
        raise InvalidInputError(
            f"{path}: `keypoints_2d` must be ({len(video.frames)}, 18, 2) for {video.name!r}, got {keypoints.shape}."
        )
    if masks is not None and masks.shape != video.frames.shape[:3]:
        raise InvalidInputError(f"{path}: `masks` must be {video.frames.shape[:3]}, got {masks.shape}.")
    return keypoints, masks


def _load_motion(motions_dir: Path, name: str) -> Motion:
    for suffix in (".npz", ".bvh"):
        if (motions_dir / f"{name}{suffix}").is_file():
            return load_motion(motions_dir / f"{name}{suffix}")
    raise InvalidInputError(f"{motions_dir}: no recovered motion for video {name!r} (expected {name}.npz or .bvh).")


class _Networks:
    """The networks the selected metrics need, loaded once."""

    def __init__(self, metrics: list[str], inputs: VideoEvaluationInputs, device: str) -> None:
        needs_clip = {"clipsim", "background_consistency"} & set(metrics)
        self.clip = ClipEncoder.from_pretrained(inputs.clip_dir) if needs_clip else None
        self.dino = DinoEncoder.from_pretrained(inputs.dino_dir) if "subject_consistency" in metrics else None
        self.i3d = I3DFeatureExtractor.from_file(inputs.i3d_weights, device) if "fvd" in metrics else None
        self.pose = MediaPipePoseJudge() if "pose" in metrics else None
        self.raft = RaftFlow.from_file(inputs.raft_weights, device) if "dynamic_degree" in metrics else None
        self.amt = AmtInterpolator.from_file(inputs.amt_weights, device) if "motion_smoothness" in metrics else None
        needs_evaluator = set(OPT_IN_METRICS) & set(metrics)
        self.video_evaluator = load_video_evaluator(inputs.video_evaluator_dir) if needs_evaluator else None


def _score_video(
    video: VideoItem, metrics: list[str], networks: _Networks, inputs: VideoEvaluationInputs, prompt: str | None
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Per-video scores, and the per-frame consistency terms that VBench pools over the set."""
    scores: dict[str, float] = {}
    terms: dict[str, torch.Tensor] = {}
    if "clipsim" in metrics:
        scores["clipsim"] = clipsim(video.frames, prompt, networks.clip)
    if "subject_consistency" in metrics:
        terms["subject_consistency"] = subject_consistency(video.frames, networks.dino)
    if "background_consistency" in metrics:
        terms["background_consistency"] = background_consistency(video.frames, networks.clip)
    for name, per_frame in terms.items():
        scores[name] = float(per_frame.mean())
    for name, estimate_flow in (("dynamic_degree", networks.raft), ("dynamic_degree_dis", dis_flow)):
        if name in metrics:
            is_dynamic, pair_scores = dynamic_degree_is_dynamic(video.frames, video.fps, estimate_flow)
            scores[name] = float(is_dynamic)
            scores[f"{name}/top_flow_px"] = float(np.mean(pair_scores))
    for name, interpolate in (
        ("motion_smoothness", networks.amt),
        ("motion_smoothness_flowwarp", flow_warp_interpolate),
    ):
        if name in metrics:
            scores[name] = motion_smoothness(video.frames, interpolate)
    if "pose" in metrics:
        keypoints, masks = _load_condition(inputs.poses_dir, video)
        scores.update(pose_following(networks.pose.estimate(video.frames), keypoints, masks))
    return scores, terms


def evaluate_videos(
    generated_dir: str | os.PathLike[str],
    inputs: VideoEvaluationInputs | None = None,
    metrics: Sequence[str] | None = None,
    device: str = "cpu",
    num_sample_videos: int = 4,
    show_progress: bool = True,
) -> VideoEvaluation:
    """Score a generated set (see the module doc for layouts).

    Args:
        generated_dir (`str` or `Path`): the generated videos (or repeat sub-directories of them).
        inputs (`VideoEvaluationInputs`, *optional*): references, prompts, weights, conditions.
        metrics (`list[str]`, *optional*): names from `METRICS`; default: all whose inputs are given.
        device (`str`, defaults to `"cpu"`): for I3D, RAFT and AMT.
        num_sample_videos (`int`, defaults to 4): videos kept for the report's frame grid.
        show_progress (`bool`, defaults to `True`): progress bars.

    Returns:
        `VideoEvaluation`.
    """
    inputs = inputs or VideoEvaluationInputs()
    metrics = check_metrics(metrics, inputs)
    repeats = find_repeats(generated_dir)
    names = [p.stem for p in list_videos(repeats[0])]
    if "fvd" in metrics and len(names) < 2:
        raise InvalidInputError(f"FVD needs at least 2 generated videos per run, {repeats[0]} has {len(names)}.")
    if "retrieval_precision" in metrics and len(names) < R_PRECISION_BATCH_SIZE:
        raise InvalidInputError(
            f"retrieval_precision needs at least {R_PRECISION_BATCH_SIZE} videos per run, "
            f"{repeats[0]} has {len(names)}."
        )
    needs_prompts = {"clipsim", "retrieval_precision"} & set(metrics)
    prompts = read_prompts(inputs.prompts_file, names) if needs_prompts else {}
    _check_companions(repeats, names, metrics, inputs)
    networks = _Networks(metrics, inputs, device)
    reference_features = None
    if "fvd" in metrics:
        reference = load_video_set(inputs.reference_dir)
        reference_features = networks.i3d.video_features([v.frames for v in reference], show_progress=show_progress)
    reference_embeddings = None
    if "fd_kinevid" in metrics:
        reference = load_video_set(inputs.reference_dir)
        reference_embeddings = networks.video_evaluator.embed_frames([(v.frames, v.fps) for v in reference])

    results, sample_frames = [], {}
    for repeat_dir in repeats:
        repeat = RepeatResult(name=repeat_dir.name if len(repeats) > 1 else "run")
        pooled_terms: dict[str, list[torch.Tensor]] = {}
        videos = load_video_set(repeat_dir)
        motions_dir = _motions_dir(inputs, repeat_dir, len(repeats)) if "physical" in metrics else None
        for video in tqdm(videos, desc=f"videos ({repeat.name})", disable=not show_progress):
            scores, terms = _score_video(video, metrics, networks, inputs, prompts.get(video.name))
            if motions_dir is not None:
                motion_scores = physical_metrics(_load_motion(motions_dir, video.name))
                scores.update({f"physical/{key}": value for key, value in motion_scores.items()})
            repeat.per_video[video.name] = scores
            for name, per_frame in terms.items():
                pooled_terms.setdefault(name, []).append(per_frame)
            if not results and len(sample_frames) < num_sample_videos:
                sample_frames[video.name] = video.frames
        repeat.set_metrics = _set_metrics(repeat.per_video, pooled_terms)
        if reference_features is not None:
            generated = networks.i3d.video_features([v.frames for v in videos], show_progress=show_progress)
            repeat.set_metrics["fvd"] = fid(generated, reference_features)
        if networks.video_evaluator is not None:
            scores = _video_evaluator_metrics(videos, metrics, networks, prompts, reference_embeddings)
            repeat.set_metrics.update(scores)
        results.append(repeat)

    means, intervals = mean_and_interval([r.set_metrics for r in results])
    settings = {
        "generated": str(generated_dir),
        "repeats": [r.name for r in results],
        "videos_per_repeat": len(names),
        "metrics": metrics,
        **{key: str(value) for key, value in vars(inputs).items() if value is not None},
    }
    return VideoEvaluation(results, means, intervals, settings, sample_frames)


def _video_evaluator_metrics(
    videos: list[VideoItem],
    metrics: list[str],
    networks: _Networks,
    prompts: dict[str, str],
    reference_embeddings: torch.Tensor | None,
) -> dict[str, float]:
    """Video R-precision (mean of 20 seeded shuffles) and FD-kinevid against the reference set."""
    evaluator = networks.video_evaluator
    embeddings = evaluator.embed_frames([(v.frames, v.fps) for v in videos])
    scores = {}
    if "retrieval_precision" in metrics:
        text_embeddings = evaluator.embed_texts([prompts[v.name] for v in videos])
        scores.update(video_r_precision(text_embeddings, embeddings)[0])
    if "fd_kinevid" in metrics:
        scores["fd_kinevid"] = fd_kinevid(embeddings, reference_embeddings)
    return scores


def _set_metrics(per_video: dict[str, dict[str, float]], pooled_terms: dict[str, list[torch.Tensor]]) -> dict:
    """Set-level scores: VBench's frame pooling for the consistency dimensions, the mean over videos otherwise."""
    names = list(dict.fromkeys(name for scores in per_video.values() for name in scores))
    result = {}
    for name in names:
        values = np.array([scores[name] for scores in per_video.values() if name in scores], dtype=np.float64)
        finite = values[np.isfinite(values)]
        result[name] = float(finite.mean()) if len(finite) else float("nan")
    for name, terms in pooled_terms.items():
        result[name] = pooled_frame_mean(terms)
    return result
