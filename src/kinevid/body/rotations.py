"""Rotation conversions between axis-angle, quaternion (w, x, y, z), matrix and 6D.

The 6D representation is the first two *rows* of the rotation matrix flattened row-major,
as PyTorch3D's `matrix_to_rotation_6d`. Quaternions are scalar-first (w, x, y, z); roma,
which does the numerics, is scalar-last, so we convert at this boundary only.
"""

from __future__ import annotations

import roma
import torch

from ..errors import InvalidInputError


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """`(..., 3)` rotation vectors (radians) -> `(..., 3, 3)` matrices."""
    return roma.rotvec_to_rotmat(axis_angle)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """`(..., 3, 3)` matrices -> `(..., 3)` rotation vectors with angle in [0, pi]."""
    return roma.rotmat_to_rotvec(matrix)


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """`(..., 4)` quaternions (w, x, y, z), normalised first -> `(..., 3, 3)` matrices."""
    return roma.unitquat_to_rotmat(roma.quat_wxyz_to_xyzw(torch.nn.functional.normalize(quaternion, dim=-1)))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """`(..., 3, 3)` matrices -> `(..., 4)` unit quaternions (w, x, y, z) with w >= 0."""
    quaternion = roma.quat_xyzw_to_wxyz(roma.rotmat_to_unitquat(matrix))
    return torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """`(..., 3)` rotation vectors -> `(..., 4)` quaternions (w, x, y, z)."""
    return roma.quat_xyzw_to_wxyz(roma.rotvec_to_unitquat(axis_angle))


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """`(..., 4)` quaternions (w, x, y, z) -> `(..., 3)` rotation vectors."""
    return roma.unitquat_to_rotvec(roma.quat_wxyz_to_xyzw(torch.nn.functional.normalize(quaternion, dim=-1)))


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """`(..., 3, 3)` matrices -> `(..., 6)`: the first two rows, row-major."""
    return matrix[..., :2, :].reshape(*matrix.shape[:-2], 6)


def rotation_6d_to_matrix(rotation_6d: torch.Tensor) -> torch.Tensor:
    """`(..., 6)` -> `(..., 3, 3)` by Gram-Schmidt on the two rows; the third row is their cross product.

    Any 6D vector whose halves are not parallel maps to a proper rotation, so network outputs
    can be decoded directly.
    """
    row1 = torch.nn.functional.normalize(rotation_6d[..., :3], dim=-1)
    row2 = rotation_6d[..., 3:]
    row2 = torch.nn.functional.normalize(row2 - (row1 * row2).sum(-1, keepdim=True) * row1, dim=-1)
    row3 = torch.linalg.cross(row1, row2, dim=-1)
    return torch.stack([row1, row2, row3], dim=-2)


def _axis_matrix(axis: str, angle: torch.Tensor) -> torch.Tensor:
    """Rotation by `angle` (radians, `(...)`) about one coordinate axis, as `(..., 3, 3)`."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    rows = {
        "X": ((one, zero, zero), (zero, cos, -sin), (zero, sin, cos)),
        "Y": ((cos, zero, sin), (zero, one, zero), (-sin, zero, cos)),
        "Z": ((cos, -sin, zero), (sin, cos, zero), (zero, zero, one)),
    }[axis]
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def euler_to_matrix(angles: torch.Tensor, order: str, degrees: bool = True) -> torch.Tensor:
    """Intrinsic Euler angles -> matrices, as BVH channel lists define them.

    Args:
        angles (`torch.Tensor` of shape `(..., 3)`): angles in the order of `order`.
        order (`str`): three axes such as `"ZXY"`: R = R_Z(a0) @ R_X(a1) @ R_Y(a2).
        degrees (`bool`, defaults to `True`): whether `angles` are in degrees.
    """
    order = order.upper()
    if len(order) != 3 or any(axis not in "XYZ" for axis in order):
        raise InvalidInputError(f"`order` must be three of X, Y, Z such as 'ZXY', got {order!r}.")
    if angles.shape[-1] != 3:
        raise InvalidInputError(f"`angles` must have shape (..., 3), got {tuple(angles.shape)}.")
    radians = torch.deg2rad(angles) if degrees else angles
    first, second, third = (_axis_matrix(axis, radians[..., i]) for i, axis in enumerate(order))
    return first @ second @ third


def matrix_to_euler(matrix: torch.Tensor, order: str, degrees: bool = True) -> torch.Tensor:
    """Inverse of `euler_to_matrix` for the same `order`; returns `(..., 3)`."""
    return roma.rotmat_to_euler(order.upper(), matrix, degrees=degrees)


def rotation_between(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Smallest rotation taking direction `source` to direction `target` (both `(..., 3)`), as `(..., 3, 3)`.

    Antiparallel inputs rotate by pi about an axis perpendicular to `source`.
    """
    source = torch.nn.functional.normalize(source, dim=-1)
    target = torch.nn.functional.normalize(target, dim=-1)
    axis = torch.linalg.cross(source, target, dim=-1)
    cos = (source * target).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    sin = axis.norm(dim=-1, keepdim=True)
    # Antiparallel: any axis perpendicular to `source` works; pick one well away from it.
    helper = torch.zeros_like(source)
    helper[..., 0] = 1.0
    use_y = source[..., 0].abs() > 0.9
    helper[use_y] = torch.tensor([0.0, 1.0, 0.0], dtype=source.dtype, device=source.device)
    fallback_axis = torch.nn.functional.normalize(torch.linalg.cross(source, helper, dim=-1), dim=-1)
    antiparallel = (sin < 1e-8) & (cos < 0)
    unit_axis = torch.where(antiparallel, fallback_axis, axis / sin.clamp_min(1e-12))
    angle = torch.atan2(sin, cos)
    angle = torch.where(antiparallel, torch.full_like(angle, torch.pi), angle)
    return axis_angle_to_matrix(unit_axis * angle)


def yaw_matrix(angle: torch.Tensor) -> torch.Tensor:
    """Rotation about +Y by `angle` radians (right-handed): `(...,)` -> `(..., 3, 3)`."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack(
        [torch.stack([cos, zero, sin], -1), torch.stack([zero, one, zero], -1), torch.stack([-sin, zero, cos], -1)],
        dim=-2,
    )
