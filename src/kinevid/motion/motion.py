"""`Motion`: one human motion sequence on the SMPL-24 skeleton."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import roma
import torch

from ..body.kinematics import forward_kinematics, inverse_kinematics
from ..body.rotations import yaw_matrix
from ..body.skeleton import SMPL24, Skeleton, default_offsets
from ..errors import InvalidInputError

NUM_BETAS = 10
BONE_LENGTH_TOLERANCE = 1e-3  # metres; bone lengths may drift this much over a sequence

# The file formats (`kinevid.motion.io`) depend on this type, not the other way round: on import
# they install their reader and writer here (`kinevid.motion` imports them, and importing this
# module imports that package first), and `Motion.load` / `Motion.save` call them.
_FILE_IO: dict[str, Callable] = {}


def register_file_io(load: Callable[..., Motion], save: Callable[[Motion, str | os.PathLike[str]], None]) -> None:
    """Install the functions behind `Motion.load` (`load(path, **options)`) and `Motion.save` (`save(motion, path)`)."""
    _FILE_IO["load"], _FILE_IO["save"] = load, save


@dataclass
class Motion:
    """A motion sequence: SMPL-24 local rotations, root translation and the body's rest offsets.

    Joint positions are derived by forward kinematics (`joints`) and cached.

    Args:
        rotations (`torch.Tensor` of shape `(T, 24, 3, 3)`): local joint rotations; joint 0's is the
            global orientation.
        translation (`torch.Tensor` of shape `(T, 3)`): root translation in metres (the pelvis sits
            at `translation + offsets[0]`).
        fps (`float`): frames per second.
        offsets (`torch.Tensor` of shape `(24, 3)`, *optional*): rest offsets in metres, T-pose facing
            +Z; defaults to `kinevid.body.default_offsets()`.
        betas (`torch.Tensor` of shape `(10,)`, *optional*): SMPL shape coefficients, kept for
            exchange with SMPL tools (zeros when unknown; the body is given by `offsets`).
    """

    rotations: torch.Tensor
    translation: torch.Tensor
    fps: float
    offsets: torch.Tensor | None = None
    betas: torch.Tensor | None = None
    skeleton: Skeleton = SMPL24
    _joints: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        dtype = self.rotations.dtype if self.rotations.is_floating_point() else torch.float32
        device = self.rotations.device
        if self.offsets is None:
            self.offsets = default_offsets(dtype=dtype, device=device)
        if self.betas is None:
            self.betas = torch.zeros(NUM_BETAS, dtype=dtype, device=device)
        self.fps = float(self.fps)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_joints(
        cls,
        joints: torch.Tensor,
        fps: float,
        offsets: torch.Tensor | None = None,
        joint_weights: dict[str, float] | None = None,
    ) -> Motion:
        """Motion from SMPL-24 joint positions by inverse kinematics.

        Args:
            joints (`torch.Tensor` of shape `(T, 24, 3)`): global joint positions, metres.
            fps (`float`): frames per second.
            offsets (`torch.Tensor` of shape `(24, 3)`, *optional*): the body to fit; defaults to
                bone lengths measured from `joints` along the default T-pose directions.
            joint_weights (`dict[str, float]`, *optional*): see `inverse_kinematics`.
        """
        _check_shape("joints", joints, (None, 24, 3))
        _check_finite("joints", joints)
        if offsets is None:
            offsets = offsets_from_joints(joints)
        rotations, translation = inverse_kinematics(joints, offsets, SMPL24, joint_weights=joint_weights)
        return cls(rotations=rotations, translation=translation, fps=fps, offsets=offsets.to(joints))

    @classmethod
    def rest(cls, num_frames: int = 1, fps: float = 30.0, offsets: torch.Tensor | None = None) -> Motion:
        """The T-pose held for `num_frames` frames, feet on the floor."""
        offsets = default_offsets() if offsets is None else offsets
        rotations = torch.eye(3, dtype=offsets.dtype).expand(num_frames, 24, 3, 3).clone()
        motion = cls(rotations, offsets.new_zeros(num_frames, 3), fps, offsets=offsets)
        return motion.canonicalize()

    @classmethod
    def load(cls, path: str | os.PathLike[str], **options) -> Motion:
        """Read a motion from `.npz` (AMASS/SMPL layout), `.bvh` or `.amc` (+ `.asf`); see
        `kinevid.motion.io.load_motion` for the `options` (`skeleton`, `joint_map`, `scale`, `fps`)."""
        return _FILE_IO["load"](path, **options)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to `.npz` or `.bvh` atomically; see `kinevid.motion.io.save_motion`."""
        _FILE_IO["save"](self, path)

    # ------------------------------------------------------------------ properties
    @property
    def num_frames(self) -> int:
        return self.rotations.shape[0]

    def __len__(self) -> int:
        return self.num_frames

    @property
    def duration(self) -> float:
        """Length in seconds, `num_frames / fps`."""
        return self.num_frames / self.fps

    @property
    def dtype(self) -> torch.dtype:
        return self.rotations.dtype

    @property
    def device(self) -> torch.device:
        return self.rotations.device

    @property
    def joints(self) -> torch.Tensor:
        """Global joint positions `(T, 24, 3)` in metres (forward kinematics, cached)."""
        if self._joints is None:
            self._joints, _ = forward_kinematics(self.rotations, self.translation, self.offsets, self.skeleton)
        return self._joints

    def global_orientations(self) -> torch.Tensor:
        """Global joint orientations `(T, 24, 3, 3)`."""
        return forward_kinematics(self.rotations, self.translation, self.offsets, self.skeleton)[1]

    # ------------------------------------------------------------------ transforms
    def _with(self, **changes) -> Motion:
        return replace(self, **changes)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Motion:
        """Copy on `device` and/or in floating `dtype`."""

        def move(x: torch.Tensor) -> torch.Tensor:
            return x.to(device=device, dtype=dtype)

        return self._with(
            rotations=move(self.rotations), translation=move(self.translation),
            offsets=move(self.offsets), betas=move(self.betas),
        )  # fmt: skip

    def slice(self, start: int, stop: int | None = None) -> Motion:
        """Frames `start:stop` (Python slice semantics, no step)."""
        frames = slice(start, stop)
        if len(range(*frames.indices(self.num_frames))) == 0:
            raise InvalidInputError(f"`slice({start}, {stop})` of a {self.num_frames}-frame motion is empty.")
        return self._with(rotations=self.rotations[frames], translation=self.translation[frames])

    def resample(self, fps: float) -> Motion:
        """Resample to `fps` by linear interpolation of translation and slerp of rotations.

        The new motion covers the same time span: frame k sits at time k / fps, for all k with
        k / fps <= (T - 1) / self.fps.
        """
        if not (fps > 0 and math.isfinite(fps)):
            raise InvalidInputError(f"`fps` must be a positive number, got {fps}.")
        if fps == self.fps:
            return self._with()
        num_frames = math.floor((self.num_frames - 1) * fps / self.fps + 1e-9) + 1
        source_time = torch.arange(num_frames, dtype=torch.float64) * (self.fps / fps)
        lower = source_time.floor().long().clamp(max=self.num_frames - 1)
        upper = (lower + 1).clamp(max=self.num_frames - 1)
        weight = (source_time - lower).to(self.dtype).to(self.device)
        lower, upper = lower.to(self.device), upper.to(self.device)
        translation = torch.lerp(self.translation[lower], self.translation[upper], weight[:, None])
        quat_lower = roma.rotmat_to_unitquat(self.rotations[lower])
        quat_upper = roma.rotmat_to_unitquat(self.rotations[upper])
        # Shortest arc: flip the upper quaternion into the same hemisphere, then nlerp-correct slerp.
        sign = torch.sign((quat_lower * quat_upper).sum(-1, keepdim=True))
        quat_upper = quat_upper * torch.where(sign == 0, torch.ones_like(sign), sign)
        quat = _slerp(quat_lower, quat_upper, weight[:, None, None])
        return self._with(rotations=roma.unitquat_to_rotmat(quat), translation=translation, fps=fps)

    def smooth(self, sigma: float) -> Motion:
        """Gaussian temporal smoothing of the rotations and the root translation.

        Each frame becomes the Gaussian-weighted mean of the frames around it (standard deviation `sigma`
        frames, the kernel and edges of `scipy.ndimage.gaussian_filter1d(mode="nearest", truncate=3)`):
        translations are averaged, rotations take the chordal mean, the weighted sum of the matrices
        projected back onto SO(3) (`roma.special_procrustes`; the same rotation as Markley's weighted
        quaternion mean). `sigma = 0` returns a copy.
        """
        if not (math.isfinite(sigma) and sigma >= 0):
            raise InvalidInputError(f"`sigma` must be a number >= 0 (frames), got {sigma}.")
        if sigma == 0 or self.num_frames == 1:
            return self._with()
        radius = int(3 * sigma + 0.5)
        taps = torch.arange(-radius, radius + 1, device=self.device)
        weights = torch.exp(-0.5 * (taps.to(self.dtype) / sigma) ** 2)
        weights = weights / weights.sum()
        window = (torch.arange(self.num_frames, device=self.device)[:, None] + taps).clamp(0, self.num_frames - 1)
        translation = torch.einsum("tk,tkc->tc", weights.expand_as(window), self.translation[window])
        mean = torch.einsum("tk,tkjab->tjab", weights.expand_as(window), self.rotations[window])
        return self._with(rotations=roma.special_procrustes(mean), translation=translation)

    def canonicalize(self) -> Motion:
        """Floor at y = 0, pelvis of frame 0 at the origin (x = z = 0), frame 0 facing +Z.

        The floor is the lowest joint over the whole sequence; the facing direction is the
        horizontal perpendicular to the hips and shoulders (as HumanML3D).
        """
        rotation = yaw_matrix(-heading_angle(self.joints[0]))
        rotations = self.rotations.clone()
        rotations[:, 0] = rotation @ rotations[:, 0]
        joints = self.joints @ rotation.transpose(-1, -2)  # every joint turns with the root
        shift = torch.stack([-joints[0, 0, 0], -joints[..., 1].amin(), -joints[0, 0, 2]])
        translation = joints[:, 0] + shift - self.offsets[0]
        return self._with(rotations=rotations, translation=translation)

    def mirror(self) -> Motion:
        """Reflect through the x = 0 plane, exchanging left and right joints.

        Reflection M = diag(-1, 1, 1): rotations become M R M, translation and offsets are
        reflected, and left/right joints swap places.
        """
        swap = self.skeleton.mirror_indices
        flip = self.rotations.new_tensor([-1.0, 1.0, 1.0])
        rotations = self.rotations[:, swap] * flip[:, None] * flip[None, :]  # M R M, elementwise
        offsets = self.offsets[swap] * flip
        translation = (self.translation + self.offsets[0]) * flip - offsets[0]
        return self._with(rotations=rotations, translation=translation, offsets=offsets)

    # ------------------------------------------------------------------ checks
    def validate(self, name: str = "motion") -> Motion:
        """Check shapes, finite values, fps > 0 and constant bone lengths; return `self`.

        Args:
            name (`str`): how to refer to this motion in error messages (e.g. a file path).
        """
        num_frames = self.num_frames
        _check_shape(f"{name}: rotations", self.rotations, (None, 24, 3, 3))
        _check_shape(f"{name}: translation", self.translation, (num_frames, 3))
        _check_shape(f"{name}: offsets", self.offsets, (24, 3))
        _check_shape(f"{name}: betas", self.betas, (NUM_BETAS,))
        if num_frames < 1:
            raise InvalidInputError(f"{name}: a motion needs at least one frame, got 0.")
        for field_name in ("rotations", "translation", "offsets", "betas"):
            _check_finite(f"{name}: {field_name}", getattr(self, field_name))
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise InvalidInputError(f"{name}: `fps` must be a positive number, got {self.fps}.")
        orthogonality = (self.rotations @ self.rotations.transpose(-1, -2) - torch.eye(3).to(self.rotations)).abs()
        if orthogonality.amax() > 1e-3 or (torch.linalg.det(self.rotations) < 0).any():
            raise InvalidInputError(f"{name}: `rotations` must be proper rotation matrices (orthonormal, det +1).")
        drift = bone_lengths(self.joints, self.skeleton)
        drift = (drift - drift[:1]).abs().amax()
        if drift > BONE_LENGTH_TOLERANCE:
            raise InvalidInputError(
                f"{name}: bone lengths change by {float(drift) * 1000:.1f} mm over the sequence; expected constant."
            )
        return self


def _slerp(q0: torch.Tensor, q1: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of unit quaternions in the same hemisphere (`(..., 4)`)."""
    dot = (q0 * q1).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    angle = torch.acos(dot)
    sin = torch.sin(angle)
    small = sin < 1e-6
    w0 = torch.where(small, 1 - weight, torch.sin((1 - weight) * angle) / sin.clamp_min(1e-12))
    w1 = torch.where(small, weight, torch.sin(weight * angle) / sin.clamp_min(1e-12))
    return torch.nn.functional.normalize(w0 * q0 + w1 * q1, dim=-1)


def heading_angle(joints: torch.Tensor) -> torch.Tensor:
    """Yaw (radians about +Y) of the body's facing direction, 0 when facing +Z.

    Args:
        joints (`torch.Tensor` of shape `(..., 24, 3)`): SMPL-24 joint positions.

    Returns:
        `torch.Tensor` of shape `(...)`.
    """
    across = (joints[..., 1, :] - joints[..., 2, :]) + (joints[..., 16, :] - joints[..., 17, :])  # right -> left
    # x left, y up, z forward: forward = left x up = (-across_z, 0, across_x).
    forward_x = -across[..., 2]
    forward_z = across[..., 0]
    return torch.atan2(forward_x, forward_z)


def bone_lengths(joints: torch.Tensor, skeleton: Skeleton = SMPL24) -> torch.Tensor:
    """Length of every bone `(..., J - 1)` (joint j >= 1 to its parent)."""
    parents = list(skeleton.parents[1:])
    return (joints[..., 1:, :] - joints[..., parents, :]).norm(dim=-1)


def offsets_from_joints(joints: torch.Tensor) -> torch.Tensor:
    """Rest offsets `(24, 3)`: the default T-pose directions scaled to the median bone lengths of `joints`."""
    template = default_offsets(dtype=joints.dtype, device=joints.device)
    lengths = bone_lengths(joints).median(dim=0).values  # (23,)
    directions = torch.nn.functional.normalize(template[1:], dim=-1)
    return torch.cat([template[:1] * 0, directions * lengths[:, None]], dim=0)


def fit_offsets(joints: torch.Tensor) -> torch.Tensor:
    """Rest offsets `(24, 3)` for SMPL-24 `joints` `(T, 24, 3)` of unknown body.

    Bone lengths come from `offsets_from_joints` (T-pose directions); the children of joints with
    several children (pelvis, spine3) are then placed where the data holds them in their parent's
    fitted frame, averaged over frames, so that a rigid body is fitted exactly.
    """
    offsets = offsets_from_joints(joints)
    rotations, translation = inverse_kinematics(joints, offsets, SMPL24)
    _, orientations = forward_kinematics(rotations, translation, offsets, SMPL24)
    for parent in range(SMPL24.num_joints):
        children = SMPL24.children(parent)
        if len(children) > 1:
            vectors = joints[:, children] - joints[:, parent : parent + 1]  # (T, n, 3) world
            local = vectors @ orientations[:, parent]  # rows: R^T v
            offsets[children] = local.mean(dim=0)
    return offsets


def _check_shape(name: str, tensor: torch.Tensor, shape: tuple[int | None, ...]) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise InvalidInputError(f"`{name}` must be a torch.Tensor, got {type(tensor).__name__}.")
    if tensor.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, tensor.shape, strict=True)):
        expected = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        raise InvalidInputError(f"`{name}` must have shape {expected}, got {tuple(tensor.shape)}.")


def _check_finite(name: str, tensor: torch.Tensor) -> None:
    if not torch.isfinite(tensor).all():
        count = int((~torch.isfinite(tensor)).sum())
        raise InvalidInputError(f"`{name}` contains {count} NaN or infinite values.")
