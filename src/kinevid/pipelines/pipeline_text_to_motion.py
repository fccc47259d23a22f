"""`TextToMotionPipeline`: prompt -> 3D human motion (MoSA's structure stage), autoregressively.

Stages of `__call__`: 1. check inputs, 2. encode the prompts (pooled text embeddings, and the
token states for a model that cross-attends to them), 3. roll out
motion primitives: each chunk of `num_future_frames` frames is denoised from Gaussian noise in a few
DDIM steps with classifier-free guidance, conditioned on the last `num_history_frames` frames
before it expressed in their own chunk frame, then placed back in the world;
4. assemble `Motion`s of exactly the requested duration, posed on the model's body.

Start: by default (`start="rest"`) the history of the first chunk is the body standing still
(`standing_motion`: arms down, feet on the floor, facing +Z at the origin) and the motion's first
frame is that pose, so every action begins from rest, as CMU's takes do; `start="motion"` gives the
first chunk no history (the model picks any starting pose, the behaviour before).

Timelines: a prompt with sequence markers ("A and then B", "A, then B", "first A, then B") is split
into ordered segments (`kinevid.text.motion_prompt.split_motion_sequence`), or `timeline=` gives
`[(text, seconds), ...]` explicitly. The sampler then switches the text condition per primitive, as
DART and DiP do: primitives wholly inside a segment see its text; over a window of
`transition_seconds` (default: one primitive) centred on each boundary, the pooled text embedding is
blended linearly from one segment's to the next by the time of the primitive's centre (a primitive
centred on the boundary sees both half and half). The history carries the pose across the switch, the
blend keeps the switching primitive from jumping between two unrelated actions. A model that also
cross-attends to text tokens (`text_conditioning="tokens"`) gets the tokens of the primitive's
dominant segment (the largest weight; the later segment on a tie, so the new action starts at its
boundary): token sequences of different prompts cannot be averaged position by position, and the
pooled embedding already carries the smooth cross-fade.

Speed: what every denoiser call of a rollout shares is computed once per rollout (`cache_conditioning`):
the model's conditioning for each DDIM timestep (`MotionPrimitiveDiffusionModel.precompute_conditioning`:
timestep and text MLPs, adaLN modulations, a token model's text keys and values), recomputed only when
a timeline changes the text. The motions are those of the uncached path (`cache_conditioning=False`:
every call recomputes them).

A pipeline directory holds `pipeline_config.json`, `model/` (`MotionPrimitiveDiffusionModel`) and
`scheduler/` (`DDIMScheduler`); the text encoder is referenced by name (`kinevid.text`).
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path

import torch
from diffusers import DDIMScheduler
from diffusers.utils import BaseOutput
from tqdm.auto import tqdm

from ..body.rotations import axis_angle_to_matrix
from ..body.skeleton import SMPL24
from ..errors import InvalidInputError, KinevidError, MissingWeightsError
from ..models.structure.motion_diffusion import MotionConditioning, MotionPrimitiveDiffusionModel
from ..models.structure.representation import (
    CONTACTS,
    FOOT_JOINTS,
    PELVIS,
    ChunkFrame,
    contact_guided_pelvis,
    encode_features,
    features_to_world,
)
from ..motion.contacts import contact_heights, lock_planted_feet
from ..motion.motion import Motion
from ..text.motion_prompt.timeline import TimelineSegment, resolve_timeline, split_motion_sequence
from ..utils.io import atomic_write

CONFIG_NAME = "pipeline_config.json"
MODEL_DIR = "model"
SCHEDULER_DIR = "scheduler"
MAX_PROMPT_CHARS = 500
MAX_SECONDS = 600.0
CONTACT_THRESHOLD = 0.5  # predicted contact channels above this count as "in contact"
# The single contact height the guidance used before the per-joint heights of
# `kinevid.motion.contacts.contact_heights` (kept for code that imports it; no longer used).
CONTACT_FOOT_HEIGHT = 0.06
STANDING_ARM_ANGLE = 75.0  # degrees the arms of the standing start pose hang below the T-pose
START_MODES = ("rest", "motion")
# Contact guidance acts on the x0 predictions of the last 40% of the denoising steps (rounded up): the last 4 of
# 10, 2 of 5, 1 of 2. With trailing DDIM spacing these are the steps below t = 400 of 1000 at any step count, so
# fewer steps do not move the guidance onto the early, blurry predictions.
CONTACT_GUIDANCE_SHARE = Fraction(2, 5)  # exact: 0.4 * 15 rounds up to 7 in floating point
SLIDE_WEIGHT = 0.25  # the slide term's Hessian has eigenvalues up to 8 x weight; steps of 0.5 stay stable


def standing_motion(num_frames: int, fps: float, offsets: torch.Tensor) -> Motion:
    """The body standing still: T-pose with both arms lowered by `STANDING_ARM_ANGLE`, canonical
    (feet on the floor, pelvis above the origin, facing +Z).

    Args:
        num_frames (`int`): frames.
        fps (`float`): frame rate.
        offsets (`torch.Tensor` of shape `(24, 3)`): the body.
    """
    rotations = torch.eye(3, dtype=offsets.dtype, device=offsets.device).expand(num_frames, 24, 3, 3).clone()
    angle = math.radians(STANDING_ARM_ANGLE)
    for joint, sign in ((SMPL24.index("left_shoulder"), -1.0), (SMPL24.index("right_shoulder"), 1.0)):
        rotations[:, joint] = axis_angle_to_matrix(offsets.new_tensor([0.0, 0.0, sign * angle]))
    return Motion(rotations, offsets.new_zeros(num_frames, 3), fps, offsets=offsets).canonicalize()


def timeline_weights(times: torch.Tensor, durations: Sequence[float], transition: float) -> torch.Tensor:
    """How much each segment's text conditions a primitive centred at each time.

    Segment k covers `[b_k, b_{k+1})` (b from the cumulative `durations`, the first and last open-ended);
    its weight at time t is `clamp(min(t - b_k, b_{k+1} - t) / transition + 0.5, 0, 1)`, and weights are
    normalised to sum to 1: a linear cross-fade over `transition` seconds centred on every boundary.

    Args:
        times (`torch.Tensor` of shape `(C,)`): primitive centres, seconds.
        durations (sequence of `float`): the K segments' durations.
        transition (`float`): cross-fade width, seconds (> 0).

    Returns:
        `torch.Tensor` of shape `(C, K)`.
    """
    edges = torch.tensor([0.0, *itertools.accumulate(durations)], dtype=times.dtype, device=times.device)
    starts, ends = edges[:-1].clone(), edges[1:].clone()
    starts[0], ends[-1] = -math.inf, math.inf
    distance = torch.minimum(times[:, None] - starts, ends - times[:, None])  # (C, K)
    weights = (distance / transition + 0.5).clamp(0.0, 1.0)
    return weights / weights.sum(-1, keepdim=True).clamp_min(1e-12)


def blend_embeddings(embeddings: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`sum_k w_k e_k`, rescaled to `sum_k w_k |e_k|` (a blend of unit sentence embeddings stays unit).

    Args:
        embeddings (`torch.Tensor` of shape `(K, D)`): one pooled embedding per segment.
        weights (`torch.Tensor` of shape `(C, K)`): rows summing to 1.

    Returns:
        `torch.Tensor` of shape `(C, D)`.
    """
    mixed = weights @ embeddings
    norm = weights @ embeddings.norm(dim=-1)
    return mixed * (norm / mixed.norm(dim=-1).clamp_min(1e-12))[:, None]


def dominant_segments(weights: torch.Tensor) -> torch.Tensor:
    """The segment of largest weight per row of `weights` `(C, K)` -> `(C,)`, the later one on a tie."""
    num_segments = weights.shape[-1]
    return num_segments - 1 - weights.flip(-1).argmax(-1)


@dataclass
class ChunkTextConditions:
    """The text condition of every primitive of a rollout.

    Args:
        pooled (`torch.Tensor` of shape `(C, B, text_dim)`): pooled embeddings (blended at boundaries).
        tokens (`torch.Tensor` of shape `(C, B, L, text_dim)`, *optional*): token states of each
            primitive's dominant segment, zero-padded to the longest prompt (token models only).
        token_mask (`torch.Tensor` of shape `(C, B, L)`, bool, *optional*): True for real tokens.
    """

    pooled: torch.Tensor
    tokens: torch.Tensor | None = None
    token_mask: torch.Tensor | None = None

    def chunk(self, index: int) -> dict[str, torch.Tensor | None]:
        """Keyword arguments of `_denoise_chunk` for primitive `index`."""
        return {
            "text_embeds": self.pooled[index],
            "text_tokens": None if self.tokens is None else self.tokens[index],
            "text_token_mask": None if self.token_mask is None else self.token_mask[index],
        }


def _same_tensors(current: dict[str, torch.Tensor | None], previous: dict[str, torch.Tensor | None] | None) -> bool:
    """Whether two `ChunkTextConditions.chunk` results hold equal tensors (None matching None only)."""
    if previous is None:
        return False
    for name, tensor in current.items():
        other = previous[name]
        if (tensor is None) != (other is None) or (tensor is not None and not torch.equal(tensor, other)):
            return False
    return True


def default_checkpoint_dir() -> Path:
    """The pipeline shipped inside the package (`kinevid/assets/structure`)."""
    return Path(str(resources.files("kinevid"))) / "assets" / "structure"


@dataclass
class TextToMotionPipelineOutput(BaseOutput):
    """
    Args:
        motions (`list[Motion]`): one SMPL-24 motion per prompt, at the model's fps (also readable as
            `motion`, the field name of `KinevidPipelineOutput`).
    """

    motions: list[Motion]

    @property
    def motion(self) -> list[Motion]:
        return self.motions


class TextToMotionPipeline:
    """Text-to-motion with an autoregressive motion-primitive diffusion model.

    Args:
        model (`MotionPrimitiveDiffusionModel`): the denoiser (with its feature statistics and body).
        scheduler (`DDIMScheduler`): sampling schedule (x0 prediction).
        text_encoder (`kinevid.text.TextEncoder`, *optional*): loaded lazily from `text_encoder_name`.
        text_encoder_name (`str`, defaults to "minilm"): what `kinevid.text.load_text_encoder` loads.
        num_inference_steps (`int`, defaults to 10): default denoising steps per chunk.
        guidance_scale (`float`, defaults to 2.5): default classifier-free guidance scale.
        contact_guidance_scale (`float`, defaults to 0.0): default strength of the contact (L_cont)
            guidance at sampling time (0 disables it; see `_guide_contacts`).
        start (`str`, defaults to `"rest"`): default start mode of `__call__` (`"rest"` or `"motion"`),
            stored in the pipeline directory as `"start"`.
        cache_conditioning (`bool`, defaults to True): compute the model's conditioning once per rollout
            and text (`MotionPrimitiveDiffusionModel.precompute_conditioning`) instead of in every call
            (same motions; False is the
            reference path of tests and `benchmarks/bench_text_to_motion.py`). Only for models whose
            `forward` takes `conditioning`.
    """

    def __init__(
        self,
        model: MotionPrimitiveDiffusionModel,
        scheduler: DDIMScheduler,
        text_encoder=None,
        text_encoder_name: str = "minilm",
        num_inference_steps: int = 10,
        guidance_scale: float = 2.5,
        contact_guidance_scale: float = 0.0,
        start: str = "rest",
        cache_conditioning: bool = True,
        temporal_smoothing: float = 0.0,
        lock_feet: bool = False,
    ):
        if start not in START_MODES:
            raise InvalidInputError(f"`start` must be one of {list(START_MODES)}, got {start!r}.")
        self.model = model.eval()
        self.scheduler = scheduler
        self._text_encoder = text_encoder
        self.text_encoder_name = text_encoder_name
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = guidance_scale
        self.contact_guidance_scale = contact_guidance_scale
        self.start = start
        self.cache_conditioning = cache_conditioning
        self.temporal_smoothing = temporal_smoothing
        self.lock_feet = lock_feet

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike[str] | None = None, text_encoder=None, device: str | torch.device = "cpu"
    ) -> TextToMotionPipeline:
        """Load a pipeline directory (defaults to the checkpoint shipped with kinevid).

        Raises:
            `MissingWeightsError`: the directory or one of its parts is missing.
        """
        path = Path(path) if path is not None else default_checkpoint_dir()
        required = [
            path / CONFIG_NAME,
            path / MODEL_DIR / "config.json",
            path / SCHEDULER_DIR / "scheduler_config.json",
        ]
        missing = [str(item) for item in required if not item.is_file()]
        if missing:
            raise MissingWeightsError(
                f"{path} is not a text-to-motion checkpoint: missing {missing}. Expected {CONFIG_NAME}, "
                f"{MODEL_DIR}/ (config.json + diffusion_pytorch_model.safetensors) and {SCHEDULER_DIR}/; "
                "train one with `kinevid train structure --config configs/structure_cmu.json --output DIR` "
                "and pass DIR/pipeline."
            )
        weights = list((path / MODEL_DIR).glob("*.safetensors"))
        if not weights:
            raise MissingWeightsError(f"{path / MODEL_DIR} holds no .safetensors weights.")
        settings = json.loads((path / CONFIG_NAME).read_text())
        model = MotionPrimitiveDiffusionModel.from_pretrained(path / MODEL_DIR)
        if torch.device(device) != torch.device("cpu"):  # `ModelMixin.to` imports peft: skip the no-op move
            model = model.to(device)
        scheduler = DDIMScheduler.from_pretrained(path / SCHEDULER_DIR)
        return cls(
            model,
            scheduler,
            text_encoder=text_encoder,
            text_encoder_name=settings.get("text_encoder", "minilm"),
            num_inference_steps=int(settings.get("num_inference_steps", 10)),
            guidance_scale=float(settings.get("guidance_scale", 2.5)),
            contact_guidance_scale=float(settings.get("contact_guidance_scale", 0.0)),
            start=str(settings.get("start", "rest")),
            temporal_smoothing=float(settings.get("temporal_smoothing", 0.0)),
            lock_feet=bool(settings.get("lock_feet", False)),
        )

    def save_pretrained(
        self,
        path: str | os.PathLike[str],
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        contact_guidance_scale: float | None = None,
        temporal_smoothing: float | None = None,
        lock_feet: bool | None = None,
    ) -> None:
        """Write the pipeline directory (with these sampling defaults, else the pipeline's); it
        appears complete or not at all."""
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            self.model.save_pretrained(partial / MODEL_DIR)
            self.scheduler.save_pretrained(partial / SCHEDULER_DIR)
            settings = {
                "_class_name": type(self).__name__,
                "text_encoder": self.text_encoder_name,
                "num_inference_steps": num_inference_steps or self.num_inference_steps,
                "guidance_scale": guidance_scale if guidance_scale is not None else self.guidance_scale,
                "contact_guidance_scale": (
                    contact_guidance_scale if contact_guidance_scale is not None else self.contact_guidance_scale
                ),
                "start": self.start,
                "temporal_smoothing": (
                    temporal_smoothing if temporal_smoothing is not None else self.temporal_smoothing
                ),
                "lock_feet": lock_feet if lock_feet is not None else self.lock_feet,
            }
            with atomic_write(partial / CONFIG_NAME) as tmp:
                tmp.write_text(json.dumps(settings, indent=2))
            shutil.rmtree(path, ignore_errors=True)
            partial.rename(path)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    @property
    def text_encoder(self):
        if self._text_encoder is None:
            from ..text import load_text_encoder

            self._text_encoder = load_text_encoder(self.text_encoder_name, device=self.device)
        return self._text_encoder

    @property
    def device(self) -> torch.device:
        # A buffer's device: diffusers' `ModelMixin.device` walks every module on each of ~130 calls a rollout.
        return self.model.feature_mean.device

    @property
    def fps(self) -> float:
        return float(self.model.config.fps)

    # ------------------------------------------------------------------ stages
    def check_inputs(
        self,
        prompts: list[str],
        seconds: float,
        guidance_scale: float,
        num_inference_steps: int,
        contact_guidance_scale: float = 0.0,
        start: str = "rest",
        transition_seconds: float | None = None,
        temporal_smoothing: float = 0.0,
    ) -> None:
        if not prompts:
            raise InvalidInputError("`prompt` is empty: give at least one prompt.")
        for index, prompt in enumerate(prompts):
            if not isinstance(prompt, str) or not prompt.strip():
                raise InvalidInputError(f"prompt {index} is empty; describe the motion, e.g. 'a person walks forward'.")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise InvalidInputError(
                    f"prompt {index} has {len(prompt)} characters; at most {MAX_PROMPT_CHARS} are accepted "
                    "(describe the motion only; see `kinevid.text.extract_motion_prompt`)."
                )
        if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
            raise InvalidInputError(f"`seconds` must be a positive number, got {seconds!r}.")
        if seconds > MAX_SECONDS:
            raise InvalidInputError(f"`seconds` must be at most {MAX_SECONDS:g}, got {seconds!r}.")
        if not math.isfinite(guidance_scale) or guidance_scale < 0:
            raise InvalidInputError(f"`guidance_scale` must be a number >= 0, got {guidance_scale!r}.")
        if not math.isfinite(contact_guidance_scale) or contact_guidance_scale < 0:
            raise InvalidInputError(f"`contact_guidance_scale` must be a number >= 0, got {contact_guidance_scale!r}.")
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise InvalidInputError(f"`num_inference_steps` must be a positive integer, got {num_inference_steps!r}.")
        if start not in START_MODES:
            raise InvalidInputError(f"`start` must be one of {list(START_MODES)}, got {start!r}.")
        if transition_seconds is not None and not (math.isfinite(transition_seconds) and transition_seconds > 0):
            raise InvalidInputError(f"`transition_seconds` must be a positive number, got {transition_seconds!r}.")
        if (
            not (isinstance(temporal_smoothing, (int, float)) and math.isfinite(temporal_smoothing))
            or temporal_smoothing < 0
        ):
            raise InvalidInputError(f"`temporal_smoothing` must be a number >= 0 (frames), got {temporal_smoothing!r}.")

    @property
    def uses_text_tokens(self) -> bool:
        """Whether the model cross-attends to text tokens (`text_conditioning="tokens"`)."""
        return getattr(self.model.config, "text_conditioning", "pooled") == "tokens"

    def encode_prompt(
        self, prompts: list[str], return_tokens: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pooled text embeddings `(B, text_dim)`; with `return_tokens` also the token states
        `(B, L, text_dim)` (zero where padded) and their mask `(B, L)` (bool)."""
        embeddings = self.text_encoder.encode(prompts)
        pooled = embeddings.pooled.to(device=self.device, dtype=self.model.dtype)
        if not return_tokens:
            return pooled
        mask = embeddings.mask.to(device=self.device, dtype=torch.bool)
        tokens = embeddings.tokens.to(device=self.device, dtype=self.model.dtype).masked_fill(~mask[..., None], 0.0)
        return pooled, tokens, mask

    def plan_timelines(
        self, prompts: list[str], seconds: float, timeline: Sequence[tuple[str, float]] | None, split_sequences: bool
    ) -> tuple[list[list[tuple[str, float]]], float]:
        """Each batch item's segments `[(text, seconds), ...]` and the clip duration.

        An explicit `timeline` is one item lasting its total; otherwise each prompt is split at its
        sequence markers (when `split_sequences`) and its segments share `seconds`.
        """
        if timeline is not None:
            segments = [TimelineSegment(str(text), float(duration)) for text, duration in timeline]
            for index, segment in enumerate(segments):
                if not segment.text.strip() or not (math.isfinite(segment.seconds) and segment.seconds > 0):
                    raise InvalidInputError(
                        f"`timeline` entry {index} ({segment.text!r}, {segment.seconds}) needs a text and seconds > 0."
                    )
            plan = resolve_timeline(segments, None)
            return [plan], sum(duration for _, duration in plan)
        plans = []
        for prompt in prompts:
            segments = split_motion_sequence(prompt) if split_sequences else []
            if len(segments) <= 1:
                plans.append([(prompt, float(seconds))])
            else:
                plans.append(resolve_timeline(segments, seconds))
        return plans, float(seconds)

    def chunk_text_embeds(
        self, plans: list[list[tuple[str, float]]], chunk_times: torch.Tensor, transition_seconds: float
    ) -> torch.Tensor:
        """The pooled text condition of every primitive: `(C, B, text_dim)` (see the module docstring).

        Args:
            plans (`list` of B segment lists `[(text, seconds), ...]`).
            chunk_times (`torch.Tensor` of shape `(C,)`): each primitive's centre, seconds.
            transition_seconds (`float`): cross-fade width at segment boundaries.
        """
        return self.chunk_text_conditions(plans, chunk_times, transition_seconds, with_tokens=False).pooled

    def chunk_text_conditions(
        self,
        plans: list[list[tuple[str, float]]],
        chunk_times: torch.Tensor,
        transition_seconds: float,
        with_tokens: bool | None = None,
    ) -> ChunkTextConditions:
        """The text condition of every primitive: pooled embeddings blended across segment boundaries
        and, for a token model, the tokens of each primitive's dominant segment (module docstring).

        Args:
            plans (`list` of B segment lists `[(text, seconds), ...]`).
            chunk_times (`torch.Tensor` of shape `(C,)`): each primitive's centre, seconds.
            transition_seconds (`float`): cross-fade width at segment boundaries.
            with_tokens (`bool`, *optional*): also the tokens; defaults to `uses_text_tokens`.
        """
        with_tokens = self.uses_text_tokens if with_tokens is None else with_tokens
        texts = list(dict.fromkeys(text for plan in plans for text, _ in plan))
        index = {text: position for position, text in enumerate(texts)}
        if with_tokens:
            pooled, tokens, token_mask = self.encode_prompt(texts, return_tokens=True)
        else:
            pooled, tokens, token_mask = self.encode_prompt(texts), None, None
        num_chunks = len(chunk_times)
        per_item, dominant = [], []
        for plan in plans:
            segments = torch.tensor([index[text] for text, _ in plan], device=pooled.device)
            stacked = pooled[segments]  # (K, D)
            if len(plan) == 1:
                per_item.append(stacked.expand(num_chunks, -1))
                dominant.append(segments.expand(num_chunks))
                continue
            weights = timeline_weights(chunk_times, [duration for _, duration in plan], transition_seconds)
            per_item.append(blend_embeddings(stacked.float(), weights.float()).to(stacked.dtype))
            dominant.append(segments[dominant_segments(weights).to(segments.device)])
        conditions = ChunkTextConditions(pooled=torch.stack(per_item, dim=1))
        if with_tokens:
            chosen = torch.stack(dominant, dim=1)  # (C, B): index into `texts`
            conditions.tokens, conditions.token_mask = tokens[chosen], token_mask[chosen]
        return conditions

    def _denoise_chunk(
        self,
        history: torch.Tensor,
        history_mask: torch.Tensor,
        text_embeds: torch.Tensor,
        guidance_scale: float,
        contact_guidance_scale: float,
        generator: torch.Generator | None,
        text_tokens: torch.Tensor | None = None,
        text_token_mask: torch.Tensor | None = None,
        conditioning: list[MotionConditioning] | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """One primitive: `(B, F, D)` normalised features denoised from noise.

        `text_embeds` `(B, text_dim)` is the pooled condition; a token model also needs `text_tokens`
        `(B, L, text_dim)` and `text_token_mask` `(B, L)`. The unconditional half of the guidance batch
        drops both (`text_mask` False: the model's null embedding and null token). `conditioning`
        (`precompute_chunk_conditioning` of the same text, one per timestep of the scheduler) is passed
        to the model instead of recomputing it in every call; `dtype` is the model's (looked up if None)."""
        model = self.model
        dtype = model.dtype if dtype is None else dtype
        batch_size = history.shape[0]
        shape = (batch_size, model.config.num_future_frames, model.config.feature_dim)
        sample = torch.randn(shape, generator=generator, device=self.device, dtype=dtype)
        use_guidance = guidance_scale != 1.0
        text_inputs = self._model_text_inputs(text_embeds, text_tokens, text_token_mask, use_guidance)
        text_embeds, text_mask = text_inputs.pop("text_embeds"), text_inputs.pop("text_mask")
        if use_guidance:  # one batched pass: [conditional; unconditional]
            history, history_mask = history.repeat(2, 1, 1), history_mask.repeat(2)
        timesteps = self.scheduler.timesteps
        if conditioning is not None and len(conditioning) != len(timesteps):
            raise ValueError(f"`conditioning` has {len(conditioning)} timesteps, the scheduler {len(timesteps)}.")
        first_guided_step = len(timesteps) - math.ceil(CONTACT_GUIDANCE_SHARE * len(timesteps))
        for step, timestep in enumerate(timesteps):
            model_input = torch.cat([sample, sample]) if use_guidance else sample  # the copy `repeat` makes, cheaper
            if conditioning is not None:
                text_inputs["conditioning"] = conditioning[step]
            prediction = model(
                model_input, timestep.to(self.device), history, history_mask, text_embeds, text_mask, **text_inputs
            )
            if use_guidance:
                conditional, unconditional = prediction.chunk(2)
                prediction = unconditional + guidance_scale * (conditional - unconditional)
            if contact_guidance_scale > 0 and step >= first_guided_step:
                prediction = self._guide_contacts(prediction, contact_guidance_scale)
            sample = self.scheduler.step(prediction, timestep, sample, eta=0.0, generator=generator).prev_sample
        return sample

    def _model_text_inputs(
        self,
        text_embeds: torch.Tensor,
        text_tokens: torch.Tensor | None,
        text_token_mask: torch.Tensor | None,
        use_guidance: bool,
    ) -> dict[str, torch.Tensor]:
        """The model's text arguments for one primitive of B samples: `text_embeds` and `text_mask`, and
        for a token model `text_tokens` and `text_token_mask`; with guidance, `[conditional;
        unconditional]` (2B rows, the second half's text dropped)."""
        text_mask = torch.ones(text_embeds.shape[0], dtype=torch.bool, device=self.device)
        if use_guidance:
            text_embeds, text_mask = text_embeds.repeat(2, 1), torch.cat([text_mask, ~text_mask])
            if text_tokens is not None:
                text_tokens = text_tokens.repeat(2, 1, 1)
                text_token_mask = None if text_token_mask is None else text_token_mask.repeat(2, 1)
        inputs = {"text_embeds": text_embeds, "text_mask": text_mask}
        if text_tokens is not None:
            inputs.update(text_tokens=text_tokens, text_token_mask=text_token_mask)
        return inputs

    @property
    def supports_conditioning_cache(self) -> bool:
        """Whether the model's `forward` takes a precomputed `conditioning` (subclasses that override
        `forward` without it are called the plain way)."""
        return "conditioning" in inspect.signature(type(self.model).forward).parameters

    def precompute_chunk_conditioning(
        self,
        text_embeds: torch.Tensor,
        guidance_scale: float,
        text_tokens: torch.Tensor | None = None,
        text_token_mask: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> list[MotionConditioning]:
        """The model's conditioning of a primitive with this text at every timestep of the scheduler
        (after `set_timesteps`), guidance batch included; shared by every primitive with the same text.

        Args:
            text_embeds (`torch.Tensor` of shape `(B, text_dim)`), text_tokens (`(B, L, text_dim)`, *optional*),
            text_token_mask (`(B, L)`, *optional*): as for `_denoise_chunk`.
            guidance_scale (`float`): classifier-free guidance scale (1: no unconditional half).
            dtype (`torch.dtype`, *optional*): the model's dtype (looked up if None).

        Returns:
            `list` of `MotionConditioning`, one per `scheduler.timesteps` entry, for 2B samples with guidance.
        """
        inputs = self._model_text_inputs(text_embeds, text_tokens, text_token_mask, guidance_scale != 1.0)
        return self.model.precompute_conditioning(self.scheduler.timesteps.to(self.device), **inputs, dtype=dtype)

    def _guide_contacts(self, prediction: torch.Tensor, scale: float, num_steps: int = 2) -> torch.Tensor:
        """Nudge a predicted clean chunk towards L_cont by moving its pelvis: feet it labels in contact
        do not slide and rest on the floor, and no joint goes below the floor.

        Gradient steps on the pelvis positions (metres) of the loss
        SLIDE_WEIGHT sum_t [mean over contact feet |foot_{t+1} - foot_t|_xz^2]
        + sum_t relu(-min_j y_tj)^2 + sum_t relu(min over contact foot joints j of (y_tj - h_j))^2, with
        h_j the joint's contact height measured on CMU (`kinevid.motion.contacts.contact_heights`: the
        ankle ~9 cm, the toe ~5 cm; moving the pelvis can only put the lowest planted joint down).
        The last term keeps a rollout from drifting off the floor chunk after chunk (each chunk
        continues the height of its history). A `scale` of 0.5 corrects a sunken or hovering frame
        in one step; the slide term's weight keeps its steps a smoothing (not an oscillation) for any
        scale <= 0.5.

        Args:
            prediction (`torch.Tensor` of shape `(B, F, D)`): normalised predicted clean chunk.
            scale (`float`): step size, in (0, 0.5] for a stable correction.
            num_steps (`int`): gradient steps.
        """
        model = self.model
        features = model.denormalize(prediction)
        offsets = model.body_offsets.to(features.dtype).expand(features.shape[0], -1, -1)
        heights = features.new_tensor(contact_heights())
        features = features.clone()
        features[..., PELVIS] = contact_guided_pelvis(
            features, offsets, heights, scale, num_steps, SLIDE_WEIGHT, CONTACT_THRESHOLD
        )
        return model.normalize(features)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        seconds: float = 6.0,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        contact_guidance_scale: float | None = None,
        show_progress: bool = False,
        return_dict: bool = True,
        start: str | None = None,
        timeline: Sequence[tuple[str, float]] | None = None,
        transition_seconds: float | None = None,
        split_sequences: bool = True,
        temporal_smoothing: float | None = None,
        lock_feet: bool | None = None,
    ) -> TextToMotionPipelineOutput | tuple[list[Motion]]:
        """Generate one motion per prompt.

        Args:
            prompt (`str` or `list[str]`): what the person does (B prompts, generated as one batch).
            seconds (`float`, defaults to 6.0): duration; the motion has `round(seconds * fps)` frames (>= 1).
            num_inference_steps (`int`, *optional*): DDIM steps per chunk (default from the checkpoint; the shipped 5).
            guidance_scale (`float`, *optional*): classifier-free guidance scale (1 disables it).
            generator (`torch.Generator`, *optional*): source of all noise; built from `seed` if omitted.
            seed (`int`, *optional*): seed for a fresh generator (ignored when `generator` is given).
            contact_guidance_scale (`float`, *optional*): strength of the L_cont guidance, applied to the
                x0 predictions of the last `CONTACT_GUIDANCE_SHARE` (40%) of the denoising steps of every chunk (0
                disables it; default from the checkpoint).
            show_progress (`bool`, defaults to False): progress bar over chunks.
            return_dict (`bool`, defaults to True): return a `TextToMotionPipelineOutput` (else a tuple).
            start (`str`, *optional*): `"rest"` begins every motion with the standing pose
                (`standing_motion`) as the first frame and the first primitive's history; `"motion"`
                gives the first primitive no history. Default: the pipeline's `start` ("rest" unless
                its directory says otherwise).
            timeline (sequence of `(text, seconds)`, *optional*): one motion whose text changes per
                segment; `prompt` is then ignored (may be None) and the duration is the segments' sum.
            transition_seconds (`float`, *optional*): width of the text cross-fade at segment boundaries
                (default: one primitive, `num_future_frames / fps`).
            split_sequences (`bool`, defaults to True): split prompts at "and then" / ", then" / "first
                ..., then" into segments sharing `seconds` evenly (or as they say, "for 3 seconds").
            temporal_smoothing (`float`, *optional*): standard deviation, in frames, of a Gaussian filter over
                the finished motion (`Motion.smooth`: rotations and root; 0 disables it). It removes the jitter of
                few-step sampling and the kinks where primitives join. Default from the checkpoint.
            lock_feet (`bool`, *optional*): after smoothing, move the root so that the feet the model labels in
                contact do not slide and nothing is below the floor (`kinevid.motion.contacts.lock_planted_feet`).
                Default from the checkpoint.

        Returns:
            `TextToMotionPipelineOutput` with `motions` (`list[Motion]`, B motions of T frames).
        """
        # 1. check inputs
        if timeline is not None:
            timeline = list(timeline)
            if not timeline:
                raise InvalidInputError("`timeline` is empty: give at least one (text, seconds) segment.")
            prompt = [str(text) for text, _ in timeline]
        prompts = [prompt] if isinstance(prompt, str) else list(prompt or [])
        num_inference_steps = num_inference_steps or self.num_inference_steps
        start = self.start if start is None else start
        guidance_scale = self.guidance_scale if guidance_scale is None else float(guidance_scale)
        if contact_guidance_scale is None:
            contact_guidance_scale = self.contact_guidance_scale
        if temporal_smoothing is None:
            temporal_smoothing = self.temporal_smoothing
        lock_feet = self.lock_feet if lock_feet is None else lock_feet
        if timeline is not None:
            plans, seconds = self.plan_timelines(prompts, seconds, timeline, split_sequences)
        self.check_inputs(
            prompts,
            seconds,
            guidance_scale,
            num_inference_steps,
            contact_guidance_scale,
            start,
            transition_seconds,
            temporal_smoothing,
        )
        if timeline is None:
            plans, seconds = self.plan_timelines(prompts, seconds, None, split_sequences)
        if generator is None:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(seed if seed is not None else int(torch.empty((), dtype=torch.int64).random_()))

        # 2. encode prompts: the text condition of every primitive
        model = self.model
        config = model.config
        batch_size = len(plans)
        num_frames = max(1, round(seconds * self.fps))
        start_frames = 1 if start == "rest" else 0  # the standing first frame is not generated
        num_chunks = math.ceil(max(num_frames - start_frames, 0) / config.num_future_frames)
        first_frames = start_frames + config.num_future_frames * torch.arange(num_chunks, device=self.device)
        chunk_times = (first_frames + (config.num_future_frames - 1) / 2) / self.fps
        if transition_seconds is None:
            transition_seconds = config.num_future_frames / self.fps
        text_conditions = self.chunk_text_conditions(plans, chunk_times, transition_seconds)

        # 3. roll out primitives
        dtype = model.dtype  # looked up once: `ModelMixin.dtype` walks the parameters
        offsets = model.body_offsets.to(dtype).expand(batch_size, -1, -1)
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        cache_conditioning = self.cache_conditioning and self.supports_conditioning_cache
        conditioned_on, conditioning = None, None  # the chunk text the cached conditioning is for; the cache
        rotations, pelvis, joints, contacts = [], [], [], []
        history = torch.zeros(batch_size, config.num_history_frames, config.feature_dim, device=self.device)
        history_mask = torch.zeros(batch_size, dtype=torch.bool, device=self.device)
        frame = ChunkFrame(  # without a history the first chunk is generated directly in the world frame
            rotation=torch.eye(3, device=self.device).expand(batch_size, 3, 3),
            origin=torch.zeros(batch_size, 3, device=self.device),
        )
        if start == "rest":  # the standing pose as the frames before the first chunk
            standing = standing_motion(config.num_history_frames, self.fps, model.body_offsets.to(dtype))
            rotations.append(standing.rotations.expand(batch_size, -1, -1, -1, -1))
            pelvis.append((standing.translation + standing.offsets[0]).expand(batch_size, -1, -1))
            joints.append(standing.joints.expand(batch_size, -1, -1, -1))
            contacts.append(torch.ones(batch_size, config.num_history_frames, len(FOOT_JOINTS), device=self.device))
        for chunk in tqdm(range(num_chunks), desc="motion chunks", disable=not show_progress):
            if rotations:
                frame = ChunkFrame.from_joints(joints[-1][:, -1])
                window = slice(-config.num_history_frames, None)
                history = model.normalize(
                    encode_features(
                        torch.cat(rotations, 1)[:, window],
                        torch.cat(pelvis, 1)[:, window],
                        offsets,
                        frame,
                        torch.cat(contacts, 1)[:, window],
                    )
                )
                history_mask = torch.ones_like(history_mask)
            text = text_conditions.chunk(chunk)
            if cache_conditioning and not _same_tensors(text, conditioned_on):
                conditioning = self.precompute_chunk_conditioning(
                    text["text_embeds"], guidance_scale, text["text_tokens"], text["text_token_mask"], dtype
                )
                conditioned_on = text
            sample = self._denoise_chunk(
                history,
                history_mask,
                text["text_embeds"],
                guidance_scale,
                contact_guidance_scale,
                generator,
                text_tokens=text["text_tokens"],
                text_token_mask=text["text_token_mask"],
                conditioning=conditioning,
                dtype=dtype,
            )
            features = model.denormalize(sample)
            chunk_rotations, chunk_pelvis, chunk_joints = features_to_world(features, frame, offsets)
            rotations.append(chunk_rotations)
            pelvis.append(chunk_pelvis)
            joints.append(chunk_joints)
            contacts.append((features[..., CONTACTS] > CONTACT_THRESHOLD).to(features.dtype))

        # 4. assemble motions (from the last standing frame when starting from rest)
        first = config.num_history_frames - 1 if start == "rest" else 0
        rotations = torch.cat(rotations, 1)[:, first : first + num_frames]
        translation = torch.cat(pelvis, 1)[:, first : first + num_frames] - offsets[:, None, 0]
        if not (torch.isfinite(rotations).all() and torch.isfinite(translation).all()):
            raise KinevidError(
                "The model produced NaN or infinite values; the checkpoint may be corrupt or diverged "
                f"(model config: {dict(config)})."
            )
        if lock_feet:  # the model's own contact labels, already 0 / 1
            contacts = torch.cat(contacts, 1)[:, first : first + num_frames].bool()  # (B, T, 4)
        motions = []
        for b in range(batch_size):
            motion = Motion(rotations[b], translation[b], fps=self.fps, offsets=offsets[b].clone())
            if temporal_smoothing > 0:
                motion = motion.smooth(temporal_smoothing)
            motions.append(lock_planted_feet(motion, contacts[b]) if lock_feet else motion)
        if not return_dict:
            return (motions,)
        return TextToMotionPipelineOutput(motions=motions)
