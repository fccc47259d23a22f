"""Recipes: EchoMotion's two training stages on a latent cache of paired clips.

    kinevid train echomotion-stage1 --config configs/echomotion_stage1.json --output runs/em1
    kinevid train echomotion-stage2 --config configs/echomotion_stage2.json --output runs/em2

Stage 1 (motion-only, paper phase 1): the video branch is frozen and video inputs are omitted; the
motion branch learns text -> motion by flow matching on the cache's motion features and captions.
The `MotionNormalizer` is fitted here on the training cache's motion features and stored in the
transformer's config (`set_motion_normalizer`), so every later stage and the pipeline use it.

Stage 2 (multi-task, paper phase 2) starts from stage 1's output (`init_from`) and trains every
parameter: each sample draws joint / motion-to-video / video-to-motion, the conditioning modality is
noise-free with timestep 0, the task embedding tells the model which, and the in-context CFG dropout
is joint: text; m2v: text and motion; v2m: text always, video at random
(`kinevid.diffusion.echomotion_training`). It writes `pipeline/`, an `EchoMotionPipeline` directory
with the cache's VAE and text encoder, ready to sample.

Dropped text becomes the null text: the text encoder's encoding of `""` padded to
`max_sequence_length`, computed by the pipeline's own `encode_prompt_embeds`, so training drops text
to exactly what sampling guides with.

Output directory: the Trainer's layout (`logs.jsonl`, `checkpoints/`, `final/` = the transformer with
its motion normaliser), `echomotion_config.json` (the config used), and for stage 2 `pipeline/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from torch import nn

from ..diffusion.echomotion_training import (
    STAGES,
    EchoMotionTrainingConfig,
    EchoMotionTrainingRecipe,
    echomotion_training_step,
)
from ..errors import InvalidInputError, MissingWeightsError
from ..models.appearance import EchoMotionTransformer3DModel
from ..motion.codecs.normalizer import MotionNormalizer
from ..pipelines.pipeline_echomotion import EchoMotionPipeline, encode_prompt_embeds
from ..pipelines.pipeline_mosa import pad_text_tokens
from ..train.engine import FINAL_DIR, RecipeConfig, TrainConfig, Trainer, build_config_section, check_config_keys
from .common import (
    apply_cli_overrides,
    check_sampling_section,
    fixed_batches,
    mean_terms,
    save_pipeline,
    training_loader,
    write_run_config,
)

TASK_STAGES = {"echomotion-stage1": 1, "echomotion-stage2": 2}
"""`kinevid train` task name -> stage."""

CONFIG_FILE = "echomotion_config.json"
PIPELINE_DIR = "pipeline"
GEOMETRY_KEYS = ("height", "width", "num_frames")  # the cache clips' size and length: the pipeline's defaults


@dataclass
class EchoMotionDataConfig:
    """Where the latent caches are (`kinevid data cache` output directories; they need `fields.motion`).

    Args:
        cache_dir (`str`): the training cache (the train split).
        val_cache_dir (`str`, *optional*): a validation cache; its loss terms on fixed noise, levels, tasks
            and dropout are logged as `val/...`.
        validation_batches (`int`, defaults to 2): validation batches per validation.
        normalization_clips (`int`, *optional*): fit the motion normaliser on the first this many training
            clips (default: all).
        num_workers (`int`, defaults to 0): dataloader worker processes.
    """

    cache_dir: str = ""
    val_cache_dir: str | None = None
    validation_batches: int = 2
    normalization_clips: int | None = None
    num_workers: int = 0


@dataclass
class EchoMotionModelConfig:
    """The transformer of stage 1 (stage 2 takes stage 1's, from `init_from`).

    Args:
        config (`dict`): `EchoMotionTransformer3DModel` arguments for a fresh model, or overrides of the
            config at `pretrained` (stage 1) or `init_from` (stage 2).
        pretrained (`str`, *optional*): a `WanTransformer3DModel` directory (Wan2.1's diffusers
            `transformer/`: the video branch loads unchanged, the motion branch is new) or an
            `EchoMotionTransformer3DModel` directory.
        gradient_checkpointing (`bool`, defaults to False): recompute block activations in backward.
        ignore_mismatched_sizes (`bool`, defaults to False): warm start from `pretrained` / `init_from` across
            a change of shapes (a VAE with another spatial factor: `config` sets the new `patch_size`); weights
            whose shape changed keep their fresh initialisation.
    """

    config: dict = field(default_factory=dict)
    pretrained: str | None = None
    gradient_checkpointing: bool = False
    ignore_mismatched_sizes: bool = False


@dataclass
class EchoMotionStageConfig(RecipeConfig):
    """Everything `configs/echomotion_stage{1,2}.json` holds.

    Args:
        train (`TrainConfig`): optimisation (`output_dir` comes from the command line).
        stage (`int`): 1 (motion-only) or 2 (multi-task); must match the command's task.
        data (`EchoMotionDataConfig`):
        model (`EchoMotionModelConfig`): stage 1 only (besides `gradient_checkpointing`).
        objective (`EchoMotionTrainingConfig`): shift, timestep distribution, loss weights, task
            probabilities and the in-context CFG dropout probabilities.
        init_from (`str`, *optional*): stage 2: the stage-1 run directory (its `final/`) or a transformer
            directory.
        text_encoder (`str`, defaults to "minilm"): the cache's text encoder (`kinevid.text.load_text_encoder`).
        max_sequence_length (`int`, defaults to 512): text tokens per caption the DiT sees (zero-padded); the
            exported pipeline samples with the same.
        vae (`str`, *optional*): stage 2: `AutoencoderKLWan` directory the cache was encoded with (put into
            the pipeline); None = the VAE shipped with kinevid.
        sampling (`dict`, *optional*): stage 2: the exported pipeline's `num_inference_steps` /
            `guidance_scale` defaults (its size and length are the cache's clips').
    """

    train: TrainConfig
    stage: int = 1
    data: EchoMotionDataConfig = field(default_factory=EchoMotionDataConfig)
    model: EchoMotionModelConfig = field(default_factory=EchoMotionModelConfig)
    objective: EchoMotionTrainingConfig = field(default_factory=EchoMotionTrainingConfig)
    init_from: str | None = None
    text_encoder: str = "minilm"
    max_sequence_length: int = 512
    vae: str | None = None
    sampling: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_sampling_section(self.sampling)
        if self.stage not in STAGES:
            raise InvalidInputError(f"config: `stage` must be 1 or 2, got {self.stage!r}")
        if not isinstance(self.max_sequence_length, int) or self.max_sequence_length < 1:
            raise InvalidInputError(
                f"config: `max_sequence_length` must be a positive integer, got {self.max_sequence_length!r}"
            )
        if self.stage == 2:
            if self.init_from is None:
                raise InvalidInputError("config: stage 2 needs `init_from`, the stage-1 run directory")
            if self.model.pretrained is not None:
                raise InvalidInputError(
                    "config: stage 2 takes its transformer from `init_from`; leave `model.pretrained` out"
                )
        elif self.init_from is not None:
            raise InvalidInputError("config: `init_from` is for stage 2; stage 1 starts from `model`")
        elif self.model.ignore_mismatched_sizes and self.model.pretrained is None:
            raise InvalidInputError(
                "config: `model.ignore_mismatched_sizes` needs `model.pretrained` (the checkpoint to warm start from)"
            )
        if self.stage == 1 and self.objective.video_only:
            raise InvalidInputError("config: `objective.video_only` is for stage 2 (stage 1 trains motion only)")

    @classmethod
    def from_dict(
        cls, values: dict, output_dir: str | os.PathLike[str], source: str = "config"
    ) -> EchoMotionStageConfig:
        values = dict(values)
        check_config_keys(values, {f.name for f in fields(cls)}, source)
        train = TrainConfig.from_dict({**values.pop("train", {}), "output_dir": str(output_dir)}, f"{source}: train")
        sections = {"data": EchoMotionDataConfig, "model": EchoMotionModelConfig, "objective": EchoMotionTrainingConfig}
        parsed = {}
        for name, section_type in sections.items():
            section = dict(values.pop(name, {}))
            check_config_keys(section, {f.name for f in fields(section_type)}, f"{source}: {name}")
            if "task_probabilities" in section:
                section["task_probabilities"] = tuple(section["task_probabilities"])
            parsed[name] = build_config_section(section_type, section, f"{source}: {name}")
        if not parsed["data"].cache_dir:
            raise InvalidInputError(f"{source}: data.cache_dir is required (a kinevid latent cache directory)")
        return cls(train=train, **parsed, **values)


# ---------------------------------------------------------------------- data
class EchoMotionBatches(torch.utils.data.Dataset):
    """Latent-cache items -> the batch layout of `echomotion_training_step`.

    Items: `motion` `(T, 235)` (normalised with `normalizer`), `encoder_hidden_states`
    `(max_sequence_length, D)` (the cached caption tokens, padding zeroed, zero-padded or cut) and, in
    stage 2, `latents` `(16, T', H', W')`. Stage 1 omits the video.

    Args:
        dataset: a `kinevid.data.LatentCacheDataset` (or any dataset of its item layout).
        normalizer (`MotionNormalizer`): the motion statistics of the model.
        max_sequence_length (`int`): text tokens per caption.
        stage (`int`): 1 or 2.
    """

    def __init__(self, dataset, normalizer: MotionNormalizer, max_sequence_length: int, stage: int) -> None:
        self.dataset = dataset
        self.normalizer = normalizer
        self.max_sequence_length = max_sequence_length
        self.stage = stage

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.dataset[index]
        text = pad_text_tokens(item["text_tokens"][None].float(), item["text_mask"][None], self.max_sequence_length)
        batch = {
            "motion": self.normalizer.normalize(item["motion_features"].float()),
            "encoder_hidden_states": text[0],
        }
        if self.stage == 2:
            batch["latents"] = item["latents"].float()
        return batch


def _check_cache(dataset, where: str, text_dim: int) -> None:
    """The cache holds motion and its text width is the transformer's `text_dim`."""
    fields_ = getattr(dataset, "fields", {"motion": True})
    if not fields_.get("motion"):
        raise InvalidInputError(
            f"{where}: the cache holds no motion (fields.motion false); EchoMotion trains on motion features "
            "(cache a source with motion, e.g. a synthetic paired dataset)"
        )
    if len(dataset) == 0:
        raise InvalidInputError(f"{where}: the cache is empty")
    width = dataset[0]["text_tokens"].shape[-1]
    if width != text_dim:
        raise InvalidInputError(
            f"{where}: caption tokens have {width} channels but the transformer's `text_dim` is {text_dim}; "
            "set `model.config.text_dim` to the text encoder's width"
        )


def _check_spatial_factor(dataset, where: str, vae, patch_size) -> None:
    """Stage 2: the cache's VAE spatial factor (`geometry["spatial_factor"]`, 8 when not recorded) is the VAE's,
    and its latent grid divides into the transformer's patches."""
    from ..data.cache import cache_spatial_factor
    from ..models.vae import vae_spatial_factor

    geometry = getattr(dataset, "geometry", None)
    if geometry is None:  # an in-memory dataset: nothing recorded to check
        return
    factor = cache_spatial_factor(geometry)
    if vae is not None and vae_spatial_factor(vae) != factor:
        raise InvalidInputError(
            f"{where}: the cache's latents are {factor}x the pixels (geometry.spatial_factor) but the VAE's spatial "
            f"factor is {vae_spatial_factor(vae)}; use the VAE the cache was encoded with"
        )
    _, height, width = geometry.get("latent_shape", (1, 0, 0))
    if height % patch_size[1] or width % patch_size[2]:
        raise InvalidInputError(
            f"{where}: the cache's {height} x {width} latents ({factor}x VAE) do not divide into the transformer's "
            f"patch {tuple(patch_size)}; with a 4x VAE use patch_size (1, 4, 4) for the token grid of 8x and (1, 2, 2)"
        )


def cache_split(dataset) -> str | None:
    """The CMU subject split a latent cache's clips come from, when its source recorded one."""
    source = getattr(dataset, "manifest", {}).get("source", {})
    return (source.get("config") or {}).get("split")


def _check_split(dataset, where: str, forbidden: tuple[str, ...], role: str) -> None:
    split = cache_split(dataset)
    if split in forbidden:
        raise InvalidInputError(
            f"{where}: the cache holds the {split!r} subject split, which must not be used for {role} "
            "(test subjects stay unseen); cache the train split (`kinevid data synth --split train`)"
        )


def fit_motion_normalizer(dataset, num_clips: int | None = None) -> MotionNormalizer:
    """`MotionNormalizer.fit` over the `motion_features` of the first `num_clips` clips (default: all)."""
    count = len(dataset) if num_clips is None else min(num_clips, len(dataset))
    return MotionNormalizer.fit(dataset[index]["motion_features"].float() for index in range(count))


# ---------------------------------------------------------------------- model
def resolve_init_dir(init_from: str | os.PathLike[str]) -> Path:
    """The transformer directory of `init_from`: a run directory's `final/`, or the directory itself."""
    root = Path(init_from)
    for candidate in (root / FINAL_DIR, root):
        if (candidate / "config.json").is_file():
            return candidate
    raise MissingWeightsError(
        f"`init_from` {root}: neither {root / FINAL_DIR / 'config.json'} nor {root / 'config.json'} exists; "
        "give the output directory of `kinevid train echomotion-stage1` (or a transformer directory)"
    )


def build_transformer(config: EchoMotionStageConfig) -> EchoMotionTransformer3DModel:
    """Stage 1: a fresh or pretrained transformer; stage 2: stage 1's (`init_from`)."""
    source = resolve_init_dir(config.init_from) if config.stage == 2 else config.model.pretrained
    if source is not None:
        model = EchoMotionTransformer3DModel.from_pretrained(
            source, ignore_mismatched_sizes=config.model.ignore_mismatched_sizes, **config.model.config
        )
    else:
        model = EchoMotionTransformer3DModel(**config.model.config)
    if config.model.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    return model


def has_motion_normalizer(model: EchoMotionTransformer3DModel) -> bool:
    return model.config.motion_feature_mean is not None


# ---------------------------------------------------------------------- validation
def make_validation(
    recipe: EchoMotionTrainingRecipe, dataset: torch.utils.data.Dataset, batch_size: int, num_batches: int, seed: int
):
    """`validate(model, step)`: mean loss terms on fixed batches with fixed noise, levels, tasks and dropout."""
    batches = [recipe.with_null_text(batch) for batch in fixed_batches(dataset, batch_size, num_batches)]

    def validate(model: nn.Module, step: int) -> dict[str, float]:
        generator = torch.Generator().manual_seed(seed)
        device = next(model.parameters()).device
        return mean_terms(
            batches,
            device,
            lambda batch: echomotion_training_step(model, batch, recipe.stage, recipe.config, generator),
        )

    return validate


CACHE_LOSS_OBJECTIVES = {
    "joint": {"task_probabilities": (1.0, 0.0, 0.0), "video_only": False},
    "m2v": {"task_probabilities": (0.0, 1.0, 0.0), "video_only": False},
    "v2m": {"task_probabilities": (0.0, 0.0, 1.0), "video_only": False},
    "video_alone": {"video_only": True},
}
"""The objectives `evaluate_cache_loss` scores: each stage-2 task on every sample, and the video without motion
(what video-only tuning trains; for a joint model, its `u(x, 0, 0)` guidance branch)."""


@torch.no_grad()
def evaluate_cache_loss(
    config: EchoMotionStageConfig,
    transformer_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    num_clips: int | None = None,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Flow-matching losses of a trained transformer on each clip of a latent cache (e.g. the test split's).

    Fixed noise and levels (`seed`), no dropout, one clip per call, for each of `CACHE_LOSS_OBJECTIVES`:
    `"<objective>/video"` and / or `"<objective>/motion"` (the video term of joint, m2v and video_alone, the
    motion term of joint and v2m).

    Args:
        config (`EchoMotionStageConfig`): the stage-2 config the model was trained with (text encoder, VAE,
            text length, shift).
        transformer_dir: the trained `EchoMotionTransformer3DModel` (a run's `final/`).
        cache_dir: the latent cache to score (made with `config.vae` and `config.text_encoder`).
        num_clips (`int`, *optional*): the cache's first clips (default: all).

    Returns:
        `dict[str, list[float]]`: loss -> one value per clip.
    """
    model, batches, null_text, count = _scoring_inputs(config, transformer_dir, cache_dir, num_clips)
    no_dropout = {"text_dropout": 0.0, "motion_condition_dropout": 0.0, "video_condition_dropout": 0.0}
    values: dict[str, list[float]] = {}
    for name, changes in CACHE_LOSS_OBJECTIVES.items():
        objective = dataclasses.replace(config.objective, **no_dropout, **changes)
        generator = torch.Generator().manual_seed(seed)
        recipe = EchoMotionTrainingRecipe(model, 2, objective, generator, null_text.float().cpu())
        kept = ["video"] if objective.video_only else [m for m, t in (("video", "v2m"), ("motion", "m2v")) if t != name]
        for batch in fixed_batches(batches, 1, count):
            terms = mean_terms([batch], next(model.parameters()).device, functools.partial(recipe.compute_loss, model))
            for modality in kept:
                values.setdefault(f"{name}/{modality}", []).append(terms[f"loss/{modality}"])
    return values


def evaluate_attention_alignment(
    config: EchoMotionStageConfig,
    transformer_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    num_clips: int | None = None,
    seed: int = 0,
) -> dict[str, list]:
    """How well motion frames attend to the latent frame that encodes them, per clip of a latent cache.

    `kinevid.eval.video.attention_sync.measure_temporal_alignment` in the v2m setting (clean video, motion at
    noise level 0.5 with fixed noise from `seed`, no text), one clip per call: the paper's MVS-RoPE diagnostic
    (a 4:1 diagonal in the motion -> video attention) as numbers.

    Returns:
        `dict[str, list]`: `"aligned_mass"`, `"slope"`, and what uniform attention (`"chance"`: 1 / latent frames)
        and attention exactly on the aligned frame (`"diagonal_slope"`: about 1 / r) would score, one value per
        clip; `"mean_map"`, the `(T, F)` attention averaged over the clips.
    """
    from ..eval.video.attention_sync import measure_temporal_alignment

    model, batches, null_text, count = _scoring_inputs(config, transformer_dir, cache_dir, num_clips)
    generator = torch.Generator().manual_seed(seed)
    values: dict[str, list] = {"aligned_mass": [], "slope": [], "chance": [], "diagonal_slope": []}
    maps = []
    for batch in fixed_batches(batches, 1, count):
        (alignment,) = measure_temporal_alignment(model, batch["latents"], batch["motion"], null_text.float(),
                                                  generator=generator)  # fmt: skip
        for name in values:
            values[name].append(getattr(alignment, name))
        maps.append(alignment.attention)
    values["mean_map"] = torch.stack(maps).mean(dim=0).tolist()
    return values


def _scoring_inputs(config: EchoMotionStageConfig, transformer_dir, cache_dir, num_clips: int | None):
    """(model in eval mode, stage-2 batches of the cache, the null text `(L, D)`, clips to score)."""
    from ..models.vae import load_video_vae
    from ..text import load_text_encoder

    text_encoder = load_text_encoder(config.text_encoder)
    dataset = _load_cache(str(cache_dir), config, load_video_vae(config.vae))
    model = EchoMotionTransformer3DModel.from_pretrained(transformer_dir).eval()
    _check_cache(dataset, str(cache_dir), model.config.text_dim)
    batches = EchoMotionBatches(dataset, model.motion_normalizer(), config.max_sequence_length, stage=2)
    null_text = encode_prompt_embeds(text_encoder.tokenizer, text_encoder.model, "", config.max_sequence_length)[0]
    count = len(dataset) if num_clips is None else min(num_clips, len(dataset))
    return model, batches, null_text, count


# ---------------------------------------------------------------------- the run
def _load_cache(path: str, config: EchoMotionStageConfig, vae=None):
    from ..data import LatentCacheDataset

    return LatentCacheDataset(path, expect_vae=vae, expect_text_encoder=config.text_encoder)


def train_echomotion(
    config: EchoMotionStageConfig,
    train_set: torch.utils.data.Dataset | None = None,
    val_set: torch.utils.data.Dataset | None = None,
) -> Path:
    """Run one stage; returns the stage's transformer directory (stage 1) or pipeline directory (stage 2).

    Args:
        config (`EchoMotionStageConfig`): the stage's config.
        train_set, val_set (*optional*): datasets of `kinevid.data.LatentCacheDataset`'s item layout in place
            of `config.data.cache_dir` / `val_cache_dir` (e.g. in memory).
    """
    from diffusers import FlowMatchEulerDiscreteScheduler

    from ..models.vae import load_video_vae
    from ..text import load_text_encoder
    from ..text.loading import TEXT_ENCODER_NAMES

    output_dir = Path(config.train.output_dir)
    if config.train.num_threads is not None:
        torch.set_num_threads(config.train.num_threads)
    # 1. Text encoder, VAE (stage 2: the pipeline decodes with it) and data
    text_encoder = load_text_encoder(config.text_encoder)
    vae = load_video_vae(config.vae) if config.stage == 2 else None
    if train_set is None:
        train_set = _load_cache(config.data.cache_dir, config, vae)
    if val_set is None and config.data.val_cache_dir is not None:
        val_set = _load_cache(config.data.val_cache_dir, config, vae)

    # 2. Model (a fresh one initialised from `train.seed`) and its motion normaliser (fitted on the
    # training clips unless the model has one, e.g. stage 1's)
    torch.manual_seed(config.train.seed)
    model = build_transformer(config)
    _check_cache(train_set, config.data.cache_dir or "train_set", model.config.text_dim)
    _check_split(train_set, config.data.cache_dir or "train_set", ("val", "test"), "training")
    if config.stage == 2:
        _check_spatial_factor(train_set, config.data.cache_dir or "train_set", vae, model.config.patch_size)
    if not has_motion_normalizer(model):
        model.set_motion_normalizer(fit_motion_normalizer(train_set, config.data.normalization_clips))
    normalizer = model.motion_normalizer()

    # 3. Objective, with the null text of sampling
    null_text = encode_prompt_embeds(text_encoder.tokenizer, text_encoder.model, "", config.max_sequence_length)[0]
    recipe = EchoMotionTrainingRecipe(model, config.stage, config.objective, null_text_embeds=null_text.float().cpu())
    batches = EchoMotionBatches(train_set, normalizer, config.max_sequence_length, config.stage)
    dataloader = training_loader(
        batches, config.train, config.data.num_workers, config.data.cache_dir or "train_set", len(train_set)
    )
    validate = None
    if val_set is not None:
        _check_cache(val_set, config.data.val_cache_dir or "val_set", model.config.text_dim)
        _check_split(val_set, config.data.val_cache_dir or "val_set", ("test",), "validation")
        if config.stage == 2:
            _check_spatial_factor(val_set, config.data.val_cache_dir or "val_set", vae, model.config.patch_size)
        val_batches = EchoMotionBatches(val_set, normalizer, config.max_sequence_length, config.stage)
        validate = make_validation(
            recipe, val_batches, config.train.batch_size, config.data.validation_batches, config.train.seed
        )

    # 4. Train
    write_run_config(output_dir, CONFIG_FILE, config.to_dict())
    Trainer(model, recipe.compute_loss, dataloader, config.train, validate=validate).fit()
    if config.stage == 1:
        return output_dir / FINAL_DIR

    # 5. Stage 2: a pipeline with the cache's VAE and text encoder, sampling at the cache clips' size and length
    geometry = getattr(train_set, "geometry", {})  # in-memory datasets may not say
    pipeline = EchoMotionPipeline(
        tokenizer=text_encoder.tokenizer,
        text_encoder=text_encoder.model,
        transformer=EchoMotionTransformer3DModel.from_pretrained(output_dir / FINAL_DIR).eval(),
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=config.objective.shift),
        max_sequence_length=config.max_sequence_length,
        fps=float(getattr(train_set, "fps", 16.0)),
        text_encoder_name=config.text_encoder if config.text_encoder.lower() in TEXT_ENCODER_NAMES else None,
        **{key: geometry[key] for key in GEOMETRY_KEYS if key in geometry},
        **config.sampling,
    )
    return save_pipeline(pipeline, output_dir / PIPELINE_DIR)


def train_from_cli(args: argparse.Namespace) -> int:
    """`kinevid train echomotion-stage{1,2} --config FILE --output DIR [--resume] [--max-steps N]`."""
    stage = TASK_STAGES[args.task]
    config = EchoMotionStageConfig.load(args.config, output_dir=args.output)
    if config.stage != stage:
        raise InvalidInputError(
            f"{args.config}: `stage` is {config.stage} but the command is `kinevid train {args.task}` (stage {stage})"
        )
    apply_cli_overrides(config.train, args)
    if getattr(args, "max_trials", None) is not None:
        raise InvalidInputError(f"`--max-trials` does not apply to `kinevid train {args.task}` (it trains on a cache)")
    result = train_echomotion(config)
    if stage == 1:
        print(f"stage-1 transformer: {result}")
        print(f'next: set "init_from": "{args.output}" in the stage-2 config, then kinevid train echomotion-stage2')
    else:
        print(f"trained pipeline: {result}")
        print(f'try: EchoMotionPipeline.from_pretrained("{result}")("a person walks forward", height=..., width=...)')
    return 0


__all__ = [
    "CACHE_LOSS_OBJECTIVES",
    "TASK_STAGES",
    "EchoMotionBatches",
    "EchoMotionDataConfig",
    "EchoMotionModelConfig",
    "EchoMotionStageConfig",
    "build_transformer",
    "cache_split",
    "evaluate_cache_loss",
    "fit_motion_normalizer",
    "make_validation",
    "resolve_init_dir",
    "train_echomotion",
    "train_from_cli",
]
