import pytest
import roma
import torch

from kinevid.body.rotations import euler_to_matrix, matrix_to_euler
from kinevid.errors import InvalidInputError


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "ZYX", "YXZ", "XZY", "YZX"])
def test_euler_to_matrix_matches_roma_intrinsic(order):
    angles = torch.randn(64, 3, dtype=torch.float64) * 90
    ours = euler_to_matrix(angles, order)
    assert torch.allclose(ours, roma.euler_to_rotmat(order, angles, degrees=True), atol=1e-12)
    assert torch.allclose(euler_to_matrix(matrix_to_euler(ours, order), order), ours, atol=1e-10)


def test_euler_zxy_is_rz_rx_ry():
    z, x, y = torch.tensor(30.0), torch.tensor(-45.0), torch.tensor(60.0)
    expected = roma.euler_to_rotmat("Z", z[None], degrees=True) @ roma.euler_to_rotmat("X", x[None], degrees=True)
    expected = expected @ roma.euler_to_rotmat("Y", y[None], degrees=True)
    assert torch.allclose(euler_to_matrix(torch.stack([z, x, y]), "ZXY"), expected, atol=1e-6)


def test_euler_rejects_bad_order():
    with pytest.raises(InvalidInputError, match="order"):
        euler_to_matrix(torch.zeros(3), "ZXW")
