"""A solid mannequin rendered by vectorised ray casting of capsules (numpy).

Per frame: RGB, the person mask, z-depth, and the 2D tracks (with visibility) of fixed points on
the body surface. Rays start at the camera centre, so each capsule test reduces to two dot products
per pixel, and only pixels inside a capsule's projected bounding box are tested. The ground plane
(y = 0) gets a shadow: the capsules projected onto it along the light direction. Everything is
deterministic: the same motion, camera and scene give the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..motion import Motion
from .camera import Camera
from .mannequin_body import MannequinBody, SurfacePoints
from .scene import Background, Scene

NEAR = 0.02  # metres; surfaces closer to the camera than this are clipped
DEFAULT_NUM_TRACK_POINTS = 256
_VISIBILITY_TOLERANCE = 2e-3  # metres along the ray


@dataclass
class MannequinFrames:
    """Output of `render_mannequin`.

    Args:
        rgb (`np.ndarray` of shape `(T, H, W, 3)`): uint8 frames.
        mask (`np.ndarray` of shape `(T, H, W)`): bool, True on the person.
        depth (`np.ndarray` of shape `(T, H, W)`): float32 camera z of the nearest surface (person or
            ground), `inf` where the ray meets nothing.
        tracks (`np.ndarray` of shape `(T, N, 2)`): float32 pixel positions `(u, v)` of the surface points.
        visibility (`np.ndarray` of shape `(T, N)`): bool, True where the point is in front of the
            camera, inside the image and not occluded.
        points (`np.ndarray` of shape `(T, N, 3)`): float32 world positions of the surface points.
    """

    rgb: np.ndarray
    mask: np.ndarray
    depth: np.ndarray
    tracks: np.ndarray
    visibility: np.ndarray
    points: np.ndarray


def render_mannequin(
    motion: Motion,
    camera: Camera,
    scene: Scene | None = None,
    num_track_points: int = DEFAULT_NUM_TRACK_POINTS,
    track_seed: int = 0,
    show_progress: bool = False,
) -> MannequinFrames:
    """Render `motion` as a capsule mannequin seen by `camera`.

    Args:
        motion (`Motion`): the motion (its `offsets` give body proportions).
        camera (`Camera`): the view; its size is the output size.
        scene (`Scene`, *optional*): clothing, background and light; defaults to `Scene()`.
        num_track_points (`int`): how many surface points to track.
        track_seed (`int`): which points (the same seed gives the same points on any body).
        show_progress (`bool`): show a progress bar over frames.

    Returns:
        `MannequinFrames`.
    """
    scene = Scene() if scene is None else scene
    positions, orientations = (
        x.detach().to(torch.float64).cpu().numpy() for x in (motion.joints, motion.global_orientations())
    )
    if not (np.isfinite(positions).all() and np.isfinite(orientations).all()):
        raise InvalidInputError("`motion` has NaN or infinite joint positions; cannot render it.")
    body = MannequinBody.from_offsets(motion.offsets, build=scene.appearance.build)
    starts, ends = body.pose(positions, orientations)
    surface = body.surface_points(num_track_points, seed=track_seed)
    renderer = _FrameRenderer(camera, scene, body)
    boxes = renderer.screen_boxes(starts, ends)
    frame_indices = tqdm(range(motion.num_frames), desc="mannequin", unit="frame", disable=not show_progress)
    frames = [renderer.render(starts[t], ends[t], boxes[t]) for t in frame_indices]
    rgb, mask, depth = (np.stack(x) for x in zip(*frames, strict=True))
    tracks, visibility, points = track_surface_points(
        surface, positions, orientations, starts, ends, body.radii, camera
    )
    return MannequinFrames(rgb=rgb, mask=mask, depth=depth, tracks=tracks, visibility=visibility, points=points)


def track_surface_points(
    surface: SurfacePoints,
    positions: np.ndarray,
    orientations: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    radii: np.ndarray,
    camera: Camera,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2D tracks `(T, N, 2)`, visibility `(T, N)` and world points `(T, N, 3)` of surface points.

    A point is visible when the ray from the camera to it meets no capsule and no ground before it.
    """
    points = surface.pose(positions, orientations)  # (T, N, 3)
    pixels, depth = camera.project(torch.from_numpy(points))
    pixels, depth = pixels.numpy(), depth.numpy()
    inside = camera.in_frame(torch.from_numpy(pixels), torch.from_numpy(depth)).numpy()
    origin = camera.center.numpy()
    visibility = np.zeros(points.shape[:2], dtype=bool)
    for frame in range(len(points)):
        offset = points[frame] - origin
        distance = np.linalg.norm(offset, axis=-1)
        directions = offset / np.maximum(distance, 1e-12)[:, None]
        first_hit = np.full(len(directions), np.inf)
        for capsule in range(len(radii)):
            hit = _intersect_capsule(origin, directions, starts[frame, capsule], ends[frame, capsule], radii[capsule])
            np.minimum(first_hit, hit, out=first_hit)
        if origin[1] > 0:
            with np.errstate(divide="ignore"):
                ground = np.where(directions[:, 1] < 0, -origin[1] / directions[:, 1], np.inf)
            np.minimum(first_hit, ground, out=first_hit)
        visibility[frame] = first_hit >= distance - _VISIBILITY_TOLERANCE
    return pixels.astype(np.float32), visibility & inside, points.astype(np.float32)


def _intersect_capsule(
    origin: np.ndarray, directions: np.ndarray, start: np.ndarray, end: np.ndarray, radius: float
) -> np.ndarray:
    """Distance along unit `directions` `(N, 3)` from `origin` to a capsule, `inf` where missed.

    Closed form for the capsule as a cylinder with two spherical caps (as in I. Quilez's
    ray-capsule intersection); hits closer than `NEAR` count as misses.
    """
    axis = end - start
    to_origin = origin - start
    axis_axis = float(axis @ axis)
    axis_origin = float(axis @ to_origin)
    origin_origin = float(to_origin @ to_origin)
    axis_dir = directions @ axis
    dir_origin = directions @ to_origin
    a = axis_axis - axis_dir * axis_dir
    b = axis_axis * dir_origin - axis_origin * axis_dir
    c = axis_axis * origin_origin - axis_origin * axis_origin - radius * radius * axis_axis
    discriminant = b * b - a * c
    hit = np.full(len(directions), np.inf, dtype=np.float64)
    candidates = discriminant >= 0
    if not candidates.any():
        return hit
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = (-b - np.sqrt(np.maximum(discriminant, 0))) / a
        along = axis_origin + distance * axis_dir
        on_side = candidates & (along > 0) & (along < axis_axis) & (a > 1e-12)
        hit = np.where(on_side, distance, hit)
        # Caps: the sphere at the end nearer to where the ray meets the infinite cylinder.
        cap_center = np.where((along <= 0)[:, None], start, end)
        to_cap = origin - cap_center
        b_cap = np.einsum("nk,nk->n", directions, to_cap)
        c_cap = np.einsum("nk,nk->n", to_cap, to_cap) - radius * radius
        h_cap = b_cap * b_cap - c_cap
        cap_hit = -b_cap - np.sqrt(np.maximum(h_cap, 0))
        hit = np.where(candidates & ~on_side & (h_cap > 0), cap_hit, hit)
    hit[hit < NEAR] = np.inf
    return hit


class _FrameRenderer:
    """Per-camera precomputation (pixel rays, background) and the per-frame ray caster."""

    def __init__(self, camera: Camera, scene: Scene, body: MannequinBody) -> None:
        self.camera, self.scene, self.body = camera, scene, body
        rays = camera.pixel_rays().numpy()  # (H, W, 3), unit camera depth
        ray_length = np.linalg.norm(rays, axis=-1)
        self.directions = rays / ray_length[..., None]  # unit world directions
        self.depth_per_distance = 1.0 / ray_length  # camera z per metre along the ray
        self.origin = camera.center.numpy()
        self.light = scene.light.unit_direction()
        self.part_colors = scene.appearance.part_colors()[body.parts]  # (C, 3)
        self.background, self.ground_distance, self.ground_points = _background(
            camera, scene.background, self.directions
        )

    def render(
        self, starts: np.ndarray, ends: np.ndarray, boxes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """RGB `(H, W, 3)` uint8, mask `(H, W)` bool and depth `(H, W)` float32 for posed capsules `(C, 3)`
        with screen boxes `(C, 4)` (see `screen_boxes`)."""
        height, width = self.camera.height, self.camera.width
        distance = np.full((height, width), np.inf)
        capsule_index = np.full((height, width), -1, dtype=np.int64)
        radii = self.body.radii
        for capsule in range(len(radii)):
            row_start, row_stop, col_start, col_stop = boxes[capsule].tolist()
            if row_start >= row_stop or col_start >= col_stop:
                continue
            rows, cols = slice(row_start, row_stop), slice(col_start, col_stop)
            directions = self.directions[rows, cols].reshape(-1, 3)
            hit = _intersect_capsule(self.origin, directions, starts[capsule], ends[capsule], radii[capsule])
            hit = hit.reshape(rows.stop - rows.start, cols.stop - cols.start)
            closer = hit < distance[rows, cols]
            distance[rows, cols][closer] = hit[closer]
            capsule_index[rows, cols][closer] = capsule
        mask = capsule_index >= 0

        image = self.background.copy()
        ground_visible = ~mask & np.isfinite(self.ground_distance)
        if self.scene.light.shadow > 0 and ground_visible.any():
            image[ground_visible] *= (
                1.0 - self.scene.light.shadow * self._shadow(self.ground_points[ground_visible], starts, ends)[:, None]
            )
        if mask.any():
            image[mask] = self._shade(distance[mask], capsule_index[mask], self.directions[mask], starts, ends)
        depth = np.where(mask, distance, self.ground_distance) * self.depth_per_distance
        rgb = np.clip(image * np.float32(255.0) + np.float32(0.5), 0, 255).astype(np.uint8)
        return rgb, mask, depth.astype(np.float32)

    def screen_boxes(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Pixel boxes `(T, C, 4)` (row start, row stop, column start, column stop) that can see each
        capsule; the whole image for a capsule that nears the camera. Endpoints are `(T, C, 3)`."""
        camera = self.camera
        pixels, depth = camera.project(torch.from_numpy(np.stack([starts, ends], axis=2)))  # (T, C, 2, ...)
        pixels, depth = pixels.numpy(), depth.numpy()
        radii = self.body.radii[None, :]
        nearest = depth.min(-1) - radii  # (T, C)
        safe = nearest > NEAR
        pad = max(camera.focal) * radii / np.where(safe, nearest, 1.0) + 1.0
        low = np.clip(pixels.min(2) - pad[..., None], -2.0, 1e6)
        high = np.clip(pixels.max(2) + pad[..., None], -2.0, 1e6)
        boxes = np.stack(
            [
                np.clip(np.floor(low[..., 1]), 0, camera.height),
                np.clip(np.ceil(high[..., 1]) + 1, 0, camera.height),
                np.clip(np.floor(low[..., 0]), 0, camera.width),
                np.clip(np.ceil(high[..., 0]) + 1, 0, camera.width),
            ],
            axis=-1,
        ).astype(np.int64)
        boxes[~safe] = (0, camera.height, 0, camera.width)
        return boxes

    def _shade(
        self, distance: np.ndarray, capsule: np.ndarray, directions: np.ndarray, starts: np.ndarray, ends: np.ndarray
    ) -> np.ndarray:
        """Lambert-shaded colours `(M, 3)` of the person's pixels."""
        points = self.origin + distance[:, None] * directions
        start, axis = starts[capsule], ends[capsule] - starts[capsule]
        along = np.einsum("mk,mk->m", points - start, axis) / np.maximum(np.einsum("mk,mk->m", axis, axis), 1e-12)
        normal = points - (start + np.clip(along, 0, 1)[:, None] * axis)
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
        ambient = self.scene.light.ambient
        lambert = np.clip(normal @ self.light, 0, None)
        return self.part_colors[capsule] * (ambient + (1 - ambient) * lambert)[:, None]

    def _shadow(self, ground_points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Shadow strength in [0, 1] at ground points `(M, 3)`: capsules projected along the light onto y = 0."""
        light = self.light
        shadow_starts = starts - (starts[:, 1:2] / light[1]) * light
        shadow_ends = ends - (ends[:, 1:2] / light[1]) * light
        radii = self.body.radii
        low = np.minimum(shadow_starts, shadow_ends).min(0) - radii.max()
        high = np.maximum(shadow_starts, shadow_ends).max(0) + radii.max()
        near = (
            (ground_points[:, 0] >= low[0]) & (ground_points[:, 0] <= high[0])
            & (ground_points[:, 2] >= low[2]) & (ground_points[:, 2] <= high[2])
        )  # fmt: skip
        strength = np.zeros(len(ground_points))
        if not near.any():
            return strength
        points = ground_points[near][:, None, :]  # (M, 1, 3)
        axis = shadow_ends - shadow_starts  # (C, 3)
        along = np.einsum("mck,ck->mc", points - shadow_starts, axis) / np.maximum((axis * axis).sum(-1), 1e-12)
        closest = shadow_starts + np.clip(along, 0, 1)[..., None] * axis
        gap = np.linalg.norm(points - closest, axis=-1) / radii  # (M, C), 1 on the shadow's edge
        strength[near] = np.clip((1.2 - gap) / 0.4, 0, 1).max(-1)  # soft edge of 0.4 radii
        return strength


def _background(
    camera: Camera, background: Background, directions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background colours `(H, W, 3)` float, distance to the ground `(H, W)` (inf where none) and
    ground hit points `(H, W, 3)`."""
    height, width = camera.height, camera.width
    origin = camera.center.numpy()
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    sky_top, sky_bottom = np.array(background.sky_top), np.array(background.sky_bottom)
    if background.kind == "flat":
        image = np.broadcast_to(sky_top, (height, width, 3)).copy()
    else:
        image = np.broadcast_to(sky_top * (1 - rows) + sky_bottom * rows, (height, width, 3)).copy()
    if background.kind == "texture":
        image *= _value_noise(height, width, background.texture_seed)[..., None]

    ground_distance = np.full((height, width), np.inf)
    if background.show_ground and origin[1] > 0:
        downward = directions[..., 1] < -1e-9
        ground_distance[downward] = -origin[1] / directions[..., 1][downward]
    ground_points = origin + np.where(np.isfinite(ground_distance), ground_distance, 0.0)[..., None] * directions
    on_ground = np.isfinite(ground_distance)
    ground = np.array(background.ground)
    if background.kind == "texture":
        cells = np.floor(ground_points[..., 0] / background.checker_size) + np.floor(
            ground_points[..., 2] / background.checker_size
        )
        ground_color = np.where((cells % 2 == 0)[..., None], ground, np.array(background.ground_alt))
    elif background.kind == "gradient":
        fade = np.exp(-np.where(on_ground, ground_distance, 0.0) / 15.0)[..., None]
        ground_color = ground * fade + sky_bottom * (1 - fade)
    else:
        ground_color = np.broadcast_to(ground, (height, width, 3))
    image[on_ground] = ground_color[on_ground]
    return image.astype(np.float32), ground_distance, ground_points


def _value_noise(height: int, width: int, seed: int, cells: int = 6) -> np.ndarray:
    """Smooth procedural noise `(H, W)` in [0.75, 1.05] (bilinear upsampling of a seeded grid, two octaves)."""
    rng = np.random.default_rng(seed)
    noise = np.zeros((height, width))
    for octave, weight in ((cells, 0.65), (cells * 3, 0.35)):
        grid = rng.uniform(0, 1, size=(octave + 1, octave + 1))
        y = np.linspace(0, octave, height)
        x = np.linspace(0, octave, width)
        y0, x0 = np.minimum(y.astype(int), octave - 1), np.minimum(x.astype(int), octave - 1)
        fy, fx = (y - y0)[:, None], (x - x0)[None, :]
        top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
        bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
        noise += weight * (top * (1 - fy) + bottom * fy)
    return 0.75 + 0.3 * noise
