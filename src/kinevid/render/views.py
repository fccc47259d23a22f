"""One call from a `Motion` to a video people look at: mannequin, skeleton maps, or both side by side."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InvalidInputError
from ..motion import Motion
from .camera import Camera, sample_camera
from .grid import make_grid
from .mannequin import render_mannequin
from .scene import Background, Scene
from .skeleton_maps import render_skeleton_maps

VIEW_STYLES = ("mannequin", "skeleton", "grid")
BACKGROUNDS = ("flat", "gradient", "texture")
# Azimuth ranges (radians about +Y; 0 = in front of the canonical motion) of the camera presets.
CAMERA_AZIMUTHS = {
    "front": (math.radians(20), math.radians(20)),
    "side": (math.radians(90), math.radians(90)),
    "back": (math.radians(180), math.radians(180)),
    "random": (-math.pi, math.pi),
}


def preset_camera(joints: torch.Tensor, size: int, preset: str = "front", fov: float = 45.0, seed: int = 0) -> Camera:
    """A square camera `size` x `size` 2.5 m from the motion at 1.2 m height, keeping every joint in frame.

    Args:
        joints (`torch.Tensor` of shape `(T, 24, 3)`): the motion's joints, metres.
        size (`int`): image height and width in pixels.
        preset (`str`): one of `CAMERA_AZIMUTHS` ("front", "side", "back", "random").
        fov (`float`): vertical field of view in degrees.
        seed (`int`): seed of the azimuth for "random".
    """
    if preset not in CAMERA_AZIMUTHS:
        raise InvalidInputError(f"`camera` must be one of {list(CAMERA_AZIMUTHS)}, got {preset!r}.")
    generator = torch.Generator().manual_seed(seed)
    return sample_camera(
        joints, size, size, generator,
        distance_range=(2.5, 2.5), height_range=(1.2, 1.2), azimuth_range=CAMERA_AZIMUTHS[preset],
        fov_range=(fov, fov),
    )  # fmt: skip


def render_motion_views(
    motion: Motion,
    style: str = "grid",
    size: int = 256,
    camera: str = "front",
    fov: float = 45.0,
    background: str = "texture",
    seed: int = 0,
    show_progress: bool = True,
) -> np.ndarray:
    """Render `motion` for viewing.

    Args:
        motion (`Motion`): the motion, drawn at its own frame rate.
        style (`str`): "mannequin" (shaded capsule figure), "skeleton" (OpenPose COCO-18 maps) or
            "grid" (both side by side with captions).
        size (`int`): height and width of each view in pixels (even, for mp4).
        camera (`str`): camera preset, see `preset_camera`.
        fov (`float`): vertical field of view in degrees.
        background (`str`): mannequin background, one of `BACKGROUNDS`.
        seed (`int`): seed of the random camera preset.
        show_progress (`bool`): show a progress bar while rendering the mannequin.

    Returns:
        `np.ndarray` of shape `(T, H, W, 3)`, uint8 RGB.
    """
    if style not in VIEW_STYLES:
        raise InvalidInputError(f"`style` must be one of {list(VIEW_STYLES)}, got {style!r}.")
    if background not in BACKGROUNDS:
        raise InvalidInputError(f"`background` must be one of {list(BACKGROUNDS)}, got {background!r}.")
    if size < 2 or size % 2:
        raise InvalidInputError(f"`size` must be an even number of pixels >= 2, got {size}.")
    motion = motion.to(dtype=torch.float32)
    view = preset_camera(motion.joints, size, camera, fov, seed)
    videos, captions = [], []
    if style in ("mannequin", "grid"):
        scene = Scene(background=Background(kind=background))
        videos.append(render_mannequin(motion, view, scene, num_track_points=1, show_progress=show_progress).rgb)
        captions.append("mannequin")
    if style in ("skeleton", "grid"):
        videos.append(render_skeleton_maps(motion.joints, view)[0])
        captions.append("skeleton")
    return make_grid(videos, captions) if style == "grid" else videos[0]
