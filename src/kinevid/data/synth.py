"""The synthetic paired-data builder: motions -> clips of (mannequin video, mask, depth, skeleton maps,
tracks, motion, camera, caption), sharded on disk.

On-disk format (`kinevid-synth-v2`), one directory (v1 datasets, which lack depth and the scene
caption, are refused with a message asking for a rebuild):

- `manifest.json`: `{"format", "config" (the `SynthConfig`), "num_clips", "shards": [file names],
  "complete": bool}`.
- `shard-00000.safetensors`, ...: clip `k` lives in shard `k // clips_per_shard`. Tensors, with N clips
  in the shard, T frames, H x W pixels, P track points:

  | name | dtype | shape | meaning |
  |---|---|---|---|
  | `frames` | uint8 | (N, T, H, W, 3) | mannequin RGB |
  | `masks` | uint8 | (N, T, H, W) | 1 on the person |
  | `depth` | float32 | (N, T, H, W) | camera z of the nearest surface, metres; 0 where the ray meets nothing |
  | `skeleton_maps` | uint8 | (N, T, H, W, 3) | OpenPose COCO-18 maps, far to near |
  | `keypoints_2d` | float32 | (N, T, 18, 2) | COCO-18 pixels (u, v) |
  | `tracks` | float32 | (N, T, P, 2) | surface-point pixels (u, v) |
  | `track_visibility` | uint8 | (N, T, P) | 1 where the point is seen |
  | `rotations` | float32 | (N, T, 24, 3, 3) | `Motion.rotations` |
  | `translation` | float32 | (N, T, 3) | `Motion.translation` |
  | `offsets` | float32 | (N, 24, 3) | `Motion.offsets` (the randomised body) |
  | `betas` | float32 | (N, 10) | `Motion.betas` |
  | `joints` | float32 | (N, T, 24, 3) | world joints, metres |
  | `camera_intrinsics` | float32 | (N, 3, 3) | K |
  | `camera_rotation` | float32 | (N, 3, 3) | world -> camera (OpenCV axes) |
  | `camera_translation` | float32 | (N, 3) | world -> camera |

  The safetensors metadata holds `format`, `config` (JSON) and `clips` (JSON list, one dict per clip:
  `index`, `trial_id`, `subject`, `start_frame`, `caption` (action + scene, one sentence),
  `action_caption` (one of the trial's CMU texts, as the structure branch uses them), `scene_caption`,
  `colors` (colour name per part of `kinevid.data.captions.COLOR_PARTS`), `build`, `view`, `light`,
  `body_scale`, `texts`, `camera` (`Camera.to_dict`), `scene`).

The split (`SynthConfig.split`) is the CMU subject split of `kinevid.data.cmu.split_subjects`, the
structure branch's, so clips of test subjects never reach training.

Clip `k` is drawn from a generator seeded by `(seed, k)` alone, so a dataset is the same whatever the
sharding, and a rerun resumes by skipping shards already on disk (shards are written atomically,
so a partial shard is never visible).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..motion import Motion
from ..motion.motion import heading_angle
from ..render.camera import Camera, sample_camera
from ..render.mannequin import render_mannequin
from ..render.scene import Appearance, Background, Light, Scene, sample_scene
from ..render.skeleton_maps import render_skeleton_maps
from ..utils import atomic_write
from .captions import COLOR_NAMES, compose_caption, describe_scene
from .cmu import SPLITS, CMUMocap, CMUTrial
from .shards import check_manifest, is_valid_shard, load_json_manifest, read_shard_metadata_fields

FORMAT = "kinevid-synth-v2"
OLD_FORMATS = ("kinevid-synth-v1",)
MANIFEST = "manifest.json"
DEFAULT_CAPTION = "a person moves"
COLOR_MODES = ("uniform", "palette")
_MAX_DRAWS = 100  # attempts at drawing a trial long enough for one clip
_LEG_OFFSETS = (4, 5, 7, 8, 10, 11)
_ARM_OFFSETS = (18, 19, 20, 21, 22, 23)


@dataclass
class SynthConfig:
    """Options of the synthetic dataset (all saved in the manifest; a resume must use the same ones).

    Args:
        num_clips (`int`): clips in the dataset.
        clips_per_shard (`int`): clips per safetensors file.
        num_frames (`int`): frames per clip (4k + 1 suits a VAE that compresses time by 4).
        height (`int`), width (`int`): pixels.
        fps (`float`): frame rate of clips (motions are resampled to it).
        seed (`int`): the dataset's seed.
        num_track_points (`int`): surface points tracked per clip.
        scale_range (`tuple[float, float]`): body size factor range.
        limb_range (`tuple[float, float]`): extra arm / leg length factor range.
        split (`str`, *optional*): the CMU subject split the motions come from (`"train"`, `"val"`, `"test"`,
            `"all"`); `None` when the motions were chosen otherwise (e.g. a list of trials).
        colors (`str`, defaults to `"uniform"`): how shirt, trousers, floor and wall colours are drawn: `"uniform"`
            in the RGB cube (a caption names the nearest `COLOR_NAMES` entry, which can be far from the colour), or
            `"palette"`: near a `COLOR_NAMES` entry, so the caption names what is drawn (`sample_scene(palette=...)`).
    """

    num_clips: int = 256
    clips_per_shard: int = 64
    num_frames: int = 17
    height: int = 64
    width: int = 64
    fps: float = 8.0
    seed: int = 0
    num_track_points: int = 64
    scale_range: tuple[float, float] = (0.88, 1.12)
    limb_range: tuple[float, float] = (0.95, 1.05)
    split: str | None = None
    colors: str = "uniform"

    def __post_init__(self) -> None:
        self.scale_range, self.limb_range = tuple(self.scale_range), tuple(self.limb_range)
        if self.split is not None and self.split not in SPLITS:
            raise InvalidInputError(f"`split` must be one of {list(SPLITS)} or None, got {self.split!r}.")
        for name in ("num_clips", "clips_per_shard", "num_frames", "height", "width", "num_track_points"):
            if int(getattr(self, name)) < 1:
                raise InvalidInputError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        if not self.fps > 0:
            raise InvalidInputError(f"`fps` must be positive, got {self.fps}.")
        if self.colors not in COLOR_MODES:
            raise InvalidInputError(f"`colors` must be one of {list(COLOR_MODES)}, got {self.colors!r}.")

    @property
    def num_shards(self) -> int:
        return -(-self.num_clips // self.clips_per_shard)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["scale_range"], data["limb_range"] = list(self.scale_range), list(self.limb_range)
        return data


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.safetensors"


def clip_generator(seed: int, clip_index: int) -> torch.Generator:
    """The generator of clip `clip_index` of a dataset with `seed` (independent of sharding)."""
    state = np.random.SeedSequence([int(seed), int(clip_index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _uniform(bounds: tuple[float, float], generator: torch.Generator) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * float(torch.rand((), generator=generator, dtype=torch.float64))


def _randint(high: int, generator: torch.Generator) -> int:
    return int(torch.randint(high, (), generator=generator))


def randomize_body(motion: Motion, config: SynthConfig, generator: torch.Generator) -> tuple[Motion, float]:
    """Scale the body (and its path) by a random size, then arms and legs by random factors; re-canonicalize.

    Returns:
        `(motion, scale)`: the new motion and its body size factor.
    """
    scale = _uniform(config.scale_range, generator)
    offsets = motion.offsets * scale
    offsets[list(_LEG_OFFSETS)] *= _uniform(config.limb_range, generator)
    offsets[list(_ARM_OFFSETS)] *= _uniform(config.limb_range, generator)
    motion = Motion(motion.rotations, motion.translation * scale, motion.fps, offsets=offsets, betas=motion.betas)
    return motion.canonicalize(), scale


def synthesize_clip(
    trials: Sequence[CMUTrial], clip_index: int, config: SynthConfig
) -> tuple[dict[str, np.ndarray], dict]:
    """Make clip `clip_index` of the dataset.

    Args:
        trials (sequence of `CMUTrial`): motions with captions, e.g. a `kinevid.data.cmu.CMUMocap`.
        clip_index (`int`): which clip.
        config (`SynthConfig`): options.

    Returns:
        `(arrays, info)`: per-clip arrays (the shard tensors without the leading N) and the clip's
        metadata dict.
    """
    if len(trials) == 0:
        raise InvalidInputError("no motions to synthesize clips from (the trial list is empty).")
    generator = clip_generator(config.seed, clip_index)
    for _ in range(_MAX_DRAWS):
        trial = trials[_randint(len(trials), generator)]
        motion = trial.motion if trial.motion.fps == config.fps else trial.motion.resample(config.fps)
        if motion.num_frames >= config.num_frames:
            break
    else:
        raise InvalidInputError(
            f"found no motion with at least {config.num_frames} frames at {config.fps} fps in {_MAX_DRAWS} draws."
        )
    start = _randint(motion.num_frames - config.num_frames + 1, generator)
    motion, body_scale = randomize_body(
        motion.to(dtype=torch.float32).slice(start, start + config.num_frames), config, generator
    )
    joints = motion.joints
    camera = sample_camera(joints, config.width, config.height, generator)
    scene = sample_scene(generator, palette=list(COLOR_NAMES.values()) if config.colors == "palette" else None)
    action_caption = trial.texts[_randint(len(trial.texts), generator)] if trial.texts else DEFAULT_CAPTION
    middle = config.num_frames // 2
    description = describe_scene(
        scene,
        body_scale,
        camera_center=camera.center.numpy(),
        camera_forward=camera.rotation[2].numpy(),
        person_position=joints[middle, 0].double().numpy(),
        heading=float(heading_angle(joints[middle])),
    )

    rendered = render_mannequin(motion, camera, scene, num_track_points=config.num_track_points)
    maps, keypoints_2d, _ = render_skeleton_maps(joints, camera)
    arrays = {
        "frames": rendered.rgb,
        "masks": rendered.mask.astype(np.uint8),
        "depth": np.where(np.isfinite(rendered.depth), rendered.depth, 0.0),
        "skeleton_maps": maps,
        "keypoints_2d": keypoints_2d.numpy(),
        "tracks": rendered.tracks,
        "track_visibility": rendered.visibility.astype(np.uint8),
        "rotations": motion.rotations.numpy(),
        "translation": motion.translation.numpy(),
        "offsets": motion.offsets.numpy(),
        "betas": motion.betas.numpy(),
        "joints": joints.numpy(),
        "camera_intrinsics": camera.intrinsics.numpy(),
        "camera_rotation": camera.rotation.numpy(),
        "camera_translation": camera.translation.numpy(),
    }
    arrays = {name: array.astype(np.float32) if array.dtype.kind == "f" else array for name, array in arrays.items()}
    info = {
        "index": clip_index,
        "trial_id": trial.trial_id,
        "subject": trial.subject,
        "start_frame": start,
        "caption": compose_caption(action_caption, description),
        "action_caption": action_caption,
        "scene_caption": description.caption,
        "colors": description.colors,
        "build": description.build,
        "view": description.view,
        "light": description.light,
        "body_scale": body_scale,
        "texts": list(trial.texts),
        "camera": camera.to_dict(),
        "scene": dataclasses.asdict(scene),
    }
    return arrays, info


def build_synthetic_dataset(
    trials: Sequence[CMUTrial],
    output_dir: str | os.PathLike[str],
    config: SynthConfig,
    show_progress: bool = True,
) -> Path:
    """Write (or finish writing) a synthetic paired dataset; see the module docstring for the format.

    Shards already on disk are kept (resume); a manifest written with other options is an error.

    Returns:
        `Path` of `output_dir`.
    """
    if isinstance(trials, CMUMocap) and config.split is not None and trials.split != config.split:
        raise InvalidInputError(
            f"the motions are CMU's {trials.split!r} split but `config.split` says {config.split!r}."
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = output_dir / MANIFEST
    if manifest_path.exists():
        previous = _read_manifest(manifest_path)
        if previous["config"] != json.loads(json.dumps(config.to_dict())):
            changed = sorted(k for k, v in config.to_dict().items() if previous["config"].get(k) != v)
            raise InvalidInputError(
                f"{manifest_path}: the dataset there was made with other options ({', '.join(changed)}); "
                "use another output directory or the same options to resume."
            )
    shards = [shard_name(i) for i in range(config.num_shards)]
    _write_manifest(manifest_path, config, shards, complete=False)

    done = [i for i in range(config.num_shards) if is_valid_shard(output_dir / shards[i], read_shard_metadata)]
    clips_done = sum(_clips_in_shard(i, config) for i in done)
    with tqdm(
        total=config.num_clips, initial=clips_done, desc="synthetic clips", unit="clip", disable=not show_progress
    ) as progress:
        for shard in range(config.num_shards):
            if shard in done:
                continue
            first = shard * config.clips_per_shard
            clips = []
            for clip_index in range(first, first + _clips_in_shard(shard, config)):
                clips.append(synthesize_clip(trials, clip_index, config))
                progress.update(1)
            tensors = {name: np.stack([arrays[name] for arrays, _ in clips]) for name in clips[0][0]}
            metadata = {
                "format": FORMAT,
                "config": json.dumps(config.to_dict()),
                "clips": json.dumps([info for _, info in clips]),
            }
            with atomic_write(output_dir / shards[shard]) as tmp:
                save_file(tensors, str(tmp), metadata=metadata)
    _write_manifest(manifest_path, config, shards, complete=True)
    return output_dir


def _clips_in_shard(shard: int, config: SynthConfig) -> int:
    return min(config.clips_per_shard, config.num_clips - shard * config.clips_per_shard)


def _write_manifest(path: Path, config: SynthConfig, shards: list[str], complete: bool) -> None:
    manifest = {
        "format": FORMAT,
        "config": config.to_dict(),
        "num_clips": config.num_clips,
        "shards": shards,
        "complete": complete,
    }
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))


def _read_manifest(path: Path) -> dict:
    manifest = load_json_manifest(path)
    if isinstance(manifest, dict) and manifest.get("format") in OLD_FORMATS:
        raise InvalidInputError(
            f"{path}: a {manifest['format']!r} dataset; this version reads {FORMAT!r} (it adds depth and the "
            "scene caption): rebuild it with `kinevid data synth` into a new directory."
        )
    return check_manifest(manifest, path, FORMAT, ("config", "num_clips", "shards", "complete"))


def read_shard_metadata(path: str | os.PathLike[str]) -> list[dict]:
    """The per-clip metadata dicts stored in a shard."""
    metadata = read_shard_metadata_fields(Path(path), FORMAT, ("clips",), "shard", "kinevid data synth")
    return json.loads(metadata["clips"])


def camera_from_info(info: dict) -> Camera:
    """The `Camera` of a clip from its metadata dict."""
    return Camera.from_dict(info["camera"])


def scene_from_info(info: dict) -> Scene:
    """The `Scene` (clothing, background, light) a clip was rendered with, from its metadata dict."""
    scene = info["scene"]
    return Scene(
        appearance=Appearance(**scene["appearance"]),
        background=Background(**scene["background"]),
        light=Light(**scene["light"]),
    )
