"""Per-frame motion features the text-motion evaluator reads: a HumanML3D-like layout computed
from SMPL-24 joint positions alone, so real mocap and generated motions are measured the same way
whatever their rotation parameterisation.

Each frame `t` (of `T - 1`) is described in its own heading frame (the body's facing direction,
yaw only, as `kinevid.motion.motion.heading_angle` defines it), which makes the features invariant
to where the motion starts and which way it faces:

| slice | size | meaning |
|---|---|---|
| `[0]` | 1 | root yaw velocity (rad/s, wrapped to (-pi, pi] per frame) |
| `[1:3]` | 2 | root XZ velocity in the heading frame (m/s) |
| `[3]` | 1 | root height (m) |
| `[4:73]` | 69 | joints 1..23 relative to the root in the heading frame; Y is the absolute height |
| `[73:145]` | 72 | velocities of all 24 joints in the heading frame (m/s) |

Velocities are scaled by fps so that the same movement gives the same numbers at any frame rate.
"""

from __future__ import annotations

import math

import torch

from ..body.rotations import yaw_matrix
from ..errors import InvalidInputError
from ..motion.motion import heading_angle

NUM_JOINTS = 24
MOTION_FEATURE_DIM = 1 + 2 + 1 + (NUM_JOINTS - 1) * 3 + NUM_JOINTS * 3  # 145


def joint_motion_features(joints: torch.Tensor, fps: float) -> torch.Tensor:
    """Heading-invariant per-frame features of a joint sequence (layout in the module docstring).

    Args:
        joints (`torch.Tensor` of shape `(T, 24, 3)`): global SMPL-24 joint positions in metres,
            Y up, T >= 2.
        fps (`float`): frames per second of `joints`.

    Returns:
        `torch.Tensor` of shape `(T - 1, 145)`: one row per frame pair (t, t + 1).
    """
    if not isinstance(joints, torch.Tensor) or joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        shape = tuple(joints.shape) if isinstance(joints, torch.Tensor) else type(joints).__name__
        raise InvalidInputError(f"`joints` must be a tensor of shape (T, 24, 3), got {shape}.")
    if joints.shape[0] < 2:
        raise InvalidInputError(f"`joints` needs at least 2 frames to compute velocities, got {joints.shape[0]}.")
    if not torch.isfinite(joints).all():
        raise InvalidInputError("`joints` contains NaN or infinite values.")
    if not (fps > 0 and math.isfinite(fps)):
        raise InvalidInputError(f"`fps` must be a positive number, got {fps}.")

    heading = heading_angle(joints)  # (T,)
    to_heading = yaw_matrix(-heading[:-1])  # (T-1, 3, 3): world -> heading frame of frame t
    root = joints[:, 0]  # (T, 3)

    yaw_step = heading[1:] - heading[:-1]
    yaw_velocity = torch.atan2(torch.sin(yaw_step), torch.cos(yaw_step)) * fps  # (T-1,)

    root_velocity = (root[1:] - root[:-1]) * fps  # (T-1, 3)
    root_velocity = (to_heading @ root_velocity[..., None]).squeeze(-1)[:, [0, 2]]  # (T-1, 2)

    relative = joints[:-1, 1:] - root[:-1, None] * root.new_tensor([1.0, 0.0, 1.0])  # (T-1, 23, 3), Y absolute
    relative = relative @ to_heading.transpose(-1, -2)

    velocity = (joints[1:] - joints[:-1]) * fps  # (T-1, 24, 3)
    velocity = velocity @ to_heading.transpose(-1, -2)

    num_pairs = joints.shape[0] - 1
    return torch.cat(
        [
            yaw_velocity[:, None],
            root_velocity,
            root[:-1, 1:2],
            relative.reshape(num_pairs, -1),
            velocity.reshape(num_pairs, -1),
        ],
        dim=-1,
    )


def mirror_joint_motion_features(features: torch.Tensor, mirror_indices: list[int]) -> torch.Tensor:
    """Features of the left/right mirrored motion (reflection x -> -x), computed from the features.

    Reflection flips the sign of X components and of the yaw velocity, and swaps left/right joints.

    Args:
        features (`torch.Tensor` of shape `(..., 145)`): output of `joint_motion_features`.
        mirror_indices (`list[int]`): for each of the 24 joints, its left/right counterpart
            (`SMPL24.mirror_indices`).

    Returns:
        `torch.Tensor` of shape `(..., 145)`.
    """
    leading = features.shape[:-1]
    flip = features.new_tensor([-1.0, 1.0, 1.0])
    yaw_velocity = -features[..., 0:1]
    root_velocity = features[..., 1:3] * features.new_tensor([-1.0, 1.0])
    root_height = features[..., 3:4]
    relative = features[..., 4:73].reshape(*leading, NUM_JOINTS - 1, 3)
    relative = torch.cat([relative.new_zeros(*leading, 1, 3), relative], dim=-2)[..., mirror_indices, :][..., 1:, :]
    velocity = features[..., 73:145].reshape(*leading, NUM_JOINTS, 3)[..., mirror_indices, :]
    return torch.cat(
        [
            yaw_velocity,
            root_velocity,
            root_height,
            (relative * flip).reshape(*leading, -1),
            (velocity * flip).reshape(*leading, -1),
        ],
        dim=-1,
    )


def pad_feature_sequences(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length feature sequences with zero padding.

    Args:
        sequences (list of `torch.Tensor` of shape `(T_i, F)`): at least one, T_i >= 1.

    Returns:
        `(features, frame_mask)`: `(B, max T_i, F)` zero-padded and `(B, max T_i)` bool, True on real frames.
    """
    if not sequences:
        raise InvalidInputError("`sequences` must hold at least one feature sequence.")
    lengths = torch.tensor([len(s) for s in sequences])
    features = torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True)
    frame_mask = torch.arange(features.shape[1])[None, :] < lengths[:, None]
    return features, frame_mask
