"""Wan-based appearance DiTs: EchoMotion's dual-modality transformer (and MoSA's HADC model)."""

from .hadc import HADC, MoSATransformerOutput, is_mosa_parameter
from .skeleton_encoder import SkeletonEncoder
from .transformer_echomotion import (
    ECHOMOTION_TASKS,
    EchoMotionDualBlock,
    EchoMotionTransformer3DModel,
    EchoMotionTransformerOutput,
    is_motion_parameter,
)
from .transformer_mosa_cogvideox import MoSACogVideoXTransformer3DModel
from .transformer_mosa_wan import MoSAWanTransformer3DModel

__all__ = [
    "ECHOMOTION_TASKS",
    "HADC",
    "EchoMotionDualBlock",
    "EchoMotionTransformer3DModel",
    "EchoMotionTransformerOutput",
    "MoSACogVideoXTransformer3DModel",
    "MoSATransformerOutput",
    "MoSAWanTransformer3DModel",
    "SkeletonEncoder",
    "is_mosa_parameter",
    "is_motion_parameter",
]
