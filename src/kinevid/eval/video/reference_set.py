"""Export synthetic paired clips as an evaluation set `kinevid eval video` reads: the real-data column.

Scoring the ground-truth mannequin renders the same way as generated videos gives each metric's
reference value on this data (the pose judge's ceiling, the real clips' dynamic degree, the
physical metrics of the real motions), the row a generated set is read against.

Layout written under `output_dir` (all names `clip_<index>`, zero-padded):

- `videos/<name>.mp4`: the mannequin frames;
- `poses/<name>.npz`: `keypoints_2d` `(T, 18, 2)` and `masks` `(T, H, W)`, the conditions `--poses` reads;
- `motions/<name>.npz`: the clip's `Motion` (`--motions`);
- `prompts.json`: `{name: caption}` (`--prompts`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...data.paired import SyntheticPairedDataset
from ...errors import InvalidInputError
from ...render.video import write_video
from ...utils import atomic_write


def export_reference_set(
    synthetic_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    indices: Sequence[int] | None = None,
    show_progress: bool = True,
) -> Path:
    """Write clips of a synthetic dataset as videos, pose conditions, motions and prompts.

    Args:
        synthetic_dir (`str` or `Path`): a `kinevid data synth` dataset.
        output_dir (`str` or `Path`): where the four parts go (see the module doc).
        indices (sequence of `int`, *optional*): clips to export; all by default.
        show_progress (`bool`, defaults to `True`): a progress bar.

    Returns:
        `Path` of `output_dir`.
    """
    dataset = SyntheticPairedDataset(synthetic_dir)
    indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    if not indices:
        raise InvalidInputError("`indices` is empty: export at least one clip.")
    output_dir = Path(output_dir)
    width = len(str(max(indices)))
    prompts = {}
    for index in tqdm(indices, desc="reference clips", disable=not show_progress):
        name = f"clip_{index:0{width}d}"
        arrays = dataset.arrays(index)
        write_video(arrays["frames"], output_dir / "videos" / f"{name}.mp4", fps=dataset.fps)
        with atomic_write(output_dir / "poses" / f"{name}.npz") as tmp:
            np.savez(tmp, keypoints_2d=arrays["keypoints_2d"], masks=arrays["masks"])
        dataset.motion(index).save(output_dir / "motions" / f"{name}.npz")
        prompts[name] = dataset.info(index)["caption"]
    with atomic_write(output_dir / "prompts.json") as tmp:
        tmp.write_text(json.dumps(prompts, indent=1) + "\n", encoding="utf-8")
    return output_dir
