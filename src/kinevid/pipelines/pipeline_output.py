"""Output dataclasses of kinevid's pipelines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers.utils import BaseOutput

from ..motion.motion import Motion


@dataclass
class KinevidPipelineOutput(BaseOutput):
    """A generated video and/or the motion of the person in it.

    Args:
        frames (`np.ndarray` of shape `(B, T, H, W, 3)` in [0, 1], `torch.Tensor` of shape `(B, T, 3, H, W)`,
            latents `(B, C, F, H', W')` when `output_type="latent"`, or `None` when no video was generated):
            the video, as diffusers' video pipelines return it.
        motion (`list[Motion]` or `None`): one `Motion` per sample (SMPL-24, at the video's frame rate).
        motion_features (`torch.Tensor` of shape `(B, T, 235)` or `None`): the motion as denormalised
            EchoMotion features (`kinevid.motion.codecs.echomotion` layout).
    """

    frames: np.ndarray | torch.Tensor | None
    motion: list[Motion] | None = None
    motion_features: torch.Tensor | None = None
