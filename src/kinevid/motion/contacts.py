"""Foot contact labels from joint positions, as HumanML3D labels them.

HumanML3D (`motion_representation.py`, `foot_detect`) marks a foot joint as in contact between
frames t and t + 1 when its squared 3D displacement over that frame is below 0.002 m^2 at 20 fps,
for the left ankle and toe (SMPL joints 7, 10) and the right ankle and toe (8, 11). Its code also
defines height factors (3.0, 2.0) but leaves the height test commented out, so its labels ignore
height entirely; `height_threshold` below adds one when wanted and defaults to off, as there.

We express the displacement threshold as a speed so that labels do not depend on the frame rate:
0.002 m^2 per frame at 20 fps is a speed of sqrt(0.002) * 20 ~= 0.894 m/s. At 20 fps the test is
exactly HumanML3D's.

Contact heights: a foot joint is inside the body, so it sits above the floor even on a planted foot,
the ankle more than the toe. `contact_heights()` gives each foot joint's height while its foot is flat
and planted (ankle and toe both slower than `PLANTED_SPEED`), measured on CMU training trials by
`scripts/derive_contact_heights.py` and stored with its provenance in
`kinevid/motion/assets/contact_heights.json`.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import torch

from ..body.skeleton import SMPL24
from ..errors import InvalidInputError

if TYPE_CHECKING:
    from .motion import Motion

FOOT_JOINTS = (7, 10, 8, 11)
"""SMPL joints labelled, in output order: left ankle, left foot (toe), right ankle, right foot (toe)."""

HUMANML3D_FPS = 20.0
HUMANML3D_CONTACT_THRESHOLD = 0.002
"""HumanML3D's bound on the squared per-frame displacement (m^2) at 20 fps."""
CONTACT_SPEED_THRESHOLD = math.sqrt(HUMANML3D_CONTACT_THRESHOLD) * HUMANML3D_FPS
"""The same bound as a speed, m/s."""
PLANTED_SPEED = 0.2
"""m/s: a foot joint slower than this is still (planted), as in the contact-height measurement."""
CONTACT_HEIGHTS_FILE = "contact_heights.json"


@cache
def contact_height_record() -> dict:
    """The stored contact-height measurement (`kinevid/motion/assets/contact_heights.json`)."""
    path = resources.files("kinevid.motion").joinpath("assets", CONTACT_HEIGHTS_FILE)
    return json.loads(path.read_text(encoding="utf-8"))


def contact_heights() -> tuple[float, float, float, float]:
    """Contact height (m) of each foot joint in `FOOT_JOINTS` order: left ankle, left toe, right
    ankle, right toe (see the module docstring)."""
    heights = contact_height_record()["contact_heights_m"]
    return tuple(float(heights[SMPL24.joint_names[joint]]) for joint in FOOT_JOINTS)


def check_joints(joints: torch.Tensor, fps: float | None = None, min_joints: int = 22, min_frames: int = 1) -> None:
    """Raise `InvalidInputError` unless `joints` is a finite `(..., T, J, 3)` tensor with `J >= min_joints`.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions in metres, SMPL order.
        fps (`float`, *optional*): checked to be a positive finite number when given.
        min_joints (`int`): fewest joints accepted (SMPL order, so 22 covers the body without hands).
        min_frames (`int`): fewest frames accepted.
    """
    if not isinstance(joints, torch.Tensor):
        raise InvalidInputError(
            f"`joints` must be a torch.Tensor of shape (..., T, J, 3), got {type(joints).__name__}."
        )
    if joints.ndim < 3 or joints.shape[-1] != 3 or joints.shape[-2] < min_joints:
        raise InvalidInputError(
            f"`joints` must have shape (..., T, J, 3) with J >= {min_joints} (SMPL order), got {tuple(joints.shape)}."
        )
    if joints.shape[-3] < min_frames:
        raise InvalidInputError(f"`joints` needs at least {min_frames} frames, got {joints.shape[-3]}.")
    if not torch.isfinite(joints).all():
        raise InvalidInputError("`joints` contains NaN or infinite values.")
    if fps is not None and not (fps > 0 and math.isfinite(fps)):
        raise InvalidInputError(f"`fps` must be a positive number, got {fps}.")


def foot_contact_transitions(
    joints: torch.Tensor,
    fps: float,
    speed_threshold: float = CONTACT_SPEED_THRESHOLD,
    height_threshold: float | None = None,
) -> torch.Tensor:
    """Contact label per frame transition t -> t + 1, exactly HumanML3D's at 20 fps.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions in metres, Y up, SMPL order
            (`J >= 12`).
        fps (`float`): frames per second of `joints`.
        speed_threshold (`float`, defaults to ~0.894 m/s): a foot joint is in contact while its 3D speed
            over the transition is below this (HumanML3D's 0.002 m^2 per frame at 20 fps).
        height_threshold (`float`, *optional*): if given, the joint's height at frame t must also be
            below this (metres above y = 0).

    Returns:
        `torch.Tensor` of shape `(..., T - 1, 4)`, bool: left ankle, left toe, right ankle, right toe.
    """
    check_joints(joints, fps, min_joints=12, min_frames=2)
    feet = joints[..., list(FOOT_JOINTS), :]  # (..., T, 4, 3)
    squared_displacement = (feet[..., 1:, :, :] - feet[..., :-1, :, :]).square().sum(-1)  # (..., T - 1, 4)
    contact = squared_displacement < (speed_threshold / fps) ** 2
    if height_threshold is not None:
        contact = contact & (feet[..., :-1, :, 1] < height_threshold)
    return contact


def foot_contacts(
    joints: torch.Tensor,
    fps: float,
    speed_threshold: float = CONTACT_SPEED_THRESHOLD,
    height_threshold: float | None = None,
) -> torch.Tensor:
    """Contact label per frame: the label of the transition leaving each frame, the last frame
    repeating the one before (a single frame counts as in contact).

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions in metres, Y up, SMPL order.
        fps (`float`): frames per second of `joints`.
        speed_threshold (`float`): see `foot_contact_transitions`.
        height_threshold (`float`, *optional*): see `foot_contact_transitions`.

    Returns:
        `torch.Tensor` of shape `(..., T, 4)`, bool: left ankle, left toe, right ankle, right toe.
    """
    check_joints(joints, fps, min_joints=12)
    if joints.shape[-3] == 1:
        return torch.ones(*joints.shape[:-3], 1, len(FOOT_JOINTS), dtype=torch.bool, device=joints.device)
    transitions = foot_contact_transitions(joints, fps, speed_threshold, height_threshold)
    return torch.cat([transitions, transitions[..., -1:, :]], dim=-2)


def lowest_contact_excess(
    foot_heights: torch.Tensor, in_contact: torch.Tensor, heights: torch.Tensor | None = None
) -> torch.Tensor:
    """Height above its contact height of the lowest foot joint in contact, metres (+inf where none is).

    Args:
        foot_heights (`torch.Tensor` of shape `(..., K)`): heights of foot joints (`FOOT_JOINTS` order,
            or any subset matching `heights`).
        in_contact (`torch.Tensor` of shape `(..., K)`, bool): which joints are in contact.
        heights (`torch.Tensor` of shape `(K,)`, *optional*): contact heights; `contact_heights()` for
            the four `FOOT_JOINTS` by default.

    Returns:
        `torch.Tensor` of shape `(...)`.
    """
    if heights is None:
        heights = foot_heights.new_tensor(contact_heights())
    excess = foot_heights - heights
    return torch.where(in_contact, excess, torch.full_like(excess, torch.inf)).amin(-1)


def lock_planted_feet(motion: Motion, contacts: torch.Tensor) -> Motion:
    """The motion with its root moved so that feet in contact stay where they are, and nothing below the floor.

    Foot-skate cleanup by the root alone (the pose is kept): over each step t -> t + 1, the root's horizontal
    displacement loses the mean horizontal displacement of the `FOOT_JOINTS` joints in contact at both frames, so a
    lone planted foot (or two moving together) no longer slides; steps without a planted joint keep their
    displacement. Then every frame whose lowest joint is below y = 0 is lifted by that depth.

    Args:
        motion (`Motion`): T frames, Y up, floor at y = 0.
        contacts (`torch.Tensor` of shape `(T, 4)`, bool): per frame, which `FOOT_JOINTS` joint is in contact
            (e.g. `foot_contacts`, or a generator's own contact labels).

    Returns:
        `Motion`: the same rotations, a new root translation.
    """
    if contacts.shape != (motion.num_frames, len(FOOT_JOINTS)):
        raise InvalidInputError(
            f"`contacts` must have shape ({motion.num_frames}, {len(FOOT_JOINTS)}) for a {motion.num_frames}-frame "
            f"motion, got {tuple(contacts.shape)}."
        )
    joints = motion.joints
    planted = (contacts[:-1] & contacts[1:]).to(joints.dtype)  # (T - 1, 4)
    feet = joints[:, list(FOOT_JOINTS)][..., [0, 2]]  # (T, 4, 2)
    foot_steps = torch.diff(feet, dim=0)  # (T - 1, 4, 2)
    slide = (planted[..., None] * foot_steps).sum(1) / planted.sum(1, keepdim=True).clamp_min(1.0)  # (T - 1, 2)
    correction = torch.cat([slide.new_zeros(1, 2), torch.cumsum(-slide, dim=0)])  # (T, 2)
    translation = motion.translation.clone()
    translation[:, [0, 2]] += correction
    lowest = joints[..., 1].amin(-1)  # the correction is horizontal: heights do not change
    translation[:, 1] += torch.relu(-lowest)
    return replace(motion, translation=translation)
