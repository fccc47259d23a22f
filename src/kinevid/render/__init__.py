"""Cameras and projection, OpenPose skeleton maps, the mannequin renderer, video files and grids."""

from .camera import Camera, sample_camera
from .frames import frames_to_tensor, tensor_to_frames
from .grid import make_grid
from .mannequin import MannequinFrames, render_mannequin
from .mannequin_body import MannequinBody
from .scene import Appearance, Background, Light, Scene, sample_scene
from .skeleton_maps import (
    COCO18_COLORS,
    COCO18_LIMBS,
    draw_skeleton_maps,
    render_skeleton_maps,
    skeleton_maps_to_tensor,
)
from .video import read_video, write_video
from .views import CAMERA_AZIMUTHS, VIEW_STYLES, preset_camera, render_motion_views

__all__ = [
    "CAMERA_AZIMUTHS",
    "COCO18_COLORS",
    "COCO18_LIMBS",
    "VIEW_STYLES",
    "Appearance",
    "Background",
    "Camera",
    "Light",
    "MannequinBody",
    "MannequinFrames",
    "Scene",
    "draw_skeleton_maps",
    "frames_to_tensor",
    "make_grid",
    "preset_camera",
    "read_video",
    "render_mannequin",
    "render_motion_views",
    "render_skeleton_maps",
    "sample_camera",
    "sample_scene",
    "skeleton_maps_to_tensor",
    "tensor_to_frames",
    "write_video",
]
