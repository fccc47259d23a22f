"""The per-frame motion features the structure model predicts, in a chunk-relative frame.

A motion primitive (a few history frames and the chunk that follows them) is expressed in the
*chunk frame*: the frame whose origin is the pelvis of the last history frame projected onto the
floor and whose +Z axis is that frame's facing direction. Features are therefore invariant to
where the person stands and which way they face, as in DART; the floor stays at y = 0.

Per-frame layout (`FEATURE_DIM` = 223 dims, in this order):

| slice | size | content |
|---|---|---|
| `PELVIS` | 3 | pelvis position in the chunk frame (metres; y is height above the floor) |
| `ROOT_ORIENT` | 6 | global orientation (joint 0) in the chunk frame, 6D |
| `BODY_POSE` | 138 | local rotations of joints 1..23, 6D each |
| `JOINTS` | 72 | the 24 joint positions in the chunk frame (auxiliary target) |
| `CONTACTS` | 4 | foot contacts (left ankle, left foot, right ankle, right foot) in {0, 1} (auxiliary) |

A motion is decoded from the rotations and the pelvis only; joints and contacts are auxiliary
targets that shape training and drive the optional contact guidance at sampling time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...body.kinematics import forward_kinematics
from ...body.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix, yaw_matrix
from ...body.skeleton import SMPL24
from ...motion.contacts import FOOT_JOINTS, lowest_contact_excess  # channel order: l ankle, l foot, r ankle, r foot
from ...motion.motion import heading_angle

NUM_JOINTS = 24
PELVIS = slice(0, 3)
ROOT_ORIENT = slice(3, 9)
BODY_POSE = slice(9, 147)
ROTATIONS = slice(3, 147)  # ROOT_ORIENT followed by BODY_POSE: all 24 joints in 6D
JOINTS = slice(147, 219)
CONTACTS = slice(219, 223)
FEATURE_DIM = 223


@dataclass
class ChunkFrame:
    """A chunk frame: world point p maps to `rotation @ (p - origin)`.

    Args:
        rotation (`torch.Tensor` of shape `(B, 3, 3)`): yaw rotation world -> chunk.
        origin (`torch.Tensor` of shape `(B, 3)`): chunk origin in world coordinates (y = 0).
    """

    rotation: torch.Tensor
    origin: torch.Tensor

    @classmethod
    def from_joints(cls, joints: torch.Tensor) -> ChunkFrame:
        """The chunk frame anchored at one pose.

        Args:
            joints (`torch.Tensor` of shape `(B, 24, 3)`): world joint positions of the anchor frame.
        """
        rotation = yaw_matrix(-heading_angle(joints))
        origin = joints[:, 0] * joints.new_tensor([1.0, 0.0, 1.0])
        return cls(rotation=rotation, origin=origin)

    def points_to_chunk(self, points: torch.Tensor) -> torch.Tensor:
        """`(B, ..., 3)` world points -> chunk frame."""
        shape = (points.shape[0],) + (1,) * (points.ndim - 2)
        origin = self.origin.reshape(*shape, 3)
        rotation = self.rotation.reshape(*shape, 3, 3)
        return ((points - origin)[..., None, :] @ rotation.transpose(-1, -2)).squeeze(-2)

    def points_to_world(self, points: torch.Tensor) -> torch.Tensor:
        """`(B, ..., 3)` chunk-frame points -> world."""
        shape = (points.shape[0],) + (1,) * (points.ndim - 2)
        rotation = self.rotation.reshape(*shape, 3, 3)
        return (points[..., None, :] @ rotation).squeeze(-2) + self.origin.reshape(*shape, 3)

    def orientation_to_chunk(self, orientation: torch.Tensor) -> torch.Tensor:
        """`(B, T, 3, 3)` world orientations -> chunk frame."""
        return self.rotation[:, None] @ orientation

    def orientation_to_world(self, orientation: torch.Tensor) -> torch.Tensor:
        """`(B, T, 3, 3)` chunk-frame orientations -> world."""
        return self.rotation[:, None].transpose(-1, -2) @ orientation


def encode_features(
    rotations: torch.Tensor,
    pelvis: torch.Tensor,
    offsets: torch.Tensor,
    frame: ChunkFrame,
    contacts: torch.Tensor | None = None,
) -> torch.Tensor:
    """World-frame motion windows -> chunk-frame features.

    Args:
        rotations (`torch.Tensor` of shape `(B, T, 24, 3, 3)`): local rotations (joint 0 global).
        pelvis (`torch.Tensor` of shape `(B, T, 3)`): world pelvis positions (`translation + offsets[0]`).
        offsets (`torch.Tensor` of shape `(B, 24, 3)`): rest offsets of each window's body.
        frame (`ChunkFrame`): the chunk frame of each window.
        contacts (`torch.Tensor` of shape `(B, T, 4)`, *optional*): foot contact labels; zeros if omitted.

    Returns:
        `torch.Tensor` of shape `(B, T, FEATURE_DIM)`.
    """
    batch_size, num_frames = pelvis.shape[:2]
    rotations = rotations.clone()
    rotations[:, :, 0] = frame.orientation_to_chunk(rotations[:, :, 0])
    pelvis = frame.points_to_chunk(pelvis)
    joints = joints_from_rotations(rotations, pelvis, offsets)
    if contacts is None:
        contacts = pelvis.new_zeros(batch_size, num_frames, len(FOOT_JOINTS))
    return torch.cat(
        [
            pelvis,
            matrix_to_rotation_6d(rotations).reshape(batch_size, num_frames, NUM_JOINTS * 6),
            joints.reshape(batch_size, num_frames, NUM_JOINTS * 3),
            contacts.to(pelvis.dtype),
        ],
        dim=-1,
    )


def decode_rotations(features: torch.Tensor) -> torch.Tensor:
    """`(B, T, FEATURE_DIM)` -> local rotations `(B, T, 24, 3, 3)` (joint 0 in the features' frame)."""
    batch_size, num_frames = features.shape[:2]
    return rotation_6d_to_matrix(features[..., ROTATIONS].reshape(batch_size, num_frames, NUM_JOINTS, 6))


def joints_from_rotations(rotations: torch.Tensor, pelvis: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Forward kinematics of windows.

    Args:
        rotations (`torch.Tensor` of shape `(B, T, 24, 3, 3)`): local rotations.
        pelvis (`torch.Tensor` of shape `(B, T, 3)`): pelvis positions.
        offsets (`torch.Tensor` of shape `(B, 24, 3)`): rest offsets per window.

    Returns:
        `torch.Tensor` of shape `(B, T, 24, 3)`.
    """
    offsets = offsets[:, None].expand(-1, pelvis.shape[1], -1, -1)
    joints, _ = forward_kinematics(rotations, pelvis - offsets[..., 0, :], offsets, SMPL24)
    return joints


def features_to_world(
    features: torch.Tensor, frame: ChunkFrame, offsets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Chunk-frame features -> world rotations, pelvis and joints by forward kinematics.

    Args:
        features (`torch.Tensor` of shape `(B, T, FEATURE_DIM)`): denormalised features.
        frame (`ChunkFrame`): the chunk frame the features are expressed in.
        offsets (`torch.Tensor` of shape `(B, 24, 3)`): the body to pose.

    Returns:
        `(rotations (B, T, 24, 3, 3), pelvis (B, T, 3), joints (B, T, 24, 3))` in world coordinates.
    """
    rotations = decode_rotations(features)
    rotations[:, :, 0] = frame.orientation_to_world(rotations[:, :, 0])
    pelvis = frame.points_to_world(features[..., PELVIS])
    return rotations, pelvis, joints_from_rotations(rotations, pelvis, offsets)


def contact_guided_pelvis(
    features: torch.Tensor,
    offsets: torch.Tensor,
    contact_heights: torch.Tensor,
    scale: float,
    num_steps: int = 2,
    slide_weight: float = 0.25,
    contact_threshold: float = 0.5,
) -> torch.Tensor:
    """Pelvis positions after `num_steps` gradient steps on the contact loss (L_cont guidance).

    The loss, with c_tk the contact labels (`features[..., CONTACTS] > contact_threshold`) and
    n_t their count at step t -> t + 1 (at least 1):

        slide_weight sum_t sum_k c_tk |foot_k(t + 1) - foot_k(t)|_xz^2 / n_t
        + sum_t relu(-min_j y_tj)^2 + sum_t relu(min_{k in contact} (y_tk - h_k))^2

    Moving the pelvis by p translates every joint by p, so forward kinematics runs once and the
    gradient is written out: the slide term's is the backward difference of
    `2 slide_weight c / n (foot step)` in x and z, the floor and hover terms' are
    `-2 relu(-lowest joint)` and `2 relu(lowest contact excess)` in y. The same steps as autograd
    through forward kinematics at every step (`tests/structure/test_contact_guidance_speed_regression.py`),
    without it.

    Args:
        features (`torch.Tensor` of shape `(B, F, FEATURE_DIM)`): denormalised clean chunk.
        offsets (`torch.Tensor` of shape `(B, 24, 3)`): the body.
        contact_heights (`torch.Tensor` of shape `(4,)`): contact height of each `FOOT_JOINTS`
            joint (`kinevid.motion.contacts.contact_heights`).
        scale (`float`): gradient step size.
        num_steps (`int`, defaults to 2): gradient steps.
        slide_weight (`float`, defaults to 0.25): weight of the slide term.
        contact_threshold (`float`, defaults to 0.5): contact channels above it count as in contact.

    Returns:
        `torch.Tensor` of shape `(B, F, 3)`: the guided pelvis, in the features' frame.
    """
    pelvis = features[..., PELVIS]
    relative = joints_from_rotations(decode_rotations(features), pelvis, offsets) - pelvis[:, :, None]  # (B, F, 24, 3)
    feet = relative[:, :, list(FOOT_JOINTS)]  # (B, F, 4, 3)
    in_contact = features[..., CONTACTS] > contact_threshold  # (B, F, 4)
    contacts = in_contact[:, :-1].to(features.dtype)  # labels of the steps t -> t + 1
    step_weights = 2.0 * slide_weight * contacts / contacts.sum(-1, keepdim=True).clamp_min(1.0)  # (B, F - 1, 4)
    foot_steps = torch.diff(feet[..., [0, 2]], dim=1)  # (B, F - 1, 4, 2) with the pelvis held still
    lowest_joint = relative[..., 1].amin(-1)  # (B, F), below the pelvis
    lowest_contact = lowest_contact_excess(feet[..., 1], in_contact, contact_heights)  # (B, F), +inf: none
    for _ in range(num_steps):
        steps = foot_steps + torch.diff(pelvis[..., [0, 2]], dim=1)[:, :, None]
        step_gradient = (step_weights[..., None] * steps).sum(-2)  # (B, F - 1, 2): d loss / d step
        gradient_xz = F.pad(step_gradient, (0, 0, 1, 0)) - F.pad(step_gradient, (0, 0, 0, 1))  # (B, F, 2)
        height = pelvis[..., 1]
        hover = torch.relu(lowest_contact + height).nan_to_num(posinf=0.0)
        gradient_y = 2.0 * hover - 2.0 * torch.relu(-(lowest_joint + height))
        gradient = torch.stack([gradient_xz[..., 0], gradient_y, gradient_xz[..., 1]], dim=-1)
        pelvis = pelvis - scale * gradient
    return pelvis
