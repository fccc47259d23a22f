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
from .normalizer import MotionNormalizer

__all__ = [
    "MOTION_FEATURE_DIM",
    "TOKENS_PER_FRAME",
    "MotionNormalizer",
    "decode_echomotion",
    "encode_echomotion",
    "features_to_joints",
    "merge_motion_tokens",
    "split_motion_tokens",
]
