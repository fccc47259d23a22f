"""Video metrics: FVD (I3D), CLIPSIM, VBench dimensions (RAFT for dynamic degree, AMT-S for motion smoothness),
weight-free flow variants, the MediaPipe pose judge, motion plausibility, and the `kinevid eval video`
evaluation and report."""

from .amt import AMT, AmtInterpolator
from .clip_score import ClipEncoder, clipsim
from .evaluate import METRICS, VideoEvaluation, VideoEvaluationInputs, evaluate_videos
from .flow import dis_flow, flow_warp_interpolate
from .fvd import FVD_NUM_FRAMES, FVD_RESOLUTION, I3DFeatureExtractor, fvd, preprocess_for_i3d
from .i3d import InceptionI3d
from .pose_judge import MediaPipePoseJudge, PoseEstimate, is_mediapipe_available, mask_iou, pose_following
from .raft import RAFT, RaftFlow
from .reference_set import export_reference_set
from .report import write_report
from .retrieval import (
    TextVideoEvaluator,
    TextVideoRetrievalModel,
    fd_kinevid,
    load_video_evaluator,
    prepare_video,
    video_r_precision,
)
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
    "AMT",
    "FVD_NUM_FRAMES",
    "FVD_RESOLUTION",
    "METRICS",
    "RAFT",
    "AmtInterpolator",
    "ClipEncoder",
    "DinoEncoder",
    "I3DFeatureExtractor",
    "InceptionI3d",
    "MediaPipePoseJudge",
    "PoseEstimate",
    "RaftFlow",
    "TextVideoEvaluator",
    "TextVideoRetrievalModel",
    "VideoEvaluation",
    "VideoEvaluationInputs",
    "VideoItem",
    "background_consistency",
    "clipsim",
    "consistency_per_frame",
    "dis_flow",
    "dynamic_degree_is_dynamic",
    "evaluate_videos",
    "export_reference_set",
    "fd_kinevid",
    "flow_warp_interpolate",
    "fvd",
    "is_mediapipe_available",
    "load_video_evaluator",
    "load_video_set",
    "mask_iou",
    "motion_smoothness",
    "pooled_frame_mean",
    "pose_following",
    "prepare_video",
    "preprocess_for_i3d",
    "read_prompts",
    "subject_consistency",
    "video_r_precision",
    "write_report",
]
