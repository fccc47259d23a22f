"""EchoMotion's two-stage training recipe: the loss of one batch, stage by stage.

Stage 1 (motion-only): the video branch is frozen and video tokens are absent; the motion branch
learns text -> motion by flow matching on motion-only data (text dropped at `text_dropout` for CFG).

Stage 2 (multi-task): every parameter trains on paired video + motion; each sample draws a task:

| task | noised | clean condition (timestep 0) | dropout (in-context CFG) | loss on |
|---|---|---|---|---|
| joint | video, motion (same level) | - | text at `text_dropout` | video + motion |
| m2v | video | motion | text at `text_dropout`, motion at `motion_condition_dropout` | video |
| v2m | motion | video | text always, video at `video_condition_dropout` | motion |

With `video_only` (the paper's "video-only tuning" baseline: the same backbone tuned on the same data
without the motion stream) stage 2 trains the video alone: no motion tokens enter the model (which then
computes exactly Wan), text dropped at `text_dropout`, loss on the video only.

A dropped text is replaced by the null text, a dropped motion condition by a fully masked motion
(the model then computes the plain video prediction), a dropped video condition by hiding the video
tokens from the motion tokens.

The null text is the text encoder's encoding of the empty prompt `""`, padded like every prompt
(`kinevid.pipelines.pipeline_echomotion.encode_prompt_embeds(tokenizer, text_encoder, "", L)`), the
same tensor `EchoMotionPipeline` guides with by default (`negative_prompt=""`). There is no fallback:
a batch without it is an error, so training can never drop text to zeros while inference drops it
to `""`.

Batch (a dict of tensors; the engine's dataloader yields it):
    `motion` `(B, T, 235)` normalised motion features; `motion_mask` `(B, T)` bool, *optional*
    (False = padding); `encoder_hidden_states` `(B, L, text_dim)`; `negative_encoder_hidden_states`
    `(L, text_dim)` or `(B, L, text_dim)`, the null text (`EchoMotionTrainingRecipe` adds it from
    its `null_text_embeds`); stage 2 also `latents` `(B, C, F, H, W)` normalised VAE latents with
    `T = 4 (F - 1) + 1`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InvalidInputError
from ..models.appearance.transformer_echomotion import (
    ECHOMOTION_TASKS,
    EchoMotionTransformer3DModel,
    is_motion_parameter,
)
from .flow_matching import (
    add_noise,
    masked_mean,
    per_sample_mse,
    sample_sigmas,
    sigmas_to_timesteps,
    velocity_target,
)

STAGES = (1, 2)
JOINT, M2V, V2M = (ECHOMOTION_TASKS.index(name) for name in ("joint", "m2v", "v2m"))


@dataclass
class EchoMotionTrainingConfig:
    """Hyper-parameters of the objective (optimiser settings live in `kinevid.train.TrainConfig`).

    Args:
        shift (`float`, defaults to 8.0): time shift of the training noise levels (paper: 8).
        timestep_distribution (`str`, defaults to `"uniform"`): `"uniform"` or `"logit_normal"`.
        video_loss_weight (`float`, defaults to 1.0), motion_loss_weight (`float`, defaults to 1.0):
            weights of the per-modality flow-matching losses.
        task_probabilities (`tuple[float, float, float]`): stage-2 probabilities of joint, m2v, v2m.
        text_dropout (`float`, defaults to 0.1): probability of dropping the text (joint, m2v, stage 1).
        motion_condition_dropout (`float`, defaults to 0.1): m2v probability of dropping the motion.
        video_condition_dropout (`float`, defaults to 0.1): v2m probability of dropping the video.
        video_only (`bool`, defaults to False): stage 2 trains the video alone (no motion tokens or loss;
            `task_probabilities` and the condition dropouts are unused), the video-only tuning baseline.
    """

    shift: float = 8.0
    timestep_distribution: str = "uniform"
    video_loss_weight: float = 1.0
    motion_loss_weight: float = 1.0
    task_probabilities: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    text_dropout: float = 0.1
    motion_condition_dropout: float = 0.1
    video_condition_dropout: float = 0.1
    video_only: bool = False

    def __post_init__(self) -> None:
        probabilities = torch.tensor(self.task_probabilities, dtype=torch.float64)
        if probabilities.shape != (len(ECHOMOTION_TASKS),) or (probabilities < 0).any() or probabilities.sum() <= 0:
            raise InvalidInputError(
                f"`task_probabilities` must be {len(ECHOMOTION_TASKS)} non-negative weights for {ECHOMOTION_TASKS}; "
                f"got {self.task_probabilities}"
            )
        for name in ("text_dropout", "motion_condition_dropout", "video_condition_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidInputError(f"`{name}` must be a probability in [0, 1]; got {value}")
        if not isinstance(self.video_only, bool):
            raise InvalidInputError(f"`video_only` must be true or false; got {self.video_only!r}")


def configure_stage(model: EchoMotionTransformer3DModel, stage: int) -> list[nn.Parameter]:
    """Freeze what `stage` does not train and return the trainable parameters (for the optimiser).

    Stage 1 trains the motion branch only (every parameter `is_motion_parameter` names); stage 2
    trains everything.
    """
    _check_stage(stage)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(stage == 2 or is_motion_parameter(name))
    return [p for p in model.parameters() if p.requires_grad]


def _check_stage(stage: int) -> None:
    if stage not in STAGES:
        raise InvalidInputError(f"`stage` must be 1 (motion-only) or 2 (multi-task); got {stage!r}")


def _bernoulli(probability: float, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(batch_size, generator=generator) < probability


def _text_with_dropout(batch: dict, dropped: torch.Tensor) -> torch.Tensor:
    """`encoder_hidden_states` with the `dropped` `(B,)` samples replaced by the null text."""
    text = batch["encoder_hidden_states"]
    null_text = batch["negative_encoder_hidden_states"]
    if null_text.shape[-2:] != text.shape[-2:] or null_text.ndim not in (2, 3):
        raise InvalidInputError(
            f"`negative_encoder_hidden_states` (the null text) must have shape (L, D) or (B, L, D) with "
            f"(L, D) = {tuple(text.shape[-2:])} of `encoder_hidden_states`; got {tuple(null_text.shape)}"
        )
    null_text = null_text.to(text).expand_as(text)
    return torch.where(dropped.to(text.device)[:, None, None], null_text, text)


def _check_batch(batch: dict, stage: int) -> None:
    required = ["motion", "encoder_hidden_states", "negative_encoder_hidden_states"]
    required += ["latents"] if stage == 2 else []
    missing = [key for key in required if key not in batch]
    if missing:
        raise InvalidInputError(
            f"stage-{stage} batch lacks {missing}; it needs {required} (`negative_encoder_hidden_states` is the "
            'null text, the text encoder\'s encoding of "", see echomotion_training)'
        )


def echomotion_training_step(
    model: EchoMotionTransformer3DModel,
    batch: dict[str, torch.Tensor],
    stage: int,
    config: EchoMotionTrainingConfig | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """The loss of one batch (forward only; the caller back-propagates `["loss"]`).

    Args:
        model (`EchoMotionTransformer3DModel`): the model (call `configure_stage` once beforehand).
        batch (`dict`): see the module docstring.
        stage (`int`): 1 (motion-only) or 2 (multi-task).
        config (`EchoMotionTrainingConfig`, *optional*): the objective's hyper-parameters.
        generator (`torch.Generator`, *optional*): CPU generator for noise, levels, tasks and dropout.

    Returns:
        `dict` with `"loss"` (scalar, weighted), `"loss/motion"`, and in stage 2 `"loss/video"` and the
        task counts `"tasks/joint"`, `"tasks/m2v"`, `"tasks/v2m"` (detached); with `video_only`, `"loss"` and
        `"loss/video"`.
    """
    config = config or EchoMotionTrainingConfig()
    _check_stage(stage)
    if config.video_only and stage != 2:
        raise InvalidInputError("`video_only` is a stage-2 objective (stage 1 trains the motion branch alone)")
    _check_batch(batch, stage)
    if config.video_only:
        return _video_only_step(model, batch, config, generator)
    motion = batch["motion"]
    motion_mask = batch.get("motion_mask")
    batch_size = motion.shape[0]
    device = motion.device

    motion_noise = torch.randn(motion.shape, generator=generator).to(motion)
    sigmas = sample_sigmas(batch_size, config.shift, config.timestep_distribution, generator=generator, device=device)

    if stage == 1:
        text = _text_with_dropout(batch, _bernoulli(config.text_dropout, batch_size, generator))
        prediction = model(
            None,
            None,
            text,
            motion_hidden_states=add_noise(motion, motion_noise, sigmas),
            motion_timestep=sigmas_to_timesteps(sigmas),
            motion_attention_mask=motion_mask,
            task=torch.full((batch_size,), JOINT, device=device),
        ).motion_sample
        motion_loss = per_sample_mse(prediction, velocity_target(motion, motion_noise), motion_mask).mean()
        return {"loss": config.motion_loss_weight * motion_loss, "loss/motion": motion_loss.detach()}

    latents = batch["latents"]
    probabilities = torch.tensor(config.task_probabilities, dtype=torch.float64)
    task = torch.multinomial(probabilities, batch_size, replacement=True, generator=generator)
    video_noise = torch.randn(latents.shape, generator=generator).to(latents)
    zero = torch.zeros_like(sigmas)
    video_sigmas = torch.where(task.to(device) == V2M, zero, sigmas)
    motion_sigmas = torch.where(task.to(device) == M2V, zero, sigmas)

    drop_text = (task == V2M) | _bernoulli(config.text_dropout, batch_size, generator)
    drop_motion = (task == M2V) & _bernoulli(config.motion_condition_dropout, batch_size, generator)
    drop_video = (task == V2M) & _bernoulli(config.video_condition_dropout, batch_size, generator)
    real_frames = torch.ones(motion.shape[:2], dtype=torch.bool, device=device) if motion_mask is None else motion_mask
    model_motion_mask = real_frames & ~drop_motion.to(device)[:, None]
    # Without padding or dropped conditions no mask is passed, so mask-free attention kernels (flash) apply.
    if motion_mask is None and not drop_motion.any():
        model_motion_mask = None
    video_condition_mask = ~drop_video.to(device) if drop_video.any() else None

    output = model(
        add_noise(latents, video_noise, video_sigmas),
        sigmas_to_timesteps(video_sigmas),
        _text_with_dropout(batch, drop_text),
        motion_hidden_states=add_noise(motion, motion_noise, motion_sigmas),
        motion_timestep=sigmas_to_timesteps(motion_sigmas),
        motion_attention_mask=model_motion_mask,
        task=task.to(device),
        video_condition_mask=video_condition_mask,
    )
    video_losses = per_sample_mse(output.sample, velocity_target(latents, video_noise))
    motion_losses = per_sample_mse(output.motion_sample, velocity_target(motion, motion_noise), real_frames)
    video_loss = masked_mean(video_losses, (task != V2M).to(device))
    motion_loss = masked_mean(motion_losses, (task != M2V).to(device))
    loss = config.video_loss_weight * video_loss + config.motion_loss_weight * motion_loss
    counts = {f"tasks/{name}": (task == index).sum().float() for index, name in enumerate(ECHOMOTION_TASKS)}
    return {"loss": loss, "loss/video": video_loss.detach(), "loss/motion": motion_loss.detach(), **counts}


def _video_only_step(
    model: EchoMotionTransformer3DModel,
    batch: dict[str, torch.Tensor],
    config: EchoMotionTrainingConfig,
    generator: torch.Generator | None,
) -> dict[str, torch.Tensor]:
    """Flow matching on the video alone (no motion tokens): the video-only tuning baseline."""
    latents = batch["latents"]
    batch_size = latents.shape[0]
    video_noise = torch.randn(latents.shape, generator=generator).to(latents)
    sigmas = sample_sigmas(
        batch_size, config.shift, config.timestep_distribution, generator=generator, device=latents.device
    )
    text = _text_with_dropout(batch, _bernoulli(config.text_dropout, batch_size, generator))
    prediction = model(add_noise(latents, video_noise, sigmas), sigmas_to_timesteps(sigmas), text).sample
    video_loss = per_sample_mse(prediction, velocity_target(latents, video_noise)).mean()
    return {"loss": config.video_loss_weight * video_loss, "loss/video": video_loss.detach()}


class EchoMotionTrainingRecipe:
    """Binds a model, a stage and the objective: `training_step(batch)` / `compute_loss(model, batch)`.

    `compute_loss` has the signature `kinevid.train.Trainer` expects, so a stage runs as
    `Trainer(model, recipe.compute_loss, dataloader, train_config)` after `recipe.trainable_parameters`
    froze what the stage does not train.

    Args:
        model (`EchoMotionTransformer3DModel`): the model to train.
        stage (`int`): 1 (motion-only) or 2 (multi-task).
        config (`EchoMotionTrainingConfig`, *optional*): hyper-parameters.
        generator (`torch.Generator`, *optional*): randomness of the objective.
        null_text_embeds (`torch.Tensor` of shape `(L, text_dim)`, *optional*): the null text (the text
            encoder's encoding of `""`, see the module docstring), added to every batch that lacks
            `negative_encoder_hidden_states`.
    """

    def __init__(
        self,
        model: EchoMotionTransformer3DModel,
        stage: int,
        config: EchoMotionTrainingConfig | None = None,
        generator: torch.Generator | None = None,
        null_text_embeds: torch.Tensor | None = None,
    ) -> None:
        if null_text_embeds is not None and null_text_embeds.ndim != 2:
            raise InvalidInputError(
                f"`null_text_embeds` must have shape (L, text_dim); got {tuple(null_text_embeds.shape)}"
            )
        self.model = model
        self.stage = stage
        self.config = config or EchoMotionTrainingConfig()
        self.generator = generator
        self.null_text_embeds = null_text_embeds
        self.trainable_parameters = configure_stage(model, stage)

    def with_null_text(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`batch` with `negative_encoder_hidden_states` set to the recipe's null text (unless it has one)."""
        if self.null_text_embeds is None or "negative_encoder_hidden_states" in batch:
            return batch
        return {**batch, "negative_encoder_hidden_states": self.null_text_embeds}

    def training_step(self, batch: dict[str, torch.Tensor], stage: int | None = None) -> dict[str, torch.Tensor]:
        """Loss terms of `batch` at `stage` (default: the recipe's; a different stage re-freezes)."""
        if stage is not None and stage != self.stage:
            self.stage = stage
            self.trainable_parameters = configure_stage(self.model, stage)
        return echomotion_training_step(self.model, self.with_null_text(batch), self.stage, self.config, self.generator)

    def compute_loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`Trainer`'s hook: the same loss, on the (possibly accelerate-wrapped) `model`."""
        return echomotion_training_step(model, self.with_null_text(batch), self.stage, self.config, self.generator)
