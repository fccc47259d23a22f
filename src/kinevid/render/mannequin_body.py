"""The mannequin's body: capsules rigidly attached to SMPL-24 joints, and points on their surface.

Every capsule is fixed in the frame of one joint (its endpoints are constant in that joint's local
frame), so posing it is a rigid transform per joint, and a point sampled on a capsule's surface in
the rest pose stays exactly on that surface in every frame: its trajectory is a ground-truth
dense track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..body import SMPL24

# Body parts, used to pick clothing colours.
SKIN, SHIRT, TROUSERS, SHOES, HAIR = range(5)

# (joint the capsule rides on, start joint, end joint, radius in metres for a 1.7 m adult, part);
# the capsule runs between the rest positions of `start` and `end`.
_BONE_CAPSULES: tuple[tuple[int, int, int, float, int], ...] = (
    (1, 1, 4, 0.075, TROUSERS),  # left thigh
    (2, 2, 5, 0.075, TROUSERS),
    (4, 4, 7, 0.055, TROUSERS),  # left shin
    (5, 5, 8, 0.055, TROUSERS),
    (7, 7, 10, 0.045, SHOES),  # left foot
    (8, 8, 11, 0.045, SHOES),
    (0, 1, 2, 0.095, TROUSERS),  # hips
    (3, 3, 6, 0.115, SHIRT),  # belly
    (6, 6, 9, 0.125, SHIRT),  # chest
    (9, 9, 12, 0.07, SKIN),  # neck
    (13, 13, 16, 0.06, SHIRT),  # left collar to shoulder
    (14, 14, 17, 0.06, SHIRT),
    (16, 16, 18, 0.052, SHIRT),  # left upper arm
    (17, 17, 19, 0.052, SHIRT),
    (18, 18, 20, 0.042, SKIN),  # left forearm
    (19, 19, 21, 0.042, SKIN),
    (20, 20, 22, 0.04, SKIN),  # left hand
    (21, 21, 23, 0.04, SKIN),
)
# Torso width: (joint, start joint, end joint, shift of both endpoints in metres, radius, part).
_WIDTH_CAPSULES: tuple[tuple[int, int, int, tuple[float, float, float], float, int], ...] = (
    (9, 13, 14, (0.0, -0.1, -0.01), 0.1, SHIRT),  # chest, between the collars
    (3, 1, 2, (0.0, 0.17, 0.0), 0.1, SHIRT),  # waist, above the hips
)
_REFERENCE_HEIGHT = 1.7


@dataclass
class MannequinBody:
    """Capsules in their joints' local frames.

    Args:
        joints (`np.ndarray` of shape `(C,)`, int): joint each capsule is attached to.
        starts (`np.ndarray` of shape `(C, 3)`): first endpoint in the joint's frame, metres.
        ends (`np.ndarray` of shape `(C, 3)`): second endpoint in the joint's frame.
        radii (`np.ndarray` of shape `(C,)`): metres.
        parts (`np.ndarray` of shape `(C,)`, int): body part (`SKIN`, `SHIRT`, ...) of each capsule.
    """

    joints: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    radii: np.ndarray
    parts: np.ndarray

    @classmethod
    def from_offsets(cls, offsets: torch.Tensor, build: float = 1.0) -> MannequinBody:
        """The mannequin of a body with SMPL-24 rest `offsets` `(24, 3)`; `build` scales thickness."""
        offsets = torch.as_tensor(offsets, dtype=torch.float64).cpu().numpy()
        rest = np.zeros((24, 3))
        for joint in range(1, 24):  # parents precede children in SMPL-24 order
            rest[joint] = rest[SMPL24.parents[joint]] + offsets[joint]
        height_scale = (rest[15, 1] - min(rest[10, 1], rest[11, 1]) + 0.2) / _REFERENCE_HEIGHT
        joints, starts, ends, radii, parts = [], [], [], [], []
        for joint, start, end, radius, part in _BONE_CAPSULES:
            joints.append(joint)
            starts.append(rest[start] - rest[joint])
            ends.append(rest[end] - rest[joint])
            radii.append(radius * height_scale * build)
            parts.append(part)
        for joint, start, end, shift, radius, part in _WIDTH_CAPSULES:
            joints.append(joint)
            starts.append(rest[start] - rest[joint] + np.array(shift) * height_scale)
            ends.append(rest[end] - rest[joint] + np.array(shift) * height_scale)
            radii.append(radius * height_scale * build)
            parts.append(part)
        # Head: a capsule from the chin up past the head joint, riding on the head.
        head_radius = 0.1 * height_scale
        joints += [15, 15]
        starts += [np.array([0.0, -0.02, 0.02]) * height_scale, np.array([0.0, 0.1, -0.01]) * height_scale]
        ends += [np.array([0.0, 0.07, 0.03]) * height_scale, np.array([0.0, 0.13, -0.03]) * height_scale]
        radii += [head_radius, head_radius * 0.9]
        parts += [SKIN, HAIR]
        return cls(np.array(joints), np.array(starts), np.array(ends), np.array(radii), np.array(parts))

    @property
    def num_capsules(self) -> int:
        return len(self.radii)

    def pose(self, positions: np.ndarray, orientations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World endpoints of every capsule.

        Args:
            positions (`np.ndarray` of shape `(T, 24, 3)`): global joint positions.
            orientations (`np.ndarray` of shape `(T, 24, 3, 3)`): global joint orientations.

        Returns:
            `(starts, ends)`, each `(T, C, 3)`.
        """
        rotation = orientations[:, self.joints]  # (T, C, 3, 3)
        origin = positions[:, self.joints]
        starts = origin + np.einsum("tcij,cj->tci", rotation, self.starts)
        ends = origin + np.einsum("tcij,cj->tci", rotation, self.ends)
        return starts, ends

    def surface_points(self, num_points: int, seed: int = 0) -> SurfacePoints:
        """`num_points` fixed points spread over the capsules' side surfaces (area-weighted, seeded).

        Each point sits on a capsule's cylinder at fraction `s` along its axis and angle `phi` about it.
        """
        rng = np.random.default_rng(seed)
        axis = self.ends - self.starts
        lengths = np.linalg.norm(axis, axis=-1)
        area = lengths * self.radii
        capsule = rng.choice(self.num_capsules, size=num_points, p=area / area.sum())
        fraction = rng.uniform(0.1, 0.9, size=num_points)
        angle = rng.uniform(0.0, 2 * np.pi, size=num_points)
        direction = axis[capsule] / np.maximum(lengths[capsule], 1e-9)[:, None]
        helper = np.where(np.abs(direction[:, 1:2]) < 0.9, [[0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0]])
        first = np.cross(direction, helper)
        first /= np.linalg.norm(first, axis=-1, keepdims=True)
        second = np.cross(direction, first)
        radial = np.cos(angle)[:, None] * first + np.sin(angle)[:, None] * second
        local = self.starts[capsule] + fraction[:, None] * axis[capsule] + self.radii[capsule, None] * radial
        return SurfacePoints(capsule=capsule, local=local, joints=self.joints[capsule])


@dataclass
class SurfacePoints:
    """Points fixed on the mannequin: capsule index `(N,)`, joint `(N,)` and position in that joint's frame `(N, 3)`."""

    capsule: np.ndarray
    local: np.ndarray
    joints: np.ndarray

    def pose(self, positions: np.ndarray, orientations: np.ndarray) -> np.ndarray:
        """World positions `(T, N, 3)` from joint positions `(T, 24, 3)` and orientations `(T, 24, 3, 3)`."""
        return positions[:, self.joints] + np.einsum("tnij,nj->tni", orientations[:, self.joints], self.local)
