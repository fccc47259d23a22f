"""HumanML3D's 263-dim frame feature (Guo et al. 2022), encode and decode.

Layout per frame t (20 fps, SMPL joints 0..21, Y up, metres):

| dims | content |
|---|---|
| 0 | root rotation velocity: half the heading change from t to t + 1, about +Y (radians) |
| 1:3 | root XZ displacement from t to t + 1 in the heading frame of t + 1 (metres per frame) |
| 3 | root height at t |
| 4:67 | joints 1..21 at t relative to the root's XZ, in the heading frame of t (21 x 3) |
| 67:193 | rotations of joints 1..21 in 6D, two matrix COLUMNS (21 x 6), see below |
| 193:259 | displacement of all 22 joints from t to t + 1 in the heading frame of t (22 x 3) |
| 259:263 | foot contacts of joints 7, 10 (left) and 8, 11 (right), `kinevid.motion.contacts` |

A clip of T frames gives T - 1 rows. `encode_humanml3d` encodes a `Motion`; `encode_humanml3d_joints`
encodes joint positions alone (its rotation channels are HumanML3D's own swing-only IK of the
positions, so all 263 numbers are HumanML3D's). Decoding (`decode_humanml3d_joints`, which also
takes numpy arrays) uses dims 0:67 and
returns one joint frame per row, as HumanML3D's `recover_from_ric`: a_0 = 0,
a_t = sum_{s<t} f[s, 0]; the heading-to-world rotation of frame t is the rotation by -2 a_t about
+Y; root XZ is the running sum of the rotated displacements, root height is f[t, 3], joints 1..21
are the rotated f[t, 4:67] plus the root XZ.

What we reproduce from HumanML3D's own code (`motion_representation.py`, `common/skeleton.py`):

- The heading of frame t is the direction `cross(+Y, across)` with `across = (joint 1 - joint 2) +
  (joint 17 - joint 16)`, Gaussian-smoothed over time (sigma 20 frames, edge mode "nearest").
  The hip term has the sign swapped relative to the shoulder term: HumanML3D's
  `inverse_kinematics_np` unpacks its face-joint list in the wrong order (EricGuo5513/HumanML3D
  issues #55, #107, #112, #131; kept there because all released data use it). We keep it, so
  features match the released data and the models trained on them.
- The root rotation of frame t is the yaw taking that heading to +Z (world to heading frame).
- 6D rotations are the first two matrix columns (`quaternion_to_cont6d`), not rows as in the rest
  of kinevid.
- Contacts: squared per-frame 3D displacement below 0.002 m^2; the height test in `foot_detect`
  is commented out, so none is applied.

Where we depart, and why:

- Skeleton: HumanML3D first retargets every clip onto one reference body (`uniform_skeleton`,
  built from SMPL model files we cannot ship). Clips keep their own body unless `offsets` is
  given to `encode_humanml3d`, which then retargets the same way (`retarget_to_body`).

- Turning to face +Z (`first_frame`): by default exactly HumanML3D's. Its `process_file` turns
  each clip by the *instantaneous* heading of frame 0 (hips and shoulders with the same sign,
  unlike the IK), and its `inverse_kinematics_np` then sets frame 0's root rotation to the
  identity (`root_quat[0] = [1, 0, 0, 0]`) while frames 1.. use the smoothed heading. Frame 0's
  positions, velocities and rotation channels are therefore in the turned world frame, dim 0 of
  frame 0 is half the whole smoothed heading of frame 1, and `new_joints` (its decoded joints) are
  the turned clip itself, which `humanml3d_joints` returns. `first_frame="smoothed"` is kinevid's
  earlier convention: turn by the smoothed heading of frame 0 and use it as frame 0's root
  rotation, so that every frame, the first included, is measured in its smoothed heading frame
  (on a released clip the two canonical frames differ by 11.6 degrees of yaw).
- Dim 0 is half the heading change wrapped to (-pi, pi]. HumanML3D takes arcsin of the
  quaternion's y without fixing its sign, which flips the sign of dim 0 on the frame where the
  heading crosses +-180 degrees; elsewhere the values are identical.
- Rotation channels 67:193 (`encode_humanml3d` only): HumanML3D fills them from its own
  swing-only IK on a fixed skeleton (as `encode_humanml3d_joints` does). From a `Motion` we fill
  them from its rotations, in HumanML3D's meaning: slot j holds
  the rotation of the bone ending at joint j relative to the previous bone of its kinematic chain
  (the chain's first bone relative to the root rotation), such that the rotated HumanML3D rest
  direction of the bone (`t2m_raw_offsets`) points along the bone. HumanML3D's
  `recover_from_rot` therefore rebuilds our joints from them (given our bone lengths). Unlike
  HumanML3D's they carry the twist about each bone from our rotations, so the values differ
  from HumanML3D's for the same pose even though the joints agree. Decoding ignores them.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from ...body.kinematics import forward_kinematics
from ...body.rotations import rotation_between, yaw_matrix
from ...body.skeleton import SMPL24, default_offsets
from ...errors import InvalidInputError
from ..contacts import HUMANML3D_FPS, foot_contact_transitions
from ..motion import Motion, fit_offsets

NUM_JOINTS = 22
HUMANML3D_FEATURE_DIM = 263
HEADING_SMOOTHING_SIGMA = 20.0  # frames at 20 fps
FIRST_FRAME_CONVENTIONS = ("humanml3d", "smoothed")

ROOT_ROTATION_VELOCITY = slice(0, 1)
ROOT_LINEAR_VELOCITY = slice(1, 3)
ROOT_HEIGHT = slice(3, 4)
RELATIVE_POSITIONS = slice(4, 4 + (NUM_JOINTS - 1) * 3)  # 4:67
ROTATIONS = slice(67, 67 + (NUM_JOINTS - 1) * 6)  # 67:193
VELOCITIES = slice(193, 193 + NUM_JOINTS * 3)  # 193:259
FOOT_CONTACTS = slice(259, 263)

# HumanML3D's rest direction of the bone ending at each joint (`paramUtil.t2m_raw_offsets`) and its
# kinematic chains (`t2m_kinematic_chain`); each chain's first bone is measured from the root rotation.
T2M_RAW_DIRECTIONS = (
    (0, 0, 0), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, -1, 0), (0, 1, 0), (0, -1, 0),
    (0, -1, 0), (0, 1, 0), (0, 0, 1), (0, 0, 1), (0, 1, 0), (1, 0, 0), (-1, 0, 0), (0, 0, 1),
    (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0),
)  # fmt: skip
T2M_KINEMATIC_CHAINS = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)


def _wrap_angle(angle: torch.Tensor) -> torch.Tensor:
    """Angles to (-pi, pi]."""
    return torch.atan2(torch.sin(angle), torch.cos(angle))


def _forward_angle(across: torch.Tensor, sigma: float) -> torch.Tensor:
    """Heading angle (radians about +Y, 0 facing +Z) of the direction `+Y x across` `(T, 3)`,
    Gaussian-smoothed over frames first when `sigma` > 0 (edge mode "nearest", as HumanML3D)."""
    across = torch.nn.functional.normalize(across, dim=-1)
    forward = torch.stack([across[:, 2], torch.zeros_like(across[:, 0]), -across[:, 0]], dim=-1)  # +Y x across
    if sigma > 0:
        smoothed = gaussian_filter1d(forward.detach().cpu().double().numpy(), sigma, axis=0, mode="nearest")
        forward = torch.from_numpy(np.ascontiguousarray(smoothed)).to(across)
    return torch.atan2(forward[:, 0], forward[:, 2])


def _smoothed_heading(joints: torch.Tensor, sigma: float) -> torch.Tensor:
    """HumanML3D's IK heading per frame: `(T, J, 3)` -> `(T,)` (hip term sign swapped, see the module docstring)."""
    return _forward_angle((joints[:, 1] - joints[:, 2]) + (joints[:, 17] - joints[:, 16]), sigma)


def _initial_heading(joints: torch.Tensor) -> torch.Tensor:
    """The instantaneous heading of frame 0 HumanML3D's `process_file` turns by (hips and shoulders
    with the same sign): `(T, J, 3)` -> `()`."""
    return _forward_angle((joints[:1, 2] - joints[:1, 1]) + (joints[:1, 17] - joints[:1, 16]), 0.0)[0]


def _check_first_frame(first_frame: str) -> None:
    if first_frame not in FIRST_FRAME_CONVENTIONS:
        raise InvalidInputError(f"`first_frame` must be one of {FIRST_FRAME_CONVENTIONS}, got {first_frame!r}.")


def _canonical_frame(
    joints: torch.Tensor, sigma: float, first_frame: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Floor, move frame 0's root to the origin (x, z) and turn to face +Z (see the module docstring).

    Args:
        joints (`torch.Tensor` of shape `(T, J, 3)`): SMPL-order joints at 20 fps (`J >= 22`).

    Returns:
        `(joints, turn, heading)`: `(T, J, 3)` canonical joints, the `(3, 3)` yaw applied, and the
        `(T,)` root heading of each frame in the canonical frame (its root rotation is `yaw(-heading)`).
    """
    floor = joints[:, :NUM_JOINTS, 1].amin()
    joints = joints + torch.stack([-joints[0, 0, 0], -floor, -joints[0, 0, 2]])
    if first_frame == "humanml3d":
        turn = yaw_matrix(-_initial_heading(joints))
        joints = joints @ turn.transpose(-1, -2)
        heading = _smoothed_heading(joints, sigma)
        heading[0] = 0.0  # HumanML3D's `root_quat[0] = identity`
    else:
        smoothed = _smoothed_heading(joints, sigma)
        turn = yaw_matrix(-smoothed[0])
        joints = joints @ turn.transpose(-1, -2)
        heading = _wrap_angle(smoothed - smoothed[0])
    return joints, turn, heading


def retarget_to_body(motion: Motion, offsets: torch.Tensor) -> Motion:
    """The same rotations on another body, as HumanML3D's `uniform_skeleton`.

    The root translation is scaled by the ratio of leg lengths (thigh + shin of the right leg),
    so that stride matches the new legs.

    Args:
        motion (`Motion`): the source motion.
        offsets (`torch.Tensor` of shape `(24, 3)`): rest offsets of the target body, in the same
            rest pose convention (T-pose facing +Z).

    Returns:
        `Motion` with `offsets` and scaled root translation.
    """
    if not isinstance(offsets, torch.Tensor) or tuple(offsets.shape) != (24, 3):
        shape = tuple(offsets.shape) if isinstance(offsets, torch.Tensor) else type(offsets).__name__
        raise InvalidInputError(f"`offsets` must have shape (24, 3), got {shape}.")
    offsets = offsets.to(motion.rotations)

    def leg_length(body: torch.Tensor) -> torch.Tensor:
        return body[5].norm() + body[8].norm()  # right thigh + right shin

    scale = leg_length(offsets) / leg_length(motion.offsets.to(offsets))
    pelvis = motion.translation + motion.offsets[0]
    return Motion(motion.rotations, pelvis * scale - offsets[0], motion.fps, offsets=offsets, betas=motion.betas)


def _canonical_pose(
    motion: Motion, sigma: float, offsets: torch.Tensor | None = None, first_frame: str = "humanml3d"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Retarget (if `offsets`), resample to 20 fps, floor, move to the origin and turn to face +Z.

    Returns:
        `(joints, orientations, heading)`: `(T, 24, 3)` positions, `(T, 24, 3, 3)` global joint
        orientations and `(T,)` heading angles, all after the turn.
    """
    _check_first_frame(first_frame)
    if offsets is not None:
        motion = retarget_to_body(motion, offsets)
    if motion.fps != HUMANML3D_FPS:
        motion = motion.resample(HUMANML3D_FPS)
    joints, orientations = forward_kinematics(motion.rotations, motion.translation, motion.offsets, motion.skeleton)
    joints, turn, heading = _canonical_frame(joints, sigma, first_frame)
    return joints, turn @ orientations, heading


def humanml3d_joints(
    motion: Motion,
    heading_smoothing: float = HEADING_SMOOTHING_SIGMA,
    offsets: torch.Tensor | None = None,
    first_frame: str = "humanml3d",
) -> torch.Tensor:
    """The joints the HumanML3D features of `motion` describe: 20 fps, floored, at the origin, facing +Z.

    `decode_humanml3d_joints(encode_humanml3d(motion))` returns these without the last frame; with
    the default `first_frame` they are HumanML3D's `new_joints` for the same positions.

    Args:
        motion (`Motion`): any frame rate.
        heading_smoothing (`float`, defaults to 20): Gaussian sigma (frames) of the heading.
        offsets (`torch.Tensor` of shape `(24, 3)`, *optional*): see `encode_humanml3d`.
        first_frame (`str`, defaults to `"humanml3d"`): see `encode_humanml3d`.

    Returns:
        `torch.Tensor` of shape `(T, 22, 3)`, `T` the frame count at 20 fps.
    """
    return _canonical_pose(motion, heading_smoothing, offsets, first_frame)[0][:, :NUM_JOINTS]


def _rotation_channels(orientations: torch.Tensor, heading: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """HumanML3D-style bone rotations of joints 1..21 in column 6D: `(T, 21, 6)`."""
    raw = torch.tensor(T2M_RAW_DIRECTIONS, dtype=orientations.dtype, device=orientations.device)
    # Rotation taking HumanML3D's rest direction of each bone onto our rest offset of that bone.
    rest_alignment = rotation_between(raw[1:], offsets[1:NUM_JOINTS].to(orientations))  # (21, 3, 3)
    root_rotation = yaw_matrix(-heading)  # world -> heading frame, HumanML3D's root rotation
    channels = orientations.new_zeros(orientations.shape[0], NUM_JOINTS - 1, 3, 3)
    for chain in T2M_KINEMATIC_CHAINS:
        previous = root_rotation
        for joint in chain[1:]:
            bone = orientations[:, SMPL24.parents[joint]] @ rest_alignment[joint - 1]  # bone's global rotation
            channels[:, joint - 1] = previous.transpose(-1, -2) @ bone
            previous = bone
    return torch.cat([channels[..., :, 0], channels[..., :, 1]], dim=-1)


def _swing_rotation_channels(joints: torch.Tensor, heading: torch.Tensor) -> torch.Tensor:
    """HumanML3D's own rotation channels from positions (`inverse_kinematics_np`): along each chain,
    the smallest rotation taking the rest direction onto the bone, relative to the previous one
    (the chain's first bone relative to the root rotation); column 6D `(T, 21, 6)`."""
    raw = torch.tensor(T2M_RAW_DIRECTIONS, dtype=joints.dtype, device=joints.device)
    channels = joints.new_zeros(joints.shape[0], NUM_JOINTS - 1, 3, 3)
    for chain in T2M_KINEMATIC_CHAINS:
        previous = yaw_matrix(-heading)
        for parent, joint in itertools.pairwise(chain):
            swing = rotation_between(raw[joint].expand_as(joints[:, joint]), joints[:, joint] - joints[:, parent])
            channels[:, joint - 1] = previous.transpose(-1, -2) @ swing
            previous = swing
    return torch.cat([channels[..., :, 0], channels[..., :, 1]], dim=-1)


def _features(joints: torch.Tensor, heading: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """The 263 channels from canonical joints `(T, 22, 3)`, root headings `(T,)` and rotation channels
    `(T, 21, 6)`: `(T - 1, 263)`."""
    num_frames = joints.shape[0]
    to_heading = yaw_matrix(-heading)  # (T, 3, 3), the root rotation: world -> heading frame
    root = joints[:, 0]
    rotation_velocity = -_wrap_angle(heading[1:] - heading[:-1]) / 2
    root_step = ((to_heading[1:] @ (root[1:] - root[:-1])[..., None]).squeeze(-1))[:, [0, 2]]
    relative = joints[:, 1:] - torch.stack([root[:, 0], torch.zeros_like(root[:, 0]), root[:, 2]], dim=-1)[:, None]
    relative = relative @ to_heading.transpose(-1, -2)  # row vectors turned into each frame's heading frame
    velocities = (joints[1:] - joints[:-1]) @ to_heading[:-1].transpose(-1, -2)
    contacts = foot_contact_transitions(joints, HUMANML3D_FPS).to(joints.dtype)
    return torch.cat(
        [
            rotation_velocity[:, None],
            root_step,
            root[:-1, 1:2],
            relative[:-1].reshape(num_frames - 1, -1),
            rotations[:-1].reshape(num_frames - 1, -1),
            velocities.reshape(num_frames - 1, -1),
            contacts,
        ],
        dim=-1,
    )


def encode_humanml3d(
    motion: Motion,
    heading_smoothing: float = HEADING_SMOOTHING_SIGMA,
    offsets: torch.Tensor | None = None,
    first_frame: str = "humanml3d",
) -> torch.Tensor:
    """HumanML3D features of `motion` (resampled to 20 fps, joints 0..21).

    Args:
        motion (`Motion`): any frame rate; at least two frames at 20 fps are needed.
        heading_smoothing (`float`, defaults to 20): Gaussian sigma (frames) of the heading, as
            HumanML3D; 0 uses each frame's own heading.
        offsets (`torch.Tensor` of shape `(24, 3)`, *optional*): a body to retarget onto first, as
            HumanML3D retargets every clip onto one reference skeleton (`retarget_to_body`); by
            default the motion keeps its own body. HumanML3D's reference body comes from SMPL model
            files and is not shipped; pass it (or any common body) for features comparable across
            subjects.
        first_frame (`str`, defaults to `"humanml3d"`): `"humanml3d"` turns by frame 0's
            instantaneous heading and gives frame 0 the identity root rotation, exactly as HumanML3D;
            `"smoothed"` is kinevid's earlier convention (see the module docstring).

    Returns:
        `torch.Tensor` of shape `(T - 1, 263)`, `T` the frame count at 20 fps, in the dtype of `motion`.
    """
    joints, orientations, heading = _canonical_pose(motion, heading_smoothing, offsets, first_frame)
    if joints.shape[0] < 2:
        raise InvalidInputError(
            "HumanML3D features need at least 2 frames at 20 fps; "
            f"the motion has {motion.num_frames} at {motion.fps} fps."
        )
    rotations = _rotation_channels(orientations, heading, motion.offsets if offsets is None else offsets)
    return _features(joints[:, :NUM_JOINTS], heading, rotations)


def encode_humanml3d_joints(
    joints: torch.Tensor | np.ndarray,
    heading_smoothing: float = HEADING_SMOOTHING_SIGMA,
    first_frame: str = "humanml3d",
) -> torch.Tensor | np.ndarray:
    """HumanML3D features of joint positions alone (no rotations needed), as HumanML3D computes them.

    The rotation channels are HumanML3D's swing-only IK of the positions, so every channel is
    HumanML3D's for the same joints (retargeting onto its reference body, `uniform_skeleton`, is
    not done: pass joints of that body for its released statistics).

    Args:
        joints (`torch.Tensor` or `np.ndarray` of shape `(T, 22, 3)`): SMPL joints 0..21, metres, Y up,
            20 fps, T >= 2.
        heading_smoothing (`float`, defaults to 20), first_frame (`str`, defaults to `"humanml3d"`):
            as for `encode_humanml3d`.

    Returns:
        `(T - 1, 263)` features, a numpy array for numpy input.
    """
    _check_first_frame(first_frame)
    tensor = _as_tensor("joints", joints)
    if tensor.ndim != 3 or tuple(tensor.shape[1:]) != (NUM_JOINTS, 3) or tensor.shape[0] < 2:
        raise InvalidInputError(f"`joints` must have shape (T, 22, 3) with T >= 2 (20 fps), got {tuple(tensor.shape)}.")
    if not torch.isfinite(tensor).all():
        raise InvalidInputError("`joints` contain NaN or infinite values.")
    canonical, _, heading = _canonical_frame(tensor, heading_smoothing, first_frame)
    features = _features(canonical, heading, _swing_rotation_channels(canonical, heading))
    return features.numpy() if isinstance(joints, np.ndarray) else features


def _as_tensor(name: str, value: torch.Tensor | np.ndarray) -> torch.Tensor:
    """`value` as a floating tensor; numpy arrays are accepted, other types are refused by name."""
    if isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.number):
            raise InvalidInputError(f"`{name}` must be a numeric array, got dtype {value.dtype}.")
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise InvalidInputError(f"`{name}` must be a torch.Tensor or numpy.ndarray, got {type(value).__name__}.")
    return value if value.is_floating_point() else value.double()


def _check_features(features: torch.Tensor | np.ndarray) -> torch.Tensor:
    features = _as_tensor("features", features)
    if features.ndim < 2 or features.shape[-1] != HUMANML3D_FEATURE_DIM:
        raise InvalidInputError(f"HumanML3D `features` must have shape (..., T, 263), got {tuple(features.shape)}.")
    if not torch.isfinite(features).all():
        raise InvalidInputError("HumanML3D `features` contain NaN or infinite values.")
    return features


def decode_humanml3d_joints(features: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Joint positions from the first 67 dims, as HumanML3D's `recover_from_ric`.

    Args:
        features (`torch.Tensor` or `np.ndarray` of shape `(..., T, 263)`): denormalised HumanML3D
            features (e.g. a released `new_joint_vecs/*.npy` loaded with numpy).

    Returns:
        `(..., T, 22, 3)`: joints 0..21, metres, frame 0 facing +Z; a numpy array for numpy input.
    """
    joints = _decode_joints(_check_features(features))
    return joints.numpy() if isinstance(features, np.ndarray) else joints


def _decode_joints(features: torch.Tensor) -> torch.Tensor:
    half_angle = torch.zeros_like(features[..., 0])
    half_angle[..., 1:] = features[..., :-1, 0].cumsum(dim=-1)
    to_world = yaw_matrix(-2 * half_angle)  # (..., T, 3, 3): heading frame -> world
    step = torch.zeros_like(features[..., :3])
    step[..., 1:, 0] = features[..., :-1, 1]
    step[..., 1:, 2] = features[..., :-1, 2]
    root = (to_world @ step[..., None]).squeeze(-1).cumsum(dim=-2)
    root[..., 1] = features[..., 3]
    relative = features[..., RELATIVE_POSITIONS].unflatten(-1, (NUM_JOINTS - 1, 3))
    others = relative @ to_world.transpose(-1, -2)
    others = others + torch.stack([root[..., 0], torch.zeros_like(root[..., 0]), root[..., 2]], dim=-1)[..., None, :]
    return torch.cat([root[..., None, :], others], dim=-2)


def decode_humanml3d(features: torch.Tensor | np.ndarray, offsets: torch.Tensor | None = None) -> Motion:
    """`Motion` at 20 fps from HumanML3D features, by inverse kinematics of the decoded joints.

    HumanML3D has no hand joints (22, 23): they continue each forearm by the hand length of
    `offsets` (or of the default body), so the wrists keep their parent's orientation.

    Args:
        features (`torch.Tensor` or `np.ndarray` of shape `(T, 263)`): denormalised features of one clip.
        offsets (`torch.Tensor` of shape `(24, 3)`, *optional*): the body to fit; by default measured
            from the decoded joints (exact for joints of a rigid body, such as encoded motions).

    Returns:
        `Motion` with `T` frames at 20 fps.
    """
    features = _check_features(features)
    if features.ndim != 2:
        raise InvalidInputError(f"`features` must have shape (T, 263) for one clip, got {tuple(features.shape)}.")
    joints = _decode_joints(features)
    hand_source = default_offsets(dtype=joints.dtype, device=joints.device) if offsets is None else offsets.to(joints)
    hands = []
    for wrist, elbow, hand in ((20, 18, 22), (21, 19, 23)):
        forearm = torch.nn.functional.normalize(joints[:, wrist] - joints[:, elbow], dim=-1)
        hands.append(joints[:, wrist] + forearm * hand_source[hand].norm())
    joints = torch.cat([joints, torch.stack(hands, dim=1)], dim=1)
    offsets = fit_offsets(joints) if offsets is None else offsets.to(joints)
    return Motion.from_joints(joints, fps=HUMANML3D_FPS, offsets=offsets)
