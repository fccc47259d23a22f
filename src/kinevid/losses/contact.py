"""MoSA's contact constraint L_cont: feet in contact do not slide and nothing goes through the floor.

In 3D (Y up, floor y = 0, metres), on a motion's joints, as the structure branch trains it
(`kinevid.recipes.structure.StructureLoss` calls these):

- `foot_slide_loss`: squared horizontal speed ((m/s)^2) of the foot joints (`kinevid.motion.contacts`'
  left ankle, left toe, right ankle, right toe) over transitions labelled in contact, summed over
  feet, averaged over (weighted) transitions;
- `floor_penetration_loss`: squared depth (m^2) of any joint below the floor, averaged over joints
  and frames;
- `foot_hover_loss`: squared height (m^2) of each foot labelled in contact above the floor, measured
  at its lowest labelled joint relative to that joint's contact height (`kinevid.motion.contacts.
  contact_heights`: a planted ankle sits ~9 cm up, a toe ~5 cm), averaged over labelled foot-transitions;
- `contact_loss` = slide + `floor_weight` x floor (+ `hover_weight` x hover, off by default), labels
  from `foot_contact_transitions` (HumanML3D's rule) of the reference joints when none are given.

In the video (the appearance branch, whose generated video has no 3D motion to constrain; see the
README): `video_contact_loss` places the ground-truth foot joints, projected to pixels, in the
generated video at frame t of every transition labelled in contact and tracks them one frame on;
a planted foot must land on its ground-truth projection at t + 1 (which, for a static camera, is
where it was: no image-space sliding, no sinking below its footprint). `foot_contact_targets` makes
those pixels and labels from the ground-truth joints and camera.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvalidInputError
from ..motion.contacts import (
    FOOT_JOINTS,
    check_joints,
    contact_heights,
    foot_contact_transitions,
    lowest_contact_excess,
)
from ..render.camera import Camera
from .tracker import check_video


def foot_slide_loss(
    velocity: torch.Tensor, contacts: torch.Tensor, transition_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Squared horizontal foot speed over transitions labelled in contact, (m/s)^2.

    Args:
        velocity (`torch.Tensor` of shape `(..., F, J, 3)`): joint velocity of each transition, m/s
            (SMPL order, `J >= 12`).
        contacts (`torch.Tensor` of shape `(..., F, 4)`): contact label (bool or weight in [0, 1]) of
            each transition for the feet in `FOOT_JOINTS` order.
        transition_weight (`torch.Tensor` of shape `(..., F)`, *optional*): how much each transition
            counts (e.g. 0 for one the model could not see); 1 when None.

    Returns:
        `torch.Tensor`: scalar, `sum(weight * sum_feet(contact * speed_xz^2)) / sum(weight)`.
    """
    if velocity.ndim < 3 or velocity.shape[-1] != 3 or velocity.shape[-2] <= max(FOOT_JOINTS):
        raise InvalidInputError(f"`velocity` must have shape (..., F, J >= 12, 3), got {tuple(velocity.shape)}.")
    if tuple(contacts.shape) != (*velocity.shape[:-2], len(FOOT_JOINTS)):
        raise InvalidInputError(
            f"`contacts` must have shape {(*velocity.shape[:-2], len(FOOT_JOINTS))}, got {tuple(contacts.shape)}."
        )
    if transition_weight is None:
        transition_weight = velocity.new_ones(velocity.shape[:-2])
    speed_sq = velocity[..., list(FOOT_JOINTS), :][..., [0, 2]].square().sum(-1)  # (..., F, 4)
    slide = (contacts.to(speed_sq) * speed_sq).sum(-1) * transition_weight  # (..., F)
    return slide.sum() / transition_weight.sum()


def floor_penetration_loss(joints: torch.Tensor) -> torch.Tensor:
    """Mean over joints and frames of the squared depth below the floor (y < 0), m^2.

    Args:
        joints (`torch.Tensor` of shape `(..., J, 3)`): positions, metres, Y up.
    """
    if joints.ndim < 2 or joints.shape[-1] != 3:
        raise InvalidInputError(f"`joints` must have shape (..., J, 3), got {tuple(joints.shape)}.")
    return torch.relu(-joints[..., 1]).square().mean()


def foot_hover_loss(
    joints: torch.Tensor, contacts: torch.Tensor, heights: tuple[float, float, float, float] | None = None
) -> torch.Tensor:
    """Mean squared hover (m^2) of the feet labelled in contact: per foot and transition t -> t + 1,
    `relu(lowest_contact_excess at frame t)^2` over that foot's labelled joints.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): positions, metres, Y up (SMPL order, `J >= 12`).
        contacts (`torch.Tensor` of shape `(..., T - 1, 4)`, bool): contact labels in `FOOT_JOINTS` order.
        heights (4 `float`s, *optional*): contact heights; `contact_heights()` by default.

    Returns:
        `torch.Tensor`: scalar (0 when nothing is in contact).
    """
    check_joints(joints, min_joints=12, min_frames=2)
    if tuple(contacts.shape) != (*joints.shape[:-3], joints.shape[-3] - 1, len(FOOT_JOINTS)):
        raise InvalidInputError(
            f"`contacts` must have shape {(*joints.shape[:-3], joints.shape[-3] - 1, len(FOOT_JOINTS))}, "
            f"got {tuple(contacts.shape)}."
        )
    heights = joints.new_tensor(contact_heights() if heights is None else heights).unflatten(0, (2, 2))
    foot_heights = joints[..., :-1, list(FOOT_JOINTS), 1].unflatten(-1, (2, 2))  # (..., T - 1, 2 feet, 2)
    labelled = contacts.bool().unflatten(-1, (2, 2))
    excess = lowest_contact_excess(foot_heights, labelled, heights)  # (..., T - 1, 2)
    planted = labelled.any(-1)
    hover = torch.relu(excess.where(planted, torch.zeros_like(excess))).square()
    return hover.sum() / planted.sum().clamp_min(1)


def contact_loss(
    joints: torch.Tensor,
    fps: float,
    contacts: torch.Tensor | None = None,
    reference_joints: torch.Tensor | None = None,
    floor_weight: float = 1.0,
    hover_weight: float = 0.0,
) -> torch.Tensor:
    """L_cont of a motion: `foot_slide_loss + floor_weight * floor_penetration_loss
    + hover_weight * foot_hover_loss`.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): the (predicted) motion's joints, metres, Y up.
        fps (`float`): frames per second (speeds are per second).
        contacts (`torch.Tensor` of shape `(..., T - 1, 4)`, *optional*): contact label of each
            transition t -> t + 1. When None: `foot_contact_transitions` of `reference_joints`
            (the ground truth), or of `joints` themselves (detached) when that is None too.
        reference_joints (`torch.Tensor` of shape `(..., T, J, 3)`, *optional*): where labels come from.
        floor_weight (`float`, defaults to 1.0): weight of the floor term (m^2) against the slide term ((m/s)^2).
        hover_weight (`float`, defaults to 0.0): weight of the hover term (m^2): planted feet on the floor.

    Returns:
        `torch.Tensor`: scalar.
    """
    check_joints(joints, fps, min_joints=12, min_frames=2)
    if contacts is None:
        source = joints.detach() if reference_joints is None else reference_joints
        if source.shape != joints.shape:
            raise InvalidInputError(
                f"`reference_joints` must have the shape of `joints` {tuple(joints.shape)}, got {tuple(source.shape)}."
            )
        contacts = foot_contact_transitions(source, fps)
    velocity = torch.diff(joints, dim=-3) * fps  # (..., T - 1, J, 3)
    loss = foot_slide_loss(velocity, contacts) + floor_weight * floor_penetration_loss(joints)
    if hover_weight:
        loss = loss + hover_weight * foot_hover_loss(joints, contacts.bool())
    return loss


def foot_contact_targets(
    joints: torch.Tensor,
    intrinsics: torch.Tensor,
    rotation: torch.Tensor,
    translation: torch.Tensor,
    image_size: tuple[int, int],
    fps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground-truth foot pixels and contact labels for `video_contact_loss`.

    Args:
        joints (`torch.Tensor` of shape `(B, T, J, 3)`): ground-truth world joints, SMPL order.
        intrinsics (`torch.Tensor` of shape `(B, 3, 3)`), rotation (`(B, 3, 3)`), translation (`(B, 3)`):
            each clip's camera (world -> camera, OpenCV axes; `kinevid.render.camera.Camera`).
        image_size (`tuple[int, int]`): `(height, width)` of the video.
        fps (`float`): frames per second.

    Returns:
        `(foot_pixels, contacts)`: `(B, T, 4, 2)` float pixels `(u, v)` of the `FOOT_JOINTS` and
        `(B, T - 1, 4)` bool, True where HumanML3D's rule labels the transition t -> t + 1 in contact
        and the foot is inside the image at both frames.
    """
    check_joints(joints, fps, min_joints=12, min_frames=2)
    if joints.ndim != 4:
        raise InvalidInputError(f"`joints` must have shape (B, T, J, 3), got {tuple(joints.shape)}.")
    batch_size = joints.shape[0]
    expected = {"intrinsics": (batch_size, 3, 3), "rotation": (batch_size, 3, 3), "translation": (batch_size, 3)}
    for name, value in (("intrinsics", intrinsics), ("rotation", rotation), ("translation", translation)):
        if tuple(value.shape) != expected[name]:
            raise InvalidInputError(f"camera `{name}` must have shape {expected[name]}, got {tuple(value.shape)}.")
    height, width = image_size
    feet = joints[:, :, list(FOOT_JOINTS)]  # (B, T, 4, 3)
    pixels, inside = [], []
    for index in range(batch_size):
        matrix = intrinsics[index].double()
        camera = Camera(
            focal=(float(matrix[0, 0]), float(matrix[1, 1])),
            principal_point=(float(matrix[0, 2]), float(matrix[1, 2])),
            rotation=rotation[index],
            translation=translation[index],
            width=width,
            height=height,
        )
        projected, depth = camera.project(feet[index])
        pixels.append(projected)
        inside.append(camera.in_frame(projected, depth))
    foot_pixels, inside = torch.stack(pixels), torch.stack(inside)
    contacts = foot_contact_transitions(joints, fps) & inside[:, :-1] & inside[:, 1:]
    return foot_pixels.to(joints.dtype), contacts


def video_contact_loss(
    pred_video: torch.Tensor, foot_pixels: torch.Tensor, contacts: torch.Tensor, tracker: nn.Module
) -> torch.Tensor:
    """L_cont in the generated video: planted feet, tracked one frame on, land on their ground truth.

    For every transition t -> t + 1 and foot f labelled in contact, the tracker is queried at
    `foot_pixels[t, f]` in frame t of `pred_video` and run on frames (t, t + 1); the term is the L1
    pixel distance `|pred[t + 1] - foot_pixels[t + 1, f]|_1`, averaged over labelled (transition,
    foot) pairs. All transitions of all samples go through the tracker as one batch of 2-frame clips.

    Args:
        pred_video (`torch.Tensor` of shape `(B, 3, T, H, W)`): generated video in [-1, 1].
        foot_pixels (`torch.Tensor` of shape `(B, T, 4, 2)`): ground-truth foot pixels (`foot_contact_targets`).
        contacts (`torch.Tensor` of shape `(B, T - 1, 4)`): bool labels of the transitions.
        tracker (`nn.Module`): as in `tracking_loss` (e.g. `DenseTracker()`).

    Returns:
        `torch.Tensor`: scalar, pixels (0 with a gradient path when nothing is in contact).
    """
    batch_size, _, num_frames, _, _ = check_video(pred_video, "pred_video")
    expected = (batch_size, num_frames, len(FOOT_JOINTS), 2)
    if tuple(foot_pixels.shape) != expected:
        raise InvalidInputError(f"`foot_pixels` must have shape {expected}, got {tuple(foot_pixels.shape)}.")
    expected = (batch_size, num_frames - 1, len(FOOT_JOINTS))
    if tuple(contacts.shape) != expected:
        raise InvalidInputError(f"`contacts` must have shape {expected}, got {tuple(contacts.shape)}.")
    finite = torch.isfinite(foot_pixels).all(-1)  # (B, T, 4)
    labelled = contacts.bool() & finite[:, :-1] & finite[:, 1:]
    pairs = labelled.any(-1).nonzero()  # (N, 2): (sample, t) with a planted foot
    if len(pairs) == 0:
        return pred_video.sum() * 0.0
    samples, starts = pairs[:, 0], pairs[:, 1]
    frames = starts[:, None] + torch.arange(2, device=starts.device)  # (N, 2)
    clips = pred_video[samples[:, None], :, frames]  # (N, 2, 3, H, W)
    clips = clips.permute(0, 2, 1, 3, 4)  # (N, 3, 2, H, W)
    pixels = torch.nan_to_num(foot_pixels.float())  # float32 even for a half-precision video
    predicted = tracker(clips, pixels[samples, starts], query_frame=0)[:, 1]  # (N, 4, 2)
    error = (predicted - pixels[samples, starts + 1]).abs().sum(-1)  # (N, 4)
    weight = labelled[samples, starts].to(error)
    return (error * weight).sum() / weight.sum()
