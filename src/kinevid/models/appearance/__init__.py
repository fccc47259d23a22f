"""Wan-based appearance DiTs: EchoMotion's dual-modality transformer (and MoSA's HADC model)."""

from .transformer_echomotion import (
    ECHOMOTION_TASKS,
    EchoMotionDualBlock,
    EchoMotionTransformer3DModel,
    EchoMotionTransformerOutput,
    is_motion_parameter,
)

__all__ = [
    "ECHOMOTION_TASKS",
    "EchoMotionDualBlock",
    "EchoMotionTransformer3DModel",
    "EchoMotionTransformerOutput",
    "is_motion_parameter",
]
