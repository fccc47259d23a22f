"""`EchoMotionPipeline`: text -> video + motion, motion -> video and video -> motion with one DiT.

Stages of `__call__`: 1. check inputs, 2. encode the prompts (T5/umT5 like `WanPipeline`), 3. prepare
the conditioning modality (m2v: the `Motion` as normalised EchoMotion features; v2m: the video as
normalised VAE latents), 4. prepare noise for the generated modalities, 5. denoise with in-context
CFG (`kinevid.diffusion.guidance`), each modality with its own copy of the scheduler, 6. decode:
latents through the VAE, motion features through the codec into `Motion`s.

Guidance per mode (`u(video, motion, text)`, 0 = dropped):

- `t2vm`: `u(0) + w (u(y) - u(0))` on both modalities (w = `guidance_scale`).
- `m2v`: `u(x,0,0) + w1 (u(x,m,y) - u(x,m,0)) + w2 (u(x,m,0) - u(x,0,0))` (w1 = `guidance_scale`,
  w2 = `motion_guidance_scale`); the motion is clean (timestep 0) and `u(x,0,0)` is the video-only model.
- `v2m`: text is always the negative prompt; `u(m,0) + w (u(m,x) - u(m,0))`, the video clean.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import AutoencoderKLWan, DiffusionPipeline, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback
from diffusers.video_processor import VideoProcessor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..diffusion.guidance import classifier_free_guidance, motion_to_video_guidance
from ..errors import InvalidInputError, MissingWeightsError
from ..models.appearance.transformer_echomotion import ECHOMOTION_TASKS, EchoMotionTransformer3DModel
from ..models.vae import use_onednn_conv3d, vae_spatial_factor
from ..motion.codecs.echomotion import MOTION_FEATURE_DIM, decode_echomotion, encode_echomotion
from ..motion.motion import Motion
from ..text import load_text_encoder
from ..utils.io import atomic_directory
from .pipeline_mosa import INDEX_NAME, component_dirs, initial_noise, read_pipeline_index
from .pipeline_output import KinevidPipelineOutput

ECHOMOTION_MODES = ("t2vm", "m2v", "v2m")
"""text -> video + motion, motion -> video, video -> motion."""
WAN_SAMPLING_DEFAULTS = {
    "height": 480,
    "width": 832,
    "num_frames": 81,
    "num_inference_steps": 50,
    "guidance_scale": 6.0,
}
"""`__call__`'s defaults when the pipeline records none (Wan2.1-T2V-1.3B's)."""
SAMPLING_DEFAULTS = tuple(WAN_SAMPLING_DEFAULTS)


def encode_prompt_embeds(
    tokenizer: PreTrainedTokenizerBase,
    text_encoder: PreTrainedModel,
    prompt: str | list[str],
    max_sequence_length: int,
) -> torch.Tensor:
    """EchoMotion's one text encoding, for sampling and training alike: padding positions set to zero.

    Whitespace-normalised prompts are tokenized to exactly `max_sequence_length` tokens (truncated or
    padded), encoded with the attention mask, and the hidden states past each prompt's last token
    zeroed (as `WanPipeline` does). The null text that training drops prompts to is
    `encode_prompt_embeds(tokenizer, text_encoder, "", L)[0]`, the same tensor the pipeline guides
    with for `negative_prompt=""`.

    Args:
        tokenizer (`PreTrainedTokenizerBase`), text_encoder (`PreTrainedModel`): the pipeline's.
        prompt (`str` or `list[str]`): `B` prompts.
        max_sequence_length (`int`): `L`.

    Returns:
        `torch.Tensor` of shape `(B, L, text_dim)` on the text encoder's device.
    """
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    tokens = tokenizer(
        [" ".join(p.split()) for p in prompts],
        padding="max_length",
        max_length=max_sequence_length,
        truncation=True,
        add_special_tokens=True,
        return_attention_mask=True,
        return_tensors="pt",
    )
    mask = tokens.attention_mask.to(text_encoder.device)
    with torch.no_grad():
        embeds = text_encoder(tokens.input_ids.to(text_encoder.device), mask).last_hidden_state
    return embeds * mask[..., None].to(embeds.dtype)  # (B, L, D), zeros after the last real token


class EchoMotionPipeline(DiffusionPipeline):
    r"""Joint human video and SMPL motion generation with an `EchoMotionTransformer3DModel`.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): tokenizer of the text encoder (umT5 for Wan2.1).
        text_encoder (`PreTrainedModel`): T5-style encoder whose `last_hidden_state` has
            `transformer.config.text_dim` channels (umT5-XXL for Wan2.1).
        transformer (`EchoMotionTransformer3DModel`): the dual-modality DiT; its config holds the motion
            normalisation statistics.
        vae (`AutoencoderKLWan`): Wan's video VAE.
        scheduler (`FlowMatchEulerDiscreteScheduler` or `UniPCMultistepScheduler`): a flow-matching
            scheduler (UniPC with `prediction_type="flow_prediction"`, `use_flow_sigmas=True`).
        max_sequence_length (`int`, defaults to 512): text tokens per prompt when `__call__` is not given
            `max_sequence_length`; the length the transformer was trained with (the padded rows enter the
            text projection, so training and sampling must pad alike; Wan2.1: 512).
        fps (`float`, defaults to 16.0): frame rate of video and motion when `__call__` is not given `fps`
            (the training data's; Wan2.1: 16).
        text_encoder_name (`str`, *optional*): the `kinevid.text.load_text_encoder` name the tokenizer and
            text encoder come from (e.g. "minilm", bundled in a package). Given, `save_pretrained` records
            the name instead of copying the text encoder, and `from_pretrained` loads it by name.
        height, width, num_frames, num_inference_steps, guidance_scale (*optional*): the sampling defaults of
            `__call__` (`SAMPLING_DEFAULTS`; a tiny model records its own; unset: Wan2.1's 480 x 832, 81
            frames, 50 steps, 6.0).

    A saved directory is diffusers' layout (`model_index.json`, `tokenizer/`, `text_encoder/`,
    `transformer/`, `vae/`, `scheduler/`), except that a named text encoder is not copied, and `vae/` may
    live elsewhere, named in the index's `component_paths` (the shipped pipelines share
    `kinevid/assets/vae`; see `MoSAPipeline`).
    """

    model_cpu_offload_seq = "text_encoder->transformer->vae"
    _callback_tensor_inputs = ("latents", "motion_latents", "prompt_embeds", "negative_prompt_embeds")

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        text_encoder: PreTrainedModel,
        transformer: EchoMotionTransformer3DModel,
        vae: AutoencoderKLWan,
        scheduler: FlowMatchEulerDiscreteScheduler | UniPCMultistepScheduler,
        max_sequence_length: int = 512,
        fps: float = 16.0,
        text_encoder_name: str | None = None,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
    ) -> None:
        super().__init__()
        self.register_modules(
            tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, vae=vae, scheduler=scheduler
        )
        self.register_to_config(max_sequence_length=max_sequence_length, fps=fps, text_encoder_name=text_encoder_name)
        self.register_to_config(
            height=height, width=width, num_frames=num_frames, num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
        )  # fmt: skip
        self.vae_scale_factor_temporal = self.vae.config.scale_factor_temporal
        # from the VAE's layers, not `config.scale_factor_spatial` (8 unless set, whatever the VAE's depth)
        self.vae_scale_factor_spatial = vae_spatial_factor(self.vae)
        self.video_processor = VideoProcessor(vae_scale_factor=self.vae_scale_factor_spatial)
        if transformer.config.vae_temporal_compression != self.vae_scale_factor_temporal:
            raise InvalidInputError(
                f"transformer.config.vae_temporal_compression ({transformer.config.vae_temporal_compression}) must "
                f"equal the VAE's temporal scale factor ({self.vae_scale_factor_temporal})"
            )

    # ------------------------------------------------------------------ saving and loading
    def save_pretrained(self, save_directory: str | os.PathLike[str], **kwargs) -> None:
        """Write the pipeline directory (class docstring); it appears complete or not at all."""
        if self.config.text_encoder_name is None:
            with atomic_directory(save_directory) as staging:
                super().save_pretrained(staging, **kwargs)
            return
        with atomic_directory(save_directory) as staging:
            for name in ("transformer", "vae", "scheduler"):
                getattr(self, name).save_pretrained(staging / name)
            self.save_config(staging)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike[str],
        torch_dtype: torch.dtype | None = None,
        **kwargs,
    ) -> EchoMotionPipeline:
        """Load a directory written by `save_pretrained` (or any diffusers-layout EchoMotion directory).

        Args:
            pretrained_model_name_or_path (`str` or `Path`): the pipeline directory.
            torch_dtype (`torch.dtype`, *optional*): dtype of the transformer and the VAE (default float32
                for a directory with a named text encoder or shared components, else diffusers' default).

        Raises:
            `MissingWeightsError`: the directory or one of its parts is missing.
        """
        path = Path(pretrained_model_name_or_path)
        index_path = path / INDEX_NAME
        index = read_pipeline_index(path, required=False)
        name = index.get("text_encoder_name")
        if name is None and "component_paths" not in index:
            return super().from_pretrained(pretrained_model_name_or_path, torch_dtype=torch_dtype, **kwargs)
        if name is None:
            raise MissingWeightsError(
                f"{index_path}: `component_paths` needs a named text encoder (`text_encoder_name`)."
            )
        dtype = torch_dtype or torch.float32
        vae_dir = component_dirs(path, index, ("vae",))["vae"]
        required = [path / "transformer" / "config.json", vae_dir / "config.json"]
        required.append(path / "scheduler" / "scheduler_config.json")
        missing = [str(item) for item in required if not item.is_file()]
        if missing:
            raise MissingWeightsError(
                f"{path} is not an EchoMotion pipeline directory: missing {missing} (write one with "
                "EchoMotionPipeline.save_pretrained or `kinevid train echomotion-stage2`)."
            )
        scheduler_name = (index.get("scheduler") or [None, None])[1]
        schedulers = {cls.__name__: cls for cls in (FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler)}
        if scheduler_name not in schedulers:
            raise MissingWeightsError(
                f"{index_path}: scheduler must be one of {sorted(schedulers)}, got {scheduler_name}"
            )
        try:
            transformer = EchoMotionTransformer3DModel.from_pretrained(path / "transformer", torch_dtype=dtype)
            vae = AutoencoderKLWan.from_pretrained(vae_dir, torch_dtype=dtype)
            use_onednn_conv3d(vae)
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise MissingWeightsError(f"{path}: cannot load the transformer or VAE: {error}") from error
        text_encoder = load_text_encoder(name)
        return cls(
            tokenizer=text_encoder.tokenizer,
            text_encoder=text_encoder.model,
            transformer=transformer.eval(),
            vae=vae.eval(),
            scheduler=schedulers[scheduler_name].from_pretrained(path / "scheduler"),
            max_sequence_length=int(index.get("max_sequence_length", 512)),
            fps=float(index.get("fps", 16.0)),
            text_encoder_name=name,
            **{key: index[key] for key in SAMPLING_DEFAULTS if index.get(key) is not None},
        )

    # ------------------------------------------------------------------ 2. prompts
    def encode_prompt(
        self,
        prompt: str | list[str],
        num_videos_per_prompt: int = 1,
        max_sequence_length: int = 512,
        device: torch.device | None = None,
    ) -> torch.Tensor:
        """Text embeddings as `WanPipeline` feeds them (`encode_prompt_embeds`), repeated per video.

        Args:
            prompt (`str` or `list[str]`): `B` prompts.
            num_videos_per_prompt (`int`): repeats per prompt.
            max_sequence_length (`int`): tokens per prompt `L` (padded / truncated).

        Returns:
            `torch.Tensor` of shape `(B * num_videos_per_prompt, L, text_dim)`.
        """
        device = device or self._execution_device
        embeds = encode_prompt_embeds(self.tokenizer, self.text_encoder, prompt, max_sequence_length)
        return embeds.to(device).repeat_interleave(num_videos_per_prompt, dim=0)

    # ------------------------------------------------------------------ 1. checks
    def check_inputs(
        self,
        mode: str,
        prompt: str | list[str] | None,
        prompt_embeds: torch.Tensor | None,
        height: int,
        width: int,
        num_frames: int,
        motion: Motion | list[Motion] | None,
        video: torch.Tensor | None,
        callback_on_step_end_tensor_inputs: list[str] | None,
        latents: torch.Tensor | None = None,
        motion_latents: torch.Tensor | None = None,
    ) -> None:
        if mode not in ECHOMOTION_MODES:
            raise InvalidInputError(f"`mode` must be one of {ECHOMOTION_MODES}; got {mode!r}")
        if (prompt is None) == (prompt_embeds is None):
            raise InvalidInputError("give exactly one of `prompt` and `prompt_embeds`")
        if prompt is not None and not (
            isinstance(prompt, str) or (isinstance(prompt, list) and all(isinstance(p, str) for p in prompt))
        ):
            raise InvalidInputError(f"`prompt` must be a string or a list of strings; got {type(prompt).__name__}")
        multiple = self.vae_scale_factor_spatial * self.transformer.config.patch_size[1]
        if height % multiple or width % multiple:
            raise InvalidInputError(f"`height` and `width` must be multiples of {multiple}; got {height}x{width}")
        r = self.vae_scale_factor_temporal
        if num_frames < 1 or (num_frames - 1) % r:
            raise InvalidInputError(f"`num_frames` must be {r}k + 1 (e.g. 81) for the VAE; got {num_frames}")
        if mode == "m2v" and motion is None:
            raise InvalidInputError('mode="m2v" needs `motion` (a kinevid Motion or a list of them)')
        if mode == "v2m" and video is None:
            raise InvalidInputError('mode="v2m" needs `video`, a tensor (B, 3, T, H, W) in [-1, 1]')
        if mode != "m2v" and motion is not None:
            raise InvalidInputError(f"`motion` is only used in mode 'm2v'; got it with mode {mode!r}")
        if mode != "v2m" and video is not None:
            raise InvalidInputError(f"`video` is only used in mode 'v2m'; got it with mode {mode!r}")
        # `latents` / `motion_latents` are the initial noise of a generated modality; the conditioning
        # modality is clean and comes from `motion` / `video`, so initial noise for it has no meaning.
        if mode == "m2v" and motion_latents is not None:
            raise InvalidInputError(
                "`motion_latents` (initial motion noise) cannot be used in mode 'm2v', where the motion is the "
                "clean condition given by `motion`; give `latents` for the video noise instead"
            )
        if mode == "v2m" and latents is not None:
            raise InvalidInputError(
                "`latents` (initial video noise) cannot be used in mode 'v2m', where the video is the clean "
                "condition given by `video`; give `motion_latents` for the motion noise instead"
            )
        unknown = set(callback_on_step_end_tensor_inputs or ()) - set(self._callback_tensor_inputs)
        if unknown:
            raise InvalidInputError(
                f"`callback_on_step_end_tensor_inputs` must be among {self._callback_tensor_inputs}; "
                f"got {sorted(unknown)}"
            )

    # ------------------------------------------------------------------ 3. conditions
    def prepare_motion_condition(
        self, motion: Motion | list[Motion], batch_size: int, num_frames: int, fps: float, device: torch.device
    ) -> torch.Tensor:
        """`Motion`(s) -> normalised features `(B, T, 235)`, resampled to `fps`, one per sample."""
        if not isinstance(motion, Motion | list | tuple):
            raise InvalidInputError(f"`motion` must be a kinevid Motion or a list of them; got {type(motion).__name__}")
        motions = [motion] if isinstance(motion, Motion) else list(motion)
        if len(motions) not in (1, batch_size):
            raise InvalidInputError(f"give one `motion` or one per sample ({batch_size}); got {len(motions)}")
        features = []
        for index, item in enumerate(motions):
            if not isinstance(item, Motion):
                raise InvalidInputError(f"`motion[{index}]` must be a kinevid Motion; got {type(item).__name__}")
            if abs(item.fps - fps) > 1e-6:
                item = item.resample(fps)
            if item.num_frames != num_frames:
                raise InvalidInputError(
                    f"`motion[{index}]` has {item.num_frames} frames at {fps:g} fps but `num_frames` is {num_frames}; "
                    f"slice it (Motion.slice) to {num_frames} frames ({self.vae_scale_factor_temporal}k + 1)"
                )
            features.append(encode_echomotion(item.to(dtype=torch.float32)))
        features = torch.stack(features).expand(batch_size, -1, -1) if len(features) == 1 else torch.stack(features)
        normalizer = self.transformer.motion_normalizer().to(device)
        return normalizer.normalize(features.to(device))

    def prepare_video_condition(
        self, video: torch.Tensor, batch_size: int, num_frames: int, height: int, width: int, device: torch.device
    ) -> torch.Tensor:
        """A video `(B, 3, T, H, W)` in [-1, 1] -> normalised VAE latents `(B, C, F, H/8, W/8)`."""
        if not isinstance(video, torch.Tensor) or not video.is_floating_point():
            raise InvalidInputError("`video` must be a float tensor of shape (B, 3, T, H, W) in [-1, 1]")
        if video.ndim == 4:
            video = video[None]
        expected = (3, num_frames, height, width)
        if video.ndim != 5 or tuple(video.shape[1:]) != expected or video.shape[0] not in (1, batch_size):
            raise InvalidInputError(
                f"`video` must have shape (B, 3, T, H, W) = (B, {', '.join(map(str, expected))}) with B 1 or "
                f"{batch_size}; got {tuple(video.shape)}"
            )
        if not torch.isfinite(video).all() or video.min() < -1 - 1e-3 or video.max() > 1 + 1e-3:
            raise InvalidInputError("`video` values must be finite and in [-1, 1]")
        video = video.to(device=device, dtype=self.vae.dtype).expand(batch_size, -1, -1, -1, -1)
        latents = self.vae.encode(video).latent_dist.mode()
        return self._normalize_latents(latents)

    def _latent_statistics(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, self.vae.config.z_dim, 1, 1, 1)
        mean = torch.tensor(self.vae.config.latents_mean).view(shape).to(latents)
        std = torch.tensor(self.vae.config.latents_std).view(shape).to(latents)
        return mean, std

    def _normalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        mean, std = self._latent_statistics(latents)
        return (latents - mean) / std

    def _denormalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        mean, std = self._latent_statistics(latents)
        return latents * std + mean

    # ------------------------------------------------------------------ 4. noise
    def prepare_latents(
        self,
        batch_size: int,
        height: int,
        width: int,
        num_frames: int,
        generator: torch.Generator | list[torch.Generator] | None,
        device: torch.device,
        latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Gaussian video latents `(B, C, (T - 1) / r + 1, H / f, W / f)` (f = the VAE's spatial factor), float32."""
        shape = (
            batch_size,
            self.transformer.config.in_channels,
            (num_frames - 1) // self.vae_scale_factor_temporal + 1,
            height // self.vae_scale_factor_spatial,
            width // self.vae_scale_factor_spatial,
        )
        return initial_noise("latents", shape, latents, generator, device)

    def prepare_motion_latents(
        self,
        batch_size: int,
        num_frames: int,
        generator: torch.Generator | list[torch.Generator] | None,
        device: torch.device,
        motion_latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Gaussian motion features `(B, T, 235)`, float32."""
        shape = (batch_size, num_frames, MOTION_FEATURE_DIM)
        return initial_noise("motion_latents", shape, motion_latents, generator, device)

    # ------------------------------------------------------------------ 5. one guided prediction
    def _predict(
        self,
        mode: str,
        latents: torch.Tensor,
        motion_latents: torch.Tensor,
        timestep: torch.Tensor,
        prompt_embeds: torch.Tensor,
        negative_prompt_embeds: torch.Tensor,
        guidance_scale: float,
        motion_guidance_scale: float,
        attention_kwargs: dict | None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Guided velocities `(video, motion)` at `timestep`; the clean conditioning modality gets None."""
        model = self.transformer
        dtype = model.dtype
        batch_size = latents.shape[0]
        task = torch.full(
            (batch_size,), ECHOMOTION_TASKS.index("joint" if mode == "t2vm" else mode), device=latents.device
        )
        noisy = timestep.expand(batch_size)
        clean = torch.zeros_like(noisy)
        video_in, motion_in = latents.to(dtype), motion_latents.to(dtype)

        def call(video, video_t, motion, motion_t, text):
            return model(
                video,
                video_t,
                text.to(dtype),
                motion_hidden_states=motion,
                motion_timestep=motion_t,
                task=task,
                attention_kwargs=attention_kwargs,
            )

        if mode == "t2vm":
            cond = call(video_in, noisy, motion_in, noisy, prompt_embeds)
            if guidance_scale == 1.0:
                return cond.sample.float(), cond.motion_sample.float()
            uncond = call(video_in, noisy, motion_in, noisy, negative_prompt_embeds)
            return (
                classifier_free_guidance(cond.sample.float(), uncond.sample.float(), guidance_scale),
                classifier_free_guidance(cond.motion_sample.float(), uncond.motion_sample.float(), guidance_scale),
            )
        if mode == "m2v":
            full = call(video_in, noisy, motion_in, clean, prompt_embeds).sample.float()
            if guidance_scale == 1.0 and motion_guidance_scale == 1.0:
                return full, None
            motion_only = call(video_in, noisy, motion_in, clean, negative_prompt_embeds).sample.float()
            unconditional = model(
                video_in, noisy, negative_prompt_embeds.to(dtype), attention_kwargs=attention_kwargs
            ).sample.float()
            return motion_to_video_guidance(
                full, motion_only, unconditional, guidance_scale, motion_guidance_scale
            ), None
        # v2m: the text is always dropped; guidance on the video condition
        with_video = call(video_in, clean, motion_in, noisy, negative_prompt_embeds).motion_sample.float()
        if guidance_scale == 1.0:
            return None, with_video
        without_video = call(None, None, motion_in, noisy, negative_prompt_embeds).motion_sample.float()
        return None, classifier_free_guidance(with_video, without_video, guidance_scale)

    # ------------------------------------------------------------------ __call__
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        mode: str = "t2vm",
        motion: Motion | list[Motion] | None = None,
        video: torch.Tensor | None = None,
        negative_prompt: str | list[str] = "",
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        fps: float | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        motion_guidance_scale: float = 1.0,
        num_videos_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        motion_latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        attention_kwargs: dict | None = None,
        callback_on_step_end: Callable[[DiffusionPipeline, int, int, dict], dict]
        | PipelineCallback
        | MultiPipelineCallbacks
        | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        max_sequence_length: int | None = None,
    ) -> KinevidPipelineOutput | tuple:
        r"""Generate.

        Args:
            prompt (`str` or `list[str]`): what happens (ignored by the model in `v2m`, where the
                text is always dropped, but it sets the batch size).
            mode (`str`, defaults to `"t2vm"`): `"t2vm"` (video + motion), `"m2v"` (video from
                `motion`) or `"v2m"` (motion from `video`).
            motion (`Motion` or `list[Motion]`, *optional*): the m2v condition; resampled to `fps` and
                it must have `num_frames` frames.
            video (`torch.Tensor` of shape `(B, 3, T, H, W)` in [-1, 1], *optional*): the v2m condition.
            negative_prompt (`str` or `list[str]`, defaults to `""`): the dropped-text prompt.
            height (`int`, *optional*), width (`int`, *optional*): multiples of 16 (default: the pipeline's,
                else 480 x 832).
            num_frames (`int`, *optional*): `4k + 1` video frames = motion frames (default: the pipeline's,
                else 81).
            fps (`float`, *optional*): frame rate of video and motion (default: the pipeline config's `fps`).
            num_inference_steps (`int`, *optional*): denoising steps (default: the pipeline's, else 50).
            guidance_scale (`float`, *optional*): text scale (t2vm, m2v `w1`) or video scale (v2m) (default: the
                pipeline's, else 6.0).
            motion_guidance_scale (`float`, defaults to 1.0): m2v motion scale `w2`.
            num_videos_per_prompt (`int`, defaults to 1): samples per prompt.
            generator (`torch.Generator`, *optional*): makes generation deterministic.
            latents (`torch.Tensor` of shape `(B, C, F, H / f, W / f)`, *optional*): initial video noise
                (t2vm, m2v; an error in v2m, where the video is the condition).
            motion_latents (`torch.Tensor` of shape `(B, T, 235)`, *optional*): initial motion noise in the
                normalised feature space (t2vm, v2m; an error in m2v, where the motion is the condition).
            prompt_embeds, negative_prompt_embeds (`torch.Tensor` of shape `(B, L, text_dim)`, *optional*):
                precomputed text embeddings.
            output_type (`str`, defaults to `"np"`): `"np"`, `"pt"` or `"latent"` for the video.
            return_dict (`bool`, defaults to True): return a `KinevidPipelineOutput` (else a tuple).
            attention_kwargs (`dict`, *optional*): passed to the transformer.
            callback_on_step_end: called after every step with the tensors named in
                `callback_on_step_end_tensor_inputs`; may return replacements.
            max_sequence_length (`int`, *optional*): text tokens (default: the pipeline config's, the
                length the transformer was trained with).

        Returns:
            `KinevidPipelineOutput` with `frames` (None in v2m), `motion` (`list[Motion]`, in m2v the
            conditioning motion as used) and `motion_features` `(B, T, 235)`.
        """
        if isinstance(callback_on_step_end, PipelineCallback | MultiPipelineCallbacks):
            callback_on_step_end_tensor_inputs = callback_on_step_end.tensor_inputs
        callback_on_step_end_tensor_inputs = list(callback_on_step_end_tensor_inputs or ["latents", "motion_latents"])
        fps = float(self.config.fps if fps is None else fps)
        given = {"height": height, "width": width, "num_frames": num_frames,
                 "num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale}  # fmt: skip
        defaults = {name: value if value is not None else self.config.get(name) for name, value in given.items()}
        defaults = {name: WAN_SAMPLING_DEFAULTS[name] if value is None else value for name, value in defaults.items()}
        height, width, num_frames = defaults["height"], defaults["width"], defaults["num_frames"]
        num_inference_steps, guidance_scale = defaults["num_inference_steps"], defaults["guidance_scale"]
        max_sequence_length = int(max_sequence_length or self.config.max_sequence_length)
        # 1. Check inputs
        self.check_inputs(
            mode,
            prompt,
            prompt_embeds,
            height,
            width,
            num_frames,
            motion,
            video,
            callback_on_step_end_tensor_inputs,
            latents,
            motion_latents,
        )
        device = self._execution_device

        # 2. Encode prompts
        if prompt_embeds is None:
            prompt_embeds = self.encode_prompt(prompt, num_videos_per_prompt, max_sequence_length, device)
        batch_size = prompt_embeds.shape[0]
        if negative_prompt_embeds is None:
            negative = [negative_prompt] * batch_size if isinstance(negative_prompt, str) else list(negative_prompt)
            if len(negative) not in (1, batch_size):
                raise InvalidInputError(f"`negative_prompt` must be one string or {batch_size}; got {len(negative)}")
            negative_prompt_embeds = self.encode_prompt(negative, 1, prompt_embeds.shape[1], device)
        negative_prompt_embeds = negative_prompt_embeds.to(device).expand(batch_size, -1, -1)

        # 3. Conditioning modality, clean
        if mode == "m2v":
            motion_latents = self.prepare_motion_condition(motion, batch_size, num_frames, fps, device)
        if mode == "v2m":
            latents = self.prepare_video_condition(video, batch_size, num_frames, height, width, device)

        # 4. Noise for the generated modalities
        if mode != "v2m":
            latents = self.prepare_latents(batch_size, height, width, num_frames, generator, device, latents)
        if mode != "m2v":
            motion_latents = self.prepare_motion_latents(batch_size, num_frames, generator, device, motion_latents)

        # 5. Denoise; each generated modality steps its own copy of the scheduler
        video_scheduler, motion_scheduler = copy.deepcopy(self.scheduler), copy.deepcopy(self.scheduler)
        for scheduler in (video_scheduler, motion_scheduler):
            scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = video_scheduler.timesteps
        self._num_timesteps = len(timesteps)
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                video_velocity, motion_velocity = self._predict(
                    mode,
                    latents,
                    motion_latents,
                    t.to(device),
                    prompt_embeds,
                    negative_prompt_embeds,
                    guidance_scale,
                    motion_guidance_scale,
                    attention_kwargs,
                )
                if video_velocity is not None:
                    latents = video_scheduler.step(video_velocity, t, latents, return_dict=False)[0]
                if motion_velocity is not None:
                    motion_latents = motion_scheduler.step(motion_velocity, t, motion_latents, return_dict=False)[0]
                if callback_on_step_end is not None:
                    available = {
                        "latents": latents,
                        "motion_latents": motion_latents,
                        "prompt_embeds": prompt_embeds,
                        "negative_prompt_embeds": negative_prompt_embeds,
                    }
                    tensors = {name: available[name] for name in callback_on_step_end_tensor_inputs}
                    replaced = callback_on_step_end(self, i, t, tensors) or {}
                    latents = replaced.get("latents", latents)
                    motion_latents = replaced.get("motion_latents", motion_latents)
                    prompt_embeds = replaced.get("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = replaced.get("negative_prompt_embeds", negative_prompt_embeds)
                progress_bar.update()

        # 6. Decode
        frames = None
        if mode != "v2m":
            if output_type == "latent":
                frames = latents
            else:
                decoded = self.vae.decode(self._denormalize_latents(latents.to(self.vae.dtype)), return_dict=False)[0]
                frames = self.video_processor.postprocess_video(decoded, output_type=output_type)
        normalizer = self.transformer.motion_normalizer().to(device)
        motion_features = normalizer.denormalize(motion_latents.float()).cpu()
        motions = [decode_echomotion(features, fps) for features in motion_features]
        self.maybe_free_model_hooks()

        if not return_dict:
            return (frames, motions, motion_features)
        return KinevidPipelineOutput(frames=frames, motion=motions, motion_features=motion_features)
