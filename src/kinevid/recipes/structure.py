"""Recipe: train the text-to-motion structure model on CMU mocap.

    kinevid train structure --config configs/structure_cmu.json --output runs/structure

reads the CMU trials of the train and val subject splits (test subjects are never touched), cuts
them into history + chunk windows (mirrored, with paraphrased captions; optionally from-rest
windows at the start of takes that begin still, `data.rest_start_repeats`), fits the feature
normalisation on the training windows (or takes model and statistics from `init_from`), encodes
every caption once with the text encoder (pooled, plus the token states padded to
`max_text_tokens` when the model cross-attends to tokens), trains
`MotionPrimitiveDiffusionModel` through `kinevid.train.Trainer`, and writes a ready-to-use
`TextToMotionPipeline` directory to `<output>/pipeline`.

Loss per batch (all terms logged):

- `diffusion`: MSE between the predicted and the true clean chunk (x0 prediction), normalised space;
- `joints`: MSE (m^2) between forward-kinematics joints of the prediction and the true joints;
- `velocity`: MSE ((m/s)^2) between their per-frame joint velocities (the step from the last history
  frame included when there is a history);
- `contact` (L_cont, slide part): squared horizontal speed of foot joints labelled in contact;
- `floor` (L_cont, floor part): squared depth of any joint below the floor (y < 0).
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler
from torch import nn

from ..body.rotations import rotation_6d_to_matrix
from ..data.motion_windows import PARAPHRASE_TEMPLATES, MotionWindowDataset
from ..errors import InvalidInputError
from ..losses.contact import floor_penetration_loss, foot_slide_loss
from ..models.structure.motion_diffusion import MotionPrimitiveDiffusionModel
from ..models.structure.representation import (
    CONTACTS,
    JOINTS,
    NUM_JOINTS,
    PELVIS,
    ChunkFrame,
    decode_rotations,
    encode_features,
    joints_from_rotations,
)
from ..train.engine import RecipeConfig, TrainConfig, Trainer, build_config_section, check_config_keys
from ..utils.io import atomic_write

MIN_FEATURE_STD = 1e-2  # features with less spread are not amplified beyond 100x


@dataclass
class DataConfig:
    """Where the motions come from and how windows are cut.

    Args:
        cmu_root (`str`, *optional*): CMU directory (see `kinevid.data.cmu.find_cmu_root`).
        fps (`float`, defaults to 12.0): frame rate to train at (CMU's native rate is 12).
        stride (`int`, defaults to 1): frames between window starts.
        mirror (`bool`, defaults to `True`): add mirrored windows with left/right-swapped captions.
        paraphrase (`bool`, defaults to `True`): dress captions in `PARAPHRASE_TEMPLATES`.
        max_trials (`int`, *optional*): use only the first trials of each split (smoke runs).
        num_workers (`int`, defaults to 0): dataloader worker processes.
        rest_start_repeats (`int`, defaults to 0): copies of each from-rest window (a take that starts
            still, its first frame held as the history, then its first frames; see
            `MotionWindowDataset`); 0 adds none.
        rest_start_max_speed (`float`, defaults to 0.35): m/s over the first half second below which a
            take counts as starting still.
        side_words (`bool`, defaults to False): name the acting leg / hand in captions of kicks, waves,
            punches, ... that do not (read from the motion; `kinevid.data.side_words`).
        side_word_repeats (`int`, defaults to 1): copies of every training window of a side-worded clip
            (validation windows are not repeated).
        onset_repeats (`int`, defaults to 0): copies of the onset window of each take that starts still (its
            history the last still frames, its chunk the start of the motion; `MotionWindowDataset`), training
            split only; 0 adds none.
        caption_balance (`float` in [0, 1], defaults to 1.0): a caption's share of the training windows grows as
            its window count to this power (`MotionWindowDataset`: 1 leaves the data as captured, 0.5 is square-root
            sampling); training split only.
        caption_balance_max_repeats (`int`, defaults to 16): the most copies caption balance gives one window.
    """

    cmu_root: str | None = None
    fps: float = 12.0
    stride: int = 1
    mirror: bool = True
    paraphrase: bool = True
    max_trials: int | None = None
    num_workers: int = 0
    rest_start_repeats: int = 0
    rest_start_max_speed: float = 0.35
    side_words: bool = False
    side_word_repeats: int = 1
    onset_repeats: int = 0
    caption_balance: float = 1.0
    caption_balance_max_repeats: int = 16


@dataclass
class DiffusionConfig:
    """The noise schedule: DDPM for training, DDIM with `num_inference_steps` for sampling.

    Args:
        num_train_timesteps (`int`, defaults to 1000):
        beta_schedule (`str`, defaults to "squaredcos_cap_v2"):
        num_inference_steps (`int`, defaults to 10):
        guidance_scale (`float`, defaults to 2.5): classifier-free guidance the shipped pipeline defaults to.
        contact_guidance_scale (`float`, defaults to 0.5): contact guidance the shipped pipeline defaults to.
        temporal_smoothing (`float`, defaults to 0.0): the pipeline's Gaussian filter over finished motions (frames).
        lock_feet (`bool`, defaults to False): the pipeline's foot-skate cleanup by the root (`lock_planted_feet`).
    """

    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    num_inference_steps: int = 10
    guidance_scale: float = 2.5
    contact_guidance_scale: float = 0.5
    temporal_smoothing: float = 0.0
    lock_feet: bool = False

    def training_scheduler(self) -> DDPMScheduler:
        return DDPMScheduler(
            num_train_timesteps=self.num_train_timesteps,
            beta_schedule=self.beta_schedule,
            prediction_type="sample",
            clip_sample=False,
        )

    def sampling_scheduler(self) -> DDIMScheduler:
        return DDIMScheduler(
            num_train_timesteps=self.num_train_timesteps,
            beta_schedule=self.beta_schedule,
            prediction_type="sample",
            clip_sample=False,
            set_alpha_to_one=True,
            timestep_spacing="trailing",
        )


@dataclass
class LossConfig:
    """Loss weights and conditioning dropout.

    Args:
        diffusion (`float`, defaults to 1.0): weight of the x0 MSE (normalised features).
        joints (`float`, defaults to 10.0): weight of the FK joint MSE (m^2).
        velocity (`float`, defaults to 1.0): weight of the joint velocity MSE ((m/s)^2).
        contact (`float`, defaults to 1.0): weight of the foot-slide term ((m/s)^2).
        floor (`float`, defaults to 100.0): weight of the floor penetration term (m^2).
        history_drop_prob (`float`, defaults to 0.1): chance a window is trained without history
            (the first chunk of a rollout has none).
        text_drop_prob (`float`, defaults to 0.1): chance the caption is dropped (classifier-free guidance).
        pooled_drop_prob (`float`, defaults to 0.0): token models only: chance the pooled embedding alone is
            dropped while the tokens stay, so the model must read the tokens (a pooled MiniLM embedding hardly
            tells "left" from "right").
    """

    diffusion: float = 1.0
    joints: float = 10.0
    velocity: float = 1.0
    contact: float = 1.0
    floor: float = 100.0
    history_drop_prob: float = 0.1
    text_drop_prob: float = 0.1
    pooled_drop_prob: float = 0.0


@dataclass
class StructureTrainingConfig(RecipeConfig):
    """Everything `configs/structure_cmu.json` holds: one section per dataclass.

    Args:
        train (`TrainConfig`): optimisation (`output_dir` comes from the command line).
        data (`DataConfig`):
        model (`dict`): `MotionPrimitiveDiffusionModel` arguments.
        diffusion (`DiffusionConfig`):
        loss (`LossConfig`):
        text_encoder (`str`, defaults to "minilm"): name for `kinevid.text.load_text_encoder`.
        normalization_windows (`int`, defaults to 20000): training windows used to fit feature statistics.
        validation_batches (`int`, defaults to 8): val batches (fixed noise) per validation.
        max_text_tokens (`int`, defaults to 32): text tokens kept per caption (padded / cut) when the
            model conditions on tokens (CMU captions and their paraphrases are shorter).
        init_from (`str`, *optional*): a pipeline or model directory whose weights and feature
            statistics start the model (e.g. the shipped pooled model for a token model: its
            cross-attention starts at zero, so training starts from exactly the old model's outputs);
            parameters it lacks keep their initialisation, and normalisation is not refitted.
    """

    train: TrainConfig
    data: DataConfig = field(default_factory=DataConfig)
    model: dict = field(default_factory=dict)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    text_encoder: str = "minilm"
    normalization_windows: int = 20000
    validation_batches: int = 8
    max_text_tokens: int = 32
    init_from: str | None = None

    @classmethod
    def from_dict(
        cls, values: dict, output_dir: str | os.PathLike[str], source: str = "config"
    ) -> StructureTrainingConfig:
        values = dict(values)
        check_config_keys(values, {f.name for f in fields(cls)}, source)
        train = TrainConfig.from_dict(
            {**values.pop("train", {}), "output_dir": str(output_dir)}, source=f"{source}: train"
        )
        sections = {"data": DataConfig, "diffusion": DiffusionConfig, "loss": LossConfig}
        parsed = {}
        for name, section_type in sections.items():
            section = values.pop(name, {})
            check_config_keys(section, {f.name for f in fields(section_type)}, f"{source}: {name}")
            parsed[name] = build_config_section(section_type, section, f"{source}: {name}")
        model = values.pop("model", {})
        allowed = set(inspect.signature(MotionPrimitiveDiffusionModel.__init__).parameters) - {"self"}
        check_config_keys(model, allowed, f"{source}: model")
        return cls(train=train, model=model, **parsed, **values)


# ---------------------------------------------------------------------- features of a batch
def window_features(batch: dict[str, torch.Tensor], num_history_frames: int) -> torch.Tensor:
    """Features of a batch of windows, each in the chunk frame of its last history frame.

    Args:
        batch (`dict`): collated `MotionWindowDataset` items (`rotations_6d` `(B, W, 24, 6)`,
            `pelvis` `(B, W, 3)`, `offsets` `(B, 24, 3)`, `contacts` `(B, W, 4)`).
        num_history_frames (`int`): H; the chunk frame is anchored at window frame H - 1.

    Returns:
        `torch.Tensor` of shape `(B, W, FEATURE_DIM)`.
    """
    rotations = rotation_6d_to_matrix(batch["rotations_6d"])
    pelvis, offsets = batch["pelvis"], batch["offsets"]
    anchor = slice(num_history_frames - 1, num_history_frames)
    anchor_joints = joints_from_rotations(rotations[:, anchor], pelvis[:, anchor], offsets)[:, 0]
    return encode_features(rotations, pelvis, offsets, ChunkFrame.from_joints(anchor_joints), batch["contacts"])


class StructureLoss:
    """`compute_loss(model, batch)` for the Trainer: diffusion + geometric + contact terms.

    Args:
        scheduler (`DDPMScheduler`): the training noise schedule (x0 prediction).
        prompt_embeddings (`torch.Tensor` of shape `(P, text_dim)`): pooled embedding of every prompt
            of the dataset (`dataset.prompts`).
        config (`LossConfig`): weights and dropout probabilities.
        fps (`float`): frame rate of the windows (velocities are per second).
        prompt_tokens (`PromptTokens`, *optional*): every prompt's token states, for a model with
            `text_conditioning="tokens"`.
    """

    def __init__(
        self,
        scheduler: DDPMScheduler,
        prompt_embeddings: torch.Tensor,
        config: LossConfig,
        fps: float,
        prompt_tokens: PromptTokens | None = None,
    ):
        self.scheduler = scheduler
        self.prompt_embeddings = prompt_embeddings
        self.config = config
        self.fps = fps
        self.prompt_tokens = prompt_tokens

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        core: MotionPrimitiveDiffusionModel = getattr(model, "module", model)
        num_history = core.config.num_history_frames
        features = window_features(batch, num_history)  # (B, H + F, D)
        batch_size, device = features.shape[0], features.device
        normalized = core.normalize(features)
        history, target = normalized[:, :num_history], normalized[:, num_history:]

        history_mask = torch.rand(batch_size, device=device) >= self.config.history_drop_prob
        prompt_index = batch["prompt_index"].to(device)
        text_mask = (prompt_index >= 0) & (torch.rand(batch_size, device=device) >= self.config.text_drop_prob)
        text_embeds = self.prompt_embeddings.to(device)[prompt_index.clamp_min(0)]
        token_inputs = {}
        if core.config.text_conditioning == "tokens":
            if self.prompt_tokens is None:
                raise InvalidInputError(
                    "The model conditions on text tokens: build StructureLoss with `prompt_tokens`."
                )
            token_inputs = self.prompt_tokens.lookup(prompt_index.clamp_min(0), device)
            if self.config.pooled_drop_prob > 0:  # drawn only when asked: other runs keep their random stream
                token_inputs["pooled_mask"] = torch.rand(batch_size, device=device) >= self.config.pooled_drop_prob
        elif self.config.pooled_drop_prob > 0:
            raise InvalidInputError("loss.pooled_drop_prob needs a token model (`text_conditioning: tokens`).")
        timestep = torch.randint(0, self.scheduler.config.num_train_timesteps, (batch_size,), device=device)
        noise = torch.randn_like(target)
        noisy = self.scheduler.add_noise(target, noise, timestep)

        prediction = model(noisy, timestep, history, history_mask, text_embeds, text_mask, **token_inputs)  # (B, F, D)
        terms = {"diffusion": F.mse_loss(prediction, target)}
        terms.update(
            self.geometric_terms(core.denormalize(prediction), features, batch["offsets"], history_mask, num_history)
        )
        weights = asdict(self.config)
        terms["loss"] = sum(weights[name] * value for name, value in terms.items())
        return terms

    def geometric_terms(
        self,
        predicted: torch.Tensor,
        features: torch.Tensor,
        offsets: torch.Tensor,
        history_mask: torch.Tensor,
        num_history: int,
    ) -> dict[str, torch.Tensor]:
        """Joint, velocity and contact (L_cont) terms of a predicted chunk.

        Args:
            predicted (`torch.Tensor` of shape `(B, F, D)`): denormalised predicted chunk.
            features (`torch.Tensor` of shape `(B, H + F, D)`): true window features.
            offsets (`torch.Tensor` of shape `(B, 24, 3)`): bodies.
            history_mask (`torch.Tensor` of shape `(B,)`, bool): which samples saw their history.
            num_history (`int`): H.
        """
        batch_size, num_future = predicted.shape[:2]
        joints = joints_from_rotations(decode_rotations(predicted), predicted[..., PELVIS], offsets)  # (B, F, 24, 3)
        true_joints = features[..., JOINTS].reshape(batch_size, -1, NUM_JOINTS, 3)  # (B, H + F, 24, 3)
        anchor = true_joints[:, num_history - 1 : num_history]
        # Transitions into each chunk frame; the first starts at the last history frame, which only
        # counts when the model saw it.
        velocity = torch.diff(torch.cat([anchor, joints], dim=1), dim=1) * self.fps  # (B, F, 24, 3)
        true_velocity = torch.diff(true_joints[:, num_history - 1 :], dim=1) * self.fps
        step_weight = torch.ones(batch_size, num_future, device=predicted.device)
        step_weight[:, 0] = history_mask.float()
        velocity_error = ((velocity - true_velocity) ** 2).mean(dim=(-1, -2))  # (B, F)
        # Contacts label the transition leaving a frame: frame t's label constrains the step t -> t+1.
        contacts = features[:, num_history - 1 : -1, CONTACTS]  # (B, F, 4)
        return {
            "joints": F.mse_loss(joints, true_joints[:, num_history:]),
            "velocity": (velocity_error * step_weight).sum() / step_weight.sum(),
            "contact": foot_slide_loss(velocity, contacts, step_weight),
            "floor": floor_penetration_loss(joints),
        }


# ---------------------------------------------------------------------- setup
def load_cmu_windows(config: StructureTrainingConfig, split: str, window_frames: int) -> MotionWindowDataset:
    """The windows of one CMU subject split."""
    from ..data.cmu import CMUMocap

    cmu = CMUMocap(config.data.cmu_root, split=split, fps=config.data.fps, min_frames=window_frames)
    if config.data.max_trials is not None:
        cmu = CMUMocap(
            config.data.cmu_root, split=split, fps=config.data.fps, trial_ids=cmu.trial_ids[: config.data.max_trials]
        )
    templates = PARAPHRASE_TEMPLATES if config.data.paraphrase else ("{text}",)
    onset_repeats = config.data.onset_repeats if split == "train" else 0
    needs_history = config.data.rest_start_repeats > 0 or onset_repeats > 0
    rest_history = config.model.get("num_history_frames", 3) if needs_history else 0
    return MotionWindowDataset(
        cmu.load_all(),
        window_frames,
        stride=config.data.stride,
        mirror=config.data.mirror,
        templates=templates,
        rest_start_history=rest_history,
        rest_start_repeats=config.data.rest_start_repeats,
        rest_start_max_speed=config.data.rest_start_max_speed,
        side_words=config.data.side_words,
        side_word_repeats=config.data.side_word_repeats if split == "train" else 1,
        onset_repeats=onset_repeats,
        caption_balance=config.data.caption_balance if split == "train" else 1.0,
        caption_balance_max_repeats=config.data.caption_balance_max_repeats,
    )


@torch.no_grad()
def fit_normalization(
    model: MotionPrimitiveDiffusionModel, dataset: MotionWindowDataset, num_windows: int, seed: int = 0
) -> None:
    """Set `model.feature_mean` / `feature_std` from up to `num_windows` random training windows and
    `model.body_offsets` to their mean body."""
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(dataset), generator=generator)[:num_windows].tolist()
    batches = [
        torch.utils.data.default_collate([dataset[i] for i in indices[start : start + 1024]])
        for start in range(0, len(indices), 1024)
    ]
    features = torch.cat([window_features(batch, model.config.num_history_frames) for batch in batches])
    features = features.reshape(-1, features.shape[-1])
    model.feature_mean.copy_(features.mean(0))
    model.feature_std.copy_(features.std(0).clamp_min(MIN_FEATURE_STD))
    model.body_offsets.copy_(torch.cat([batch["offsets"] for batch in batches]).mean(0))


def encode_prompts(text_encoder, prompts: list[str], batch_size: int = 256) -> torch.Tensor:
    """Pooled embeddings `(P, D)` of `prompts` (an empty list gives `(0, D)`)."""
    if not prompts:
        return torch.zeros(0, text_encoder.dim)
    return text_encoder.encode(prompts, batch_size=batch_size).pooled.float().cpu()


@dataclass
class PromptTokens:
    """The token states of every prompt of a dataset, padded to one length, looked up per batch.

    Args:
        tokens (`torch.Tensor` of shape `(P, L, D)`): token states (fp16 to halve the memory), zero
            where padded.
        mask (`torch.Tensor` of shape `(P, L)`, bool): True for real tokens.
    """

    tokens: torch.Tensor
    mask: torch.Tensor

    def lookup(self, prompt_index: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        """`text_tokens` `(B, L, D)` (fp32) and `text_token_mask` `(B, L)` of prompts `prompt_index` `(B,)`."""
        index = prompt_index.cpu()
        return {
            "text_tokens": self.tokens[index].to(device=device, dtype=torch.float32),
            "text_token_mask": self.mask[index].to(device),
        }


def pad_tokens(tokens: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut or zero-pad `(B, L, D)` token states and their `(B, L)` mask to `length` positions."""
    if tokens.shape[1] >= length:
        return tokens[:, :length], mask[:, :length]
    padding = length - tokens.shape[1]
    return F.pad(tokens, (0, 0, 0, padding)), F.pad(mask, (0, padding), value=False)


def encode_prompt_tokens(text_encoder, prompts: list[str], max_tokens: int, batch_size: int = 256) -> PromptTokens:
    """Token states of `prompts`, each padded (or cut) to `max_tokens`, encoded once (an empty list
    gives `(0, max_tokens, D)`)."""
    tokens = torch.zeros(len(prompts), max_tokens, text_encoder.dim, dtype=torch.float16)
    mask = torch.zeros(len(prompts), max_tokens, dtype=torch.bool)
    for start in range(0, len(prompts), batch_size):
        encoded = text_encoder.encode(prompts[start : start + batch_size], batch_size=batch_size)
        chunk_tokens, chunk_mask = pad_tokens(encoded.tokens.float().cpu(), encoded.mask.cpu(), max_tokens)
        tokens[start : start + batch_size] = chunk_tokens.masked_fill(~chunk_mask[..., None], 0.0).half()
        mask[start : start + batch_size] = chunk_mask
    return PromptTokens(tokens, mask)


INITIALISED_LATER = ("cross_attention.", "text_token_proj.", "null_text_token")
"""Parameters a token model may miss in an `init_from` checkpoint of a pooled model."""


def initialise_from(model: MotionPrimitiveDiffusionModel, source: str | os.PathLike[str]) -> list[str]:
    """Load the weights and buffers of a pipeline (`source/model`) or model directory into `model`.

    Returns the names of the parameters the source lacks (the new cross-attention, left at their
    initialisation). Raises `MissingWeightsError` when there is no model and `InvalidInputError` when
    it lacks anything else or holds parameters `model` does not have.
    """
    from ..errors import MissingWeightsError

    source = Path(source)
    model_dir = source / "model" if (source / "model" / "config.json").is_file() else source
    if not (model_dir / "config.json").is_file():
        raise MissingWeightsError(f"`init_from` {source}: no model directory (config.json) found there or in model/.")
    state = MotionPrimitiveDiffusionModel.from_pretrained(model_dir).float().state_dict()
    missing, unexpected = model.load_state_dict(state, strict=False)
    not_new = [name for name in missing if not any(part in name for part in INITIALISED_LATER)]
    if unexpected or not_new:
        raise InvalidInputError(
            f"`init_from` {model_dir}: its model does not match the configured one "
            f"(missing {not_new}, unexpected {unexpected})."
        )
    return missing


def make_validation(
    loss: StructureLoss, dataset: MotionWindowDataset, batch_size: int, num_batches: int, seed: int = 0
):
    """`validate(model, step)`: the loss terms on fixed val windows with fixed noise (comparable across steps)."""
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(dataset), generator=generator)[: batch_size * num_batches].tolist()
    batches = [
        torch.utils.data.default_collate([dataset[i] for i in indices[start : start + batch_size]])
        for start in range(0, len(indices), batch_size)
    ]

    def validate(model: nn.Module, step: int) -> dict[str, float]:
        totals: dict[str, float] = {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for batch in batches:
                for name, value in loss(model, batch).items():
                    totals[name] = totals.get(name, 0.0) + float(value) / len(batches)
        return totals

    return validate


def train_text_to_motion(config: StructureTrainingConfig) -> Path:
    """Run the recipe; returns the directory of the trained `TextToMotionPipeline`."""
    from ..pipelines.pipeline_text_to_motion import TextToMotionPipeline
    from ..text import load_text_encoder

    output_dir = Path(config.train.output_dir)
    if config.train.num_threads is not None:
        torch.set_num_threads(config.train.num_threads)
    model = MotionPrimitiveDiffusionModel(**config.model)
    window_frames = model.config.num_history_frames + model.config.num_future_frames
    train_set = load_cmu_windows(config, "train", window_frames)
    val_set = load_cmu_windows(config, "val", window_frames)
    if train_set.fps != model.config.fps:
        raise InvalidInputError(f"data fps {train_set.fps} differs from the model's `fps` {model.config.fps}.")
    if config.init_from is not None:
        initialise_from(model, config.init_from)
    else:
        fit_normalization(model, train_set, config.normalization_windows, seed=config.train.seed)

    text_encoder = load_text_encoder(config.text_encoder)

    def make_loss(dataset: MotionWindowDataset) -> StructureLoss:
        tokens = None
        if model.config.text_conditioning == "tokens":
            tokens = encode_prompt_tokens(text_encoder, dataset.prompts, config.max_text_tokens)
        embeddings = encode_prompts(text_encoder, dataset.prompts)
        return StructureLoss(config.diffusion.training_scheduler(), embeddings, config.loss, dataset.fps, tokens)

    train_loss, val_loss = make_loss(train_set), make_loss(val_set)
    validate = make_validation(val_loss, val_set, config.train.batch_size, config.validation_batches, config.train.seed)
    dataloader = torch.utils.data.DataLoader(
        train_set, batch_size=config.train.batch_size, shuffle=True, drop_last=True, num_workers=config.data.num_workers
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(output_dir / "structure_config.json") as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=2))
    with atomic_write(output_dir / "data_summary.json") as tmp:
        summary = {
            split: {
                "windows": len(dataset),
                "rest_start_windows": dataset.num_rest_start_windows * (2 if dataset.mirror else 1),
                "onset_windows": dataset.num_onset_windows * (2 if dataset.mirror else 1),
                "prompts": len(dataset.prompts),
                "side_worded_clips": dataset.num_side_worded_clips,
                "repeated_captions": sum(repeats > 1 for repeats in dataset.caption_repeats.values()),
            }
            for split, dataset in (("train", train_set), ("val", val_set))
        }
        tmp.write_text(json.dumps(summary, indent=2))
    trainer = Trainer(model, train_loss, dataloader, config.train, validate=validate)
    trainer.fit()
    trained = MotionPrimitiveDiffusionModel.from_pretrained(output_dir / "final")
    pipeline = TextToMotionPipeline(
        trained, config.diffusion.sampling_scheduler(), text_encoder=text_encoder, text_encoder_name=config.text_encoder
    )
    pipeline_dir = output_dir / "pipeline"
    pipeline.save_pretrained(
        pipeline_dir,
        num_inference_steps=config.diffusion.num_inference_steps,
        guidance_scale=config.diffusion.guidance_scale,
        contact_guidance_scale=config.diffusion.contact_guidance_scale,
        temporal_smoothing=config.diffusion.temporal_smoothing,
        lock_feet=config.diffusion.lock_feet,
    )
    return pipeline_dir


def export_checkpoint(
    run_dir: str | os.PathLike[str], output: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None = None
) -> Path:
    """Write a `TextToMotionPipeline` directory from a training checkpoint (e.g. of a stopped run).

    The model gets the checkpoint's weights and buffers, with the EMA weights in place of the raw
    ones when the run kept an EMA, exactly as `Trainer.save_final` would have saved them.

    Args:
        run_dir (`str` or `Path`): the run's `--output` directory (holds `structure_config.json`).
        output (`str` or `Path`): pipeline directory to write.
        checkpoint (`str` or `Path`, *optional*): a `checkpoints/step_*` directory; defaults to the latest.
    """
    from safetensors.torch import load_file

    from ..errors import MissingWeightsError
    from ..pipelines.pipeline_text_to_motion import TextToMotionPipeline
    from ..train.engine import CHECKPOINT_DIR, TRAINER_STATE

    run_dir = Path(run_dir)
    config_path = run_dir / "structure_config.json"
    if not config_path.is_file():
        raise MissingWeightsError(f"{config_path} not found: `run_dir` must be a `kinevid train structure` output.")
    config = StructureTrainingConfig.load(config_path, run_dir)
    if checkpoint is None:
        candidates = sorted((run_dir / CHECKPOINT_DIR).glob("step_*"))
        candidates = [path for path in candidates if (path / TRAINER_STATE).is_file()]
        if not candidates:
            raise MissingWeightsError(f"{run_dir / CHECKPOINT_DIR} holds no complete checkpoint.")
        checkpoint = candidates[-1]
    checkpoint = Path(checkpoint)
    weights = checkpoint / "model.safetensors"
    if not weights.is_file():
        raise MissingWeightsError(f"{weights} not found.")
    model = MotionPrimitiveDiffusionModel(**config.model)
    model.load_state_dict(load_file(weights))
    ema_file = checkpoint / "custom_checkpoint_0.pkl"
    if config.train.ema_decay is not None and ema_file.is_file():
        from diffusers.training_utils import EMAModel

        ema = EMAModel(model.parameters(), decay=config.train.ema_decay)
        ema.load_state_dict(torch.load(ema_file, map_location="cpu", weights_only=True))
        ema.copy_to(model.parameters())
    pipeline = TextToMotionPipeline(model, config.diffusion.sampling_scheduler(), text_encoder_name=config.text_encoder)
    pipeline.save_pretrained(
        output,
        num_inference_steps=config.diffusion.num_inference_steps,
        guidance_scale=config.diffusion.guidance_scale,
        contact_guidance_scale=config.diffusion.contact_guidance_scale,
    )
    return Path(output)
