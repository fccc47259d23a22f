"""Recipe: train MoSA's appearance branch (a Wan DiT with HADC) on a latent cache of paired clips.

    kinevid train mosa --config configs/mosa_synth.json --output runs/mosa

The structure model is frozen and unused here: the condition is the skeleton video of the
ground-truth motion (`batch["skeleton"]` from the cache). Per batch (`MoSATrainingRecipe.compute_loss`):

1. Flow matching as Wan and EchoMotion train it (`kinevid.diffusion.flow_matching`): noise levels
   `s` drawn and shifted, `x_t = (1 - s) x0 + s eps`, the model predicts `v = eps - x0` at timestep
   `1000 s`; `L_d` = MSE to `v`.
2. Classifier-free guidance dropout, per sample: the caption is replaced by the null text (the
   encoding of "" padded like every caption, exactly what `MoSAPipeline` uses) with probability
   `text_dropout`; the skeleton is dropped (`skeleton_dropout` passed to the model: its HADC sites
   skip that sample) with probability `skeleton_dropout`.
3. `L_m` every step: the HADC sites' mask logits against the cached person mask at latent
   resolution (`kinevid.losses.mask_loss`).
4. `L_track` and `L_cont` every `track_every` calls: the x0 prediction `x_t - s v_pred` is decoded by
   the frozen VAE with gradients; `kinevid.losses.tracking_loss` tracks it (`DenseTracker`) against
   the cached tracks, `video_contact_loss` tracks the ground-truth planted feet (projected through
   the clip's camera, `foot_contact_targets`) one frame on.

`L = L_d + l_m L_m + l_track L_track + l_cont L_cont` by `kinevid.losses.MoSALoss` (weights,
`track_every` and tracker options in the `loss` section, `MoSALossConfig`); `L_m`, `L_track` and
`L_cont` count only the samples that kept their skeleton. Every term is logged.

Output directory: the Trainer's layout (`logs.jsonl`, `checkpoints/`, `final/` = the transformer),
`mosa_config.json` (the config used) and `pipeline/`, a `MoSAPipeline` directory ready for sampling.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from torch import nn

from ..data import LatentCacheDataset
from ..data.cache import cache_spatial_factor
from ..diffusion.flow_matching import (
    TIMESTEP_DISTRIBUTIONS,
    add_noise,
    per_sample_mse,
    sample_sigmas,
    sigmas_to_timesteps,
    velocity_target,
)
from ..errors import InvalidInputError
from ..losses import DenseTracker, MoSALoss, MoSALossConfig, foot_contact_targets
from ..models.appearance import MoSAWanTransformer3DModel
from ..models.vae import decode_latents, load_video_vae, vae_spatial_factor
from ..pipelines.pipeline_mosa import NULL_PROMPT, MoSAPipeline, encode_text, pad_text_tokens
from ..pipelines.pipeline_text_to_motion import TextToMotionPipeline
from ..text import load_text_encoder
from ..train.engine import TRAINER_STATE, RecipeConfig, TrainConfig, Trainer, build_config_section, check_config_keys
from .common import (
    apply_cli_overrides,
    check_sampling_section,
    fixed_batches,
    mean_terms,
    save_pipeline,
    training_loader,
    write_run_config,
)

TRAINABLE = ("all", "mosa", "lora")
"""What trains: every parameter, only the HADC / skeleton-encoder parameters (backbone frozen), or those
plus PEFT LoRA adapters on the backbone's attention projections."""

BATCH_KEYS = ("latents", "text_tokens", "text_mask", "mask_latent", "skeleton", "tracks", "track_visibility")
CONTACT_KEYS = ("joints", "camera_intrinsics", "camera_rotation", "camera_translation", "fps")


def _check_value(name: str, value, kind: type | tuple[type, ...], rule: str = "", ok: bool = True) -> None:
    """Raise `InvalidInputError` "`name` must be ..." unless `value` is a `kind` (a bool is not a number) and `ok`."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    is_kind = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not (is_kind and ok):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise InvalidInputError(f"`{name}` must be {names}{rule}, got {value!r}")


@dataclass
class MoSAObjectiveConfig:
    """The flow-matching objective and its dropout.

    Args:
        shift (`float`, defaults to 3.0): time shift of the training noise levels (Wan at 480p: 3).
        timestep_distribution (`str`, defaults to "uniform"): "uniform" or "logit_normal".
        text_dropout (`float`, defaults to 0.1): probability a caption becomes the null text.
        skeleton_dropout (`float`, defaults to 0.05): probability a sample gets no skeleton
            (UniAnimate-DiT drops 5% of poses).
        max_sequence_length (`int`, defaults to 512): text tokens per caption the DiT sees (padded with
            zeros; `MoSAPipeline` pads to the same length).
    """

    shift: float = 3.0
    timestep_distribution: str = "uniform"
    text_dropout: float = 0.1
    skeleton_dropout: float = 0.05
    max_sequence_length: int = 512

    def __post_init__(self) -> None:
        if self.timestep_distribution not in TIMESTEP_DISTRIBUTIONS:
            raise InvalidInputError(
                f"`timestep_distribution` must be one of {TIMESTEP_DISTRIBUTIONS}, got {self.timestep_distribution!r}"
            )
        number = (int, float)
        for name in ("text_dropout", "skeleton_dropout"):
            value = getattr(self, name)
            _check_value(name, value, number, " in [0, 1]", isinstance(value, number) and 0 <= value <= 1)
        _check_value("shift", self.shift, number, " > 0", isinstance(self.shift, number) and self.shift > 0)
        length = self.max_sequence_length
        _check_value("max_sequence_length", length, int, " >= 1", isinstance(length, int) and length >= 1)


@dataclass
class MoSADataConfig:
    """Where the latent caches are (`kinevid.data.build_latent_cache` output directories).

    Args:
        cache_dir (`str`): training cache.
        val_cache_dir (`str`, *optional*): validation cache (loss terms on fixed noise, logged as `val/...`).
        validation_batches (`int`, defaults to 2): batches of the validation cache per validation.
        num_workers (`int`, defaults to 0): dataloader worker processes.
    """

    cache_dir: str
    val_cache_dir: str | None = None
    validation_batches: int = 2
    num_workers: int = 0

    def __post_init__(self) -> None:
        _check_value("cache_dir", self.cache_dir, str, " (a latent cache directory)", bool(self.cache_dir))
        _check_value("val_cache_dir", self.val_cache_dir, (str, type(None)))
        batches, workers = self.validation_batches, self.num_workers
        _check_value("validation_batches", batches, int, " >= 1", isinstance(batches, int) and batches >= 1)
        _check_value("num_workers", workers, int, " >= 0", isinstance(workers, int) and workers >= 0)


@dataclass
class MoSAModelConfig:
    """The transformer and what of it trains.

    Args:
        config (`dict`): `MoSAWanTransformer3DModel` arguments (a fresh model), or overrides of the
            config at `pretrained` (e.g. `hadc_layers`).
        pretrained (`str`, *optional*): a `WanTransformer3DModel` / `MoSAWanTransformer3DModel` directory
            (a Wan2.1 diffusers `transformer/` loads without conversion; HADC weights start at zero).
        trainable (`str`, defaults to "all"): one of `TRAINABLE`.
        lora_rank (`int`, defaults to 16), lora_alpha (`float`, *optional*): with `trainable="lora"`.
        gradient_checkpointing (`bool`, defaults to False): recompute block activations in backward.
        fresh_mosa (`bool`, defaults to False): take only the backbone from `pretrained`; the HADC sites and
            the skeleton encoder start from their initialisation (seeded by `train.seed`), as on a plain Wan
            checkpoint. The ablations fine-tune one pretrained T2V DiT this way (`configs/ablations`).
        ignore_mismatched_sizes (`bool`, defaults to False): warm start from `pretrained` across a change of
            shapes (a VAE with another spatial factor: `config` sets the new `patch_size` and
            `skeleton_spatial_factor`); weights whose shape changed keep their fresh initialisation.
    """

    config: dict = field(default_factory=dict)
    pretrained: str | None = None
    trainable: str = "all"
    lora_rank: int = 16
    lora_alpha: float | None = None
    gradient_checkpointing: bool = False
    fresh_mosa: bool = False
    ignore_mismatched_sizes: bool = False

    def __post_init__(self) -> None:
        if self.trainable not in TRAINABLE:
            raise InvalidInputError(f"`trainable` must be one of {TRAINABLE}, got {self.trainable!r}")
        _check_value("config", self.config, dict, " of MoSAWanTransformer3DModel arguments")
        _check_value("pretrained", self.pretrained, (str, type(None)))
        rank = self.lora_rank
        _check_value("lora_rank", rank, int, " >= 1", isinstance(rank, int) and rank >= 1)
        alpha = self.lora_alpha
        positive = alpha is None or (isinstance(alpha, int | float) and alpha > 0)
        _check_value("lora_alpha", alpha, (int, float, type(None)), " > 0", positive)
        _check_value("gradient_checkpointing", self.gradient_checkpointing, bool)
        _check_value("fresh_mosa", self.fresh_mosa, bool)
        if self.fresh_mosa and self.pretrained is None:
            raise InvalidInputError("`fresh_mosa` needs `pretrained` (the backbone to fine-tune)")
        _check_value("ignore_mismatched_sizes", self.ignore_mismatched_sizes, bool)
        if self.ignore_mismatched_sizes and self.pretrained is None:
            raise InvalidInputError("`ignore_mismatched_sizes` needs `pretrained` (the checkpoint to warm start from)")


@dataclass
class MoSATrainingConfig(RecipeConfig):
    """Everything `configs/mosa_synth.json` holds: one section per dataclass.

    Args:
        train (`TrainConfig`): optimisation (`output_dir` comes from the command line).
        data (`MoSADataConfig`):
        model (`MoSAModelConfig`):
        objective (`MoSAObjectiveConfig`):
        loss (`kinevid.losses.MoSALossConfig`): weights `l_m`, `l_track`, `l_cont` and `track_every`.
        vae (`str`, *optional*): `AutoencoderKLWan` directory (the cache's VAE); None = the shipped one.
        text_encoder (`str`, defaults to "minilm"): the cache's text encoder (`kinevid.text.load_text_encoder`).
        structure (`str`, *optional*): `TextToMotionPipeline` directory put into the exported pipeline
            (None = the shipped one).
        sampling (`dict`): the exported pipeline's sampling defaults `num_inference_steps` and
            `guidance_scale` (its size, length and fps are the cache's).
    """

    train: TrainConfig
    data: MoSADataConfig
    model: MoSAModelConfig = field(default_factory=MoSAModelConfig)
    objective: MoSAObjectiveConfig = field(default_factory=MoSAObjectiveConfig)
    loss: MoSALossConfig = field(default_factory=MoSALossConfig)
    vae: str | None = None
    text_encoder: str = "minilm"
    structure: str | None = None
    sampling: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_sampling_section(self.sampling)

    @classmethod
    def from_dict(cls, values: dict, output_dir: str | os.PathLike[str], source: str = "config") -> MoSATrainingConfig:
        values = dict(values)
        check_config_keys(values, {f.name for f in fields(cls)}, source)
        train = TrainConfig.from_dict({**values.pop("train", {}), "output_dir": str(output_dir)}, f"{source}: train")
        sections = {"data": MoSADataConfig, "model": MoSAModelConfig, "objective": MoSAObjectiveConfig}
        sections["loss"] = MoSALossConfig
        if "data" not in values:
            raise InvalidInputError(f"{source}: a `data` section with `cache_dir` (a kinevid latent cache) is required")
        parsed = {}
        for name, section_type in sections.items():
            section = values.pop(name, {})
            check_config_keys(section, {f.name for f in fields(section_type)}, f"{source}: {name}")
            if name == "loss":
                tracker_options = set(inspect.signature(DenseTracker.__init__).parameters) - {"self"}
                check_config_keys(section.get("tracker", {}), tracker_options, f"{source}: loss.tracker")
            try:
                parsed[name] = build_config_section(section_type, section, f"{source}: {name}")
            except (InvalidInputError, TypeError) as error:  # TypeError: a value of the wrong type compared
                raise InvalidInputError(f"{source}: {name}: {error}") from error
        model_options = set(inspect.signature(MoSAWanTransformer3DModel.__init__).parameters) - {"self"}
        check_config_keys(parsed["model"].config, model_options, f"{source}: model.config")
        for name, kind in (("vae", (str, type(None))), ("text_encoder", str), ("structure", (str, type(None)))):
            if name in values:
                try:
                    _check_value(name, values[name], kind, " (a name or directory)")
                except InvalidInputError as error:
                    raise InvalidInputError(f"{source}: {error}") from error
        return cls(train=train, **parsed, **values)


# ---------------------------------------------------------------------- the objective
def _bernoulli(probability: float, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(batch_size, generator=generator) < probability


def _check_batch(batch: dict) -> None:
    missing = [key for key in BATCH_KEYS if key not in batch]
    if missing:
        raise InvalidInputError(
            f"MoSA batch lacks {missing}; it needs {list(BATCH_KEYS)} (kinevid.data.LatentCacheDataset items)"
        )


class MoSATrainingRecipe:
    """Binds the objective to a model: `training_step(batch)` and the Trainer's `compute_loss(model, batch)`.

    Args:
        model (`MoSAWanTransformer3DModel`): the model to train.
        vae (`AutoencoderKLWan`): the cache's VAE, frozen; decodes the x0 prediction for `L_track` / `L_cont`.
        null_text (`torch.Tensor` of shape `(L, D)`): `encode_text(text_encoder, NULL_PROMPT, L)[0]`.
        objective (`MoSAObjectiveConfig`, *optional*):
        loss (`kinevid.losses.MoSALossConfig`, *optional*): weights, `track_every`, tracker options.
        tracker (`nn.Module`, *optional*): defaults to `DenseTracker(**loss.tracker)`.
        generator (`torch.Generator`, *optional*): CPU generator of noise, levels, dropout and tracked points
            (default: torch's global generator, which the Trainer seeds and restores on resume).

    Attributes:
        mosa_loss (`kinevid.losses.MoSALoss`): combines the terms (its `tracker` does the tracking).
        num_calls (`int`): losses computed so far; `L_track` and `L_cont` run on calls `0, n, 2n, ...`
            (`n = track_every`; with gradient accumulation a call is a micro-batch).
    """

    def __init__(
        self,
        model: nn.Module,
        vae: nn.Module,
        null_text: torch.Tensor,
        objective: MoSAObjectiveConfig | None = None,
        loss: MoSALossConfig | None = None,
        tracker: nn.Module | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.model = model
        self.vae = vae.eval().requires_grad_(False)
        self.objective = objective or MoSAObjectiveConfig()
        loss = loss or MoSALossConfig()
        fusion = model.config.get("structure_fusion", "hadc") if hasattr(model, "config") else "hadc"
        if fusion != "hadc" and loss.lambda_mask > 0:
            raise InvalidInputError(
                f"`loss.lambda_mask` must be 0 with `model.config.structure_fusion` {fusion!r}: L_m supervises "
                "HADC's dynamic weights, which that model does not have"
            )
        self.mosa_loss = MoSALoss(loss, tracker)
        self.mosa_loss.tracker.eval().requires_grad_(False)
        if null_text.ndim != 2:
            raise InvalidInputError(f"`null_text` must be (L, D) token embeddings, got {tuple(null_text.shape)}")
        real = torch.ones(1, null_text.shape[0], dtype=torch.bool)
        self.null_text = pad_text_tokens(null_text[None], real, self.objective.max_sequence_length)[0]
        self.generator = generator
        self.num_calls = 0

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms of `batch` on the recipe's model."""
        return self.compute_loss(self.model, batch)

    def compute_loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Named loss terms (`"loss"` to minimise) of one batch on `model` (possibly accelerate-wrapped)."""
        step = self.num_calls
        self.num_calls += 1
        return self.loss_terms(model, batch, step)

    def loss_terms(self, model: nn.Module, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """The loss terms of one batch at call `step` (which decides whether `L_track` / `L_cont` run)."""
        _check_batch(batch)
        objective = self.objective
        latents = batch["latents"]
        batch_size, device = latents.shape[0], latents.device

        # 1. Flow matching
        noise = torch.randn(latents.shape, generator=self.generator).to(latents)
        sigmas = sample_sigmas(
            batch_size, objective.shift, objective.timestep_distribution, generator=self.generator, device=device
        )
        noisy = add_noise(latents, noise, sigmas)

        # 2. Conditions with classifier-free-guidance dropout
        text = pad_text_tokens(batch["text_tokens"], batch["text_mask"], objective.max_sequence_length)
        drop_text = _bernoulli(objective.text_dropout, batch_size, self.generator).to(device)
        text = torch.where(drop_text[:, None, None], self.null_text.to(text).expand_as(text), text)
        drop_skeleton = _bernoulli(objective.skeleton_dropout, batch_size, self.generator).to(device)

        output = model(
            noisy,
            sigmas_to_timesteps(sigmas),
            text,
            skeleton_video=batch["skeleton"],
            skeleton_dropout=drop_skeleton,
            return_mask_logits=True,
        )
        velocity = output.sample
        diffusion = per_sample_mse(velocity, velocity_target(latents, noise)).mean()

        # 3. Tracking and contact supervision on the decoded x0 prediction (tracking steps only)
        video_terms = {}
        if self.mosa_loss.should_track(step):
            x0 = noisy - sigmas.to(noisy).reshape(-1, 1, 1, 1, 1) * velocity
            video_terms["pred_video"] = decode_latents(self.vae.to(device), x0).float()  # with gradient
            video_terms["gt_tracks"], video_terms["track_visibility"] = batch["tracks"], batch["track_visibility"]
            if self.mosa_loss.config.lambda_contact > 0:
                video_terms["foot_pixels"], video_terms["foot_contacts"] = _foot_contact_targets(batch)

        # 4. L = L_d + l_m L_m + l_track L_track + l_cont L_cont, on the samples that kept their skeleton
        terms = self.mosa_loss(
            diffusion,
            step,
            mask_logits=output.mask_logits,
            mask_latent=batch["mask_latent"],
            sample_mask=~drop_skeleton,
            generator=self.generator,
            **video_terms,
        )
        terms["dropped/text"] = drop_text.float().mean()
        terms["dropped/skeleton"] = drop_skeleton.float().mean()
        return terms


def _foot_contact_targets(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """`kinevid.losses.foot_contact_targets` of the batch's ground-truth motion and camera."""
    missing = [key for key in CONTACT_KEYS if key not in batch]
    if missing:
        raise InvalidInputError(
            f"L_cont needs the motion and camera of every clip; the batch lacks {missing} (a cache without the "
            "motion / camera fields): set loss.lambda_contact to 0 or cache a source that has them"
        )
    fps = batch["fps"]
    fps = float(fps.flatten()[0]) if isinstance(fps, torch.Tensor) else float(fps)
    image_size = tuple(batch["skeleton"].shape[-2:])
    return foot_contact_targets(
        batch["joints"],
        batch["camera_intrinsics"],
        batch["camera_rotation"],
        batch["camera_translation"],
        image_size,
        fps,
    )


# ---------------------------------------------------------------------- setup
def build_transformer(config: MoSAModelConfig) -> MoSAWanTransformer3DModel:
    """A fresh or pretrained `MoSAWanTransformer3DModel`, with `fresh_mosa` and `trainable` applied."""
    if config.pretrained is not None:
        model = MoSAWanTransformer3DModel.from_pretrained(
            config.pretrained, ignore_mismatched_sizes=config.ignore_mismatched_sizes, **config.config
        )
        if config.fresh_mosa:
            model.reset_mosa_parameters()
    else:
        model = MoSAWanTransformer3DModel(**config.config)
    if config.trainable in ("mosa", "lora"):
        model.freeze_backbone()
    if config.trainable == "lora":
        model.add_backbone_lora(config.lora_rank, alpha=config.lora_alpha)
    if config.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    return model


def check_spatial_factor(model: nn.Module, dataset, vae: nn.Module | None = None) -> int:
    """The cache's VAE spatial factor f (`geometry["spatial_factor"]`, 8 when not recorded), checked against
    the model's `skeleton_spatial_factor` (and the VAE's, if given); `InvalidInputError` naming both otherwise.

    Args:
        model (`MoSAWanTransformer3DModel`): the model to train or score.
        dataset (`LatentCacheDataset`): the cache (anything with a `geometry` dict; without one, f = 8).
        vae (`AutoencoderKLWan`, *optional*): the VAE the recipe decodes with.
    """
    where = getattr(dataset, "root", "the cache")
    factor = cache_spatial_factor(getattr(dataset, "geometry", {}))
    model_factor = int(model.config.get("skeleton_spatial_factor", 8))
    if model_factor != factor:
        raise InvalidInputError(
            f"{where}: the cache's latents are {factor}x the pixels (geometry.spatial_factor) but "
            f"model.config.skeleton_spatial_factor is {model_factor}; set it to {factor} (with a patch size that "
            "keeps the token grid, e.g. (1, 4, 4) for 4)"
        )
    if vae is not None and vae_spatial_factor(vae) != factor:
        raise InvalidInputError(
            f"{where}: the cache's latents are {factor}x the pixels but the VAE's spatial factor is "
            f"{vae_spatial_factor(vae)}; use the VAE the cache was encoded with"
        )
    return factor


def make_validation(recipe: MoSATrainingRecipe, dataset, batch_size: int, num_batches: int, seed: int = 0):
    """`validate(model, step)`: mean loss terms (tracking included) on fixed batches with fixed noise."""
    batches = fixed_batches(dataset, batch_size, num_batches)

    def validate(model: nn.Module, step: int) -> dict[str, float]:
        generator, recipe.generator = recipe.generator, torch.Generator().manual_seed(seed)
        try:
            device = next(model.parameters()).device
            return mean_terms(batches, device, lambda batch: recipe.loss_terms(model, batch, step=0))
        finally:
            recipe.generator = generator

    return validate


@torch.no_grad()
def evaluate_cache_loss(
    config: MoSATrainingConfig,
    transformer_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    num_clips: int | None = None,
    seed: int = 0,
    with_tracking: bool = False,
) -> dict[str, list[float]]:
    """Loss terms of a trained transformer on each clip of a latent cache (e.g. the test split's).

    Everything conditioned (no text or skeleton dropout), fixed noise, levels and tracked points (`seed`),
    one clip per call: `"diffusion"` (L_d), `"mask"` (L_m, HADC only) and, with `with_tracking`,
    `"track"` / `"contact"` (each clip decoded and tracked: slow).

    Args:
        config (`MoSATrainingConfig`): the config the model was trained with (VAE, text encoder, objective,
            loss weights).
        transformer_dir: the trained `MoSAWanTransformer3DModel` (a run's `final/`).
        cache_dir: the latent cache to score (made with `config.vae` and `config.text_encoder`).
        num_clips (`int`, *optional*): the cache's first clips (default: all).

    Returns:
        `dict[str, list[float]]`: term -> one value per clip.
    """
    vae = load_video_vae(config.vae)
    dataset = LatentCacheDataset(cache_dir, expect_vae=vae, expect_text_encoder=config.text_encoder)
    model = MoSAWanTransformer3DModel.from_pretrained(transformer_dir).eval()
    check_spatial_factor(model, dataset, vae)
    objective = dataclasses.replace(config.objective, text_dropout=0.0, skeleton_dropout=0.0)
    null_text = encode_text(load_text_encoder(config.text_encoder), NULL_PROMPT, objective.max_sequence_length)[0]
    recipe = MoSATrainingRecipe(model, vae, null_text, objective, config.loss)
    recipe.generator = torch.Generator().manual_seed(seed)
    step = 0 if with_tracking else 1  # call 0 tracks; call 1 does not (unless loss.track_every is 1)
    device = next(model.parameters()).device
    count = len(dataset) if num_clips is None else min(num_clips, len(dataset))
    values: dict[str, list[float]] = {}
    for batch in fixed_batches(dataset, 1, count):
        terms = mean_terms([batch], device, lambda batch: recipe.loss_terms(model, batch, step))
        for name, value in terms.items():
            if not name.startswith("dropped/"):
                values.setdefault(name, []).append(value)
    return values


def _resumed_calls(trainer: Trainer, config: TrainConfig) -> int:
    """`compute_loss` calls before the checkpoint a resumed run starts from (0 without resume)."""
    if not config.resume:
        return 0
    checkpoint = trainer.latest_checkpoint()
    if checkpoint is None:
        return 0
    step = int(json.loads((checkpoint / TRAINER_STATE).read_text())["step"])
    return step * config.gradient_accumulation_steps


def train_mosa(config: MoSATrainingConfig) -> Path:
    """Run the recipe; returns the directory of the trained `MoSAPipeline`."""
    output_dir = Path(config.train.output_dir)
    if config.train.num_threads is not None:
        torch.set_num_threads(config.train.num_threads)
    vae = load_video_vae(config.vae)
    text_encoder = load_text_encoder(config.text_encoder)
    train_set = LatentCacheDataset(config.data.cache_dir, expect_vae=vae, expect_text_encoder=config.text_encoder)
    if not train_set.fields["skeleton"]:
        raise InvalidInputError(
            f"{train_set.root}: the cache holds no skeleton maps (fields.skeleton false); MoSA trains on them "
            "(cache a synthetic dataset, or a source with skeletons)"
        )
    torch.manual_seed(config.train.seed)  # the initialisation of new weights
    model = build_transformer(config.model)
    check_spatial_factor(model, train_set, vae)
    null_text = encode_text(text_encoder, NULL_PROMPT, config.objective.max_sequence_length)[0]
    recipe = MoSATrainingRecipe(model, vae, null_text, config.objective, config.loss)
    validate = None
    if config.data.val_cache_dir is not None:
        val_set = LatentCacheDataset(config.data.val_cache_dir, expect_vae=vae, expect_text_encoder=config.text_encoder)
        check_spatial_factor(model, val_set, vae)
        validate = make_validation(
            recipe, val_set, config.train.batch_size, config.data.validation_batches, config.train.seed
        )
    dataloader = training_loader(
        train_set, config.train, config.data.num_workers, str(config.data.cache_dir), len(train_set)
    )
    write_run_config(output_dir, "mosa_config.json", config.to_dict())
    trainer = Trainer(model, recipe.compute_loss, dataloader, config.train, validate=validate)
    recipe.num_calls = _resumed_calls(trainer, config.train)
    trainer.fit()

    transformer = MoSAWanTransformer3DModel.from_pretrained(output_dir / "final").eval()
    pipeline = MoSAPipeline(
        transformer,
        vae,
        text_encoder,
        FlowMatchEulerDiscreteScheduler(shift=config.objective.shift),
        structure=TextToMotionPipeline.from_pretrained(config.structure),
        text_encoder_name=config.text_encoder,
        max_sequence_length=config.objective.max_sequence_length,
        fps=train_set.fps,
        height=train_set.geometry["height"],
        width=train_set.geometry["width"],
        num_frames=train_set.geometry["num_frames"],
        **config.sampling,
    )
    return save_pipeline(pipeline, output_dir / "pipeline")


def train_from_cli(args: argparse.Namespace) -> int:
    """`kinevid train mosa --config FILE --output DIR [--resume] [--max-steps N]`."""
    config = MoSATrainingConfig.load(args.config, output_dir=args.output)
    apply_cli_overrides(config.train, args)
    if getattr(args, "max_trials", None) is not None:
        raise InvalidInputError("`--max-trials` does not apply to `kinevid train mosa` (it trains on a latent cache)")
    pipeline_dir = train_mosa(config)
    print(f"trained pipeline: {pipeline_dir}")
    print(f'try: MoSAPipeline.from_pretrained("{pipeline_dir}")("a person walks forward", height=..., width=...)')
    return 0


__all__ = [
    "TRAINABLE",
    "MoSADataConfig",
    "MoSAModelConfig",
    "MoSAObjectiveConfig",
    "MoSATrainingConfig",
    "MoSATrainingRecipe",
    "build_transformer",
    "check_spatial_factor",
    "evaluate_cache_loss",
    "train_from_cli",
    "train_mosa",
]
