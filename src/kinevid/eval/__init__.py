"""Evaluation: the text-motion retrieval evaluator (TMR-like) and the text-to-motion metrics
(R-precision, FID, diversity, MM-distance, multimodality), physical metrics, reports."""

from .clips import EvaluationClip, cut_clips
from .evaluator import DEFAULT_EVALUATOR_DIR, TextMotionEvaluator, mean_physical_metrics
from .metrics import diversity, fid, frechet_distance, mm_distance, multimodality, r_precision
from .motion_features import MOTION_FEATURE_DIM, joint_motion_features
from .report import EvaluationReport, ReportColumn
from .retrieval_model import TextMotionRetrievalModel

__all__ = [
    "DEFAULT_EVALUATOR_DIR",
    "MOTION_FEATURE_DIM",
    "EvaluationClip",
    "EvaluationReport",
    "ReportColumn",
    "TextMotionEvaluator",
    "TextMotionRetrievalModel",
    "cut_clips",
    "diversity",
    "fid",
    "frechet_distance",
    "joint_motion_features",
    "mean_physical_metrics",
    "mm_distance",
    "multimodality",
    "r_precision",
]
