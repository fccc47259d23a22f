"""One-sided limb measures of a motion: which ankle rose higher, which wrist was raised above its shoulder.

They read joint positions `(T, 24, 3)` in SMPL-24 order, Y up, in metres. Heights are in the motion's own frame
(canonicalise first for heights above the floor); differences between the sides do not depend on the floor.
The action probes (`kinevid.eval.probes`) and the side words of training captions (`kinevid.data.side_words`)
read the same measures.
"""

from __future__ import annotations

import torch

from ..body.skeleton import SMPL24

SIDES = ("left", "right")
OTHER_SIDE = {"left": "right", "right": "left"}
ANKLES = {side: SMPL24.index(f"{side}_ankle") for side in SIDES}
SHOULDERS = {side: SMPL24.index(f"{side}_shoulder") for side in SIDES}
WRISTS = {side: SMPL24.index(f"{side}_wrist") for side in SIDES}


def ankle_peak(joints: torch.Tensor, side: str) -> float:
    """Highest height (Y) of the `side` ankle over the clip, m. `joints`: `(T, 24, 3)`."""
    return float(joints[:, ANKLES[side], 1].max())


def wrist_raise(joints: torch.Tensor, side: str) -> float:
    """Highest height of the `side` wrist over the `side` shoulder at the same frame, m (0 = level)."""
    return float((joints[:, WRISTS[side], 1] - joints[:, SHOULDERS[side], 1]).max())
