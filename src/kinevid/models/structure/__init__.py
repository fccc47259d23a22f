"""Text -> 3D motion: the autoregressive motion-primitive diffusion model and its feature layout."""

from .motion_diffusion import MotionPrimitiveDiffusionModel
from .representation import FEATURE_DIM, ChunkFrame, encode_features, features_to_world

__all__ = ["FEATURE_DIM", "ChunkFrame", "MotionPrimitiveDiffusionModel", "encode_features", "features_to_world"]
