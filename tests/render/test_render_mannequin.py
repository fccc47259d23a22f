"""Mannequin renderer: ray-capsule intersection against ray marching, mask, determinism, dense tracks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.motion import Motion, retarget_cmu20_to_smpl24
from kinevid.render.camera import Camera, sample_camera
from kinevid.render.mannequin import _intersect_capsule, render_mannequin
from kinevid.render.scene import Appearance, Background, Light, Scene


@pytest.fixture(scope="module")
def walk(cmu_root) -> Motion:
    data = np.load(cmu_root / "cmu_joints20_mm.npz", allow_pickle=False)
    positions, offsets = retarget_cmu20_to_smpl24(torch.tensor(data["02_01"][:24], dtype=torch.float32) / 1000)
    return Motion.from_joints(positions, 12, offsets=offsets, joint_weights={"neck": 0.1}).canonicalize().slice(0, 8)


@pytest.fixture(scope="module")
def camera(walk) -> Camera:
    return sample_camera(walk.joints, 128, 128, torch.Generator().manual_seed(1), azimuth_range=(0.6, 0.6))


def _segment_distance(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    axis = end - start
    along = np.clip(((points - start) @ axis) / (axis @ axis), 0, 1)
    return np.linalg.norm(points - (start + along[..., None] * axis), axis=-1)


def test_capsule_intersection_matches_ray_marching():
    rng = np.random.default_rng(0)
    origin = np.array([0.3, 1.0, 3.0])
    start, end, radius = np.array([0.0, 0.5, 0.0]), np.array([0.2, 1.3, 0.1]), 0.15
    along = rng.uniform(-0.3, 1.3, size=(400, 1))
    targets = start + along * (end - start) + rng.uniform(-0.25, 0.25, size=(400, 3))
    directions = targets - origin
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    hit = _intersect_capsule(origin, directions, start, end, radius)
    # March in 0.5 mm steps: first sample inside the capsule.
    steps = np.arange(0.0, 5.0, 5e-4)
    samples = origin + steps[None, :, None] * directions[:, None, :]
    inside = _segment_distance(samples, start, end) <= radius
    marched = np.where(inside.any(1), steps[inside.argmax(1)], np.inf)
    assert (np.isfinite(hit) == np.isfinite(marched)).mean() > 0.99  # grazing rays may differ
    both = np.isfinite(hit) & np.isfinite(marched)
    assert both.sum() > 100
    assert np.abs(hit[both] - marched[both]).max() < 2e-3


def _flat_scene(sky, ground) -> Scene:
    return Scene(background=Background(kind="flat", sky_top=sky, sky_bottom=sky, ground=ground, ground_alt=ground))


def test_mask_is_exactly_the_figure_pixels(walk, camera):
    first = render_mannequin(walk, camera, _flat_scene((0.9, 0.1, 0.1), (0.8, 0.2, 0.9)), num_track_points=4)
    second = render_mannequin(walk, camera, _flat_scene((0.1, 0.9, 0.9), (0.1, 0.8, 0.1)), num_track_points=4)
    changed = (first.rgb != second.rgb).any(-1)
    np.testing.assert_array_equal(changed, ~first.mask)
    np.testing.assert_array_equal(first.mask, second.mask)
    assert first.mask.any(axis=(1, 2)).all()


def test_same_inputs_same_pixels(walk, camera):
    first = render_mannequin(walk, camera)
    second = render_mannequin(walk, camera)
    for name in ("rgb", "mask", "depth", "tracks", "visibility"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))


def test_depth_of_figure_and_ground(walk, camera):
    frames = render_mannequin(walk, camera, num_track_points=4)
    figure_depth = frames.depth[frames.mask]
    joint_depth = camera.project(walk.joints)[1]
    assert figure_depth.min() > float(joint_depth.min()) - 0.3
    assert figure_depth.max() < float(joint_depth.max()) + 0.3
    # The ground behind the person: rows at the bottom of the image see the floor.
    assert np.isfinite(frames.depth[:, -1]).all()


def test_tracks_land_where_their_point_is_drawn(walk, camera):
    # Unshaded pure part colours: the pixel under a visible track point shows that point's part colour.
    colors = Appearance(skin=(1, 0, 0), shirt=(0, 1, 0), trousers=(0, 0, 1), shoes=(1, 1, 0), hair=(1, 0, 1))
    scene = Scene(appearance=colors, background=Background(kind="flat", sky_top=(0, 0, 0), ground=(0, 0, 0)),
                  light=Light(ambient=1.0, shadow=0.0))  # fmt: skip
    frames = render_mannequin(walk, camera, scene, num_track_points=200)
    from kinevid.render.mannequin_body import MannequinBody

    body = MannequinBody.from_offsets(walk.offsets)
    part = body.parts[body.surface_points(200).capsule]
    expected = (colors.part_colors()[part] * 255).astype(np.uint8)  # (N, 3)
    matches, depth_errors = [], []
    for frame in range(1, walk.num_frames):  # "the next frame" after the first
        visible = frames.visibility[frame]
        u, v = np.round(frames.tracks[frame, visible]).astype(int).T
        # Points on the silhouette may round to a background pixel: look in the 3x3 neighbourhood.
        padded = np.pad(frames.rgb[frame], ((1, 1), (1, 1), (0, 0)))
        neighbourhood = np.stack([padded[v + 1 + dv, u + 1 + du] for dv in (-1, 0, 1) for du in (-1, 0, 1)], 1)
        matches.append((neighbourhood == expected[visible][:, None]).all(-1).any(-1))
        point_depth = camera.project(torch.from_numpy(frames.points[frame, visible]).double())[1].numpy()
        depth_errors.append(np.abs(frames.depth[frame, v, u] - point_depth))
    matches, depth_errors = np.concatenate(matches), np.concatenate(depth_errors)
    assert len(matches) > 200
    assert matches.mean() > 0.97
    assert np.median(depth_errors) < 0.02


def test_hidden_points_are_behind_the_drawn_surface(walk, camera):
    frames = render_mannequin(walk, camera, num_track_points=200)
    assert 0.2 < frames.visibility.mean() < 0.8
    pixels = np.round(frames.tracks).astype(int)
    inside = (pixels[..., 0] >= 0) & (pixels[..., 0] < 128) & (pixels[..., 1] >= 0) & (pixels[..., 1] < 128)
    hidden = inside & ~frames.visibility
    t, n = np.nonzero(hidden)
    point_depth = camera.project(torch.from_numpy(frames.points[t, n]).double())[1].numpy()
    drawn_depth = frames.depth[t, pixels[t, n, 1], pixels[t, n, 0]]
    assert (drawn_depth < point_depth - 0.01).mean() > 0.9


def test_backgrounds_and_bad_input(walk, camera):
    for kind in ("flat", "gradient", "texture"):
        frames = render_mannequin(walk.slice(0, 1), camera, Scene(background=Background(kind=kind)))
        assert frames.rgb.shape == (1, 128, 128, 3) and frames.rgb.dtype == np.uint8
    with pytest.raises(InvalidInputError, match="kind"):
        Background(kind="marble")
    with pytest.raises(InvalidInputError, match="upwards"):
        render_mannequin(walk, camera, Scene(light=Light(direction=(0, -1, 0))))
