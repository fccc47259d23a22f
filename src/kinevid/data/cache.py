"""Latent caches: clips encoded once by the video VAE and their captions by the text encoder, in
safetensors shards that `LatentCacheDataset` reads back model-ready (no pixels are decoded in training).

On-disk format (`kinevid-latent-cache-v1`), one directory:

- `cache.json`: `{"format", "complete", "num_clips", "clips_per_shard", "shards": [file names],
  "source" (what was encoded: kind, root, its own description), "geometry" (`num_frames`, `height`, `width`,
  `spatial_factor` (f, the VAE's pixels per latent cell along each side, `vae_spatial_factor`; caches
  written before it was recorded are 8x, `cache_spatial_factor`), `latent_shape`, `num_track_points`, `fps`),
  "fields" (`skeleton`, `motion`, `camera`: which optional tensors the shards hold), "vae"
  (`kinevid.models.vae.vae_identity`: class, config, weights SHA-256), "text_encoder"
  (`text_encoder_identity`), "text_length" (the longest caption's tokens, set when complete)}`.
- `latents-00000.safetensors`, ...: clip `k` lives in shard `k // clips_per_shard`. Tensors, with N clips in
  the shard, T frames, H x W pixels, (T', H', W') = `latent_shape(T, H, W, f)`, P track points, L_s the
  longest caption of the shard in tokens, D the text width:

  | name | dtype | shape | meaning |
  |---|---|---|---|
  | `latents` | float32 | (N, 16, T', H', W') | VAE posterior mode, normalised with the config's `latents_mean/std` |
  | `text_tokens` | float32 | (N, L_s, D) | text encoder tokens (zero on padding) |
  | `text_mask` | uint8 | (N, L_s) | 1 on real tokens |
  | `text_pooled` | float32 | (N, D) | the pooled sentence embedding |
  | `mask_latent` | float32 | (N, 1, T', H', W') | `pool_to_latent_grid(mask, spatial_factor)` of the person mask |
  | `tracks` | float32 | (N, T, P, 2) | pixels (u, v) of tracked points |
  | `track_visibility` | uint8 | (N, T, P) | 1 where the point is seen |
  | `skeleton` | uint8 | (N, T, H, W, 3) | COCO-18 skeleton maps (if `fields.skeleton`) |
  | `motion_features` | float32 | (N, T, 235) | `encode_echomotion`, unnormalised (if `fields.motion`) |
  | `rotations`, `translation`, `offsets`, `betas`, `joints` | float32 | as `Motion` | the motion (if `fields.motion`) |
  | `camera_intrinsics`, `camera_rotation` | float32 | (N, 3, 3) | K, world -> camera (if `fields.camera`) |
  | `camera_translation` | float32 | (N, 3) | world -> camera (if `fields.camera`) |

  The safetensors metadata holds `format`, `text_length` (L_s) and `clips` (JSON list: `index`, `caption`,
  and the source's per-clip `info`).
- `null_text.safetensors`: `text_tokens` (L_0, D), `text_mask` (L_0,), `text_pooled` (D,) of the empty caption
  `""` from the same encoder, the classifier-free-guidance null text (`LatentCacheDataset.null_text()`), so
  training with dropped captions and inference agree without loading the text encoder.

Shards are the unit of work: each is written atomically (never half-visible), a rerun skips shards already
on disk (resume), and under `accelerate launch` process r of R encodes shards r, r + R, ... The clips of a
shard are encoded in fixed batches, so a cache is the same whatever the number of processes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..models.vae import (
    VAE_SPATIAL_FACTOR,
    check_video_geometry,
    encode_video,
    latent_shape,
    pool_to_latent_grid,
    vae_identity,
    vae_spatial_factor,
)
from ..motion import Motion
from ..motion.codecs.echomotion import MOTION_FEATURE_DIM, encode_echomotion
from ..render.camera import Camera
from ..render.frames import frames_to_tensor
from ..text import MiniLMTextEncoder, TextEncoder
from ..text.minilm import bundled_minilm_dir
from ..utils import atomic_write
from .paired import SyntheticPairedDataset
from .shards import check_manifest, is_valid_shard, load_json_manifest, read_shard_metadata_fields

CACHE_FORMAT = "kinevid-latent-cache-v1"
CACHE_MANIFEST = "cache.json"
NULL_TEXT_FILE = "null_text.safetensors"
OPTIONAL_FIELDS = ("skeleton", "motion", "camera")
MOTION_TENSORS = ("motion_features", "rotations", "translation", "offsets", "betas", "joints")
CAMERA_TENSORS = ("camera_intrinsics", "camera_rotation", "camera_translation")
BASE_TENSORS = ("latents", "text_tokens", "text_mask", "text_pooled", "mask_latent", "tracks", "track_visibility")


def cache_shard_name(index: int) -> str:
    return f"latents-{index:05d}.safetensors"


LATENT_CHANNELS = 16  # Wan2.1's `z_dim`: the latent channels of a cache whose recorded VAE config lacks it


def cache_spatial_factor(geometry: dict) -> int:
    """The VAE spatial factor f of a cache's `geometry` (latents and `mask_latent` are `H / f x W / f`); caches
    written before `spatial_factor` was recorded hold 8x latents."""
    return int(geometry.get("spatial_factor", VAE_SPATIAL_FACTOR))


# ---------------------------------------------------------------------------------------------- sources
@dataclass
class CacheClip:
    """One clip on its way into a cache.

    Args:
        video (`torch.Tensor` of shape `(3, T, H, W)`): float in [-1, 1].
        mask (`torch.Tensor` of shape `(1, T, H, W)`): person mask in [0, 1].
        tracks (`torch.Tensor` of shape `(T, P, 2)`), track_visibility (`(T, P)` bool).
        caption (`str`): the text the video model is conditioned on.
        info (`dict`): JSON metadata kept with the clip (e.g. its file, trial, colour names).
        skeleton (`np.ndarray` of shape `(T, H, W, 3)`, *optional*): uint8 skeleton maps.
        motion (`Motion`, *optional*): SMPL-24 motion at the video frame rate, T frames.
        camera (`Camera`, *optional*): the camera the motion is seen through.
    """

    video: torch.Tensor
    mask: torch.Tensor
    tracks: torch.Tensor
    track_visibility: torch.Tensor
    caption: str
    info: dict = field(default_factory=dict)
    skeleton: np.ndarray | None = None
    motion: Motion | None = None
    camera: Camera | None = None


@runtime_checkable
class CacheSource(Protocol):
    """What `build_latent_cache` encodes: `len(source)` clips of one geometry.

    Attributes:
        fps (`float`): frame rate of every clip.
        geometry (`dict`): `num_frames`, `height`, `width`, `num_track_points`.
        fields (`dict[str, bool]`): which of `OPTIONAL_FIELDS` every clip carries.
    """

    fps: float
    geometry: dict
    fields: dict[str, bool]

    def __len__(self) -> int: ...

    def cache_clip(self, index: int) -> CacheClip: ...

    def describe(self) -> dict:
        """JSON description stored in the cache manifest; a resumed cache must have the same one."""
        ...


class SyntheticCacheSource:
    """A `SyntheticPairedDataset` as a `CacheSource` (every optional field present)."""

    def __init__(self, dataset: SyntheticPairedDataset) -> None:
        self.dataset = dataset
        config = dataset.config
        self.fps = dataset.fps
        self.geometry = {
            "num_frames": int(config["num_frames"]),
            "height": int(config["height"]),
            "width": int(config["width"]),
            "num_track_points": int(config["num_track_points"]),
        }
        self.fields = dict.fromkeys(OPTIONAL_FIELDS, True)

    def __len__(self) -> int:
        return len(self.dataset)

    def describe(self) -> dict:
        return {"kind": "synthetic", "root": str(self.dataset.root.resolve()), "config": self.dataset.config}

    def cache_clip(self, index: int) -> CacheClip:
        arrays, info = self.dataset.arrays(index), self.dataset.info(index)
        keep = ("trial_id", "subject", "start_frame", "action_caption", "scene_caption", "colors", "view")
        return CacheClip(
            video=frames_to_tensor(arrays["frames"]),
            mask=torch.from_numpy(arrays["masks"]).to(torch.float32)[None],
            tracks=torch.from_numpy(arrays["tracks"]),
            track_visibility=torch.from_numpy(arrays["track_visibility"]).bool(),
            caption=info["caption"],
            info={key: info[key] for key in keep if key in info},
            skeleton=arrays["skeleton_maps"],
            motion=self.dataset.motion(index),
            camera=self.dataset.camera(index),
        )


def as_cache_source(source: CacheSource | SyntheticPairedDataset | str | os.PathLike[str]) -> CacheSource:
    """A `CacheSource` from a source, a `SyntheticPairedDataset` or the directory of one."""
    if isinstance(source, SyntheticPairedDataset):
        return SyntheticCacheSource(source)
    if isinstance(source, (str, os.PathLike)):
        return SyntheticCacheSource(SyntheticPairedDataset(source))
    if not isinstance(source, CacheSource):
        raise InvalidInputError(f"cannot cache a {type(source).__name__}; expected a CacheSource or a dataset.")
    return source


# ---------------------------------------------------------------------------------------------- identities
def text_encoder_identity(encoder: TextEncoder, name: str | None = None) -> dict:
    """What identifies a text encoder for caches: the name it was loaded by (`name`; by default `"minilm"` for the
    bundled MiniLM, else its model directory or class), its class, width and a SHA-256 of its weights."""
    digest = hashlib.sha256()
    for key, tensor in sorted(encoder.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    if name is None:  # the name `load_text_encoder` takes for it: "minilm" for the bundled MiniLM, else its directory
        model_dir = getattr(encoder, "model_dir", None)
        bundled = isinstance(encoder, MiniLMTextEncoder) and model_dir is not None
        if bundled and Path(model_dir).resolve() == bundled_minilm_dir().resolve():
            name = "minilm"
        else:
            name = model_dir if model_dir is not None else type(encoder).__name__
    return {
        "name": _encoder_name(name),
        "class": type(encoder).__name__,
        "dim": int(encoder.dim),
        "weights_sha256": digest.hexdigest(),
    }


def _encoder_name(name: str | os.PathLike[str]) -> str:
    """`"minilm"` for the bundled encoder, else the resolved directory."""
    text = str(name)
    return text.lower() if not Path(text).is_dir() else str(Path(text).resolve())


def check_vae_identity(stored: dict, expected, where: Path) -> None:
    """Raise `InvalidInputError` unless a cache's VAE identity matches `expected` (a VAE or its identity)."""
    expected = expected if isinstance(expected, dict) else vae_identity(expected)
    if stored.get("weights_sha256") == expected["weights_sha256"] and stored.get("config") == expected["config"]:
        return
    changed = sorted(k for k in set(stored.get("config", {})) | set(expected["config"])
                     if stored.get("config", {}).get(k) != expected["config"].get(k))  # fmt: skip
    detail = f"config differs in {changed}" if changed else "same config, other weights"
    raise InvalidInputError(
        f"{where}: the cache was encoded with another VAE ({detail}; weights sha256 "
        f"{str(stored.get('weights_sha256'))[:12]}..., expected {expected['weights_sha256'][:12]}...); "
        "encode it again with this VAE (`kinevid data cache`) into a new directory."
    )


def check_text_encoder_identity(stored: dict, expected, where: Path) -> None:
    """Raise `InvalidInputError` unless a cache's text encoder matches `expected`: a name / directory (compared
    with the name it was loaded by), a `TextEncoder` (compared by weights) or an identity dict."""
    if isinstance(expected, TextEncoder):
        expected = text_encoder_identity(expected)
    if isinstance(expected, dict):
        same = stored.get("weights_sha256") == expected.get("weights_sha256")
        wanted = f"{expected.get('class')} with weights sha256 {str(expected.get('weights_sha256'))[:12]}..."
    else:
        same = stored.get("name") == _encoder_name(expected)
        wanted = repr(_encoder_name(expected))
    if not same:
        raise InvalidInputError(
            f"{where}: the cache's captions were encoded with text encoder {stored.get('name')!r} "
            f"({stored.get('class')}, sha256 {str(stored.get('weights_sha256'))[:12]}...), expected {wanted}; "
            "encode them again with that encoder into a new directory."
        )


# ---------------------------------------------------------------------------------------------- building
def _check_clip(clip: CacheClip, geometry: dict, fields: dict[str, bool], where: str) -> None:
    """Raise `InvalidInputError` naming `where` unless the clip has the source's geometry and fields."""
    frames, height, width = geometry["num_frames"], geometry["height"], geometry["width"]
    points = geometry["num_track_points"]
    expected = {
        "video": (3, frames, height, width),
        "mask": (1, frames, height, width),
        "tracks": (frames, points, 2),
        "track_visibility": (frames, points),
    }
    for name, shape in expected.items():
        actual = tuple(getattr(clip, name).shape)
        if actual != shape:
            raise InvalidInputError(f"{where}: `{name}` has shape {actual}, expected {shape} (the cache's geometry).")
    if fields["skeleton"] and (clip.skeleton is None or tuple(clip.skeleton.shape) != (frames, height, width, 3)):
        shape = None if clip.skeleton is None else tuple(clip.skeleton.shape)
        raise InvalidInputError(f"{where}: `skeleton` is {shape}, expected uint8 ({frames}, {height}, {width}, 3).")
    if fields["motion"] and (clip.motion is None or clip.motion.num_frames != frames):
        count = None if clip.motion is None else clip.motion.num_frames
        raise InvalidInputError(f"{where}: the motion has {count} frames, the video {frames}.")
    if fields["camera"] and clip.camera is None:
        raise InvalidInputError(f"{where}: no camera, but the other clips of the cache have one.")
    if not clip.video.isfinite().all():
        raise InvalidInputError(f"{where}: the video holds NaN or infinite values.")


def _clip_name(clip: CacheClip, index: int) -> str:
    """How errors name a clip: its file, else its CMU trial, else its index."""
    if clip.info.get("path"):
        return str(clip.info["path"])
    return f"clip {index} ({clip.info['trial_id']})" if clip.info.get("trial_id") else f"clip {index}"


@torch.no_grad()
def encode_clips(
    clips: Sequence[CacheClip],
    vae,
    text_encoder: TextEncoder,
    batch_size: int = 4,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """The shard tensors of `clips` (see the module docstring), on the CPU.

    Args:
        clips (sequence of `CacheClip`): clips of one geometry.
        vae (`AutoencoderKLWan`): the video VAE (on `device`).
        text_encoder (`TextEncoder`): encodes the captions.
        batch_size (`int`): clips per VAE call.
        device: where the VAE runs (default: the VAE's device).
    """
    device = torch.device(device) if device is not None else vae.device
    spatial_factor = vae_spatial_factor(vae)
    latents = []
    for start in range(0, len(clips), batch_size):
        video = torch.stack([clip.video for clip in clips[start : start + batch_size]]).to(device)
        latents.append(encode_video(vae, video).to("cpu", torch.float32))
    text = text_encoder.encode([clip.caption for clip in clips])
    tensors = {
        "latents": torch.cat(latents),
        "text_tokens": text.tokens.to("cpu", torch.float32),
        "text_mask": text.mask.to("cpu", torch.uint8),
        "text_pooled": text.pooled.to("cpu", torch.float32),
        "mask_latent": pool_to_latent_grid(
            torch.stack([clip.mask.to(torch.float32) for clip in clips]), spatial_factor=spatial_factor
        ),
        "tracks": torch.stack([clip.tracks.to(torch.float32) for clip in clips]),
        "track_visibility": torch.stack([clip.track_visibility for clip in clips]).to(torch.uint8),
    }
    if clips[0].skeleton is not None:
        tensors["skeleton"] = torch.from_numpy(np.stack([clip.skeleton for clip in clips]))
    if clips[0].motion is not None:
        motions = [clip.motion.to(dtype=torch.float32) for clip in clips]
        tensors["motion_features"] = torch.stack([encode_echomotion(motion) for motion in motions])
        for name in ("rotations", "translation", "offsets", "betas"):
            tensors[name] = torch.stack([getattr(motion, name) for motion in motions])
        tensors["joints"] = torch.stack([motion.joints for motion in motions])
    if clips[0].camera is not None:
        cameras = [clip.camera for clip in clips]
        tensors["camera_intrinsics"] = torch.stack([camera.intrinsics for camera in cameras]).float()
        tensors["camera_rotation"] = torch.stack([camera.rotation for camera in cameras]).float()
        tensors["camera_translation"] = torch.stack([camera.translation for camera in cameras]).float()
    return {name: tensor.contiguous() for name, tensor in tensors.items()}


def build_latent_cache(
    source: CacheSource | SyntheticPairedDataset | str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    vae,
    text_encoder: TextEncoder,
    text_encoder_name: str | None = None,
    clips_per_shard: int = 16,
    batch_size: int = 4,
    state=None,
    show_progress: bool = True,
) -> Path:
    """Encode a source into a latent cache (format in the module docstring), or finish one.

    Args:
        source: a `CacheSource` (e.g. `kinevid.data.real_video.VideoFolderSource`), a `SyntheticPairedDataset`
            or its directory.
        output_dir (`str` or `Path`): the cache directory.
        vae (`AutoencoderKLWan`): the video VAE, on the device it should run on; its spatial factor
            (`vae_spatial_factor`) is the cache's (`geometry["spatial_factor"]`).
        text_encoder (`TextEncoder`): the caption encoder.
        text_encoder_name (`str`, *optional*): the name or directory it was loaded from (`"minilm"`), stored
            so readers can check it by name.
        clips_per_shard (`int`): clips per shard file (the unit of resume and of work per process).
        batch_size (`int`): clips per VAE call.
        state (`accelerate.PartialState`, *optional*): the process state under `accelerate launch`; process r
            of R encodes shards r, r + R, ...; `None` for one process.
        show_progress (`bool`): show a progress bar (on the main process).

    Returns:
        `Path` of the cache directory.
    """
    source = as_cache_source(source)
    if len(source) == 0:
        raise InvalidInputError(f"{source.describe().get('root', 'the source')}: no clips to cache (it is empty).")
    if clips_per_shard < 1 or batch_size < 1:
        raise InvalidInputError(f"`clips_per_shard` and `batch_size` must be positive, got {clips_per_shard}, "
                                f"{batch_size}.")  # fmt: skip
    geometry = dict(source.geometry)
    spatial_factor = vae_spatial_factor(vae)
    # sides a DiT can patch: 16 (8x VAE with 2 x 2 patches, 4x with 4 x 4), two latent cells for larger factors
    multiple = max(16, 2 * spatial_factor)
    check_video_geometry(geometry["num_frames"], geometry["height"], geometry["width"], multiple=multiple)
    geometry["spatial_factor"] = spatial_factor
    geometry["latent_shape"] = list(
        latent_shape(geometry["num_frames"], geometry["height"], geometry["width"], spatial_factor=spatial_factor)
    )
    geometry["fps"] = float(source.fps)
    output_dir = Path(output_dir)
    manifest_path = output_dir / CACHE_MANIFEST
    num_shards = -(-len(source) // clips_per_shard)
    manifest = {
        "format": CACHE_FORMAT,
        "complete": False,
        "num_clips": len(source),
        "clips_per_shard": clips_per_shard,
        "shards": [cache_shard_name(i) for i in range(num_shards)],
        "source": source.describe(),
        "geometry": geometry,
        "fields": {name: bool(source.fields[name]) for name in OPTIONAL_FIELDS},
        "vae": vae_identity(vae),
        "text_encoder": text_encoder_identity(text_encoder, text_encoder_name),
        "text_length": None,
    }
    manifest = json.loads(json.dumps(manifest))
    rank, world = (0, 1) if state is None else (state.process_index, state.num_processes)
    barrier: Callable[[], None] = (lambda: None) if state is None else state.wait_for_everyone
    if manifest_path.exists():
        _check_resumable(read_cache_manifest(manifest_path), manifest, manifest_path)
    barrier()  # every process has checked the old manifest before the main one rewrites it
    if rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
        _write_manifest(manifest_path, manifest)
    barrier()

    mine = [shard for shard in range(num_shards) if shard % world == rank]
    todo = [shard for shard in mine if not is_valid_shard(output_dir / cache_shard_name(shard), _shard_metadata)]

    def clips_of(shard: int) -> range:
        return range(shard * clips_per_shard, min(len(source), (shard + 1) * clips_per_shard))

    with tqdm(
        total=sum(len(clips_of(s)) for s in mine),
        initial=sum(len(clips_of(s)) for s in mine if s not in todo),
        desc=f"caching clips (process {rank + 1}/{world})" if world > 1 else "caching clips",
        unit="clip",
        disable=not show_progress or rank != 0,
    ) as progress:
        for shard in todo:
            indices = clips_of(shard)
            tensors, metadata = _encode_shard(source, indices, geometry, manifest["fields"], vae, text_encoder,
                                              batch_size)  # fmt: skip
            with atomic_write(output_dir / cache_shard_name(shard)) as tmp:
                save_file(tensors, str(tmp), metadata=metadata)
            progress.update(len(indices))
    barrier()
    if rank == 0:
        null_length = _write_null_text(output_dir / NULL_TEXT_FILE, text_encoder)
        lengths = [_shard_metadata(output_dir / name)[0] for name in manifest["shards"]]
        manifest.update(complete=True, text_length=max([*lengths, null_length]))
        _write_manifest(manifest_path, manifest)
    barrier()
    return output_dir


def _encode_shard(
    source: CacheSource,
    indices: range,
    geometry: dict,
    fields: dict[str, bool],
    vae,
    text_encoder: TextEncoder,
    batch_size: int,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and safetensors metadata of the shard holding clips `indices` of `source`."""
    clips = []
    for index in indices:
        clip = source.cache_clip(index)
        _check_clip(clip, geometry, fields, _clip_name(clip, index))
        clips.append(clip)
    tensors = encode_clips(clips, vae, text_encoder, batch_size=batch_size)
    records = [{"index": i, "caption": c.caption, "info": c.info} for i, c in zip(indices, clips, strict=True)]
    metadata = {
        "format": CACHE_FORMAT,
        "text_length": str(tensors["text_tokens"].shape[1]),
        "clips": json.dumps(records),
    }
    return tensors, metadata


def _write_null_text(path: Path, text_encoder: TextEncoder) -> int:
    """Write the empty caption's encoding; returns its length in tokens."""
    null_text = text_encoder.encode([""])
    tensors = {
        "text_tokens": null_text.tokens[0].to("cpu", torch.float32),
        "text_mask": null_text.mask[0].to("cpu", torch.uint8),
        "text_pooled": null_text.pooled[0].to("cpu", torch.float32),
    }
    with atomic_write(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"format": CACHE_FORMAT})
    return int(null_text.tokens.shape[1])


def _check_resumable(previous: dict, manifest: dict, path: Path) -> None:
    """A rerun must encode the same source with the same VAE, text encoder and sharding."""
    check_vae_identity(previous["vae"], manifest["vae"], path)
    check_text_encoder_identity(previous["text_encoder"], manifest["text_encoder"], path)
    # a cache begun before `spatial_factor` was recorded is an 8x one (its VAE identity matched above)
    previous = {**previous, "geometry": {"spatial_factor": VAE_SPATIAL_FACTOR, **previous.get("geometry", {})}}
    for key in ("num_clips", "clips_per_shard", "source", "geometry", "fields"):
        if previous.get(key) != manifest[key]:
            raise InvalidInputError(
                f"{path}: the cache there was made from another source or with other options ({key} differs); "
                "use another output directory or the same inputs to resume."
            )


def _write_manifest(path: Path, manifest: dict) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))


def read_cache_manifest(path: str | os.PathLike[str]) -> dict:
    """The manifest of a cache (`cache.json`), checked for format and fields."""
    path = Path(path)
    fields = ("complete", "num_clips", "clips_per_shard", "shards", "geometry", "fields", "vae", "text_encoder")
    kind = "cache manifest"
    return check_manifest(load_json_manifest(path, kind), path, CACHE_FORMAT, fields, kind)


def _shard_metadata(path: Path) -> tuple[int, list[dict]]:
    """`(text_length, clips)` of a shard; `InvalidInputError` naming the file when it is not a cache shard."""
    metadata = read_shard_metadata_fields(
        path, CACHE_FORMAT, ("clips", "text_length"), "cache shard", "kinevid data cache"
    )
    return int(metadata["text_length"]), json.loads(metadata["clips"])


# ---------------------------------------------------------------------------------------------- reading
class LatentCacheDataset(torch.utils.data.Dataset):
    """Clips of a latent cache, model-ready.

    Items are dicts (float32 unless said):

    - `latents` `(16, T', H', W')`: normalised with the VAE config's `latents_mean` / `latents_std`.
    - `text_tokens` `(L, D)`, `text_mask` `(L,)` bool, `text_pooled` `(D,)`; L = the cache's longest caption.
    - `mask_latent` `(1, T', H', W')`: the person mask pooled to the latent grid (`H' = H / spatial_factor`).
    - `tracks` `(T, P, 2)` pixels, `track_visibility` `(T, P)` bool.
    - `skeleton` `(3, T, H, W)` in [-1, 1] (if `fields["skeleton"]`).
    - `motion_features` `(T, 235)` (EchoMotion's, unnormalised), `rotations` `(T, 24, 3, 3)`, `translation`
      `(T, 3)`, `offsets` `(24, 3)`, `betas` `(10,)`, `joints` `(T, 24, 3)` (if `fields["motion"]`).
    - `camera_intrinsics` `(3, 3)`, `camera_rotation` `(3, 3)`, `camera_translation` `(3,)` (if `fields["camera"]`).
    - `caption` (`str`), `fps` (`float`), `index` (`int`).

    Args:
        root (`str` or `Path`): the cache directory (holding `cache.json`).
        expect_vae (`AutoencoderKLWan` or `dict`, *optional*): the VAE the caller decodes with; a cache made with
            another is an error.
        expect_text_encoder (`str`, `TextEncoder` or `dict`, *optional*): the text encoder the caller uses at
            inference (a name such as `"minilm"` or a directory, the encoder itself, or its identity).

    Attributes:
        geometry (`dict`): the manifest's geometry; spatial_factor (`int`): the VAE's pixels per latent cell along
            each side (`cache_spatial_factor`: 8 for caches that do not record it); latent_channels (`int`): the
            VAE's `z_dim` (`latents` are `(latent_channels, T', H', W')`).
    """

    def __init__(self, root: str | os.PathLike[str], expect_vae=None, expect_text_encoder=None) -> None:
        self.root = Path(root)
        manifest_path = self.root / CACHE_MANIFEST
        if not manifest_path.is_file():
            raise InvalidInputError(f"{manifest_path}: no cache manifest; build the cache with `kinevid data cache`.")
        manifest = read_cache_manifest(manifest_path)
        if not manifest["complete"]:
            raise InvalidInputError(f"{manifest_path}: the cache is incomplete; rerun `kinevid data cache` to finish.")
        if expect_vae is not None:
            check_vae_identity(manifest["vae"], expect_vae, manifest_path)
        if expect_text_encoder is not None:
            check_text_encoder_identity(manifest["text_encoder"], expect_text_encoder, manifest_path)
        self.manifest = manifest
        self.geometry = manifest["geometry"]
        self.spatial_factor = cache_spatial_factor(self.geometry)
        self.latent_channels = int(manifest["vae"]["config"].get("z_dim", LATENT_CHANNELS))
        self.fields: dict[str, bool] = manifest["fields"]
        self.num_clips = int(manifest["num_clips"])
        self.clips_per_shard = int(manifest["clips_per_shard"])
        self.shards = [self.root / name for name in manifest["shards"]]
        self.text_length = int(manifest["text_length"])
        self.text_dim = int(manifest["text_encoder"]["dim"])
        self.fps = float(self.geometry["fps"])
        self.tensor_names = self._tensor_names()
        self._metadata: dict[int, tuple[int, list[dict]]] = {}

    def _tensor_names(self) -> tuple[str, ...]:
        names = list(BASE_TENSORS)
        if self.fields["skeleton"]:
            names.append("skeleton")
        if self.fields["motion"]:
            names.extend(MOTION_TENSORS)
        if self.fields["camera"]:
            names.extend(CAMERA_TENSORS)
        return tuple(names)

    def _expected_shapes(self, text_length: int) -> dict[str, tuple[int, ...]]:
        frames, height, width = self.geometry["num_frames"], self.geometry["height"], self.geometry["width"]
        latent, points = tuple(self.geometry["latent_shape"]), self.geometry["num_track_points"]
        return {
            "latents": (self.latent_channels, *latent), "text_tokens": (text_length, self.text_dim),
            "text_mask": (text_length,), "text_pooled": (self.text_dim,), "mask_latent": (1, *latent),
            "tracks": (frames, points, 2),
            "track_visibility": (frames, points), "skeleton": (frames, height, width, 3),
            "motion_features": (frames, MOTION_FEATURE_DIM), "rotations": (frames, 24, 3, 3),
            "translation": (frames, 3), "offsets": (24, 3), "betas": (10,), "joints": (frames, 24, 3),
            "camera_intrinsics": (3, 3), "camera_rotation": (3, 3), "camera_translation": (3,),
        }  # fmt: skip

    def __len__(self) -> int:
        return self.num_clips

    def _locate(self, index: int) -> tuple[int, Path, int]:
        if not -self.num_clips <= index < self.num_clips:
            raise IndexError(f"clip {index} out of range for a cache of {self.num_clips} clips.")
        index %= self.num_clips
        shard = index // self.clips_per_shard
        path = self.shards[shard]
        if not path.is_file():
            raise InvalidInputError(f"{path}: shard missing from the cache at {self.root}.")
        return shard, path, index - shard * self.clips_per_shard

    def _shard_metadata(self, shard: int, path: Path) -> tuple[int, list[dict]]:
        if shard not in self._metadata:
            self._metadata[shard] = _shard_metadata(path)
        return self._metadata[shard]

    def clip_info(self, index: int) -> dict:
        """The stored metadata of clip `index`: `index`, `caption` and the source's `info`."""
        shard, path, row = self._locate(index)
        return self._shard_metadata(shard, path)[1][row]

    def arrays(self, index: int) -> dict[str, torch.Tensor]:
        """The stored tensors of clip `index`, as written (text padded to its shard's length only)."""
        shard, path, row = self._locate(index)
        text_length = self._shard_metadata(shard, path)[0]
        expected = self._expected_shapes(text_length)
        try:
            with safe_open(str(path), framework="pt") as shard:
                missing = [name for name in self.tensor_names if name not in set(shard.keys())]
                if missing:
                    raise InvalidInputError(f"{path}: cache shard lacks the tensors {missing}.")
                arrays = {name: shard.get_slice(name)[row : row + 1][0] for name in self.tensor_names}
        except SafetensorError as error:
            raise InvalidInputError(f"{path}: corrupt or truncated cache shard ({error}).") from error
        for name, tensor in arrays.items():
            if tuple(tensor.shape) != expected[name]:
                raise InvalidInputError(
                    f"{path}: `{name}` of clip {index} has shape {tuple(tensor.shape)}, expected {expected[name]} "
                    "(the cache manifest's geometry)."
                )
        return arrays

    def verify(self, show_progress: bool = True) -> None:
        """Read every clip and check its shapes and that latents, text and motion are finite; raise
        `InvalidInputError` naming the first bad shard (e.g. before a long training run)."""
        for index in tqdm(range(self.num_clips), desc="checking cache", unit="clip", disable=not show_progress):
            arrays = self.arrays(index)
            for name in ("latents", "text_tokens", "text_pooled", "motion_features"):
                if name in arrays and not arrays[name].isfinite().all():
                    raise InvalidInputError(
                        f"{self._locate(index)[1]}: `{name}` of clip {index} has NaN or inf values."
                    )
        self.null_text()

    def _pad_text(self, item: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pad = self.text_length - item["text_tokens"].shape[0]
        item["text_tokens"] = torch.nn.functional.pad(item["text_tokens"], (0, 0, 0, pad))
        item["text_mask"] = torch.nn.functional.pad(item["text_mask"], (0, pad)).bool()
        return item

    def null_text(self) -> dict[str, torch.Tensor]:
        """The empty caption's `text_tokens` `(L, D)`, `text_mask` `(L,)` bool and `text_pooled` `(D,)`, encoded by
        the cache's text encoder and padded like the items (the null text of classifier-free guidance)."""
        path = self.root / NULL_TEXT_FILE
        try:
            with safe_open(str(path), framework="pt") as file:
                item = {name: file.get_tensor(name) for name in ("text_tokens", "text_mask", "text_pooled")}
        except (SafetensorError, OSError) as error:
            raise InvalidInputError(f"{path}: missing or corrupt null-text file ({error}).") from error
        return self._pad_text(item)

    def __getitem__(self, index: int) -> dict:
        item = self._pad_text(self.arrays(index))
        item["track_visibility"] = item["track_visibility"].bool()
        if "skeleton" in item:
            item["skeleton"] = frames_to_tensor(item["skeleton"])
        item["caption"] = self.clip_info(index)["caption"]
        item["fps"] = self.fps
        item["index"] = index % self.num_clips
        return item

    def __repr__(self) -> str:
        return (
            f"LatentCacheDataset(root={str(self.root)!r}, clips={self.num_clips}, geometry={self.geometry}, "
            f"fields={self.fields})"
        )
