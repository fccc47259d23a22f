"""Classifier-free guidance and EchoMotion's in-context CFG (ICCFG) combinations of model predictions.

Notation `u(video, motion, text)`; `0` marks a dropped condition. With `x` the modality being
generated:

- joint (text -> video + motion): both modalities are generated, only text conditions:
  `u(0) + w (u(y) - u(0))`, applied to each modality's prediction.
- motion -> video (paper eq.): `u(x,0,0) + w1 (u(x,m,y) - u(x,m,0)) + w2 (u(x,m,0) - u(x,0,0))`,
  `w1` the text scale, `w2` the motion scale.
- video -> motion: text is always dropped (in training too); the video is the condition:
  `u(m,0) + w (u(m,x) - u(m,0))`.
"""

from __future__ import annotations

import torch


def classifier_free_guidance(
    conditional: torch.Tensor, unconditional: torch.Tensor, guidance_scale: float
) -> torch.Tensor:
    """`unconditional + guidance_scale * (conditional - unconditional)`; scale 1 returns `conditional`."""
    return unconditional + guidance_scale * (conditional - unconditional)


def motion_to_video_guidance(
    full: torch.Tensor,
    motion_only: torch.Tensor,
    unconditional: torch.Tensor,
    text_scale: float,
    motion_scale: float,
) -> torch.Tensor:
    """EchoMotion's motion-to-video guidance.

    Args:
        full (`torch.Tensor`): `u(x, m, y)`, motion and text given.
        motion_only (`torch.Tensor`): `u(x, m, 0)`, text dropped.
        unconditional (`torch.Tensor`): `u(x, 0, 0)`, motion and text dropped.
        text_scale (`float`): `w1`.
        motion_scale (`float`): `w2`.

    Returns:
        `u(x,0,0) + w1 (u(x,m,y) - u(x,m,0)) + w2 (u(x,m,0) - u(x,0,0))`, same shape as the inputs.
    """
    return unconditional + text_scale * (full - motion_only) + motion_scale * (motion_only - unconditional)
