"""A differentiable point tracker in plain torch: local correlation, softmax, soft-argmax, coarse to fine.

`DenseTracker` follows RAFT's and CoTracker3's correlation pattern without learned weights, so a
tracking loss on a generated video can send gradients to its pixels:

1. Features (fixed, no weights): each frame becomes an RGB image pyramid, level 0 the frame itself
   and level l + 1 the 2x2 area mean of level l (`num_levels` levels).
2. A query point is described, per level, by the `(2p + 1)^2` RGB patch around it in the query
   frame (`p = patch_radius`, bilinear samples one level pixel apart), made zero-mean and unit-norm.
3. In a target frame, around the current estimate `c`, each candidate centre `c + d` on a lattice
   of offsets `d` is scored by the normalised cross-correlation (NCC) of its patch with the query
   patch. The scores become a distribution `softmax(ncc / (temperature * spread))`, where `spread`
   (the window's best minus mean NCC, not differentiated) makes the temperature relative, and `c`
   moves to the distribution's mean (soft-argmax).
4. Steps, coarse to fine: `num_iterations` at every level from the coarsest (integer offsets up to
   `radius` level pixels, i.e. `radius * 2^(L - 1)` frame pixels) to level 0, then
   `num_subpixel_iterations` at level 0 on a lattice of `1 / subdivision` pixel within
   `subpixel_radius / subdivision` pixels, which makes the estimate sub-pixel.
5. Every frame is searched with the query frame's patches (no template drift), starting from the
   estimate in the neighbouring frame nearer the query frame (frames are visited outwards from it).
   The reach per frame is `radius * (2^L - 1) + subpixel_radius / subdivision` pixels (15 px with
   the defaults, sized for 64-128 px clips); larger frames or faster motion want more levels
   (`num_levels=5` reaches 63 px).

Gradients: as in RAFT / CoTracker3, the window centre is detached between steps
(`detach_coordinates=True`), so a returned position is `detached centre + soft-argmax offset` of the
last step; its gradient reaches the target frame's pixels and the query frame's patch through that
step's correlation. `detach_coordinates=False` keeps the whole chain (more memory, same values).

Pixel convention (as `kinevid.render.camera` and OpenCV): `(u, v)` = (column, row), the centre of
pixel `(row i, column j)` at `(j, i)`; a frame of width W spans `u` in `[-0.5, W - 0.5]`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError

_NCC_EPS = 1e-3  # per patch element (video in [-1, 1]): flat patches score ~0 instead of noise
_MIN_SPREAD = 1e-3  # floor of the NCC spread the temperature is relative to


def check_video(video: torch.Tensor, name: str = "video") -> tuple[int, int, int, int, int]:
    """Raise `InvalidInputError` unless `video` is a finite float `(B, 3, T, H, W)` tensor; return its shape."""
    if not isinstance(video, torch.Tensor) or not video.is_floating_point():
        raise InvalidInputError(f"`{name}` must be a float tensor of shape (B, 3, T, H, W) in [-1, 1].")
    if video.ndim != 5 or video.shape[1] != 3:
        raise InvalidInputError(f"`{name}` must have shape (B, 3, T, H, W), got {tuple(video.shape)}.")
    if not torch.isfinite(video).all():
        raise InvalidInputError(f"`{name}` contains NaN or infinite values.")
    return tuple(video.shape)  # type: ignore[return-value]


def _to_level(points: torch.Tensor, level: int) -> torch.Tensor:
    """Frame pixels -> pixels of pyramid level `level` (pixel edges, not centres, scale by 2^-l)."""
    return (points + 0.5) / 2**level - 0.5


def _from_level(points: torch.Tensor, level: int) -> torch.Tensor:
    return (points + 0.5) * 2**level - 0.5


def _lattice(radius: int, spacing: float, like: torch.Tensor) -> torch.Tensor:
    """Offsets `(n^2, 2)` `(dx, dy)`, row-major (dy slow), `n = 2 radius + 1`, `spacing` apart."""
    steps = torch.arange(-radius, radius + 1, device=like.device, dtype=like.dtype) * spacing
    grid_y, grid_x = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)


def _normalize_patch(patch: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-norm along the last dim (NCC), with `_NCC_EPS` damping flat patches."""
    centred = patch - patch.mean(dim=-1, keepdim=True)
    norm = (centred.square().sum(dim=-1, keepdim=True) + _NCC_EPS * patch.shape[-1]).sqrt()
    return centred / norm


def sample_points(features: torch.Tensor, points: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of `features` at `points + offsets` (border padding).

    Args:
        features (`torch.Tensor` of shape `(B, C, H, W)`): one image (or pyramid level) per batch item.
        points (`torch.Tensor` of shape `(B, P, 2)`): pixels `(u, v)` of that image.
        offsets (`torch.Tensor` of shape `(S, 2)`): pixel offsets added to every point.

    Returns:
        `torch.Tensor` of shape `(B, P, S, C)`.
    """
    height, width = features.shape[-2:]
    locations = points[:, :, None, :] + offsets  # (B, P, S, 2)
    grid = (locations + 0.5) * locations.new_tensor([2.0 / width, 2.0 / height]) - 1.0
    samples = F.grid_sample(features, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return samples.permute(0, 2, 3, 1)


class DenseTracker(nn.Module):
    """Weight-free differentiable point tracker (the algorithm is in the module docstring).

    Args:
        num_levels (`int`, defaults to 3): pyramid levels (level l has 1 / 2^l of the resolution).
        radius (`int`, defaults to 2): integer search offsets per side at each level, level pixels.
        patch_radius (`int`, defaults to 3): half-size of the compared patches ((2p + 1)^2 RGB samples).
        num_iterations (`int`, defaults to 1): soft-argmax steps per pyramid level.
        subdivision (`int`, defaults to 4): lattice steps per pixel in the sub-pixel steps.
        subpixel_radius (`int`, defaults to 4): sub-pixel lattice steps per side (4 / 4 = 1 pixel).
        num_subpixel_iterations (`int`, defaults to 1): sub-pixel steps at level 0.
        temperature (`float`, defaults to 0.05): softmax temperature, relative to each window's NCC
            spread (best minus mean score).
        detach_coordinates (`bool`, defaults to True): detach the window centre between steps.
    """

    def __init__(
        self,
        num_levels: int = 3,
        radius: int = 2,
        patch_radius: int = 3,
        num_iterations: int = 1,
        subdivision: int = 4,
        subpixel_radius: int = 4,
        num_subpixel_iterations: int = 1,
        temperature: float = 0.05,
        detach_coordinates: bool = True,
    ) -> None:
        super().__init__()
        positive = {
            "num_levels": num_levels,
            "radius": radius,
            "num_iterations": num_iterations,
            "subdivision": subdivision,
            "subpixel_radius": subpixel_radius,
        }
        for name, value in positive.items():
            if int(value) != value or value < 1:
                raise InvalidInputError(f"`{name}` must be a positive integer, got {value}.")
        for name, value in (("patch_radius", patch_radius), ("num_subpixel_iterations", num_subpixel_iterations)):
            if int(value) != value or value < 0:
                raise InvalidInputError(f"`{name}` must be a non-negative integer, got {value}.")
        if not temperature > 0:
            raise InvalidInputError(f"`temperature` must be positive, got {temperature}.")
        self.num_levels = int(num_levels)
        self.radius = int(radius)
        self.patch_radius = int(patch_radius)
        self.num_iterations = int(num_iterations)
        self.subdivision = int(subdivision)
        self.subpixel_radius = int(subpixel_radius)
        self.num_subpixel_iterations = int(num_subpixel_iterations)
        self.temperature = float(temperature)
        self.detach_coordinates = bool(detach_coordinates)

    def stages(self) -> list[tuple[int, int, int]]:
        """`(level, radius, subdivision)` of every refinement step, in order (coarse to fine)."""
        coarse = [(level, self.radius, 1) for level in reversed(range(self.num_levels))]
        coarse = [stage for stage in coarse for _ in range(self.num_iterations)]
        return coarse + [(0, self.subpixel_radius, self.subdivision)] * self.num_subpixel_iterations

    # ------------------------------------------------------------------ features
    def pyramid(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Image pyramid of frames `(N, 3, H, W)`: `num_levels` tensors `(N, 3, ceil(H / 2^l), ceil(W / 2^l))`."""
        levels = [frames]
        for _ in range(1, self.num_levels):
            levels.append(F.avg_pool2d(levels[-1], 2, ceil_mode=True))
        return levels

    def query_patches(self, levels: list[torch.Tensor], queries: torch.Tensor) -> list[torch.Tensor]:
        """Normalised patches of the query points, per level: tensors `(B, P, 3 * (2p + 1)^2)`.

        A patch is ordered `(C, ky, kx)`, the layout of a `conv2d` filter, which is how `refine` uses it.
        """
        offsets = _lattice(self.patch_radius, 1.0, queries)
        patches = []
        for level, features in enumerate(levels):
            patch = sample_points(features, _to_level(queries, level), offsets)  # (B, P, K, C)
            patches.append(_normalize_patch(patch.transpose(-1, -2).flatten(2)))
        return patches

    # ------------------------------------------------------------------ one step
    def refine(
        self, features: torch.Tensor, template: torch.Tensor, centre: torch.Tensor, radius: int, subdivision: int
    ) -> torch.Tensor:
        """Soft-argmax offset `(B, P, 2)` (level pixels) of the template's match around `centre`.

        Args:
            features (`torch.Tensor` of shape `(B, 3, h, w)`): one pyramid level of the target frame.
            template (`torch.Tensor` of shape `(B, P, 3 K)`): normalised query patches at this level.
            centre (`torch.Tensor` of shape `(B, P, 2)`): window centres, level pixels.
            radius (`int`): candidate offsets per side, in lattice steps.
            subdivision (`int`): lattice steps per level pixel (patches keep one level pixel spacing).
        """
        batch_size, num_points = centre.shape[:2]
        kernel = 2 * self.patch_radius + 1
        half = radius + self.patch_radius * subdivision
        side = 2 * half + 1
        window = sample_points(features, centre, _lattice(half, 1.0 / subdivision, centre))  # (B, P, side^2, C)
        channels = window.shape[-1]
        window = window.reshape(batch_size * num_points, side, side, channels).permute(0, 3, 1, 2)  # (N, C, s, s)
        # NCC of every candidate's patch with the zero-mean template, as convolutions over the window:
        # sum(patch * template) / sqrt(sum((patch - mean)^2) + eps), patch samples `subdivision` apart.
        filters = template.reshape(batch_size * num_points, channels, kernel, kernel)
        dot = F.conv2d(window.reshape(1, -1, side, side), filters, dilation=subdivision, groups=len(filters))[0]
        box = window.new_ones(1, 1, kernel, kernel)
        size = channels * kernel * kernel
        total = F.conv2d(window.sum(1, keepdim=True), box, dilation=subdivision)[:, 0]  # (N, m, m)
        total_sq = F.conv2d(window.square().sum(1, keepdim=True), box, dilation=subdivision)[:, 0]
        variance = (total_sq - total.square() / size).clamp_min(0.0)
        ncc = (dot / (variance + _NCC_EPS * size).sqrt()).flatten(1)  # (N, m^2)
        spread = (ncc.amax(-1, keepdim=True) - ncc.mean(-1, keepdim=True)).detach().clamp_min(_MIN_SPREAD)
        weights = (ncc / (spread * self.temperature)).softmax(dim=-1)  # (B P, m^2)
        offset = weights @ _lattice(radius, 1.0 / subdivision, weights)
        return offset.reshape(batch_size, num_points, 2)

    def track_frame(
        self, levels: list[torch.Tensor], templates: list[torch.Tensor], start: torch.Tensor
    ) -> torch.Tensor:
        """Positions `(B, P, 2)` (frame pixels) of the query patches in one frame, searched from `start`."""
        position = start
        for level, radius, subdivision in self.stages():
            centre = _to_level(position.detach() if self.detach_coordinates else position, level)
            offset = self.refine(levels[level], templates[level], centre, radius, subdivision)
            position = _from_level(centre + offset, level)
        return position

    # ------------------------------------------------------------------ forward
    def forward(self, video: torch.Tensor, queries: torch.Tensor, query_frame: int = 0) -> torch.Tensor:
        """Track query points through a video.

        Args:
            video (`torch.Tensor` of shape `(B, 3, T, H, W)`): frames in [-1, 1].
            queries (`torch.Tensor` of shape `(B, P, 2)`): pixels `(u, v)` at `query_frame`.
            query_frame (`int`, defaults to 0): the frame the queries are given in.

        Returns:
            `torch.Tensor` of shape `(B, T, P, 2)`, float32: positions `(u, v)` in every frame; frame
            `query_frame` holds the queries. (Computed in float32 whatever the video's dtype.)
        """
        batch_size, _, num_frames, _, _ = check_video(video)
        if not isinstance(queries, torch.Tensor) or queries.ndim != 3 or queries.shape[0] != batch_size:
            shape = tuple(queries.shape) if isinstance(queries, torch.Tensor) else type(queries).__name__
            raise InvalidInputError(f"`queries` must have shape (B={batch_size}, P, 2), got {shape}.")
        if queries.shape[-1] != 2 or not torch.isfinite(queries).all():
            raise InvalidInputError(f"`queries` must be finite pixels of shape (B, P, 2), got {tuple(queries.shape)}.")
        if int(query_frame) != query_frame or not 0 <= query_frame < num_frames:
            raise InvalidInputError(f"`query_frame` must be an integer in [0, {num_frames - 1}], got {query_frame}.")
        query_frame = int(query_frame)
        # Correlations and sub-pixel offsets need float32, also inside a mixed-precision step.
        with torch.autocast(device_type=video.device.type, enabled=False):
            video, queries = video.float(), queries.to(device=video.device, dtype=torch.float32)
            frame_levels = self.pyramid(video.transpose(1, 2).flatten(0, 1))  # each (B T, 3, h, w)
            frame_levels = [level.unflatten(0, (batch_size, num_frames)) for level in frame_levels]
            templates = self.query_patches([level[:, query_frame] for level in frame_levels], queries)

            tracks: list[torch.Tensor] = [queries] * num_frames
            for direction in (1, -1):
                position = queries
                for frame in range(query_frame + direction, num_frames if direction > 0 else -1, direction):
                    position = self.track_frame([level[:, frame] for level in frame_levels], templates, position)
                    tracks[frame] = position
        return torch.stack(tracks, dim=1)  # (B, T, P, 2)
