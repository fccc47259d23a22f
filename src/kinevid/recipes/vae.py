"""`kinevid train vae`: the small video VAE kinevid ships, a diffusers `AutoencoderKLWan` trained on the
synthetic mannequin clips, images first and then clips, as Wan trains its VAE.

Phases run one after another through `kinevid.train.Trainer`, each in its own run directory:

    OUTPUT/images/     phase 1: single frames (1 frame = 1 latent frame), batch of images
    OUTPUT/clips/      phase 2: whole 4k + 1 frame clips, starting from phase 1's weights
    OUTPUT/final/      the shipped directory: phase 2's weights with `latents_mean` / `latents_std` of the
                       training set in the config (Wan's normalisation), plus `vae_card.json`

Every phase resumes from its own checkpoints (`--resume`), and a finished phase is skipped.

Loss per sample: `L1(x_hat, x) + mse_weight * MSE(x_hat, x) + kl_weight * KL(q(z|x) || N(0, I))`, with
the KL summed over latent elements and divided by the number of pixel values.

A phase can put the person first (`person_weight`, `person_crop_prob`): the figure covers a few percent of
a frame, so a uniform loss spends almost all of the VAE's capacity on floors and skies and blurs the limbs
that pose estimators and the DiTs' pose losses look at. Pixels of the renderer's person mask (dilated by
`PERSON_MARGIN` pixels) then weigh `1 + person_weight` in L1 and MSE (normalised by the total weight),
and crops are centred near the person with probability `person_crop_prob`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKLWan
from safetensors import safe_open
from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..eval.image_quality import psnr, ssim
from ..models.vae import check_video_geometry, load_video_vae
from ..render.frames import frames_to_tensor
from ..train.engine import FINAL_DIR, RecipeConfig, TrainConfig, Trainer, build_config_section, check_config_keys
from ..utils.io import atomic_write

CARD_FILE = "vae_card.json"
PERSON_MARGIN = 2  # pixels the person mask is dilated by, so the figure's outline counts as the figure


class SyntheticClipFrames:
    """The RGB frames of a `kinevid data synth` directory, read straight from its shards: the VAE needs nothing
    else, so any version of the paired format with a `frames` tensor (N, T, H, W, 3) uint8 serves.

    Args:
        root (`str` or `Path`): the dataset directory (holding `manifest.json`).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        manifest_path = self.root / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
            self.config = dict(manifest["config"])
            self.shards = [self.root / name for name in manifest["shards"]]
            self.num_clips = int(manifest["num_clips"])
            self.clips_per_shard = int(self.config["clips_per_shard"])
            complete = bool(manifest["complete"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InvalidInputError(f"{manifest_path}: not a synthetic dataset manifest ({error}).") from error
        if not complete:
            raise InvalidInputError(f"{manifest_path}: the dataset is incomplete; rerun `kinevid data synth`.")

    def __len__(self) -> int:
        return self.num_clips

    def frames(self, clip: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """`(T, H, W, 3)` uint8 frames `start:stop` of clip `clip`."""
        return self._read("frames", clip, start, stop)

    def masks(self, clip: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """`(T, H, W)` bool person masks of frames `start:stop` of clip `clip`."""
        return self._read("masks", clip, start, stop) > 0

    def _read(self, key: str, clip: int, start: int, stop: int | None) -> np.ndarray:
        shard = self.shards[clip // self.clips_per_shard]
        row = clip % self.clips_per_shard
        try:
            with safe_open(str(shard), framework="numpy") as handle:
                return handle.get_slice(key)[row : row + 1, start:stop][0]
        except (OSError, ValueError, KeyError) as error:
            raise InvalidInputError(f"{shard}: cannot read the `{key}` of clip {clip} ({error}).") from error

    def video(self, clip: int) -> torch.Tensor:
        """Clip `clip` as a `(1, 3, T, H, W)` video in [-1, 1]."""
        return frames_to_tensor(self.frames(clip))[None]


class SyntheticFrameDataset(torch.utils.data.Dataset):
    """Windows of `num_frames` frames from the clips of a synthetic paired dataset, as `{"video": (3, T, H, W)}`
    in [-1, 1]. Item `i` is a pure function of `(seed, i)`: clip, start frame, crop and horizontal flip.

    Args:
        root (`str` or `Path`): a `kinevid data synth` directory.
        num_frames (`int`): frames per item (1 for the image phase).
        length (`int`): items per epoch (windows are drawn with replacement).
        seed (`int`): seed of the draws.
        flip (`bool`, defaults to True): mirror half of the items left to right.
        crop_size (`int`, *optional*): cut a random `crop_size` square out of the frames (a multiple of 16). The
            VAE is convolutional, so training on crops of the shipped resolution is several times cheaper per step.
        person_crop_prob (`float`, defaults to 0.0): probability that a crop is centred near the person (the
            centre of the window's mask bounding box, jittered by up to a quarter crop) instead of uniform.
        person_weight (`float`, defaults to 0.0): when positive, items also hold `"weight"` `(1, T, H, W)`:
            `1 + person_weight` on the dilated person mask, 1 elsewhere.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        num_frames: int,
        length: int,
        seed: int = 0,
        flip: bool = True,
        crop_size: int | None = None,
        person_crop_prob: float = 0.0,
        person_weight: float = 0.0,
    ) -> None:
        if not 0.0 <= person_crop_prob <= 1.0:
            raise InvalidInputError(f"`person_crop_prob` must be in [0, 1], got {person_crop_prob}.")
        if not person_weight >= 0.0:
            raise InvalidInputError(f"`person_weight` must be >= 0, got {person_weight}.")
        self.clips = SyntheticClipFrames(root)
        clip_frames = int(self.clips.config["num_frames"])
        if not 1 <= num_frames <= clip_frames:
            raise InvalidInputError(f"{root}: clips have {clip_frames} frames; cannot cut windows of {num_frames}.")
        self.height, self.width = int(self.clips.config["height"]), int(self.clips.config["width"])
        check_video_geometry(num_frames, self.height, self.width)
        if crop_size is not None:
            check_video_geometry(num_frames, crop_size, crop_size, name="crop")
            if crop_size > min(self.height, self.width):
                raise InvalidInputError(f"`crop_size` {crop_size} exceeds the {self.height} x {self.width} frames.")
        self.num_frames, self.length, self.seed, self.flip, self.crop_size = num_frames, length, seed, flip, crop_size
        self.person_crop_prob, self.person_weight = person_crop_prob, person_weight
        self.clip_frames = clip_frames

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        clip = int(rng.integers(len(self.clips)))
        start = int(rng.integers(self.clip_frames - self.num_frames + 1))
        frames = self.clips.frames(clip, start, start + self.num_frames)
        needs_masks = self.person_weight > 0 or self.person_crop_prob > 0
        masks = self.clips.masks(clip, start, start + self.num_frames) if needs_masks else None
        if self.crop_size is not None:
            top, left = self._crop_corner(rng, masks)
            frames = frames[:, top : top + self.crop_size, left : left + self.crop_size]
            if masks is not None:
                masks = masks[:, top : top + self.crop_size, left : left + self.crop_size]
        if self.flip and rng.random() < 0.5:
            frames = frames[:, :, ::-1]
            masks = masks[:, :, ::-1] if masks is not None else None
        item = {"video": frames_to_tensor(np.ascontiguousarray(frames))}
        if self.person_weight > 0:
            item["weight"] = person_loss_weight(torch.from_numpy(np.ascontiguousarray(masks)), self.person_weight)
        return item

    def _crop_corner(self, rng: np.random.Generator, masks: np.ndarray | None) -> tuple[int, int]:
        """Top-left corner of the crop: uniform, or (with `person_crop_prob`) near the person's box centre."""
        size = self.crop_size
        if masks is not None and rng.random() < self.person_crop_prob:
            rows, cols = np.nonzero(masks.any(axis=0))
            if len(rows):
                centre_row = (rows.min() + rows.max()) / 2 + rng.uniform(-size / 4, size / 4)
                centre_col = (cols.min() + cols.max()) / 2 + rng.uniform(-size / 4, size / 4)
                top = int(np.clip(round(centre_row - size / 2), 0, self.height - size))
                left = int(np.clip(round(centre_col - size / 2), 0, self.width - size))
                return top, left
        return int(rng.integers(self.height - size + 1)), int(rng.integers(self.width - size + 1))


def person_loss_weight(masks: torch.Tensor, person_weight: float, margin: int = PERSON_MARGIN) -> torch.Tensor:
    """Per-pixel loss weights `(1, T, H, W)` from bool person masks `(T, H, W)`: `1 + person_weight` on the
    masks dilated by `margin` pixels (a max filter), 1 elsewhere."""
    masks = masks.float()[:, None]  # (T, 1, H, W)
    if margin > 0:
        masks = torch.nn.functional.max_pool2d(masks, 2 * margin + 1, stride=1, padding=margin)
    return (1.0 + person_weight * masks).permute(1, 0, 2, 3)  # (1, T, H, W)


def decode_unclamped(vae: AutoencoderKLWan, latents: torch.Tensor) -> torch.Tensor:
    """`vae.decode` without its final clamp to [-1, 1], for training: the clamp has zero gradient for a pixel
    pushed past the range, which would leave such pixels stuck. Same causal frame-by-frame loop as diffusers'."""
    vae.clear_cache()
    x = vae.post_quant_conv(latents)
    frames = []
    for index in range(x.shape[2]):
        vae._conv_idx = [0]
        frames.append(
            vae.decoder(x[:, :, index : index + 1], feat_cache=vae._feat_map, feat_idx=vae._conv_idx,
                        first_chunk=index == 0)
        )  # fmt: skip
    vae.clear_cache()
    return torch.cat(frames, dim=2)


@dataclass
class VAELossConfig:
    """Weights of the reconstruction and KL terms."""

    mse_weight: float = 1.0
    kl_weight: float = 1e-6


class VAELoss:
    """`compute_loss` of the VAE phases: named terms `loss`, `l1`, `mse`, `kl` (and `psnr`, logged only)."""

    def __init__(self, config: VAELossConfig) -> None:
        self.config = config

    def __call__(self, model: AutoencoderKLWan, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        video = batch["video"]
        posterior = model.encode(video).latent_dist
        reconstruction = decode_unclamped(model, posterior.sample())
        error = reconstruction - video
        mse = error.square().mean()
        kl = posterior.kl().mean() / video[0].numel()
        terms = {"mse": mse, "kl": kl, "psnr": 10 * torch.log10(4.0 / mse.detach())}
        if "weight" in batch:  # (B, 1, T, H, W): the person first, normalised so a weight of 1 is the plain loss
            weight = batch["weight"].expand_as(error)
            l1 = (weight * error.abs()).sum() / weight.sum()
            fit = (weight * error.square()).sum() / weight.sum()
        else:
            l1, fit = error.abs().mean(), mse
        loss = l1 + self.config.mse_weight * fit + self.config.kl_weight * kl
        return {"loss": loss, "l1": l1, **terms}


@dataclass
class VAEPhase:
    """One phase: `num_frames` per item (1 = images), its own batch size and step count, an optional square
    `crop_size` (pixels) of the frames, the person-first options of `SyntheticFrameDataset`, and
    `lr_schedule_steps`: the length of the learning-rate schedule when the phase stops before its end (a
    phase cut short for time keeps the schedule it was trained with)."""

    name: str
    num_frames: int
    batch_size: int
    max_steps: int
    learning_rate: float | None = None
    crop_size: int | None = None
    person_crop_prob: float = 0.0
    person_weight: float = 0.0
    lr_schedule_steps: int | None = None


@dataclass
class VAETrainingConfig(RecipeConfig):
    """`configs/vae_synth.json`: model (`AutoencoderKLWan` kwargs), data, loss, phases and training options."""

    model: dict
    train_data: str
    val_data: str
    train: TrainConfig
    phases: list[VAEPhase]
    loss: VAELossConfig = field(default_factory=VAELossConfig)
    synth: dict = field(default_factory=dict)
    items_per_epoch: int = 4096
    val_clips: int = 32
    stats_clips: int = 256

    @classmethod
    def from_dict(cls, values: dict, output_dir: str | os.PathLike[str], source: str = "config") -> VAETrainingConfig:
        allowed = ("model", "train_data", "val_data", "train", "phases", "loss", "items_per_epoch", "val_clips",
                   "stats_clips", "synth")  # fmt: skip
        check_config_keys(values, allowed, source)
        for key in ("model", "train_data", "val_data", "train", "phases"):
            if key not in values:
                raise InvalidInputError(f"{source}: missing the section {key!r}.")
        phases = []
        for index, phase in enumerate(values["phases"]):
            check_config_keys(phase, VAEPhase.__dataclass_fields__, f"{source}: phases[{index}]")
            phases.append(build_config_section(VAEPhase, phase, f"{source}: phases[{index}]"))
        if not phases:
            raise InvalidInputError(f"{source}: `phases` is empty.")
        loss = values.get("loss", {})
        check_config_keys(loss, VAELossConfig.__dataclass_fields__, f"{source}: loss")
        train = dict(values["train"], output_dir=str(output_dir))
        train.setdefault("max_steps", 1)
        train.setdefault("batch_size", 1)
        return cls(
            model=dict(values["model"]),
            train_data=str(values["train_data"]),
            val_data=str(values["val_data"]),
            train=TrainConfig.from_dict(train, source=f"{source}: train"),
            phases=phases,
            loss=build_config_section(VAELossConfig, loss, f"{source}: loss"),
            synth=dict(values.get("synth", {})),
            **{key: int(values[key]) for key in ("items_per_epoch", "val_clips", "stats_clips") if key in values},
        )


@torch.no_grad()
def reconstruction_scores(vae: AutoencoderKLWan, dataset: SyntheticClipFrames, num_clips: int) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of whole-clip reconstructions (posterior mode) of the first `num_clips` clips,
    and `psnr_person`: the PSNR over the pixels of the renderer's person masks (where the dataset has them)."""
    scores = {"psnr": [], "ssim": [], "psnr_person": []}
    for index in range(min(num_clips, len(dataset))):
        video = dataset.video(index)
        reconstruction = vae.decode(vae.encode(video).latent_dist.mode()).sample
        scores["psnr"].append(psnr(reconstruction, video).mean().item())
        scores["ssim"].append(ssim(reconstruction, video).mean().item())
        try:
            person = torch.from_numpy(dataset.masks(index))  # (T, H, W)
        except InvalidInputError:  # a dataset without masks
            continue
        if person.any():
            error = (reconstruction - video).square().mean(dim=1)[0]  # (T, H, W)
            scores["psnr_person"].append(10 * np.log10(4.0 / error[person].mean().item()))
    return {name: float(np.mean(values)) for name, values in scores.items() if values}


@torch.no_grad()
def latent_statistics(vae: AutoencoderKLWan, dataset: SyntheticClipFrames, num_clips: int) -> tuple[list, list]:
    """Per-channel mean and std of the posterior means over `num_clips` clips (float64 running sums)."""
    total = torch.zeros(vae.config.z_dim, dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    count = 0
    for index in tqdm(range(min(num_clips, len(dataset))), desc="latent statistics", unit="clip"):
        video = dataset.video(index)
        latents = vae.encode(video).latent_dist.mode().to(torch.float64)
        total += latents.sum(dim=(0, 2, 3, 4))
        total_sq += latents.square().sum(dim=(0, 2, 3, 4))
        count += latents[:, 0].numel()
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(1e-12).sqrt()
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def ensure_synthetic_data(config: VAETrainingConfig) -> None:
    """Build (or finish) the train and val datasets from `config.synth` when their directories are not complete.

    `config.synth` maps "train" / "val" to `{"split": CMU subject split, **SynthConfig options}`."""
    from ..data.cmu import CMUMocap
    from ..data.synth import MANIFEST, SynthConfig, build_synthetic_dataset

    for name, root in (("train", config.train_data), ("val", config.val_data)):
        manifest = Path(root) / MANIFEST
        if manifest.is_file() and json.loads(manifest.read_text()).get("complete"):
            continue  # any complete version of the format: only its frames are read
        if name not in config.synth:
            raise InvalidInputError(f"{root}: no complete synthetic dataset, and the config has no `synth.{name}`.")
        options = {"split": name, **config.synth[name]}
        synth_config = SynthConfig(**options)
        trials = CMUMocap(None, split=options["split"], fps=synth_config.fps, min_frames=synth_config.num_frames)
        build_synthetic_dataset(trials, root, synth_config)


def _phase_train_config(config: VAETrainingConfig, phase: VAEPhase, output_dir: Path) -> TrainConfig:
    values = {**config.train.__dict__, "output_dir": str(output_dir), "max_steps": phase.max_steps,
              "batch_size": phase.batch_size}  # fmt: skip
    if phase.learning_rate is not None:
        values["learning_rate"] = phase.learning_rate
    if phase.lr_schedule_steps is not None:
        values["lr_schedule_steps"] = phase.lr_schedule_steps
    return TrainConfig(**values)


def train_vae(config: VAETrainingConfig, command: str | None = None) -> Path:
    """Run the phases, then write `OUTPUT/final` (weights, latent statistics, card). Returns that directory.

    `command` is what the card says reproduces the run (default: `kinevid train vae` on configs/vae_synth.json)."""
    output_dir = Path(config.train.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(output_dir / "vae_config.json") as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=2))
    if config.train.num_threads is not None:
        torch.set_num_threads(config.train.num_threads)
    ensure_synthetic_data(config)
    tic = time.perf_counter()
    previous: Path | None = None
    for phase in config.phases:
        phase_dir = output_dir / phase.name
        if (phase_dir / FINAL_DIR / "config.json").is_file():
            previous = phase_dir / FINAL_DIR
            continue
        vae = AutoencoderKLWan.from_pretrained(previous) if previous is not None else AutoencoderKLWan(**config.model)
        dataset = SyntheticFrameDataset(
            config.train_data, phase.num_frames, config.items_per_epoch, seed=config.train.seed,
            crop_size=phase.crop_size, person_crop_prob=phase.person_crop_prob, person_weight=phase.person_weight,
        )  # fmt: skip
        loader = torch.utils.data.DataLoader(dataset, batch_size=phase.batch_size, shuffle=True, drop_last=True)
        val_set = SyntheticClipFrames(config.val_data)

        def validate(model: AutoencoderKLWan, step: int, val_set=val_set) -> dict[str, float]:
            return reconstruction_scores(model, val_set, config.val_clips)

        trainer = Trainer(vae, VAELoss(config.loss), loader, _phase_train_config(config, phase, phase_dir), validate)
        if trainer.config.resume and trainer.latest_checkpoint() is None:  # a resumed run reaching a new phase
            trainer.config.resume = False
        trainer.fit()
        previous = phase_dir / FINAL_DIR
    seconds = time.perf_counter() - tic
    return export_vae(previous, output_dir / FINAL_DIR, config, train_seconds=seconds, command=command)


def export_vae(
    weights_dir: Path,
    output: Path,
    config: VAETrainingConfig,
    train_seconds: float | None = None,
    command: str | None = None,
) -> Path:
    """Write the shipped VAE directory: `weights_dir`'s weights, the training set's latent statistics in the
    config, a fp32 safetensors file and `vae_card.json` (data, phases, validation scores)."""
    vae = load_video_vae(weights_dir)
    train_set = SyntheticClipFrames(config.train_data)
    mean, std = latent_statistics(vae, train_set, config.stats_clips)
    vae.register_to_config(latents_mean=mean, latents_std=std)
    scores = reconstruction_scores(vae, SyntheticClipFrames(config.val_data), config.val_clips)
    partial = output.with_name(output.name + ".partial")
    vae.save_pretrained(partial)
    card = {
        "model": "AutoencoderKLWan",
        "parameters": sum(p.numel() for p in vae.parameters()),
        "train_data": {"path": config.train_data, "config": train_set.config},
        "phases": [phase.__dict__ for phase in config.phases],
        "loss": config.loss.__dict__,
        "val_scores": {"clips": config.val_clips, **scores},
        "train_seconds": train_seconds,
        "command": command or "kinevid train vae --config configs/vae_synth.json --output runs/vae",
    }
    (partial / CARD_FILE).write_text(json.dumps(card, indent=2))
    if output.exists():
        import shutil

        shutil.rmtree(output)
    partial.rename(output)
    return output


def train_from_cli(args: argparse.Namespace) -> int:
    config = VAETrainingConfig.load(args.config, output_dir=args.output)
    config.train.resume = args.resume
    if args.max_steps is not None:
        for phase in config.phases:
            phase.max_steps = args.max_steps
    final = train_vae(config, command=f"kinevid train vae --config {args.config} --output {args.output}")
    card = json.loads((final / CARD_FILE).read_text())
    print(f"trained VAE: {final} (val PSNR {card['val_scores']['psnr']:.2f} dB, SSIM {card['val_scores']['ssim']:.3f})")
    return 0
