"""Skeletons, rotation conversions, forward and inverse kinematics."""

from .kinematics import forward_kinematics, inverse_kinematics
from .rotations import (
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
from .skeleton import CMU20, COCO18_NAMES, SMPL24, Skeleton, default_offsets, head_frame, smpl24_to_coco18

__all__ = [
    "CMU20",
    "COCO18_NAMES",
    "SMPL24",
    "Skeleton",
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "default_offsets",
    "euler_to_matrix",
    "forward_kinematics",
    "head_frame",
    "inverse_kinematics",
    "matrix_to_axis_angle",
    "matrix_to_euler",
    "matrix_to_quaternion",
    "matrix_to_rotation_6d",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "rotation_6d_to_matrix",
    "rotation_between",
    "smpl24_to_coco18",
    "yaw_matrix",
]
