"""Bring your own videos: a folder of mp4 files becomes a `CacheSource`, so `kinevid data cache` turns it into
the same latent shards as the synthetic set.

Folder layout (files matched by stem):

- `<name>.mp4` (required): the video. Decoded with `kinevid.render.video`, frames picked at the cache's
  frame rate (nearest source frame), the first `num_frames` kept (a shorter video is an error), centre-cropped
  to the cache's aspect ratio and resized (area filter).
- `<name>.txt` or an entry `"<name>": "..."` of `captions.json` (required): the caption.
- `<name>.npz` (optional, for all videos or none): the person's SMPL-24 motion as a kinevid / AMASS motion
  file (`Motion.load`), resampled to the cache's frame rate; its length must match the video's. It may also
  hold the camera that filmed it, `camera_intrinsics (3, 3)`, `camera_rotation (3, 3)` and
  `camera_translation (3,)` (world -> OpenCV camera, intrinsics in the source video's pixels); with a camera,
  skeleton maps are drawn from the motion, without one the cache has no skeleton (`fields["skeleton"]` is
  False).

What is estimated, and how well (OpenCV only, no learned models):

- Person mask: background subtraction against the per-pixel temporal median of the whole video: pixels whose
  colour differs by more than 20 grey levels in some channel, a morphological closing, and the connected
  regions of at least a fifth of the largest one's area (limbs cut off by occlusion stay, speckles go).
  It assumes a static camera and a person who moves enough that each pixel shows the background for most of
  the video; a person standing still is (partly) absorbed into the background, a moving camera or a busy
  scene (other people, moving trees) gives wrong masks. Measured on 64 x 48 mannequin clips from static
  cameras (6 cameras per CMU trial): IoU with the true masks 0.72 on the rendered frames and 0.58 after H.264
  (crf 18) for walking people (02_01, 07_01, 08_02, 16_28), 0.37-0.43 for motions in place (05_02 dance,
  13_29 jumping jacks). Each clip's `info["empty_mask_frames"]` counts the frames
  where no person was found, so such clips can be spotted and dropped.
- Tracks: `kinevid.losses.lucas_kanade_tracks` (pyramidal Lucas-Kanade with a forward-backward check) from
  Shi-Tomasi corners of the first frame inside the estimated mask, topped up with mask pixels on a regular
  grid (whole frame when the mask is empty) to the fixed point count. A lost point stays invisible.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import InvalidInputError
from ..losses.lucas_kanade import good_features, lucas_kanade_tracks
from ..motion import Motion
from ..render.camera import Camera
from ..render.frames import frames_to_tensor
from ..render.skeleton_maps import render_skeleton_maps
from ..render.video import read_video, video_frame_rate
from ..utils.io import NPZ_READ_ERRORS
from .cache import CacheClip

CAPTIONS_FILE = "captions.json"
CAMERA_KEYS = ("camera_intrinsics", "camera_rotation", "camera_translation")
_MIN_DIFFERENCE = 20  # grey levels: a colour change below this is never the person (compression noise, light)
_MIN_PART = 0.2  # regions smaller than this fraction of the largest are noise, not a (separated) limb


# ---------------------------------------------------------------------------------------------- frames
def select_frames(num_source_frames: int, source_fps: float, fps: float, num_frames: int) -> np.ndarray:
    """Indices of the source frames nearest to `num_frames` times `i / fps` (`i = 0, 1, ...`).

    Raises:
        `InvalidInputError`: the video is too short (the message is completed by the caller with the file).
    """
    indices = np.round(np.arange(num_frames) * source_fps / fps).astype(np.int64)
    if indices[-1] >= num_source_frames:
        available = int(np.floor((num_source_frames - 1) * fps / source_fps + 1e-9)) + 1
        raise InvalidInputError(
            f"has {num_source_frames} frames at {source_fps:g} fps ({available} at {fps:g} fps); "
            f"the cache needs {num_frames}."
        )
    return indices


def crop_box(height: int, width: int, target_height: int, target_width: int) -> tuple[int, int, int, int]:
    """`(top, left, crop_height, crop_width)` of the largest centred crop with the target aspect ratio."""
    scale = min(height / target_height, width / target_width)
    crop_height, crop_width = round(target_height * scale), round(target_width * scale)
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def crop_and_resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop `(T, H0, W0, 3)` uint8 frames to the aspect of `height x width`, then resize (area filter)."""
    top, left, crop_height, crop_width = crop_box(frames.shape[1], frames.shape[2], height, width)
    cropped = frames[:, top : top + crop_height, left : left + crop_width]
    if (crop_height, crop_width) == (height, width):
        return np.ascontiguousarray(cropped)
    return np.stack([cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) for frame in cropped])


def crop_camera(camera: Camera, source_height: int, source_width: int, height: int, width: int) -> Camera:
    """The camera of the cropped and resized frames (`crop_and_resize`): principal point shifted, focal scaled."""
    top, left, crop_height, crop_width = crop_box(source_height, source_width, height, width)
    scale_x, scale_y = width / crop_width, height / crop_height
    (fx, fy), (cx, cy) = camera.focal, camera.principal_point
    # Pixel centres: u' + 0.5 = (u - left + 0.5) * scale.
    return Camera(
        focal=(fx * scale_x, fy * scale_y),
        principal_point=((cx - left + 0.5) * scale_x - 0.5, (cy - top + 0.5) * scale_y - 0.5),
        rotation=camera.rotation,
        translation=camera.translation,
        width=width,
        height=height,
    )


# ---------------------------------------------------------------------------------------------- estimates
def estimate_person_masks(frames: np.ndarray, background_frames: np.ndarray | None = None) -> np.ndarray:
    """Person masks by background subtraction (see the module docstring for the method and its limits).

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`): uint8 RGB frames to segment.
        background_frames (`np.ndarray` of shape `(N, H, W, 3)`, *optional*): frames to take the median background
            from (e.g. the whole video); defaults to `frames`.

    Returns:
        `np.ndarray` of shape `(T, H, W)`, bool.
    """
    reference = frames if background_frames is None else background_frames
    background = np.median(reference, axis=0).astype(np.int16)
    height, width = frames.shape[1:3]
    size = max(3, round(min(height, width) / 32) | 1)  # odd kernel, about 3% of the image
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    masks = np.zeros(frames.shape[:3], dtype=bool)
    for index, frame in enumerate(frames):
        difference = np.abs(frame.astype(np.int16) - background).max(-1)
        # Closing only: an opening at this scale removes thin limbs (measured: IoU 0.40 -> 0.73 without it).
        mask = cv2.morphologyEx((difference > _MIN_DIFFERENCE).astype(np.uint8), cv2.MORPH_CLOSE, kernel)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if count > 1:
            areas = stats[1:, cv2.CC_STAT_AREA]
            masks[index] = np.isin(labels, 1 + np.flatnonzero(areas >= _MIN_PART * areas.max()))
    return masks


def track_query_points(frame: np.ndarray, mask: np.ndarray, num_points: int) -> np.ndarray:
    """`num_points` pixels `(P, 2)` to track from `frame`: Shi-Tomasi corners inside `mask`, then mask pixels on
    a regular grid (the whole frame's when the mask is empty) until there are `num_points`."""
    corners = good_features(frame, mask if mask.any() else None, max_points=num_points)
    if len(corners) >= num_points:
        return corners[:num_points]
    rows, cols = np.nonzero(mask) if mask.any() else np.nonzero(np.ones(mask.shape, dtype=bool))
    grid = np.stack([cols, rows], axis=-1).astype(np.float32)
    step = max(1, len(grid) // (num_points - len(corners)))
    extra = grid[::step][: num_points - len(corners)]
    points = np.concatenate([corners, extra])
    if len(points) < num_points:  # fewer pixels than points: repeat the last ones
        points = np.concatenate([points, np.repeat(points[-1:], num_points - len(points), axis=0)])
    return points.astype(np.float32)


# ---------------------------------------------------------------------------------------------- the source
class VideoFolderSource:
    """A folder of videos (+ captions, optional motions) as a `kinevid.data.cache.CacheSource`.

    Args:
        root (`str` or `Path`): the folder (layout in the module docstring).
        num_frames (`int`): frames per clip, 4k + 1.
        height (`int`), width (`int`): pixels of the cached clips.
        fps (`float`, *optional*): frame rate of the cached clips (default: each video's own, which must then
            agree across the folder).
        num_track_points (`int`): tracked points per clip.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        num_frames: int,
        height: int,
        width: int,
        fps: float | None = None,
        num_track_points: int = 64,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InvalidInputError(f"{self.root}: no such video folder.")
        self.videos = sorted(p for p in self.root.iterdir() if p.suffix.lower() == ".mp4" and p.is_file())
        if not self.videos:
            raise InvalidInputError(f"{self.root}: the folder holds no .mp4 videos.")
        if num_track_points < 1:
            raise InvalidInputError(f"`num_track_points` must be positive, got {num_track_points}.")
        self.captions = self._read_captions()
        motions = [path.with_suffix(".npz") for path in self.videos]
        has_motion = [path.is_file() for path in motions]
        if any(has_motion) and not all(has_motion):
            missing = [p.name for p, has in zip(self.videos, has_motion, strict=True) if not has]
            raise InvalidInputError(
                f"{self.root}: motion files (<name>.npz) exist for some videos but not for {missing}; give one "
                "for every video or for none."
            )
        self.motions = motions if all(has_motion) else None
        has_camera = self.motions is not None and all(self._has_camera(p) for p in self.motions)
        rates = {path: video_frame_rate(path) for path in self.videos}
        if fps is None:
            if len(set(rates.values())) > 1:
                raise InvalidInputError(
                    f"{self.root}: the videos have different frame rates {sorted(set(rates.values()))}; pass `fps`."
                )
            fps = next(iter(rates.values()))
        if not fps > 0:
            raise InvalidInputError(f"`fps` must be positive, got {fps}.")
        self.source_rates = rates
        self.fps = float(fps)
        self.geometry = {
            "num_frames": int(num_frames), "height": int(height), "width": int(width),
            "num_track_points": int(num_track_points),
        }  # fmt: skip
        self.fields = {"motion": self.motions is not None, "camera": has_camera, "skeleton": has_camera}

    def _read_captions(self) -> dict[Path, str]:
        table = {}
        table_path = self.root / CAPTIONS_FILE
        if table_path.is_file():
            try:
                table = json.loads(table_path.read_text())
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise InvalidInputError(f"{table_path}: not a JSON object of captions: {error}") from error
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise InvalidInputError(f'{table_path}: expected a JSON object {{"<video stem>": "caption"}}.')
        captions, missing = {}, []
        for video in self.videos:
            text_path = video.with_suffix(".txt")
            caption = text_path.read_text().strip() if text_path.is_file() else table.get(video.stem, "").strip()
            if caption:
                captions[video] = caption
            else:
                missing.append(video.name)
        if missing:
            raise InvalidInputError(
                f"{self.root}: no caption for {missing}; write <name>.txt or an entry of {CAPTIONS_FILE}."
            )
        return captions

    @staticmethod
    def _has_camera(path: Path) -> bool:
        try:
            with np.load(path, allow_pickle=False) as data:
                return all(key in data.files for key in CAMERA_KEYS)
        except NPZ_READ_ERRORS as error:
            raise InvalidInputError(f"{path}: not a readable .npz motion ({type(error).__name__}).") from None

    def __len__(self) -> int:
        return len(self.videos)

    def describe(self) -> dict:
        return {
            "kind": "video-folder",
            "root": str(self.root.resolve()),
            "files": [[p.name, p.stat().st_size] for p in self.videos],
            "fps": self.fps,
        }

    def _camera(self, path: Path, source_height: int, source_width: int) -> Camera:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: np.asarray(data[key], dtype=np.float64) for key in CAMERA_KEYS}
        except NPZ_READ_ERRORS as error:
            raise InvalidInputError(
                f"{path}: expected numeric camera arrays {', '.join(CAMERA_KEYS)} ({type(error).__name__})."
            ) from None
        intrinsics = arrays["camera_intrinsics"]
        shapes = {"camera_intrinsics": (3, 3), "camera_rotation": (3, 3), "camera_translation": (3,)}
        for key, shape in shapes.items():
            if arrays[key].shape != shape or not np.isfinite(arrays[key]).all():
                raise InvalidInputError(f"{path}: `{key}` must be finite with shape {shape}, got {arrays[key].shape}.")
        camera = Camera(
            focal=(intrinsics[0, 0], intrinsics[1, 1]),
            principal_point=(intrinsics[0, 2], intrinsics[1, 2]),
            rotation=torch.from_numpy(arrays["camera_rotation"]),
            translation=torch.from_numpy(arrays["camera_translation"]),
            width=source_width,
            height=source_height,
        )
        return crop_camera(camera, source_height, source_width, self.geometry["height"], self.geometry["width"])

    def _motion(self, path: Path, video: Path, num_video_frames: int) -> Motion:
        motion = Motion.load(path).to(dtype=torch.float32)
        if motion.fps != self.fps:
            motion = motion.resample(self.fps)
        if abs(motion.num_frames - num_video_frames) > 1:
            raise InvalidInputError(
                f"{path}: the motion has {motion.num_frames} frames at {self.fps:g} fps but {video.name} has "
                f"{num_video_frames}; a motion must cover its video (mismatched frame counts)."
            )
        return motion.slice(0, self.geometry["num_frames"])

    def cache_clip(self, index: int) -> CacheClip:
        video_path = self.videos[index]
        num_frames, height, width = (self.geometry[k] for k in ("num_frames", "height", "width"))
        all_frames = read_video(video_path)
        source_fps = self.source_rates[video_path]
        try:
            indices = select_frames(len(all_frames), source_fps, self.fps, num_frames)
        except InvalidInputError as error:
            raise InvalidInputError(f"{video_path}: {error}") from None
        source_height, source_width = all_frames.shape[1:3]
        every = crop_and_resize(all_frames[:: max(1, round(source_fps / self.fps))], height, width)
        frames = crop_and_resize(all_frames[indices], height, width)
        masks = estimate_person_masks(frames, background_frames=every)
        points = track_query_points(frames[0], masks[0], self.geometry["num_track_points"])
        tracks, visibility = lucas_kanade_tracks(frames, points)
        clip = CacheClip(
            video=frames_to_tensor(frames),
            mask=torch.from_numpy(masks).to(torch.float32)[None],
            tracks=torch.from_numpy(tracks),
            track_visibility=torch.from_numpy(visibility),
            caption=self.captions[video_path],
            info={
                "path": str(video_path),
                "source_fps": source_fps,
                "frames": indices.tolist(),
                "empty_mask_frames": int((~masks.any(axis=(1, 2))).sum()),
            },
        )
        if self.motions is not None:
            num_video_frames = int(np.floor((len(all_frames) - 1) * self.fps / source_fps + 1e-9)) + 1
            clip.motion = self._motion(self.motions[index], video_path, num_video_frames)
            if self.fields["camera"]:
                clip.camera = self._camera(self.motions[index], source_height, source_width)
                clip.skeleton = render_skeleton_maps(clip.motion.joints, clip.camera)[0]
        return clip
