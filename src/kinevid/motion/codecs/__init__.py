"""Motion codecs: EchoMotion's 235-dim / 51-token layout and HumanML3D's 263-dim feature."""

from .echomotion import (
    MOTION_FEATURE_DIM,
    TOKENS_PER_FRAME,
    decode_echomotion,
    encode_echomotion,
    features_to_joints,
    merge_motion_tokens,
    split_motion_tokens,
)
from .humanml3d import (
    HUMANML3D_FEATURE_DIM,
    decode_humanml3d,
    decode_humanml3d_joints,
    encode_humanml3d,
    encode_humanml3d_joints,
    humanml3d_joints,
)
from .normalizer import MotionNormalizer

__all__ = [
    "HUMANML3D_FEATURE_DIM",
    "MOTION_FEATURE_DIM",
    "TOKENS_PER_FRAME",
    "MotionNormalizer",
    "decode_echomotion",
    "decode_humanml3d",
    "decode_humanml3d_joints",
    "encode_echomotion",
    "encode_humanml3d",
    "encode_humanml3d_joints",
    "features_to_joints",
    "humanml3d_joints",
    "merge_motion_tokens",
    "split_motion_tokens",
]
