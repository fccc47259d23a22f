"""Recipe: train the text-to-motion structure model on CMU mocap.

    kinevid train structure --config configs/structure_cmu.json --output runs/structure

reads the CMU trials of the train and val subject splits (test subjects are never touched), cuts
them into history + chunk windows (mirrored, with paraphrased captions), fits the feature
normalisation on the training windows, encodes every caption once with the text encoder, trains
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
    """

    cmu_root: str | None = None
    fps: float = 12.0
    stride: int = 1
    mirror: bool = True
    paraphrase: bool = True
    max_trials: int | None = None
    num_workers: int = 0


@dataclass
class DiffusionConfig:
    """The noise schedule: DDPM for training, DDIM with `num_inference_steps` for sampling.

    Args:
        num_train_timesteps (`int`, defaults to 1000):
        beta_schedule (`str`, defaults to "squaredcos_cap_v2"):
        num_inference_steps (`int`, defaults to 10):
        guidance_scale (`float`, defaults to 2.5): classifier-free guidance the shipped pipeline defaults to.
        contact_guidance_scale (`float`, defaults to 0.5): contact guidance the shipped pipeline defaults to.
    """

    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    num_inference_steps: int = 10
    guidance_scale: float = 2.5
    contact_guidance_scale: float = 0.5

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
    """

    diffusion: float = 1.0
    joints: float = 10.0
    velocity: float = 1.0
    contact: float = 1.0
    floor: float = 100.0
    history_drop_prob: float = 0.1
    text_drop_prob: float = 0.1


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
    """

    train: TrainConfig
    data: DataConfig = field(default_factory=DataConfig)
    model: dict = field(default_factory=dict)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    text_encoder: str = "minilm"
    normalization_windows: int = 20000
    validation_batches: int = 8

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
    """

    def __init__(self, scheduler: DDPMScheduler, prompt_embeddings: torch.Tensor, config: LossConfig, fps: float):
        self.scheduler = scheduler
        self.prompt_embeddings = prompt_embeddings
        self.config = config
        self.fps = fps

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
        timestep = torch.randint(0, self.scheduler.config.num_train_timesteps, (batch_size,), device=device)
        noise = torch.randn_like(target)
        noisy = self.scheduler.add_noise(target, noise, timestep)

        prediction = model(noisy, timestep, history, history_mask, text_embeds, text_mask)  # (B, F, D)
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
    return MotionWindowDataset(
        cmu.load_all(), window_frames, stride=config.data.stride, mirror=config.data.mirror, templates=templates
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
    fit_normalization(model, train_set, config.normalization_windows, seed=config.train.seed)

    text_encoder = load_text_encoder(config.text_encoder)
    train_loss = StructureLoss(
        config.diffusion.training_scheduler(),
        encode_prompts(text_encoder, train_set.prompts),
        config.loss,
        train_set.fps,
    )
    val_loss = StructureLoss(
        config.diffusion.training_scheduler(), encode_prompts(text_encoder, val_set.prompts), config.loss, val_set.fps
    )
    validate = make_validation(val_loss, val_set, config.train.batch_size, config.validation_batches, config.train.seed)
    dataloader = torch.utils.data.DataLoader(
        train_set, batch_size=config.train.batch_size, shuffle=True, drop_last=True, num_workers=config.data.num_workers
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(output_dir / "structure_config.json") as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=2))
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
