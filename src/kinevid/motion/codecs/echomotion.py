"""EchoMotion's parametric motion layout: 235 numbers and 51 tokens per frame.

Per frame, in this order (metres, Y up, SMPL-24 joint order):

| dims | name | content |
|---|---|---|
| 0:3 | v | root translation (`Motion.translation`) |
| 3:75 | eta | the 24 global joint positions |
| 75:219 | theta | the 24 local rotations in 6D (joint 0 = global orientation) |
| 219:225 | gamma | the global orientation's change since the previous frame, 6D |
| 225:235 | beta | SMPL shape coefficients (constant over a sequence) |

6D is the first two rows of the rotation matrix, row-major (`kinevid.body.matrix_to_rotation_6d`).

The paper lists the per-frame quantities (beta, theta, the global orientation gamma, v, eta) and
three MLP encoders over the groups position {v, eta}, rotation {theta, gamma} and shape {beta}
giving 51 tokens per frame; the consistent split is 1 + 24 position tokens of 3, 24 + 1 rotation
tokens of 6 and 1 shape token of 10. As theta already holds the global orientation (joint 0), we
read gamma as DART's `global_orient_delta`: the world-frame rotation from the previous frame's
global orientation to this one's, `R_t R_{t-1}^T`, with the identity at frame 0. It carries the
turning rate that position-only tokens lack; decoding ignores it (and eta), using theta and v.
"""

from __future__ import annotations

import torch

from ...body.kinematics import forward_kinematics
from ...body.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix
from ...body.skeleton import SMPL24, default_offsets
from ...errors import InvalidInputError
from ..motion import NUM_BETAS, Motion

NUM_JOINTS = 24
POSITION_TOKENS = 1 + NUM_JOINTS  # root translation + joints
ROTATION_TOKENS = NUM_JOINTS + 1  # local rotations + orientation change
SHAPE_TOKENS = 1
TOKENS_PER_FRAME = POSITION_TOKENS + ROTATION_TOKENS + SHAPE_TOKENS  # 51

POSITION_DIM = POSITION_TOKENS * 3  # 75
ROTATION_DIM = ROTATION_TOKENS * 6  # 150
SHAPE_DIM = SHAPE_TOKENS * NUM_BETAS  # 10
MOTION_FEATURE_DIM = POSITION_DIM + ROTATION_DIM + SHAPE_DIM  # 235

TRANSLATION_SLICE = slice(0, 3)
JOINTS_SLICE = slice(3, POSITION_DIM)
ROTATIONS_SLICE = slice(POSITION_DIM, POSITION_DIM + NUM_JOINTS * 6)
ORIENTATION_DELTA_SLICE = slice(POSITION_DIM + NUM_JOINTS * 6, POSITION_DIM + ROTATION_DIM)
BETAS_SLICE = slice(POSITION_DIM + ROTATION_DIM, MOTION_FEATURE_DIM)


def orientation_delta(global_orientation: torch.Tensor) -> torch.Tensor:
    """Change of orientation since the previous frame, `R_t R_{t-1}^T`, identity at frame 0.

    Args:
        global_orientation (`torch.Tensor` of shape `(..., T, 3, 3)`): root orientation per frame.

    Returns:
        `torch.Tensor` of shape `(..., T, 3, 3)`.
    """
    delta = torch.eye(3, dtype=global_orientation.dtype, device=global_orientation.device)
    delta = delta.expand_as(global_orientation).clone()
    delta[..., 1:, :, :] = global_orientation[..., 1:, :, :] @ global_orientation[..., :-1, :, :].transpose(-1, -2)
    return delta


def encode_echomotion(motion: Motion) -> torch.Tensor:
    """EchoMotion features of every frame of `motion`.

    Args:
        motion (`Motion`): the sequence (SMPL-24).

    Returns:
        `torch.Tensor` of shape `(T, 235)`, in the dtype of `motion`.
    """
    num_frames = motion.num_frames
    rotations_6d = matrix_to_rotation_6d(motion.rotations).reshape(num_frames, NUM_JOINTS * 6)
    delta_6d = matrix_to_rotation_6d(orientation_delta(motion.rotations[:, 0]))
    betas = motion.betas.to(motion.rotations).expand(num_frames, NUM_BETAS)
    return torch.cat(
        [
            motion.translation.to(motion.rotations),
            motion.joints.reshape(num_frames, NUM_JOINTS * 3),
            rotations_6d,
            delta_6d,
            betas,
        ],
        dim=-1,
    )


def _check_features(features: torch.Tensor, name: str = "features") -> None:
    if not isinstance(features, torch.Tensor) or features.ndim < 1 or features.shape[-1] != MOTION_FEATURE_DIM:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise InvalidInputError(f"`{name}` must have shape (..., {MOTION_FEATURE_DIM}), got {shape}.")


def decode_echomotion(features: torch.Tensor, fps: float, offsets: torch.Tensor | None = None) -> Motion:
    """`Motion` from EchoMotion features: local rotations (theta) and root translation (v).

    The joint positions (eta) and orientation change (gamma) are auxiliary and not used; betas are
    averaged over frames (a sequence has one body shape). Any 6D vector decodes (Gram-Schmidt), so
    network outputs can be passed directly.

    Args:
        features (`torch.Tensor` of shape `(T, 235)`): per-frame features (denormalised).
        fps (`float`): frames per second of the sequence.
        offsets (`torch.Tensor` of shape `(24, 3)`, *optional*): rest offsets of the body; defaults to
            `kinevid.body.default_offsets()`.

    Returns:
        `Motion` with `T` frames.
    """
    _check_features(features)
    if features.ndim != 2 or features.shape[0] < 1:
        raise InvalidInputError(
            f"`features` must have shape (T, {MOTION_FEATURE_DIM}) with T >= 1, got {tuple(features.shape)}."
        )
    if not torch.isfinite(features).all():
        raise InvalidInputError("`features` contains NaN or infinite values.")
    num_frames = features.shape[0]
    rotations = rotation_6d_to_matrix(features[:, ROTATIONS_SLICE].reshape(num_frames, NUM_JOINTS, 6))
    return Motion(
        rotations=rotations,
        translation=features[:, TRANSLATION_SLICE],
        fps=fps,
        offsets=None if offsets is None else offsets.to(features),
        betas=features[:, BETAS_SLICE].mean(dim=0),
    )


def features_to_joints(features: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Joint positions by forward kinematics of the rotation and translation channels, batched.

    Args:
        features (`torch.Tensor` of shape `(..., 235)`): EchoMotion features.
        offsets (`torch.Tensor` of shape `(24, 3)`, *optional*): rest offsets; defaults to
            `kinevid.body.default_offsets()`.

    Returns:
        `torch.Tensor` of shape `(..., 24, 3)`.
    """
    _check_features(features)
    offsets = default_offsets(dtype=features.dtype, device=features.device) if offsets is None else offsets
    rotations = rotation_6d_to_matrix(features[..., ROTATIONS_SLICE].unflatten(-1, (NUM_JOINTS, 6)))
    joints, _ = forward_kinematics(rotations, features[..., TRANSLATION_SLICE], offsets.to(features), SMPL24)
    return joints


def split_motion_tokens(features: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split features into EchoMotion's three token groups.

    Args:
        features (`torch.Tensor` of shape `(..., 235)`): any leading dimensions (batch, frames).

    Returns:
        `dict` with `"position"` `(..., 25, 3)` (root translation, then the 24 joints), `"rotation"`
        `(..., 25, 6)` (the 24 local rotations, then the orientation change) and `"shape"` `(..., 1, 10)`.
    """
    _check_features(features)
    position, rotation, shape = features.split([POSITION_DIM, ROTATION_DIM, SHAPE_DIM], dim=-1)
    return {
        "position": position.unflatten(-1, (POSITION_TOKENS, 3)),
        "rotation": rotation.unflatten(-1, (ROTATION_TOKENS, 6)),
        "shape": shape.unflatten(-1, (SHAPE_TOKENS, NUM_BETAS)),
    }


def merge_motion_tokens(tokens: dict[str, torch.Tensor]) -> torch.Tensor:
    """Inverse of `split_motion_tokens`: `(..., 25, 3)`, `(..., 25, 6)`, `(..., 1, 10)` -> `(..., 235)`."""
    expected = {"position": (POSITION_TOKENS, 3), "rotation": (ROTATION_TOKENS, 6), "shape": (SHAPE_TOKENS, NUM_BETAS)}
    missing = sorted(set(expected) - set(tokens))
    if missing:
        raise InvalidInputError(f"`tokens` lacks the group(s) {missing}; expected keys {sorted(expected)}.")
    leading = tokens["position"].shape[:-2]
    for name, tail in expected.items():
        if tuple(tokens[name].shape[-2:]) != tail or tokens[name].shape[:-2] != leading:
            raise InvalidInputError(
                f"`tokens[{name!r}]` must have shape (..., {tail[0]}, {tail[1]}) with the same leading dimensions "
                f"as `position` {tuple(leading)}, got {tuple(tokens[name].shape)}."
            )
    return torch.cat([tokens[name].flatten(-2) for name in expected], dim=-1)
