"""Video metrics: FVD (I3D), CLIPSIM, VBench dimensions, weight-free flow variants, the MediaPipe pose
judge, motion plausibility, and the `kinevid eval video` report."""

from .clip_score import ClipEncoder, clipsim
from .flow import dis_flow, flow_warp_interpolate
from .fvd import FVD_NUM_FRAMES, FVD_RESOLUTION, I3DFeatureExtractor, fvd, preprocess_for_i3d
from .i3d import InceptionI3d
from .vbench import (
    DinoEncoder,
    background_consistency,
    consistency_per_frame,
    dynamic_degree_is_dynamic,
    motion_smoothness,
    pooled_frame_mean,
    subject_consistency,
)
from .videos import VideoItem, load_video_set, read_prompts

__all__ = [
    "FVD_NUM_FRAMES",
    "FVD_RESOLUTION",
    "ClipEncoder",
    "DinoEncoder",
    "I3DFeatureExtractor",
    "InceptionI3d",
    "VideoItem",
    "background_consistency",
    "clipsim",
    "consistency_per_frame",
    "dis_flow",
    "dynamic_degree_is_dynamic",
    "flow_warp_interpolate",
    "fvd",
    "load_video_set",
    "motion_smoothness",
    "pooled_frame_mean",
    "preprocess_for_i3d",
    "read_prompts",
    "subject_consistency",
]
