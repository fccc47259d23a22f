"""Physical plausibility metrics of a motion, computed on joint positions.

Conventions: metres, seconds, Y up, floor at y = 0. Every metric takes joints of shape
`(..., T, J, 3)` in SMPL order (`J >= 22`; the 24-joint SMPL body or HumanML3D's 22-joint subset)
and, where time enters, the frame rate, and returns a tensor of shape `(...)`.

Joints stand in for the body surface, which kinevid does not model: "lowest body point" is the
lowest joint, as the floor of a canonical `Motion` is the lowest joint over the sequence.

Definitions (sources in brackets):

- `foot_skating_ratio` [GMD, OmniControl]: toe joints 10, 11; a toe is in contact over frames
  t, t + 1 when its height is below 5 cm at both; it skates when its horizontal speed exceeds
  0.5 m/s both over that transition and averaged over a centred 5-transition window (zero-padded at
  the ends, as `scipy.ndimage.uniform_filter1d(mode="constant")`); the ratio is the fraction of the
  T - 1 transitions in which either toe skates. The original code hard-codes 20 fps; here the
  speeds use the motion's own `fps`.
- `penetration` [PhysDiff Penetrate]: per frame, the depth of the lowest joint below the floor
  (0 when above); mean over frames.
- `floating` [PhysDiff Float]: per frame, the height of the lowest joint when it exceeds a 5 mm
  tolerance (0 otherwise); mean over frames.
- `physdiff_skate` [PhysDiff Skate]: per transition, the mean horizontal displacement of the toe
  joints that touch the ground (height below 5 cm, GMD's contact height, since joints sit above
  the sole) in both frames (0 when none); mean over transitions. As in PhysDiff this is a distance
  per frame, so it scales with 1 / fps; `dart_skate` is its frame-rate-free counterpart.
- `phys_err` [PhysDiff Phys-Err]: penetration + floating + skate.
- `dart_skate` [DART, `calc_skate` in its evaluation code]: per transition and toe joint (10, 11),
  3D displacement x (2 - 2^clamp(h / 0.03, 0, 1)) x fps with h the higher of the toe's heights at
  the two frames, i.e. the toe's speed weighted 1 on the floor, fading to 0 at 3 cm; mean over
  transitions and toes (m/s).
- `planted_foot_floating`: the fraction of planted feet that hover. Per foot (ankle + toe) and
  transition t -> t + 1, the foot is planted when at least one of its joints moves slower than
  `PLANTED_SPEED` (0.2 m/s); it floats when every such still joint is more than `FLOAT_MARGIN` (2 cm)
  above its contact height (`kinevid.motion.contacts.contact_heights`, measured on CMU: ankle 9.2 cm,
  toe 5.4 cm) at frame t. Ratio = floating / planted foot-transitions. Unlike `foot_skating_ratio`
  (toes below 5 cm only) and `floating` (the lowest joint), it sees a still foot held above the floor.
- `jerk` [DART, FlowMDM]: mean over frames and joints of the norm of the third time derivative of
  position (third finite difference x fps^3, m/s^3).
- `bone_length_drift`: the largest change of any bone's length over the sequence (max - min over
  frames, worst bone, metres); 0 for a rigid skeleton.
"""

from __future__ import annotations

import torch

from ..body.skeleton import SMPL24
from .contacts import FOOT_JOINTS, PLANTED_SPEED, check_joints, contact_heights, lowest_contact_excess
from .motion import Motion

TOE_JOINTS = (10, 11)
SKATING_HEIGHT_THRESHOLD = 0.05  # m, GMD's contact height for toes
SKATING_SPEED_THRESHOLD = 0.5  # m/s
SKATING_WINDOW = 5  # transitions
FLOAT_TOLERANCE = 0.005  # m, PhysDiff
DART_FLOOR_THRESHOLD = 0.03  # m
FLOAT_MARGIN = 0.02  # m above a joint's contact height before a still foot counts as floating


def _nan(joints: torch.Tensor) -> torch.Tensor:
    return joints.new_full(joints.shape[:-3], float("nan"))


def _toe_heights_and_horizontal_steps(joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Toe heights `(..., T, 2)` and horizontal displacements per transition `(..., T - 1, 2)`."""
    toes = joints[..., list(TOE_JOINTS), :]  # (..., T, 2, 3)
    steps = toes[..., 1:, :, :] - toes[..., :-1, :, :]
    horizontal = steps[..., [0, 2]].norm(dim=-1)
    return toes[..., 1], horizontal


def foot_skating_ratio(
    joints: torch.Tensor,
    fps: float,
    height_threshold: float = SKATING_HEIGHT_THRESHOLD,
    speed_threshold: float = SKATING_SPEED_THRESHOLD,
    window: int = SKATING_WINDOW,
) -> torch.Tensor:
    """Fraction of frame transitions in which a toe in ground contact slides (GMD / OmniControl).

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions, metres, Y up.
        fps (`float`): frames per second.
        height_threshold (`float`, defaults to 0.05): contact height of a toe joint, metres.
        speed_threshold (`float`, defaults to 0.5): skating speed, m/s.
        window (`int`, defaults to 5): transitions in the centred averaging window (odd).

    Returns:
        `torch.Tensor` of shape `(...)` in [0, 1]; NaN for a single frame.
    """
    check_joints(joints, fps)
    if joints.shape[-3] < 2:
        return _nan(joints)
    heights, horizontal = _toe_heights_and_horizontal_steps(joints)
    speed = horizontal * fps  # (..., T - 1, 2)
    # Centred moving average with zeros beyond the ends (uniform_filter1d, mode="constant").
    flat = speed.movedim(-2, -1).reshape(-1, 1, speed.shape[-2])
    kernel = flat.new_full((1, 1, window), 1.0 / window)
    average = torch.nn.functional.conv1d(flat, kernel, padding=window // 2)
    average = average.reshape(*speed.shape[:-2], 2, -1).movedim(-1, -2)
    contact = (heights[..., :-1, :] < height_threshold) & (heights[..., 1:, :] < height_threshold)
    skating = contact & (speed > speed_threshold) & (average > speed_threshold)
    return skating.any(dim=-1).to(joints.dtype).mean(dim=-1)


def penetration(joints: torch.Tensor) -> torch.Tensor:
    """Mean over frames of the lowest joint's depth below the floor (PhysDiff Penetrate), metres.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions, metres, Y up.

    Returns:
        `torch.Tensor` of shape `(...)`.
    """
    check_joints(joints)
    lowest = joints[..., 1].amin(dim=-1)  # (..., T)
    return (-lowest).clamp_min(0.0).mean(dim=-1)


def floating(joints: torch.Tensor, tolerance: float = FLOAT_TOLERANCE) -> torch.Tensor:
    """Mean over frames of the lowest joint's height when above `tolerance` (PhysDiff Float), metres.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions, metres, Y up.
        tolerance (`float`, defaults to 0.005): heights up to this count as touching the floor.

    Returns:
        `torch.Tensor` of shape `(...)`.
    """
    check_joints(joints)
    lowest = joints[..., 1].amin(dim=-1)
    return torch.where(lowest > tolerance, lowest, torch.zeros_like(lowest)).mean(dim=-1)


def physdiff_skate(joints: torch.Tensor, height_threshold: float = SKATING_HEIGHT_THRESHOLD) -> torch.Tensor:
    """Mean horizontal displacement per frame of toes touching the ground in both frames (PhysDiff Skate), metres.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions, metres, Y up.
        height_threshold (`float`, defaults to 0.05): a toe below this height touches the ground.

    Returns:
        `torch.Tensor` of shape `(...)`; NaN for a single frame.
    """
    check_joints(joints)
    if joints.shape[-3] < 2:
        return _nan(joints)
    heights, horizontal = _toe_heights_and_horizontal_steps(joints)
    contact = (heights[..., :-1, :] < height_threshold) & (heights[..., 1:, :] < height_threshold)
    count = contact.sum(dim=-1)
    per_transition = (horizontal * contact).sum(dim=-1) / count.clamp_min(1)
    return per_transition.mean(dim=-1)


def phys_err(joints: torch.Tensor) -> torch.Tensor:
    """PhysDiff's Phys-Err: penetration + floating + skate, metres; shape `(...)`."""
    return penetration(joints) + floating(joints) + physdiff_skate(joints)


def dart_skate(joints: torch.Tensor, fps: float, floor_threshold: float = DART_FLOOR_THRESHOLD) -> torch.Tensor:
    """DART's foot skating: toe speed weighted by closeness to the floor, m/s.

    Each toe's 3D displacement over a transition is multiplied by
    `2 - 2 ** clamp(h / floor_threshold, 0, 1)` (h the higher of its heights at the two frames)
    and by `fps`.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions, metres, Y up.
        fps (`float`): frames per second.
        floor_threshold (`float`, defaults to 0.03): height at which the weight reaches 0, metres.

    Returns:
        `torch.Tensor` of shape `(...)`; NaN for a single frame.
    """
    check_joints(joints, fps)
    if joints.shape[-3] < 2:
        return _nan(joints)
    toes = joints[..., list(TOE_JOINTS), :]  # (..., T, 2, 3)
    displacement = (toes[..., 1:, :, :] - toes[..., :-1, :, :]).norm(dim=-1)  # (..., T - 1, 2)
    height = torch.maximum(toes[..., :-1, :, 1], toes[..., 1:, :, 1])
    weight = 2.0 - torch.pow(2.0, (height / floor_threshold).clamp(0.0, 1.0))
    return (displacement * weight * fps).mean(dim=(-2, -1))


def planted_foot_floating(
    joints: torch.Tensor,
    fps: float,
    speed_threshold: float = PLANTED_SPEED,
    margin: float = FLOAT_MARGIN,
    heights: tuple[float, float, float, float] | None = None,
) -> torch.Tensor:
    """Fraction of planted-foot transitions in which the foot hovers above its contact height.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions, metres, Y up (`J >= 12`).
        fps (`float`): frames per second.
        speed_threshold (`float`, defaults to 0.2): a foot joint slower than this (m/s) is still.
        margin (`float`, defaults to 0.02): metres above the contact height a still joint may be.
        heights (4 `float`s, *optional*): contact heights of left ankle, left toe, right ankle, right
            toe; defaults to `contact_heights()`.

    Returns:
        `torch.Tensor` of shape `(...)` in [0, 1]; NaN when no foot is ever planted or for one frame.
    """
    check_joints(joints, fps, min_joints=12)
    if joints.shape[-3] < 2:
        return _nan(joints)
    heights = joints.new_tensor(contact_heights() if heights is None else heights)  # (4,)
    feet = joints[..., list(FOOT_JOINTS), :]  # (..., T, 4, 3)
    still = (feet[..., 1:, :, :] - feet[..., :-1, :, :]).norm(dim=-1) * fps < speed_threshold  # (..., T - 1, 4)
    still = still.unflatten(-1, (2, 2))  # (..., T - 1, 2 feet, ankle / toe)
    lowest = lowest_contact_excess(feet[..., :-1, :, 1].unflatten(-1, (2, 2)), still, heights.unflatten(0, (2, 2)))
    per_foot_still = still.any(-1)  # (..., T - 1, 2): left, right
    per_foot_floating = (lowest > margin) & per_foot_still  # every still joint of the foot hovers
    planted = per_foot_still.sum(dim=(-2, -1)).to(joints.dtype)
    return per_foot_floating.sum(dim=(-2, -1)).to(joints.dtype) / planted.where(planted > 0, torch.nan)


def jerk(joints: torch.Tensor, fps: float) -> torch.Tensor:
    """Mean norm of the third time derivative of joint positions, m/s^3.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions, metres.
        fps (`float`): frames per second.

    Returns:
        `torch.Tensor` of shape `(...)`; NaN for fewer than 4 frames.
    """
    check_joints(joints, fps)
    if joints.shape[-3] < 4:
        return _nan(joints)
    third = joints.diff(n=3, dim=-3) * fps**3  # (..., T - 3, J, 3)
    return third.norm(dim=-1).mean(dim=(-2, -1))


def bone_length_drift(joints: torch.Tensor) -> torch.Tensor:
    """Largest change of any bone's length over the sequence (max - min over frames), metres.

    Args:
        joints (`torch.Tensor` of shape `(..., T, J, 3)`): joint positions in SMPL order, `J` 22 or 24.

    Returns:
        `torch.Tensor` of shape `(...)`.
    """
    check_joints(joints)
    num_joints = joints.shape[-2]
    parents = list(SMPL24.parents[1:num_joints])
    lengths = (joints[..., 1:, :] - joints[..., parents, :]).norm(dim=-1)  # (..., T, J - 1)
    return (lengths.amax(dim=-2) - lengths.amin(dim=-2)).amax(dim=-1)


def physical_metrics(motion: Motion) -> dict[str, float]:
    """All physical metrics of one `Motion`, with unit-suffixed names.

    Args:
        motion (`Motion`): the sequence; its joints and fps are used.

    Returns:
        `dict[str, float]` with keys `foot_skating_ratio`, `penetration_m`, `floating_m`, `skate_m`
        (PhysDiff, per frame), `phys_err_m`, `dart_skate_m_per_s`, `jerk_m_per_s3` and
        `bone_length_drift_m`. Metrics undefined for very short motions are NaN.
    """
    joints, fps = motion.joints, motion.fps
    values = {
        "foot_skating_ratio": foot_skating_ratio(joints, fps),
        "penetration_m": penetration(joints),
        "floating_m": floating(joints),
        "skate_m": physdiff_skate(joints),
        "phys_err_m": phys_err(joints),
        "dart_skate_m_per_s": dart_skate(joints, fps),
        "jerk_m_per_s3": jerk(joints, fps),
        "bone_length_drift_m": bone_length_drift(joints),
    }
    return {name: float(value) for name, value in values.items()}
