"""VBench dimensions with VBench's formulas (Huang et al., 2024; `vbench/*.py` of its repository).

Each function takes the network as an argument, so the formula is independent of where the
features, flow or interpolated frames come from. VBench's own numbers need VBench's networks:

- subject consistency: DINO ViT-B/16 CLS features (`DinoEncoder`, a transformers ViT / DINOv2
  model from a local directory). Frames resized so the shorter side is 224 (bilinear, no antialias,
  rounded to 8-bit levels as torchvision does on uint8, no crop), ImageNet mean/std. Non-square
  frames need interpolated position embeddings: transformers' interpolation, which differs slightly
  from the DINO hub code's that VBench runs. Per video
  `1/(T-1) sum_{i>=1} 0.5 [max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))]`.
- background consistency: the same formula on CLIP ViT-B/32 image embeddings
  (`kinevid.eval.video.clip_score.ClipEncoder`).
- motion smoothness: an interpolator predicts each odd frame from its even neighbours
  (VBench uses AMT-S); per video `(255 - mean |frame - predicted|) / 255` over the odd frames,
  in 8-bit units.
- dynamic degree: optical flow between consecutive frames sampled at about 8 fps (every
  `round(fps / 8)`-th frame; VBench uses RAFT, 20 iterations); per pair the mean of the largest 5%
  flow magnitudes; a video of N sampled frames is dynamic when at least `round(4 N / 16)` pairs
  exceed `6 min(H, W) / 256` px (VBench's `check_move`). The score is the fraction of dynamic videos.

Set-level scores follow VBench: consistency dimensions average over all frame pairs of all
videos (`sum / count`, so longer videos weigh more), motion smoothness and dynamic degree over
videos. VBench's percentages are these scores x 100. Checked against VBench's code at commit 45e79ec
(`vbench/{subject,background}_consistency.py`, `motion_smoothness.py`, `dynamic_degree.py`, `utils.py`).

RAFT is `kinevid.eval.video.raft` (loads the release's `raft-things.pth`), AMT-S is
`kinevid.eval.video.amt` (loads `amt-s.pth`; `AmtInterpolator` is VBench's frame handling). Without
those weights, the weight-free variants in `kinevid.eval.video.flow` plug into
`dynamic_degree_is_dynamic` and `motion_smoothness` and are reported under their own names.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InvalidInputError, MissingWeightsError
from .videos import resize_uint8_frames

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DINO_RESOLUTION = 224
DYNAMIC_SAMPLE_FPS = 8.0
DYNAMIC_TOP_FRACTION = 0.05
DYNAMIC_THRESHOLD_AT_256 = 6.0  # px at a 256 px short side

# (previous frame, next frame) uint8 (H, W, 3) -> the predicted middle frame, uint8 (H, W, 3)
Interpolator = Callable[[np.ndarray, np.ndarray], np.ndarray]
# (frame, next frame) uint8 (H, W, 3) -> flow (H, W, 2) in pixels
FlowEstimator = Callable[[np.ndarray, np.ndarray], np.ndarray]


def consistency_per_frame(features: torch.Tensor) -> torch.Tensor:
    """VBench's per-frame consistency terms `(T - 1,)`: `0.5 [max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))]`.

    Args:
        features (`torch.Tensor` of shape `(T, D)`): one feature vector per frame, T >= 2.
    """
    if features.ndim != 2 or len(features) < 2:
        raise InvalidInputError(f"consistency needs features (T >= 2, D), got {tuple(features.shape)}.")
    features = F.normalize(features.to(torch.float64), dim=-1)
    to_previous = (features[1:] * features[:-1]).sum(-1).clamp_min(0.0)
    to_first = (features[1:] * features[:1]).sum(-1).clamp_min(0.0)
    return 0.5 * (to_previous + to_first)


def pooled_frame_mean(per_frame: Sequence[torch.Tensor]) -> float:
    """Mean over all frame terms of all videos (VBench's `sim / cnt` for the consistency dimensions)."""
    return float(torch.cat([terms.reshape(-1) for terms in per_frame]).mean())


class DinoEncoder:
    """CLS features of a DINO ViT (transformers `ViTModel` or `Dinov2Model`) loaded from a local directory.

    Args:
        model (`transformers.PreTrainedModel`): the backbone; `last_hidden_state[:, 0]` (after the
            final layer norm) is DINO's CLS output.
        resolution (`int`, defaults to 224): shorter side frames are resized to.
    """

    def __init__(self, model: torch.nn.Module, resolution: int = DINO_RESOLUTION) -> None:
        self.model = model.eval()
        self.resolution = resolution

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], resolution: int = DINO_RESOLUTION) -> DinoEncoder:
        from transformers import AutoConfig, AutoModel

        path = Path(path)
        if not (path / "config.json").is_file():
            raise MissingWeightsError(f"{path}: no DINO model directory (expected a transformers `config.json`).")
        config = AutoConfig.from_pretrained(path)
        if config.model_type not in ("vit", "dinov2"):
            raise InvalidInputError(f"{path}: expected a ViT or DINOv2 model, got model_type {config.model_type!r}.")
        kwargs = {"add_pooling_layer": False} if config.model_type == "vit" else {}
        return cls(AutoModel.from_pretrained(path, **kwargs), resolution=resolution)

    @torch.no_grad()
    def frame_features(self, frames: np.ndarray, batch_size: int = 16) -> torch.Tensor:
        """CLS features `(T, D)` of uint8 frames `(T, H, W, 3)`."""
        images = resize_uint8_frames(frames, self.resolution, mode="bilinear")
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        images = (images - mean) / std
        kwargs = {"interpolate_pos_encoding": True} if self.model.config.model_type == "vit" else {}
        rows = [
            self.model(pixel_values=images[start : start + batch_size], **kwargs).last_hidden_state[:, 0]
            for start in range(0, len(images), batch_size)
        ]
        return torch.cat(rows)


def subject_consistency(frames: np.ndarray, encoder: DinoEncoder) -> torch.Tensor:
    """VBench subject-consistency terms `(T - 1,)` of one video (their mean is the video's score)."""
    return consistency_per_frame(encoder.frame_features(frames))


def background_consistency(frames: np.ndarray, encoder) -> torch.Tensor:
    """VBench background-consistency terms `(T - 1,)` of one video, on CLIP image embeddings
    (`encoder.image_embeddings`, e.g. `ClipEncoder`)."""
    return consistency_per_frame(encoder.image_embeddings(frames))


def motion_smoothness(frames: np.ndarray, interpolate: Interpolator) -> float:
    """VBench motion smoothness of one video: `(255 - mean |odd frame - interpolated|) / 255`.

    Odd frames 1, 3, ... that have both neighbours are predicted from frames (0, 2), (2, 4), ...

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`): uint8, T >= 3.
        interpolate (`Interpolator`): middle-frame predictor.
    """
    if frames.ndim != 4 or len(frames) < 3:
        raise InvalidInputError(f"motion smoothness needs at least 3 frames (T, H, W, 3), got {frames.shape}.")
    errors = []
    for index in range(1, len(frames) - 1, 2):
        predicted = np.asarray(interpolate(frames[index - 1], frames[index + 1]))
        if predicted.shape != frames[index].shape:
            raise InvalidInputError(f"the interpolator returned {predicted.shape}, expected {frames[index].shape}.")
        errors.append(np.abs(frames[index].astype(np.float64) - predicted.astype(np.float64)).mean())
    return float((255.0 - np.mean(errors)) / 255.0)


def sample_every(fps: float, target_fps: float = DYNAMIC_SAMPLE_FPS) -> int:
    """VBench's frame step `round(fps / 8)` for dynamic degree (at least 1)."""
    return max(1, round(fps / target_fps))


def top_flow_magnitude(flow: np.ndarray, fraction: float = DYNAMIC_TOP_FRACTION) -> float:
    """Mean of the largest `int(H W fraction)` flow magnitudes of `flow` `(H, W, 2)`."""
    magnitude = np.sqrt(np.square(flow[..., 0]) + np.square(flow[..., 1])).reshape(-1)
    count = int(magnitude.size * fraction)
    return float(np.sort(magnitude)[::-1][:count].mean()) if count > 0 else float("nan")


def dynamic_degree_is_dynamic(frames: np.ndarray, fps: float, estimate_flow: FlowEstimator) -> tuple[bool, list[float]]:
    """Whether one video is dynamic by VBench's rule, and the per-pair scores.

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`): uint8.
        fps (`float`): the video's frame rate (frames are sampled at about 8 fps).
        estimate_flow (`FlowEstimator`): flow from a frame to the next sampled one.

    Returns:
        `(is_dynamic, pair_scores)`.
    """
    sampled = frames[:: sample_every(fps)]
    if len(sampled) < 2:
        raise InvalidInputError(
            f"dynamic degree needs at least 2 sampled frames, got {len(sampled)} from {len(frames)}."
        )
    scores = [top_flow_magnitude(estimate_flow(a, b)) for a, b in itertools.pairwise(sampled)]
    threshold = DYNAMIC_THRESHOLD_AT_256 * min(frames.shape[1:3]) / 256.0
    needed = round(4 * len(sampled) / 16.0)
    # VBench's check_move: returns True as soon as `needed` pairs have exceeded the threshold.
    count = 0
    for score in scores:
        count += score > threshold
        if count >= needed:
            return True, scores
    return False, scores
