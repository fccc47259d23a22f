"""Skeleton maps: OpenPose colours, far-to-near limb order, stroke width, visibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.motion import Motion
from kinevid.render.camera import sample_camera
from kinevid.render.skeleton_maps import (
    COCO18_COLORS,
    COCO18_LIMBS,
    draw_skeleton_maps,
    render_skeleton_maps,
    skeleton_maps_to_tensor,
    stroke_width,
)

# anchors.md section 8, copied by hand: 1-based limb pairs and colours.
ANCHOR_LIMBS = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12], [12, 13],
                [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18]]  # fmt: skip
ANCHOR_COLORS = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0], [0, 255, 0],
                 [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255], [0, 0, 255], [85, 0, 255],
                 [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85]]  # fmt: skip


def test_tables_match_anchors():
    assert [[a + 1, b + 1] for a, b in COCO18_LIMBS] == ANCHOR_LIMBS
    assert [list(c) for c in COCO18_COLORS] == ANCHOR_COLORS


def _crossing(depth_horizontal: float, depth_vertical: float, size: int = 64):
    """Limb 2 (keypoints 2-3) horizontal and limb 4 (keypoints 5-6) vertical, crossing at the centre."""
    keypoints = np.zeros((1, 18, 2))
    depth = np.full((1, 18), 3.0)
    visible = np.zeros((1, 18), dtype=bool)
    keypoints[0, 2], keypoints[0, 3] = (8, 32), (56, 32)
    keypoints[0, 5], keypoints[0, 6] = (32, 8), (32, 56)
    depth[0, [2, 3]] = depth_horizontal
    depth[0, [5, 6]] = depth_vertical
    visible[0, [2, 3, 5, 6]] = True
    return draw_skeleton_maps(keypoints, depth, (size, size), visibility=visible)[0]


def test_nearer_limb_is_drawn_over_farther_limb():
    horizontal_in_front = _crossing(2.0, 4.0)
    vertical_in_front = _crossing(4.0, 2.0)
    assert tuple(horizontal_in_front[32, 32]) == tuple(ANCHOR_COLORS[2])
    assert tuple(vertical_in_front[32, 32]) == tuple(ANCHOR_COLORS[4])
    # Away from the crossing each limb shows its own colour.
    assert tuple(vertical_in_front[32, 20]) == tuple(ANCHOR_COLORS[2])
    assert tuple(horizontal_in_front[20, 32]) == tuple(ANCHOR_COLORS[4])
    # Invisible keypoints' limbs (e.g. neck-shoulder, limb 0) are not drawn: only the two colours plus black.
    colours = {tuple(c) for c in horizontal_in_front.reshape(-1, 3)}
    allowed = {(0, 0, 0)} | {tuple(ANCHOR_COLORS[i]) for i in (2, 3, 4, 5, 6)}
    assert colours <= allowed


def test_stroke_width_scales_with_resolution():
    assert stroke_width(512, 512) == 4.0
    assert stroke_width(256, 256) == 2.0
    assert stroke_width(64, 64) == 1.0
    # Measured: a vertical limb at 512 px is 2 * 4 + 1 pixels wide.
    keypoints = np.zeros((1, 18, 2))
    keypoints[0, 5], keypoints[0, 6] = (256, 100), (256, 400)
    visible = np.zeros((1, 18), dtype=bool)
    visible[0, [5, 6]] = True
    image = draw_skeleton_maps(keypoints, np.ones((1, 18)), (512, 512), visibility=visible)[0]
    row = image[250].any(-1)
    assert row.sum() == 9 and row[252:261].all()


def test_points_behind_camera_are_not_drawn():
    keypoints = np.full((1, 18, 2), 32.0)
    depth = -np.ones((1, 18))
    assert not draw_skeleton_maps(keypoints, depth, (64, 64)).any()


def test_render_from_motion_and_tensor_layout():
    motion = Motion.rest(3)
    camera = sample_camera(motion.joints, 96, 64, torch.Generator().manual_seed(0))
    maps, keypoints, depth = render_skeleton_maps(motion.joints, camera)
    assert maps.shape == (3, 64, 96, 3) and maps.dtype == np.uint8
    assert keypoints.shape == (3, 18, 2) and depth.shape == (3, 18)
    # The neck keypoint's pixel carries a skeleton colour.
    u, v = keypoints[0, 1].round().long().tolist()
    assert maps[0, v, u].any()
    tensor = skeleton_maps_to_tensor(maps)
    assert tensor.shape == (3, 3, 64, 96) and tensor.min() >= -1 and tensor.max() <= 1
    assert tensor[:, 0, v, u].tolist() == pytest.approx((maps[0, v, u] / 127.5 - 1).tolist())


def test_bad_shapes():
    with pytest.raises(InvalidInputError, match="keypoints_2d"):
        draw_skeleton_maps(np.zeros((2, 17, 2)), np.zeros((2, 17)), (8, 8))
    with pytest.raises(InvalidInputError, match="depth"):
        draw_skeleton_maps(np.zeros((2, 18, 2)), np.zeros((2, 17)), (8, 8))


@pytest.mark.parametrize("side", ["left", "right"])
def test_nearer_arm_covers_farther_arm_in_3d(side):
    # T-pose seen from the body's side: both arms project onto one line; the arm on the camera's side
    # must cover the other one. Left arm: limbs 1 (neck-l_shoulder), 4, 5 and keypoints 5, 6, 7; right arm:
    # limbs 0, 2, 3 and keypoints 2, 3, 4 (the arm points at the camera, so its wrist disc may cover the elbow).
    motion = Motion.rest(1)
    azimuth = np.pi / 2 if side == "left" else -np.pi / 2  # +X is the body's left
    camera = sample_camera(motion.joints, 256, 256, azimuth_range=(azimuth, azimuth), height_range=(1.4, 1.4))
    maps, keypoints, _ = render_skeleton_maps(motion.joints, camera)
    near_elbow = 6 if side == "left" else 3
    near_colours = {tuple(ANCHOR_COLORS[i]) for i in ((1, 4, 5, 6, 7) if side == "left" else (0, 2, 3, 4))}
    u, v = keypoints[0, near_elbow].round().long().tolist()
    assert tuple(maps[0, v, u]) in near_colours
