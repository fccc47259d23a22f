"""Rotation conversions against textbook formulas written out independently."""

from __future__ import annotations

import math

import pytest
import torch

from kinevid.body import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    euler_to_matrix,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rotation_6d_to_matrix,
    rotation_between,
    yaw_matrix,
)

DTYPE = torch.float64


def skew(v):
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack(
        [torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1), torch.stack([-y, x, zero], -1)], -2
    )


def rodrigues(axis_angle):
    angle = axis_angle.norm(dim=-1, keepdim=True)[..., None]
    k = skew(axis_angle / axis_angle.norm(dim=-1, keepdim=True))
    return torch.eye(3, dtype=axis_angle.dtype) + angle.sin() * k + (1 - angle.cos()) * (k @ k)


def quaternion_formula(q):
    w, x, y, z = (q / q.norm(dim=-1, keepdim=True)).unbind(-1)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def elementary(axis, angle):
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor(
        {
            "X": [[1, 0, 0], [0, c, -s], [0, s, c]],
            "Y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
            "Z": [[c, -s, 0], [s, c, 0], [0, 0, 1]],
        }[axis],
        dtype=DTYPE,
    )


def random_axis_angle(n, max_angle=math.pi - 1e-3):
    axis = torch.nn.functional.normalize(torch.randn(n, 3, dtype=DTYPE), dim=-1)
    return axis * torch.rand(n, 1, dtype=DTYPE) * max_angle


def test_axis_angle_matches_rodrigues_and_round_trips():
    axis_angle = random_axis_angle(200)
    matrix = axis_angle_to_matrix(axis_angle)
    torch.testing.assert_close(matrix, rodrigues(axis_angle))
    torch.testing.assert_close(matrix_to_axis_angle(matrix), axis_angle)
    torch.testing.assert_close(axis_angle_to_matrix(torch.zeros(3, dtype=DTYPE)), torch.eye(3, dtype=DTYPE))


def test_quaternion_is_scalar_first_and_round_trips():
    quaternion = torch.randn(200, 4, dtype=DTYPE)
    matrix = quaternion_to_matrix(quaternion)
    torch.testing.assert_close(matrix, quaternion_formula(quaternion))
    recovered = matrix_to_quaternion(matrix)
    assert (recovered[:, 0] >= 0).all()
    unit = quaternion / quaternion.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(recovered, unit * unit[:, :1].sign())
    # (w, x, y, z) = (cos 45deg, 0, 0, sin 45deg) is a quarter turn about +z.
    quarter = torch.tensor([math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)], dtype=DTYPE)
    torch.testing.assert_close(quaternion_to_matrix(quarter), elementary("Z", math.pi / 2))
    axis_angle = random_axis_angle(50)
    torch.testing.assert_close(quaternion_to_axis_angle(axis_angle_to_quaternion(axis_angle)), axis_angle)
    torch.testing.assert_close(quaternion_to_matrix(axis_angle_to_quaternion(axis_angle)), rodrigues(axis_angle))


def test_rotation_6d_is_first_two_rows():
    matrix = axis_angle_to_matrix(random_axis_angle(100))
    six = matrix_to_rotation_6d(matrix)
    expected = torch.stack([matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 0, 2], matrix[:, 1, 0], matrix[:, 1, 1],
                            matrix[:, 1, 2]], dim=-1)  # fmt: skip
    torch.testing.assert_close(six, expected)
    torch.testing.assert_close(rotation_6d_to_matrix(six), matrix)
    assert matrix_to_rotation_6d(matrix.reshape(4, 25, 3, 3)).shape == (4, 25, 6)


def test_rotation_6d_decodes_any_vector_by_gram_schmidt():
    six = torch.randn(100, 6, dtype=DTYPE)
    a1, a2 = six[:, :3], six[:, 3:]
    b1 = a1 / a1.norm(dim=-1, keepdim=True)  # PyTorch3D: rows b1, b2, b1 x b2
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = b2 / b2.norm(dim=-1, keepdim=True)
    expected = torch.stack([b1, b2, torch.linalg.cross(b1, b2)], dim=-2)
    matrix = rotation_6d_to_matrix(six)
    torch.testing.assert_close(matrix, expected)
    torch.testing.assert_close(torch.linalg.det(matrix), torch.ones(100, dtype=DTYPE))


@pytest.mark.parametrize("order", ["XYZ", "ZXY", "ZYX", "YXZ", "XZY", "YZX"])
def test_euler_is_intrinsic_product_and_round_trips(order):
    angles = torch.tensor([[30.0, -50.0, 70.0], [-120.0, 10.0, 160.0]], dtype=DTYPE)
    matrix = euler_to_matrix(angles, order)
    for k in range(2):
        a = [math.radians(float(v)) for v in angles[k]]
        expected = elementary(order[0], a[0]) @ elementary(order[1], a[1]) @ elementary(order[2], a[2])
        torch.testing.assert_close(matrix[k], expected)
    torch.testing.assert_close(matrix_to_euler(matrix, order), angles)
    radians = euler_to_matrix(angles.deg2rad(), order.lower(), degrees=False)
    torch.testing.assert_close(radians, matrix)


def test_rotation_between():
    source = torch.randn(100, 3, dtype=DTYPE)
    target = torch.randn(100, 3, dtype=DTYPE)
    rotation = rotation_between(source, target)
    moved = (rotation @ source[..., None])[..., 0]
    unit = torch.nn.functional.normalize
    torch.testing.assert_close(unit(moved, dim=-1), unit(target, dim=-1))
    # Smallest rotation: its axis is perpendicular to both vectors, its angle the angle between them.
    axis_angle = matrix_to_axis_angle(rotation)
    angle = torch.acos((unit(source, dim=-1) * unit(target, dim=-1)).sum(-1))
    torch.testing.assert_close(axis_angle.norm(dim=-1), angle)
    assert (axis_angle * source).sum(-1).abs().max() < 1e-9 and (axis_angle * target).sum(-1).abs().max() < 1e-9


@pytest.mark.parametrize("source", [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.3, -0.2, 0.9], [1.0, 1e-3, 0.0]])
def test_rotation_between_parallel_and_antiparallel(source):
    source = torch.tensor(source, dtype=DTYPE)
    torch.testing.assert_close(rotation_between(source, 2 * source), torch.eye(3, dtype=DTYPE))
    rotation = rotation_between(source, -source)
    torch.testing.assert_close(rotation @ source, -source)
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(3, dtype=DTYPE))
    torch.testing.assert_close(torch.linalg.det(rotation), torch.tensor(1.0, dtype=DTYPE))
    assert abs(float(matrix_to_axis_angle(rotation).norm()) - math.pi) < 1e-6
    batched = rotation_between(torch.stack([source, source]), torch.stack([-source, source]))
    torch.testing.assert_close(batched[0], rotation)
    torch.testing.assert_close(batched[1], torch.eye(3, dtype=DTYPE))


def test_yaw_matrix_turns_z_towards_x():
    angle = torch.tensor([0.3, -2.0], dtype=DTYPE)
    rotation = yaw_matrix(angle)
    torch.testing.assert_close(rotation[0], elementary("Y", 0.3))
    forward = rotation @ torch.tensor([0.0, 0.0, 1.0], dtype=DTYPE)
    torch.testing.assert_close(forward[:, 0], angle.sin())
    torch.testing.assert_close(forward[:, 2], angle.cos())
