"""Pinhole cameras: look-at construction, projection to pixels, per-pixel rays, and a seeded sampler
of cameras that keep a whole motion in frame.

Conventions (OpenCV):

- World: metres, Y up, right-handed; a canonical motion faces +Z on the floor y = 0.
- Camera space: x to the right of the image, y down the image, z forward (along the optical
  axis). A point is in front of the camera when its camera-space z (its *depth*) is positive.
- Pixels: `(u, v)` = (column, row); the centre of pixel `(row i, column j)` is at `(u, v) = (j, i)`,
  so an image of width W spans u in `[-0.5, W - 0.5]`. The default principal point is the image
  centre `((W - 1) / 2, (H - 1) / 2)`.
- Extrinsics map world to camera: `x_cam = rotation @ x_world + translation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InvalidInputError

_WORLD_UP = (0.0, 1.0, 0.0)


@dataclass
class Camera:
    """A pinhole camera.

    Args:
        focal (`tuple[float, float]`): focal lengths `(fx, fy)` in pixels.
        principal_point (`tuple[float, float]`): `(cx, cy)` in pixels.
        rotation (`torch.Tensor` of shape `(3, 3)`): world-to-camera rotation.
        translation (`torch.Tensor` of shape `(3,)`): world-to-camera translation.
        width (`int`), height (`int`): image size in pixels.
    """

    focal: tuple[float, float]
    principal_point: tuple[float, float]
    rotation: torch.Tensor
    translation: torch.Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        self.focal = (float(self.focal[0]), float(self.focal[1]))
        self.principal_point = (float(self.principal_point[0]), float(self.principal_point[1]))
        self.rotation = torch.as_tensor(self.rotation, dtype=torch.float64).reshape(3, 3)
        self.translation = torch.as_tensor(self.translation, dtype=torch.float64).reshape(3)
        self.width, self.height = int(self.width), int(self.height)
        if self.width < 1 or self.height < 1:
            raise InvalidInputError(f"camera `width` and `height` must be positive, got {self.width}x{self.height}.")
        if not (self.focal[0] > 0 and self.focal[1] > 0):
            raise InvalidInputError(f"camera `focal` must be positive pixels, got {self.focal}.")
        if not (torch.isfinite(self.rotation).all() and torch.isfinite(self.translation).all()):
            raise InvalidInputError("camera `rotation` and `translation` must be finite.")

    # ------------------------------------------------------------------ construction
    @classmethod
    def look_at(
        cls,
        eye: torch.Tensor | tuple[float, float, float],
        target: torch.Tensor | tuple[float, float, float],
        width: int,
        height: int,
        fov_degrees: float = 45.0,
        up: tuple[float, float, float] = _WORLD_UP,
    ) -> Camera:
        """A camera at `eye` looking at `target`, world `up` pointing up in the image.

        Args:
            eye (`torch.Tensor` of shape `(3,)`): camera centre in world coordinates.
            target (`torch.Tensor` of shape `(3,)`): the point that projects to the image centre.
            width (`int`), height (`int`): image size in pixels.
            fov_degrees (`float`): vertical field of view; square pixels (`fx == fy`).
            up (`tuple`): world direction that should point up in the image.
        """
        eye = torch.as_tensor(eye, dtype=torch.float64).reshape(3)
        target = torch.as_tensor(target, dtype=torch.float64).reshape(3)
        if not 0.0 < fov_degrees < 180.0:
            raise InvalidInputError(f"`fov_degrees` must lie in (0, 180), got {fov_degrees}.")
        forward = target - eye
        if forward.norm() < 1e-9:
            raise InvalidInputError("`eye` and `target` coincide; a look-at camera needs a viewing direction.")
        forward = forward / forward.norm()
        up_vector = torch.tensor(up, dtype=torch.float64)
        right = torch.linalg.cross(forward, up_vector)  # image x = forward x up (y down in the image)
        if right.norm() < 1e-9:
            raise InvalidInputError("the viewing direction is parallel to `up`; choose another `up` or `eye`.")
        right = right / right.norm()
        down = torch.linalg.cross(forward, right)
        rotation = torch.stack([right, down, forward])  # rows: camera axes in world coordinates
        focal = 0.5 * height / math.tan(math.radians(fov_degrees) / 2)
        return cls(
            focal=(focal, focal),
            principal_point=((width - 1) / 2, (height - 1) / 2),
            rotation=rotation,
            translation=-rotation @ eye,
            width=width,
            height=height,
        )

    # ------------------------------------------------------------------ properties
    @property
    def intrinsics(self) -> torch.Tensor:
        """The 3x3 matrix `K` (`torch.Tensor` of shape `(3, 3)`, float64)."""
        (fx, fy), (cx, cy) = self.focal, self.principal_point
        return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float64)

    @property
    def center(self) -> torch.Tensor:
        """Camera centre in world coordinates (`torch.Tensor` of shape `(3,)`, float64)."""
        return -self.rotation.T @ self.translation

    @property
    def size(self) -> tuple[int, int]:
        """`(height, width)`."""
        return self.height, self.width

    # ------------------------------------------------------------------ geometry
    def world_to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """Camera-space coordinates of world `points` (`(..., 3)` -> `(..., 3)`, dtype of `points`)."""
        points = _as_points(points)
        rotation, translation = self.rotation.to(points), self.translation.to(points)
        return points @ rotation.T + translation

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project world points to pixels.

        Args:
            points (`torch.Tensor` of shape `(..., 3)`): world coordinates, e.g. joints `(T, J, 3)`.

        Returns:
            `(pixels, depth)`: `pixels` (`torch.Tensor` of shape `(..., 2)`) as `(u, v)` = (column,
            row) and `depth` (`torch.Tensor` of shape `(...)`), the camera-space z in metres. Points
            with `depth <= 0` are behind the camera; their pixels are not meaningful.
        """
        camera_points = self.world_to_camera(points)
        depth = camera_points[..., 2]
        safe_depth = torch.where(depth.abs() < 1e-12, torch.full_like(depth, 1e-12), depth)
        (fx, fy), (cx, cy) = self.focal, self.principal_point
        u = fx * camera_points[..., 0] / safe_depth + cx
        v = fy * camera_points[..., 1] / safe_depth + cy
        return torch.stack([u, v], dim=-1), depth

    def pixel_rays(self) -> torch.Tensor:
        """World direction of the ray through every pixel centre, scaled to unit camera-space depth.

        Returns:
            `torch.Tensor` of shape `(H, W, 3)`, float64: ray `centre + s * rays[i, j]` reaches
            camera depth `s` at pixel `(row i, column j)`.
        """
        (fx, fy), (cx, cy) = self.focal, self.principal_point
        rows = torch.arange(self.height, dtype=torch.float64)
        cols = torch.arange(self.width, dtype=torch.float64)
        v, u = torch.meshgrid(rows, cols, indexing="ij")
        camera_dirs = torch.stack([(u - cx) / fx, (v - cy) / fy, torch.ones_like(u)], dim=-1)
        return camera_dirs @ self.rotation  # row-vector form of rotation.T @ d

    def in_frame(self, pixels: torch.Tensor, depth: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
        """Whether projected points lie inside the image (at least `margin` pixels from its border)
        and in front of the camera. `(..., 2), (...)` -> `(...)` bool."""
        u, v = pixels[..., 0], pixels[..., 1]
        return (
            (depth > 0)
            & (u >= -0.5 + margin)
            & (u <= self.width - 0.5 - margin)
            & (v >= -0.5 + margin)
            & (v <= self.height - 0.5 - margin)
        )

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        """A JSON-friendly description (`from_dict` inverts it)."""
        return {
            "focal": list(self.focal),
            "principal_point": list(self.principal_point),
            "rotation": self.rotation.tolist(),
            "translation": self.translation.tolist(),
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Camera:
        missing = {"focal", "principal_point", "rotation", "translation", "width", "height"} - set(data)
        if missing:
            raise InvalidInputError(f"camera description lacks the fields {sorted(missing)}.")
        return cls(**{key: data[key] for key in ("focal", "principal_point", "rotation", "translation")},
                   width=data["width"], height=data["height"])  # fmt: skip


def _as_points(points: torch.Tensor) -> torch.Tensor:
    points = torch.as_tensor(points)
    if not points.is_floating_point():
        points = points.to(torch.float32)
    if points.shape[-1:] != (3,):
        raise InvalidInputError(f"`points` must have shape (..., 3), got {tuple(points.shape)}.")
    return points


def sample_camera(
    joints: torch.Tensor,
    width: int,
    height: int,
    generator: torch.Generator | None = None,
    distance_range: tuple[float, float] = (2.0, 3.5),
    height_range: tuple[float, float] = (0.6, 1.8),
    azimuth_range: tuple[float, float] = (-math.pi, math.pi),
    fov_range: tuple[float, float] = (35.0, 55.0),
    margin: float = 0.06,
    body_padding: float = 0.15,
) -> Camera:
    """A random look-at camera that sees every joint of a motion in every frame.

    The camera looks at the centre of the motion's bounding box from a point at horizontal
    distance `distance` and height `height` above the floor, at angle `azimuth` about +Y
    (0 = in front of a canonical motion, on its +Z side; pi / 2 = on its +X side, its left).
    If a joint (padded by `body_padding` metres, so limbs and head fit too) would fall outside the
    frame, the camera backs away along its viewing line until it does not.

    Args:
        joints (`torch.Tensor` of shape `(T, J, 3)`): world joint positions over the whole motion.
        width (`int`), height (`int`): image size in pixels.
        generator (`torch.Generator`, *optional*): source of randomness (seeded for reproducibility).
        distance_range, height_range (`tuple[float, float]`): metres.
        azimuth_range (`tuple[float, float]`): radians.
        fov_range (`tuple[float, float]`): vertical field of view, degrees.
        margin (`float`): fraction of the image size kept free at each border.
        body_padding (`float`): metres added around each joint when checking the framing.

    Returns:
        `Camera`.
    """
    joints = _as_points(joints).to(torch.float64)
    if joints.ndim == 2:
        joints = joints[None]
    if joints.ndim != 3 or not torch.isfinite(joints).all():
        raise InvalidInputError(f"`joints` must be finite with shape (T, J, 3), got {tuple(joints.shape)}.")

    def uniform(bounds: tuple[float, float]) -> float:
        low, high = bounds
        if high < low:
            raise InvalidInputError(f"sampling range {bounds} must be (low, high) with low <= high.")
        return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))

    distance, camera_height = uniform(distance_range), uniform(height_range)
    azimuth, fov = uniform(azimuth_range), uniform(fov_range)

    points = joints.reshape(-1, 3)
    low, high = points.amin(0), points.amax(0)
    target = (low + high) / 2
    # Pad with the corners of a cube around each joint so the surface around it fits as well.
    corners = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=torch.float64)
    padded = (points[:, None, :] + body_padding * corners).reshape(-1, 3)

    direction = torch.tensor([math.sin(azimuth), 0.0, math.cos(azimuth)], dtype=torch.float64)
    eye = torch.stack([target[0], target.new_tensor(camera_height), target[2]]) + distance * direction
    pixel_margin = margin * min(width, height)
    for _ in range(64):
        camera = Camera.look_at(eye, target, width, height, fov_degrees=fov)
        pixels, depth = camera.project(padded)
        if bool(camera.in_frame(pixels, depth, margin=pixel_margin).all()):
            return camera
        eye = target + (eye - target) * 1.2
    raise InvalidInputError(
        f"could not frame the motion (extent {(high - low).tolist()} m) with a {fov:.0f} degree field of view."
    )
