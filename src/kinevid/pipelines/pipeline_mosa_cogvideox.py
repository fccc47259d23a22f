"""`MoSACogVideoXPipeline`: MoSA on its own backbone, CogVideoX. prompt -> motion prompt -> structure model ->
`Motion` -> camera -> skeleton maps -> CogVideoX DiT with HADC -> latents -> CogVideoX VAE -> video.

The structure half (stages 1 and 3, the two-condition guidance) is `MoSAStructureMixin`'s, shared with the Wan
pipeline (`MoSAPipeline`); the appearance half samples as diffusers' `CogVideoXPipeline` does: T5 prompt
embeddings padded to the transformer's `max_text_seq_length` (no attention mask, padding tokens encoded), the
null text "" for the unconditional branches, Gaussian latents `(B, F, C, H / 8, W / 8)` scaled by the
scheduler's `init_noise_sigma`, a v-prediction DDIM or DPM-solver sampler, CogVideoX's 3D rotary embeddings
when the transformer uses them, latents divided by the VAE's `scaling_factor` before decoding.

Frames: `T = 4k + 1` pixel frames give `F = (T - 1) / 4 + 1` latent frames, and `F` must be odd (`T = 8k + 1`:
9, 17, ..., 49, 81): CogVideoX's VAE decodes an odd number of latent frames to `4 (F - 1) + 1` frames but an
even number to `4 F`, which would not match the `T` frames of the skeleton video and motion. With CogVideoX
1.5's temporal patch (`patch_size_t`), the latents get `a` extra frames in front so that their count divides
by it (the skeleton video `4 a` copies of its first frame, which keeps every later frame on its latent), and
those frames are dropped before decoding, as diffusers does.

A pipeline directory (`save_pretrained` / `from_pretrained`) is laid out like a diffusers CogVideoX directory
(`transformer/`, `vae/`, `text_encoder/`, `tokenizer/`, `scheduler/`) plus `structure/` (a
`TextToMotionPipeline`) and the sampling defaults in `model_index.json`; `from_cogvideox_pretrained` builds the
pipeline from a diffusers CogVideoX directory (THUDM/CogVideoX-2b's layout) and MoSA weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXDPMScheduler, DiffusionPipeline
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid
from diffusers.video_processor import VideoProcessor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..errors import InvalidInputError, KinevidError, MissingWeightsError
from ..models.vae import VAE_SPATIAL_FACTOR, VAE_TEMPORAL_FACTOR, use_onednn_conv3d, vae_spatial_factor
from ..motion.motion import Motion
from ..render.camera import Camera
from ..text.t5 import T5TextEncoder
from ..utils.io import atomic_directory
from .mosa_structure import MoSAStructureMixin, prompt_list
from .pipeline_mosa import (
    INDEX_NAME,
    NULL_PROMPT,
    SAMPLING_DEFAULTS,
    MoSAPipelineOutput,
    initial_noise,
    read_pipeline_index,
)
from .pipeline_text_to_motion import TextToMotionPipeline

COGVIDEOX_FPS, COGVIDEOX_15_FPS = 8.0, 16.0
"""The frame rates CogVideoX (2b, 5b) and CogVideoX 1.5 (the one with `patch_size_t`) were trained at."""
_SCHEDULERS = {cls.__name__: cls for cls in (CogVideoXDDIMScheduler, CogVideoXDPMScheduler)}
_PARTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
"""The subfolders of a diffusers CogVideoX directory (and of ours, plus the optional `structure/`)."""


def cogvideox_rotary_embeddings(
    transformer_config, height: int, width: int, latent_frames: int, vae_scale_factor: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """CogVideoX's 3D rotary embeddings `(cos, sin)`, each `(L, attention_head_dim)`, for a video of
    `height` x `width` pixels and `latent_frames` latent frames, as diffusers' `CogVideoXPipeline` builds them:
    CogVideoX 1.0 crops the grid to the training size's aspect, 1.5 (`patch_size_t`) slices a grid of the
    training size."""
    p, p_t = transformer_config.patch_size, transformer_config.patch_size_t
    grid_height, grid_width = height // (vae_scale_factor * p), width // (vae_scale_factor * p)
    base_height, base_width = transformer_config.sample_height // p, transformer_config.sample_width // p
    if p_t is None:
        crops = get_resize_crop_region_for_grid((grid_height, grid_width), base_width, base_height)
        return get_3d_rotary_pos_embed(
            embed_dim=transformer_config.attention_head_dim, crops_coords=crops,
            grid_size=(grid_height, grid_width), temporal_size=latent_frames, device=device,
        )  # fmt: skip
    return get_3d_rotary_pos_embed(
        embed_dim=transformer_config.attention_head_dim, crops_coords=None, grid_size=(grid_height, grid_width),
        temporal_size=(latent_frames + p_t - 1) // p_t, grid_type="slice", max_size=(base_height, base_width),
        device=device,
    )  # fmt: skip


def _check_layout(path: Path, index: dict, class_name: str, example: str) -> type:
    """Check that `path` is a `class_name` directory with every part; returns its scheduler class."""
    missing = [part for part in _PARTS if not (path / part).is_dir()]
    if index.get("_class_name") != class_name or missing:
        raise MissingWeightsError(
            f"{path}: expected a {class_name} directory with {list(_PARTS)} ({example}); found "
            f"{index.get('_class_name')!r}, missing {missing}"
        )
    scheduler_name = (index.get("scheduler") or [None, None])[1]
    if scheduler_name not in _SCHEDULERS:
        raise MissingWeightsError(
            f"{path / INDEX_NAME}: scheduler must be one of {sorted(_SCHEDULERS)}, got {scheduler_name!r}"
        )
    return _SCHEDULERS[scheduler_name]


def _load_parts(path: Path, scheduler_class: type, torch_dtype: torch.dtype) -> dict:
    """The VAE, T5 text encoder, tokenizer and scheduler of a CogVideoX-layout directory."""
    try:
        vae = AutoencoderKLCogVideoX.from_pretrained(path / "vae", torch_dtype=torch_dtype)
        use_onednn_conv3d(vae)
        t5 = T5TextEncoder.from_pretrained(path, dtype=torch_dtype)
        scheduler = scheduler_class.from_pretrained(path / "scheduler")
    except KinevidError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, ImportError) as error:
        raise MissingWeightsError(f"{path}: cannot load the VAE, text encoder or scheduler: {error}") from None
    return {"vae": vae.eval(), "text_encoder": t5.model.eval(), "tokenizer": t5.tokenizer, "scheduler": scheduler}


class MoSACogVideoXPipeline(MoSAStructureMixin, DiffusionPipeline):
    r"""Text (or a motion, or a skeleton video) to a human video with a HADC-steered CogVideoX DiT (MoSA).

    Args:
        tokenizer (`PreTrainedTokenizerBase`): T5's tokenizer.
        text_encoder (`transformers.T5EncoderModel`): T5 (CogVideoX: T5-v1.1-XXL); `d_model` = the transformer's
            `text_embed_dim`.
        vae (`AutoencoderKLCogVideoX`): the video VAE (latents scaled by its `scaling_factor`).
        transformer (`MoSACogVideoXTransformer3DModel`): the DiT with HADC sites; `in_channels` = the VAE's
            `latent_channels`.
        scheduler (`CogVideoXDDIMScheduler` or `CogVideoXDPMScheduler`): with `prediction_type="v_prediction"`.
        structure (`TextToMotionPipeline`, *optional*): text -> `Motion` for prompts without motion or skeleton
            video.
        fps (`float`, defaults to 8.0): default video frame rate (CogVideoX's; 16 for CogVideoX 1.5).
        height (`int`, *optional*), width (`int`, *optional*), num_frames (`int`, *optional*): default video
            size (default: the transformer's `sample_height` / `sample_width` times 8 and `sample_frames`,
            CogVideoX-2b's 480 x 720 and 49, as diffusers defaults them).
        num_inference_steps (`int`, defaults to 50), guidance_scale (`float`, defaults to 6.0): the other sampling
            defaults (`SAMPLING_DEFAULTS`; diffusers' `CogVideoXPipeline` defaults).
    """

    model_cpu_offload_seq = "text_encoder->transformer->vae"
    _optional_components = ("structure",)

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        text_encoder: PreTrainedModel,
        vae: AutoencoderKLCogVideoX,
        transformer,
        scheduler: CogVideoXDDIMScheduler | CogVideoXDPMScheduler,
        structure: TextToMotionPipeline | None = None,
        fps: float = COGVIDEOX_FPS,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 6.0,
    ) -> None:
        super().__init__()
        self.register_modules(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler,
            structure=structure,
        )  # fmt: skip
        self.vae_scale_factor_spatial = vae_spatial_factor(vae)  # 2 ** (len(block_out_channels) - 1)
        self.vae_scale_factor_temporal = vae.config.temporal_compression_ratio
        self.video_processor = VideoProcessor(vae_scale_factor=self.vae_scale_factor_spatial)
        config = transformer.config
        self.register_to_config(
            fps=float(fps),
            height=int(config.sample_height * self.vae_scale_factor_spatial if height is None else height),
            width=int(config.sample_width * self.vae_scale_factor_spatial if width is None else width),
            num_frames=int(config.sample_frames if num_frames is None else num_frames),
            num_inference_steps=int(num_inference_steps), guidance_scale=float(guidance_scale),
        )  # fmt: skip
        self._check_components()

    def _check_components(self) -> None:
        transformer, vae, scheduler = self.transformer, self.vae, self.scheduler
        skeleton_factor = getattr(transformer, "skeleton_spatial_factor", VAE_SPATIAL_FACTOR)
        if (self.vae_scale_factor_temporal, self.vae_scale_factor_spatial) != (VAE_TEMPORAL_FACTOR, skeleton_factor):
            raise InvalidInputError(
                f"the VAE compresses time by {self.vae_scale_factor_temporal} and space by "
                f"{self.vae_scale_factor_spatial}; MoSA's skeleton encoder needs {VAE_TEMPORAL_FACTOR} and "
                f"{skeleton_factor} (CogVideoX's VAE)"
            )
        if transformer.config.in_channels != vae.config.latent_channels:
            raise InvalidInputError(
                f"transformer.config.in_channels ({transformer.config.in_channels}) must equal the VAE's "
                f"latent_channels ({vae.config.latent_channels})"
            )
        if transformer.config.text_embed_dim != self.text_encoder.config.d_model:
            raise InvalidInputError(
                f"transformer.config.text_embed_dim ({transformer.config.text_embed_dim}) must equal the T5 text "
                f"encoder's d_model ({self.text_encoder.config.d_model})"
            )
        v_prediction = scheduler.config.get("prediction_type") == "v_prediction"
        if not isinstance(scheduler, tuple(_SCHEDULERS.values())) or not v_prediction:
            raise InvalidInputError(
                f"`scheduler` must be one of {sorted(_SCHEDULERS)} with prediction_type 'v_prediction' (CogVideoX "
                f"predicts v); got {type(scheduler).__name__} ({scheduler.config.get('prediction_type')!r})"
            )

    frame_interval = 8  # an even number of latent frames decodes to 4F frames, not 4F - 3 (module docstring)

    @property
    def size_multiple(self) -> int:
        """Height and width are multiples of this: the VAE's spatial factor times the DiT's patch (16)."""
        return self.vae_scale_factor_spatial * self.transformer.config.patch_size

    # ------------------------------------------------------------------ saving and loading
    def save_pretrained(self, save_directory: str | os.PathLike[str], **kwargs) -> None:
        """Write the pipeline directory (module docstring); it appears complete or not at all."""
        with atomic_directory(save_directory) as staging:
            for name in (*_PARTS, "structure"):
                component = getattr(self, name)
                if component is not None:
                    component.save_pretrained(staging / name)
            self.save_config(staging)  # model_index.json: components and sampling defaults

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike[str],
        structure: TextToMotionPipeline | None = None,
        torch_dtype: torch.dtype = torch.float32,
        **kwargs,
    ) -> MoSACogVideoXPipeline:
        """Load a directory written by `save_pretrained`.

        Args:
            pretrained_model_name_or_path (`str` or `Path`): the pipeline directory.
            structure (`TextToMotionPipeline`, *optional*): use this instead of `structure/`.
            torch_dtype (`torch.dtype`, defaults to float32): dtype of the transformer, VAE and text encoder.

        Raises:
            `MissingWeightsError`: the directory or one of its parts is missing or damaged.
        """
        from ..models.appearance import MoSACogVideoXTransformer3DModel

        path = Path(pretrained_model_name_or_path)
        index = read_pipeline_index(path)
        scheduler_class = _check_layout(path, index, cls.__name__, "written by MoSACogVideoXPipeline.save_pretrained")
        try:
            transformer = MoSACogVideoXTransformer3DModel.from_pretrained(path / "transformer", torch_dtype=torch_dtype)
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise MissingWeightsError(f"{path / 'transformer'}: cannot load the MoSA transformer: {error}") from None
        if structure is None and (path / "structure").is_dir():
            structure = TextToMotionPipeline.from_pretrained(path / "structure")
        return cls(
            transformer=transformer.eval(),
            structure=structure,
            **_load_parts(path, scheduler_class, torch_dtype),
            **{key: index[key] for key in SAMPLING_DEFAULTS if key in index},
        )

    @classmethod
    def from_cogvideox_pretrained(
        cls,
        cogvideox_dir: str | os.PathLike[str],
        mosa_weights: str | os.PathLike[str] | None = None,
        structure: TextToMotionPipeline | None = None,
        torch_dtype: torch.dtype | None = None,
    ) -> MoSACogVideoXPipeline:
        """MoSA on a diffusers CogVideoX text-to-video directory (`CogVideoXPipeline`'s `model_index.json`,
        `transformer/`, `vae/`, `text_encoder/` T5, `tokenizer/`, `scheduler/`: THUDM/CogVideoX-2b's layout)
        with MoSA weights (`save_mosa_weights`) on its transformer. The sampling defaults are CogVideoX's: the
        transformer's sample size and frames, 50 steps, guidance 6, 8 fps (16 for CogVideoX 1.5).

        Args:
            cogvideox_dir (`str` or `Path`): the CogVideoX directory.
            mosa_weights (`str` or `Path`, *optional*): the MoSA weights directory; without it the HADC sites are
                fresh (zero-initialised: the pipeline samples exactly what CogVideoX samples, a start for training).
            structure (`TextToMotionPipeline`, *optional*): text -> motion (default: the shipped one).
            torch_dtype (`torch.dtype`, *optional*): dtype of the transformer, VAE and text encoder (default
                float32; bf16 on GPUs, as CogVideoX-5b runs).

        Raises:
            `MissingWeightsError`: not a CogVideoX directory, or MoSA weights that are missing or do not fit it.
        """
        from ..models.appearance import MoSACogVideoXTransformer3DModel

        path = Path(cogvideox_dir)
        torch_dtype = torch.float32 if torch_dtype is None else torch_dtype
        scheduler_class = _check_layout(path, read_pipeline_index(path), "CogVideoXPipeline", "e.g. THUDM/CogVideoX-2b")
        try:
            if mosa_weights is None:
                transformer = MoSACogVideoXTransformer3DModel.from_pretrained(
                    path / "transformer", torch_dtype=torch_dtype
                )
            else:
                transformer = MoSACogVideoXTransformer3DModel.from_backbone(
                    path / "transformer", mosa_weights, torch_dtype=torch_dtype
                )
        except KinevidError:
            raise
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            weights = "" if mosa_weights is None else f" with the MoSA weights {mosa_weights}"
            raise MissingWeightsError(
                f"{path / 'transformer'}{weights}: cannot load the MoSA transformer: {error}"
            ) from None
        structure = structure if structure is not None else TextToMotionPipeline.from_pretrained()
        fps = COGVIDEOX_15_FPS if transformer.config.patch_size_t is not None else COGVIDEOX_FPS
        return cls(
            transformer=transformer.eval(), structure=structure, fps=fps,
            **_load_parts(path, scheduler_class, torch_dtype),
        )  # fmt: skip

    # ------------------------------------------------------------------ 1. checks
    def check_inputs(
        self,
        prompts: list[str],
        motion,
        skeleton_video,
        camera,
        height: int,
        width: int,
        num_frames: int,
        fps: float,
        num_inference_steps: int,
        guidance_scale: float,
        skeleton_guidance_scale: float,
        output_type: str,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> None:
        """`MoSAStructureMixin.check_inputs`, and CogVideoX's odd number of latent frames (module docstring)."""
        super().check_inputs(
            prompts, motion, skeleton_video, camera, height, width, num_frames, fps,
            num_inference_steps, guidance_scale, skeleton_guidance_scale, output_type, generator,
        )  # fmt: skip
        if self.latent_frames(num_frames) % 2 == 0:
            raise InvalidInputError(
                f"`num_frames` must be 8k + 1 (9, 17, 25, ..., 49, 81) for CogVideoX's VAE, got {num_frames}: its "
                f"{self.latent_frames(num_frames)} latent frames (an even count) would decode to "
                f"{4 * self.latent_frames(num_frames)} frames"
            )

    def latent_frames(self, num_frames: int) -> int:
        """Latent frames of a `num_frames` video: `(num_frames - 1) / 4 + 1`."""
        return (num_frames - 1) // self.vae_scale_factor_temporal + 1

    def padding_frames(self, num_frames: int) -> int:
        """Latent frames put in front so that their count divides by CogVideoX 1.5's `patch_size_t` (else 0)."""
        patch_size_t = self.transformer.config.patch_size_t
        if patch_size_t is None:
            return 0
        return -self.latent_frames(num_frames) % patch_size_t

    # ------------------------------------------------------------------ 2. text
    def encode_prompt(self, prompt: str | list[str], device: torch.device | None = None) -> torch.Tensor:
        """`(B, max_text_seq_length, text_embed_dim)` T5 embeddings of `prompt`, as CogVideoX encodes prompts:
        padded (and truncated) to the transformer's `max_text_seq_length`, encoded without attention mask."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        token_ids = self.tokenizer(
            prompts,
            padding="max_length",
            max_length=self.transformer.config.max_text_seq_length,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        ).input_ids
        device = device or self._execution_device
        embeddings = self.text_encoder(token_ids.to(device))[0]
        return embeddings.to(device=device, dtype=self.transformer.dtype)

    # ------------------------------------------------------------------ 4. noise
    def prepare_latents(
        self,
        batch_size: int,
        num_frames: int,
        height: int,
        width: int,
        generator: torch.Generator | list[torch.Generator] | None,
        device: torch.device,
        latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Gaussian latents `(B, F + a, C, H / 8, W / 8)` (`a` = `padding_frames`), float32, times the
        scheduler's `init_noise_sigma` (or the given ones, checked, times it)."""
        scale = self.vae_scale_factor_spatial
        latent_frames = self.latent_frames(num_frames) + self.padding_frames(num_frames)
        shape = (batch_size, latent_frames, self.transformer.config.in_channels, height // scale, width // scale)
        return initial_noise("latents", shape, latents, generator, device) * self.scheduler.init_noise_sigma

    def pad_skeleton_video(self, skeleton_video: torch.Tensor, num_frames: int) -> torch.Tensor:
        """`(B, 3, T, H, W)` -> `(B, 3, T + 4 a, H, W)`: `4 a` copies of frame 0 in front, for the `a` padding
        latent frames (frame 0 stays alone on latent `a`, frames `4i - 3 .. 4i` on latent `a + i`)."""
        extra = self.vae_scale_factor_temporal * self.padding_frames(num_frames)
        if extra == 0:
            return skeleton_video
        first = skeleton_video[:, :, :1].expand(-1, -1, extra, -1, -1)
        return torch.cat([first, skeleton_video], dim=2)

    # ------------------------------------------------------------------ 5. one guided prediction
    def predict_v(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        prompt_embeds: torch.Tensor,
        null_embeds: torch.Tensor,
        skeleton_video: torch.Tensor,
        guidance_scale: float,
        skeleton_guidance_scale: float,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_kwargs: dict | None = None,
    ) -> torch.Tensor:
        """The guided v-prediction at `timestep` (`MoSAStructureMixin.guided_prediction`).

        Args:
            latents (`torch.Tensor` of shape `(B, F, C, H', W')`): current sample (CogVideoX's layout).
            timestep (`torch.Tensor` of shape `()` or `(B,)`): the scheduler's integer timestep.
            prompt_embeds, null_embeds (`torch.Tensor` of shape `(B, L, D)`): text and null text.
            skeleton_video (`torch.Tensor` of shape `(B, 3, 4 (F - 1) + 1, 8 H', 8 W')`): the condition.
            image_rotary_emb (`tuple[torch.Tensor, torch.Tensor]`, *optional*): `cogvideox_rotary_embeddings`.
        """
        model = self.transformer
        dtype = model.dtype
        timestep = timestep.expand(latents.shape[0])
        sample, skeleton = latents.to(dtype), skeleton_video.to(dtype)

        def call(sample, timestep, text, skeleton):
            return model(
                sample, text.to(dtype), timestep, image_rotary_emb=image_rotary_emb,
                attention_kwargs=attention_kwargs, skeleton_video=skeleton,
            ).sample.float()  # fmt: skip

        return self.guided_prediction(
            call, sample, timestep, prompt_embeds, null_embeds, skeleton, guidance_scale, skeleton_guidance_scale
        )

    # ------------------------------------------------------------------ 6. decode
    def decode_latents(self, latents: torch.Tensor, num_frames: int) -> torch.Tensor:
        """`(B, F + a, C, H', W')` latents -> `(B, 3, T, H, W)` video in about [-1, 1] (padding frames dropped)."""
        latents = latents[:, self.padding_frames(num_frames) :].permute(0, 2, 1, 3, 4)  # (B, C, F, H', W')
        return self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample.float()

    # ------------------------------------------------------------------ __call__
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        motion: Motion | list[Motion] | None = None,
        skeleton_video: torch.Tensor | None = None,
        camera: Camera | list[Camera] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        fps: float | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        skeleton_guidance_scale: float = 1.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        motion_prompt_backend: str = "rules",
        output_type: str = "np",
        return_dict: bool = True,
        attention_kwargs: dict | None = None,
    ) -> MoSAPipelineOutput | tuple:
        r"""Generate one video per prompt (the arguments of `MoSAPipeline.__call__`).

        Args:
            prompt (`str` or `list[str]`): the full video prompt (B prompts); the DiT sees it whole, the
                structure model its motion prompt.
            motion (`Motion` or `list[Motion]`, *optional*): the person's motion (one, or one per prompt);
                resampled to `fps` and cut to its first `num_frames` frames. Skips the structure model.
            skeleton_video (`torch.Tensor` of shape `(B, 3, T, H, W)` or `(3, T, H, W)` in [-1, 1], *optional*):
                COCO-18 skeleton maps (`kinevid.render.skeleton_maps_to_tensor` layout); skips structure and camera.
            camera (`Camera` or `list[Camera]`, *optional*): the view of `motion` (image size = `height` x
                `width`); by default a camera is sampled from `generator` that keeps every joint in frame.
            height (`int`, *optional*), width (`int`, *optional*): multiples of 16 (default: the pipeline's).
            num_frames (`int`, *optional*): `8k + 1` (module docstring; default: the pipeline's, 49).
            fps (`float`, *optional*): video frame rate (default: the pipeline's, 8).
            num_inference_steps (`int`, *optional*): denoising steps (default: the pipeline's, 50).
            guidance_scale (`float`, *optional*): text guidance `w_y` (default: the pipeline's, 6.0).
            skeleton_guidance_scale (`float`, defaults to 1.0): skeleton guidance `w_s` (1: no extra pass).
            generator (`torch.Generator` or a list of B, *optional*): the latent noise (and the DPM sampler's);
                its seed also seeds the sampled cameras and the structure model (per sample: seed + index).
            latents (`torch.Tensor` of shape `(B, F + a, C, H / 8, W / 8)`, *optional*): initial noise.
            motion_prompt_backend (`str`, defaults to "rules"): `kinevid.text.extract_motion_prompt` backend.
            output_type (`str`, defaults to "np"): "np", "pt" or "latent" (then `frames` are the final latents
                `(B, F + a, C, H', W')` with CogVideoX 1.5's padding frames, as diffusers returns them, and
                `skeleton_video` is the padded condition the DiT saw).
            return_dict (`bool`, defaults to True): return a `MoSAPipelineOutput` (else a tuple).
            attention_kwargs (`dict`, *optional*): passed to the transformer.

        Returns:
            `MoSAPipelineOutput` (`frames`, `skeleton_video`, `motion`, `cameras`, `motion_prompts`).
        """
        # 1. Check inputs
        prompts = prompt_list(prompt)
        fps, height, width, num_frames, num_inference_steps, guidance_scale = self.sampling_arguments(
            fps, height, width, num_frames, num_inference_steps, guidance_scale
        )
        self.check_inputs(
            prompts, motion, skeleton_video, camera, height, width, num_frames, fps,
            num_inference_steps, guidance_scale, skeleton_guidance_scale, output_type, generator,
        )  # fmt: skip
        batch_size = len(prompts)
        device = self._execution_device

        # 2. Encode the full prompts and the null text
        prompt_embeds = self.encode_prompt(prompts, device)
        null_embeds = self.encode_prompt(NULL_PROMPT, device).expand(batch_size, -1, -1)

        # 3. Structure -> skeleton maps (padded for CogVideoX 1.5's temporal patch)
        condition = self.prepare_structure(
            prompts, motion, skeleton_video, camera, num_frames, height, width, fps, generator, motion_prompt_backend
        )
        skeleton = self.pad_skeleton_video(condition.skeleton_video, num_frames).to(device)

        # 4. Noise and rotary embeddings
        latents = self.prepare_latents(batch_size, num_frames, height, width, generator, device, latents)
        image_rotary_emb = None
        if self.transformer.config.use_rotary_positional_embeddings:
            image_rotary_emb = cogvideox_rotary_embeddings(
                self.transformer.config, height, width, latents.shape[1], self.vae_scale_factor_spatial, device
            )

        # 5. Denoise
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        step_kwargs = {"eta": 0.0, "generator": generator, "return_dict": False}
        old_pred_original_sample = None  # the DPM solver's previous x0
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for index, t in enumerate(timesteps):
                model_input = self.scheduler.scale_model_input(latents, t)
                v = self.predict_v(
                    model_input, t.to(device), prompt_embeds, null_embeds, skeleton,
                    guidance_scale, skeleton_guidance_scale, image_rotary_emb, attention_kwargs,
                )  # fmt: skip
                if isinstance(self.scheduler, CogVideoXDPMScheduler):
                    previous = timesteps[index - 1] if index > 0 else None
                    latents, old_pred_original_sample = self.scheduler.step(
                        v, old_pred_original_sample, t, previous, latents, **step_kwargs
                    )
                else:
                    latents = self.scheduler.step(v, t, latents, **step_kwargs)[0]
                progress_bar.update()

        # 6. Decode
        if output_type == "latent":
            frames, skeleton_out = latents, skeleton
        else:
            video = self.decode_latents(latents, num_frames)
            frames = self.video_processor.postprocess_video(video, output_type=output_type)
            skeleton_out = self.video_processor.postprocess_video(condition.skeleton_video, output_type=output_type)
        self.maybe_free_model_hooks()

        motions, cameras, motion_prompts = condition.motions, condition.cameras, condition.motion_prompts
        if not return_dict:
            return (frames, skeleton_out, motions, cameras, motion_prompts)
        return MoSAPipelineOutput(
            frames=frames, skeleton_video=skeleton_out, motion=motions, cameras=cameras, motion_prompts=motion_prompts
        )
