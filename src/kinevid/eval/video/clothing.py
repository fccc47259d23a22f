"""Appearance following: the named colours of the shirt and the trousers drawn in a video.

The shirt is read between the neck and the hips, the trousers on the thighs (between hips and knees),
at pixels inside the person's mask: the mean RGB of the brightest 30% of those pixels over all frames (the
lit side; shading darkens the rest), named by `kinevid.data.captions.nearest_color_name`. Positions come
from the condition (COCO-18 keypoints and mask), not from the video, so a figure drawn elsewhere reads as
background colours.
"""

from __future__ import annotations

import numpy as np

from ...data.captions import nearest_color_name
from ...errors import InvalidInputError

# COCO-18 indices
NECK, RIGHT_HIP, RIGHT_KNEE, LEFT_HIP, LEFT_KNEE = 1, 8, 9, 11, 12
CLOTHING_REGIONS: dict[str, list[tuple[float, int, int]]] = {  # part -> (fraction along the segment, start, end)
    "shirt": [(0.6, NECK, RIGHT_HIP), (0.6, NECK, LEFT_HIP)],
    "trousers": [(0.5, RIGHT_HIP, RIGHT_KNEE), (0.5, LEFT_HIP, LEFT_KNEE)],
}
LIT_QUANTILE = 0.7


def region_colors(frames: np.ndarray, masks: np.ndarray, keypoints_2d: np.ndarray) -> dict[str, str]:
    """Named colours of the shirt and trousers (a part none of whose sample points is on the mask is absent).

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`): uint8 RGB video.
        masks (`np.ndarray` of shape `(T, H, W)`): bool, where the person is.
        keypoints_2d (`np.ndarray` of shape `(T, 18, 2)`): COCO-18 pixels `(u, v)`.

    Returns:
        `{"shirt": name, "trousers": name}`.
    """
    frames, masks, keypoints_2d = np.asarray(frames), np.asarray(masks).astype(bool), np.asarray(keypoints_2d)
    if frames.ndim != 4 or masks.shape != frames.shape[:3] or keypoints_2d.shape != (len(frames), 18, 2):
        raise InvalidInputError(
            f"region_colors needs frames (T, H, W, 3), masks (T, H, W) and keypoints (T, 18, 2) of one clip; "
            f"got {frames.shape}, {masks.shape}, {keypoints_2d.shape}."
        )
    height, width = masks.shape[1:]
    names = {}
    for part, segments in CLOTHING_REGIONS.items():
        samples = []
        for t in range(len(frames)):
            for fraction, start, end in segments:
                u, v = keypoints_2d[t, start] + fraction * (keypoints_2d[t, end] - keypoints_2d[t, start])
                if not (np.isfinite(u) and np.isfinite(v)):
                    continue
                column, row = round(float(u)), round(float(v))
                rows = slice(max(row - 1, 0), max(min(row + 2, height), 0))
                cols = slice(max(column - 1, 0), max(min(column + 2, width), 0))
                inside = masks[t, rows, cols]
                if inside.any():
                    samples.append(frames[t, rows, cols][inside])
        if samples:
            pixels = np.concatenate(samples).astype(np.float64) / 255.0
            brightness = pixels.mean(1)
            lit = pixels[brightness >= np.quantile(brightness, LIT_QUANTILE)]
            names[part] = nearest_color_name(lit.mean(0))
    return names
