"""`TextToMotionPipeline`: prompt -> 3D human motion (MoSA's structure stage), autoregressively.

Stages of `__call__`: 1. check inputs, 2. encode the prompts (pooled text embeddings), 3. roll out
motion primitives: each chunk of `num_future_frames` frames is denoised from Gaussian noise in a few
DDIM steps with classifier-free guidance, conditioned on the last `num_history_frames` generated
frames (none for the first chunk) expressed in their own chunk frame, then placed back in the world;
4. assemble `Motion`s of exactly the requested duration, posed on the model's body.

A pipeline directory holds `pipeline_config.json`, `model/` (`MotionPrimitiveDiffusionModel`) and
`scheduler/` (`DDIMScheduler`); the text encoder is referenced by name (`kinevid.text`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from diffusers import DDIMScheduler
from diffusers.utils import BaseOutput
from tqdm.auto import tqdm

from ..errors import InvalidInputError, KinevidError, MissingWeightsError
from ..models.structure.motion_diffusion import MotionPrimitiveDiffusionModel
from ..models.structure.representation import (
    CONTACTS,
    FOOT_JOINTS,
    PELVIS,
    ChunkFrame,
    decode_rotations,
    encode_features,
    features_to_world,
    joints_from_rotations,
)
from ..motion.motion import Motion
from ..utils.io import atomic_write

CONFIG_NAME = "pipeline_config.json"
MODEL_DIR = "model"
SCHEDULER_DIR = "scheduler"
MAX_PROMPT_CHARS = 500
MAX_SECONDS = 600.0
CONTACT_THRESHOLD = 0.5  # predicted contact channels above this count as "in contact"
# Lowest foot joint of a foot in contact on CMU (val split): median 4 cm, 75th percentile 6 cm.
CONTACT_FOOT_HEIGHT = 0.06
CONTACT_GUIDANCE_STEPS = 4  # contact guidance acts on the x0 predictions of the last denoising steps only
SLIDE_WEIGHT = 0.25  # the slide term's Hessian has eigenvalues up to 8 x weight; steps of 0.5 stay stable


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
    ):
        self.model = model.eval()
        self.scheduler = scheduler
        self._text_encoder = text_encoder
        self.text_encoder_name = text_encoder_name
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = guidance_scale
        self.contact_guidance_scale = contact_guidance_scale

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
        model = MotionPrimitiveDiffusionModel.from_pretrained(path / MODEL_DIR).to(device)
        scheduler = DDIMScheduler.from_pretrained(path / SCHEDULER_DIR)
        return cls(
            model,
            scheduler,
            text_encoder=text_encoder,
            text_encoder_name=settings.get("text_encoder", "minilm"),
            num_inference_steps=int(settings.get("num_inference_steps", 10)),
            guidance_scale=float(settings.get("guidance_scale", 2.5)),
            contact_guidance_scale=float(settings.get("contact_guidance_scale", 0.0)),
        )

    def save_pretrained(
        self,
        path: str | os.PathLike[str],
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        contact_guidance_scale: float | None = None,
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
        return self.model.device

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

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        """Pooled text embeddings `(B, text_dim)`."""
        embeddings = self.text_encoder.encode(prompts).pooled
        return embeddings.to(device=self.device, dtype=self.model.dtype)

    def _denoise_chunk(
        self,
        history: torch.Tensor,
        history_mask: torch.Tensor,
        text_embeds: torch.Tensor,
        guidance_scale: float,
        contact_guidance_scale: float,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """One primitive: `(B, F, D)` normalised features denoised from noise."""
        model = self.model
        batch_size = history.shape[0]
        shape = (batch_size, model.config.num_future_frames, model.config.feature_dim)
        sample = torch.randn(shape, generator=generator, device=self.device, dtype=model.dtype)
        use_guidance = guidance_scale != 1.0
        text_mask = torch.ones(batch_size, dtype=torch.bool, device=self.device)
        if use_guidance:  # one batched pass: [conditional; unconditional]
            history, history_mask = history.repeat(2, 1, 1), history_mask.repeat(2)
            text_embeds, text_mask = text_embeds.repeat(2, 1), torch.cat([text_mask, ~text_mask])
        timesteps = self.scheduler.timesteps
        first_guided_step = max(len(timesteps) - CONTACT_GUIDANCE_STEPS, 0)
        for step, timestep in enumerate(timesteps):
            model_input = sample.repeat(2, 1, 1) if use_guidance else sample
            prediction = model(model_input, timestep.to(self.device), history, history_mask, text_embeds, text_mask)
            if use_guidance:
                conditional, unconditional = prediction.chunk(2)
                prediction = unconditional + guidance_scale * (conditional - unconditional)
            if contact_guidance_scale > 0 and step >= first_guided_step:
                prediction = self._guide_contacts(prediction, contact_guidance_scale)
            sample = self.scheduler.step(prediction, timestep, sample, eta=0.0, generator=generator).prev_sample
        return sample

    def _guide_contacts(self, prediction: torch.Tensor, scale: float, num_steps: int = 2) -> torch.Tensor:
        """Nudge a predicted clean chunk towards L_cont by moving its pelvis: feet it labels in contact
        do not slide and rest on the floor, and no joint goes below the floor.

        Gradient steps on the pelvis positions (metres) of the loss
        SLIDE_WEIGHT sum_t [mean over contact feet |foot_{t+1} - foot_t|_xz^2]
        + sum_t relu(-min_j y_tj)^2 + sum_t relu(min over contact feet y_t - CONTACT_FOOT_HEIGHT)^2.
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
        rotations = decode_rotations(features)
        offsets = model.body_offsets.to(features.dtype).expand(features.shape[0], -1, -1)
        in_contact = features[..., CONTACTS] > CONTACT_THRESHOLD  # (B, F, 4)
        contacts = in_contact[:, :-1].to(features.dtype)  # (B, F - 1, 4): labels of the steps t -> t + 1
        feet_in_contact = contacts.sum(-1).clamp_min(1.0)
        pelvis = features[..., PELVIS]
        with torch.enable_grad():
            for _ in range(num_steps):
                pelvis = pelvis.detach().requires_grad_(True)
                joints = joints_from_rotations(rotations, pelvis, offsets)  # (B, F, 24, 3)
                steps = torch.diff(joints[:, :, list(FOOT_JOINTS)][..., [0, 2]], dim=1)  # (B, F - 1, 4, 2)
                slide = SLIDE_WEIGHT * ((contacts * (steps**2).sum(-1)).sum(-1) / feet_in_contact).sum()
                floor = (torch.relu(-joints[..., 1].amin(-1)) ** 2).sum()
                foot_heights = joints[:, :, list(FOOT_JOINTS), 1]  # (B, F, 4)
                lowest_contact = torch.where(in_contact, foot_heights, torch.inf).amin(-1)  # inf: no contact
                hover = torch.relu(lowest_contact - CONTACT_FOOT_HEIGHT).nan_to_num(posinf=0.0)
                (gradient,) = torch.autograd.grad(slide + floor + (hover**2).sum(), pelvis)
                pelvis = pelvis - scale * gradient
        features = features.clone()
        features[..., PELVIS] = pelvis.detach()
        return model.normalize(features)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        seconds: float = 6.0,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        contact_guidance_scale: float | None = None,
        show_progress: bool = False,
        return_dict: bool = True,
    ) -> TextToMotionPipelineOutput | tuple[list[Motion]]:
        """Generate one motion per prompt.

        Args:
            prompt (`str` or `list[str]`): what the person does (B prompts, generated as one batch).
            seconds (`float`, defaults to 6.0): duration; the motion has `round(seconds * fps)` frames (>= 1).
            num_inference_steps (`int`, *optional*): DDIM steps per chunk (default from the checkpoint, 10).
            guidance_scale (`float`, *optional*): classifier-free guidance scale (1 disables it).
            generator (`torch.Generator`, *optional*): source of all noise; built from `seed` if omitted.
            seed (`int`, *optional*): seed for a fresh generator (ignored when `generator` is given).
            contact_guidance_scale (`float`, *optional*): strength of the L_cont guidance, applied to the
                x0 predictions of the last `CONTACT_GUIDANCE_STEPS` denoising steps of every chunk (0
                disables it; default from the checkpoint).
            show_progress (`bool`, defaults to False): progress bar over chunks.
            return_dict (`bool`, defaults to True): return a `TextToMotionPipelineOutput` (else a tuple).

        Returns:
            `TextToMotionPipelineOutput` with `motions` (`list[Motion]`, B motions of T frames).
        """
        # 1. check inputs
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        num_inference_steps = num_inference_steps or self.num_inference_steps
        guidance_scale = self.guidance_scale if guidance_scale is None else float(guidance_scale)
        if contact_guidance_scale is None:
            contact_guidance_scale = self.contact_guidance_scale
        self.check_inputs(prompts, seconds, guidance_scale, num_inference_steps, contact_guidance_scale)
        if generator is None:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(seed if seed is not None else int(torch.empty((), dtype=torch.int64).random_()))

        # 2. encode prompts
        text_embeds = self.encode_prompt(prompts)

        # 3. roll out primitives
        model = self.model
        config = model.config
        batch_size = len(prompts)
        num_frames = max(1, round(seconds * self.fps))
        num_chunks = math.ceil(num_frames / config.num_future_frames)
        offsets = model.body_offsets.to(model.dtype).expand(batch_size, -1, -1)
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        rotations, pelvis, joints, contacts = [], [], [], []
        history = torch.zeros(batch_size, config.num_history_frames, config.feature_dim, device=self.device)
        history_mask = torch.zeros(batch_size, dtype=torch.bool, device=self.device)
        frame = ChunkFrame(  # the first chunk is generated directly in the world frame
            rotation=torch.eye(3, device=self.device).expand(batch_size, 3, 3),
            origin=torch.zeros(batch_size, 3, device=self.device),
        )
        for chunk in tqdm(range(num_chunks), desc="motion chunks", disable=not show_progress):
            if chunk > 0:
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
            sample = self._denoise_chunk(
                history, history_mask, text_embeds, guidance_scale, contact_guidance_scale, generator
            )
            features = model.denormalize(sample)
            chunk_rotations, chunk_pelvis, chunk_joints = features_to_world(features, frame, offsets)
            rotations.append(chunk_rotations)
            pelvis.append(chunk_pelvis)
            joints.append(chunk_joints)
            contacts.append((features[..., CONTACTS] > CONTACT_THRESHOLD).to(features.dtype))

        # 4. assemble motions
        rotations = torch.cat(rotations, 1)[:, :num_frames]
        translation = torch.cat(pelvis, 1)[:, :num_frames] - offsets[:, None, 0]
        if not (torch.isfinite(rotations).all() and torch.isfinite(translation).all()):
            raise KinevidError(
                "The model produced NaN or infinite values; the checkpoint may be corrupt or diverged "
                f"(model config: {dict(config)})."
            )
        motions = [
            Motion(rotations=rotations[b], translation=translation[b], fps=self.fps, offsets=offsets[b].clone())
            for b in range(batch_size)
        ]
        if not return_dict:
            return (motions,)
        return TextToMotionPipelineOutput(motions=motions)
