"""`SyntheticPairedDataset`: reads the clips written by `kinevid.data.synth` (format in that module)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from ..errors import InvalidInputError
from ..motion import Motion
from ..render.camera import Camera
from ..render.frames import frames_to_tensor
from .synth import MANIFEST, _read_manifest, read_shard_metadata

SHARD_TENSORS = (
    "frames", "masks", "depth", "skeleton_maps", "keypoints_2d", "tracks", "track_visibility", "rotations",
    "translation", "offsets", "betas", "joints", "camera_intrinsics", "camera_rotation", "camera_translation",
)  # fmt: skip


class SyntheticPairedDataset(torch.utils.data.Dataset):
    """Clips of a synthetic paired dataset, ready for models.

    Items are dicts:

    - `video` (`torch.Tensor` of shape `(3, T, H, W)`): mannequin frames in [-1, 1].
    - `mask` (`torch.Tensor` of shape `(1, T, H, W)`): 1.0 on the person.
    - `depth` (`torch.Tensor` of shape `(1, T, H, W)`): camera z of the nearest surface in metres, 0 where
      the ray meets nothing (sky).
    - `skeleton` (`torch.Tensor` of shape `(3, T, H, W)`): skeleton maps in [-1, 1].
    - `keypoints_2d` `(T, 18, 2)`, `tracks` `(T, P, 2)` float and `track_visibility` `(T, P)` bool.
    - `rotations` `(T, 24, 3, 3)`, `translation` `(T, 3)`, `offsets` `(24, 3)`, `betas` `(10,)`,
      `joints` `(T, 24, 3)`: the motion.
    - `camera_intrinsics` `(3, 3)`, `camera_rotation` `(3, 3)`, `camera_translation` `(3,)`.
    - `caption` (`str`: action and scene in one sentence), `action_caption` (`str`: what the person does,
      a CMU text), `scene_caption` (`str`: how the person and scene look), `fps` (`float`), `index` (`int`).

    Args:
        root (`str` or `Path`): the dataset directory (holding `manifest.json`), or a directory holding one
            dataset per split (`root/train`, `root/val`, `root/test`) when `split` is given.
        split (`str`, *optional*): the CMU subject split expected (`"train"`, `"val"`, `"test"`, `"all"`); a
            dataset built from another split is an error. `None` accepts any; `self.split` tells which it is.
    """

    def __init__(self, root: str | os.PathLike[str], split: str | None = None) -> None:
        root = Path(root)
        if split is not None and not (root / MANIFEST).is_file() and (root / split / MANIFEST).is_file():
            root = root / split
        self.root = root
        manifest_path = self.root / MANIFEST
        if not manifest_path.is_file():
            raise InvalidInputError(f"{manifest_path}: no manifest; build the dataset with `kinevid data synth`.")
        manifest = _read_manifest(manifest_path)
        if not manifest["complete"]:
            raise InvalidInputError(
                f"{manifest_path}: the dataset is incomplete; rerun `kinevid data synth` to finish it."
            )
        self.config = manifest["config"]
        self.split: str | None = self.config.get("split")
        if split is not None and self.split != split:
            raise InvalidInputError(
                f"{manifest_path}: the dataset holds the {self.split!r} split (`kinevid data synth --split`), "
                f"not {split!r}."
            )
        self.shards = [self.root / name for name in manifest["shards"]]
        self.num_clips = int(manifest["num_clips"])
        self.clips_per_shard = int(self.config["clips_per_shard"])
        self.fps = float(self.config["fps"])
        self._metadata: dict[int, list[dict]] = {}

    def __len__(self) -> int:
        return self.num_clips

    def _locate(self, index: int) -> tuple[Path, int]:
        if not -self.num_clips <= index < self.num_clips:
            raise IndexError(f"clip {index} out of range for a dataset of {self.num_clips} clips.")
        index %= self.num_clips
        shard = index // self.clips_per_shard
        path = self.shards[shard]
        if not path.is_file():
            raise InvalidInputError(f"{path}: shard missing from the dataset at {self.root}.")
        return path, index - shard * self.clips_per_shard

    def info(self, index: int) -> dict:
        """Metadata of clip `index`: `trial_id`, `subject`, `start_frame`, `caption`, `action_caption`,
        `scene_caption`, `colors`, `build`, `view`, `light`, `body_scale`, `texts`, `camera`, `scene`."""
        path, row = self._locate(index)
        shard = index % self.num_clips // self.clips_per_shard
        if shard not in self._metadata:
            self._metadata[shard] = read_shard_metadata(path)
        return self._metadata[shard][row]

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """The stored arrays of clip `index`, as written (uint8 images, float32 geometry)."""
        path, row = self._locate(index)
        try:
            with safe_open(str(path), framework="numpy") as shard:
                stored = set(shard.keys())
                missing = [name for name in SHARD_TENSORS if name not in stored]
                if missing:
                    raise InvalidInputError(f"{path}: shard lacks the tensors {missing}.")
                arrays = {name: shard.get_slice(name)[row : row + 1][0] for name in SHARD_TENSORS}
        except SafetensorError as error:
            raise InvalidInputError(f"{path}: corrupt or truncated shard ({error}).") from error
        expected = (self.config["num_frames"], self.config["height"], self.config["width"], 3)
        if arrays["frames"].shape != expected or arrays["depth"].shape != expected[:3]:
            raise InvalidInputError(
                f"{path}: clip {index} has frames {arrays['frames'].shape} and depth {arrays['depth'].shape}, "
                f"expected {expected} as the manifest's config says."
            )
        return arrays

    def motion(self, index: int) -> Motion:
        """The `Motion` of clip `index`."""
        arrays = self.arrays(index)
        return Motion(
            rotations=torch.from_numpy(arrays["rotations"]),
            translation=torch.from_numpy(arrays["translation"]),
            fps=self.fps,
            offsets=torch.from_numpy(arrays["offsets"]),
            betas=torch.from_numpy(arrays["betas"]),
        )

    def camera(self, index: int) -> Camera:
        """The `Camera` of clip `index`."""
        return Camera.from_dict(self.info(index)["camera"])

    def __getitem__(self, index: int) -> dict:
        arrays = self.arrays(index)
        item = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in arrays.items()}
        item["video"] = frames_to_tensor(item.pop("frames"))
        item["skeleton"] = frames_to_tensor(item.pop("skeleton_maps"))
        item["mask"] = item.pop("masks")[None].to(torch.float32)
        item["depth"] = item["depth"][None]
        item["track_visibility"] = item["track_visibility"].bool()
        info = self.info(index)
        for name in ("caption", "action_caption", "scene_caption"):
            item[name] = info[name]
        item["fps"] = self.fps
        item["index"] = index % self.num_clips
        return item

    def __repr__(self) -> str:
        return (
            f"SyntheticPairedDataset(root={str(self.root)!r}, split={self.split!r}, clips={self.num_clips}, "
            f"config={json.dumps(self.config)})"
        )
