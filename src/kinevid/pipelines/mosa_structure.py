"""The structure half of MoSA's pipelines, shared by every backbone (`MoSAPipeline` on Wan2.1,
`MoSACogVideoXPipeline` on CogVideoX): input checks, motion prompt -> structure model -> `Motion` -> camera
-> skeleton maps, and the two-condition guidance that combines the DiT's predictions.

Guidance (`u(x, s, y)`: the DiT's prediction with skeleton `s` and text `y`; `0` = dropped, i.e. no skeleton
(every HADC site skipped, the bare backbone) or the null text):

    u = u(x,0,0) + w_y (u(x,s,y) - u(x,s,0)) + w_s (u(x,s,0) - u(x,0,0))

with `w_y = guidance_scale` and `w_s = skeleton_guidance_scale`. `w_y = w_s = 1` gives `u(x,s,y)` (one pass);
`w_s = 1` gives `u(x,s,0) + w_y (u(x,s,y) - u(x,s,0))` (two passes, plain classifier-free guidance on the
text); otherwise three. The prediction is a velocity on Wan (flow matching) and a v-prediction on CogVideoX:
the combination is linear, so it is the same for both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..body import smpl24_to_coco18
from ..diffusion.guidance import motion_to_video_guidance
from ..errors import InvalidInputError
from ..models.vae import check_video_geometry
from ..motion.motion import Motion
from ..render.camera import Camera, sample_camera
from ..render.skeleton_maps import render_skeleton_maps, skeleton_maps_to_tensor
from ..text import extract_motion_prompt

OUTPUT_TYPES = ("np", "pt", "latent")

PredictionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
"""`call(sample, timestep, text_embeds, skeleton_video or None) -> float32 prediction` of one DiT pass."""


@dataclass
class StructureCondition:
    """What stage 3 hands the DiT.

    Args:
        skeleton_video (`torch.Tensor` of shape `(B, 3, T, H, W)` in [-1, 1]): the COCO-18 skeleton maps.
        motions (`list[Motion]` or `None`): the motion of each video (`T` frames at the video's fps); `None`
            when a skeleton video was given.
        cameras (`list[Camera]` or `None`): the camera of each skeleton video; `None` when one was given.
        motion_prompts (`list[str]` or `None`): what the structure model was asked (when it ran).
    """

    skeleton_video: torch.Tensor
    motions: list[Motion] | None = None
    cameras: list[Camera] | None = None
    motion_prompts: list[str] | None = None


def per_sample(name: str, value, batch_size: int, kind: type) -> list:
    """`value` (one `kind` or a list of them) as a list of `batch_size` items."""
    items = [value] if isinstance(value, kind) else list(value) if isinstance(value, list | tuple) else None
    if items is None or len(items) not in (1, batch_size):
        raise InvalidInputError(
            f"`{name}` must be one {kind.__name__} or a list of 1 or {batch_size} (one per prompt); "
            f"got {type(value).__name__}{'' if items is None else f' of length {len(items)}'}"
        )
    for index, item in enumerate(items):
        if not isinstance(item, kind):
            raise InvalidInputError(f"`{name}[{index}]` must be a {kind.__name__}; got {type(item).__name__}")
    return items * batch_size if len(items) == 1 else items


def cpu_generator(generator: torch.Generator | list[torch.Generator] | None, index: int) -> torch.Generator:
    """A CPU generator for sample `index` (camera, structure), seeded from the user's generator (not drawing
    from it, so the latent noise is the same whichever structure source is used)."""
    if isinstance(generator, list | tuple):
        generator = generator[index]
    seed = generator.initial_seed() + index if generator is not None else int(torch.randint(0, 2**62, ()).item())
    return torch.Generator().manual_seed(seed)


def prompt_list(prompt: str | list[str]) -> list[str]:
    """`prompt` as a list of B prompts (type checked; `check_inputs` checks the contents)."""
    prompts = [prompt] if isinstance(prompt, str) else list(prompt) if isinstance(prompt, list) else None
    if prompts is None:
        raise InvalidInputError(f"`prompt` must be a string or a list of strings; got {type(prompt).__name__}")
    return prompts


class MoSAStructureMixin:
    """Stages 1 and 3 of a MoSA pipeline and its guidance, for any DiT backbone.

    The pipeline provides `structure` (a `TextToMotionPipeline` or `None`), `config` with the sampling defaults
    (`fps`, `height`, `width`, `num_frames`, `num_inference_steps`, `guidance_scale`) and `size_multiple` (what
    height and width must be multiples of: the VAE's spatial factor times the DiT's patch).
    """

    frame_interval: int = 4
    """Frame counts are `frame_interval * k + 1` (4: the Wan VAE's temporal factor; CogVideoX: 8)."""

    @property
    def size_multiple(self) -> int:
        """What height and width must be multiples of (each pipeline defines it)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ 1. checks
    def sampling_arguments(
        self,
        fps: float | None,
        height: int | None,
        width: int | None,
        num_frames: int | None,
        num_inference_steps: int | None,
        guidance_scale: float | None,
    ) -> tuple[float, int, int, int, int, float]:
        """The given sampling arguments, the pipeline's defaults (its config) for those that are `None`:
        `(fps, height, width, num_frames, num_inference_steps, guidance_scale)`."""
        config = self.config
        return (
            float(config.fps if fps is None else fps),
            config.height if height is None else height,
            config.width if width is None else width,
            config.num_frames if num_frames is None else num_frames,
            config.num_inference_steps if num_inference_steps is None else num_inference_steps,
            config.guidance_scale if guidance_scale is None else guidance_scale,
        )

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
        """Raise `InvalidInputError`, naming the argument, for the first argument of `__call__` that is wrong."""
        if not prompts or not all(isinstance(prompt, str) and prompt.strip() for prompt in prompts):
            raise InvalidInputError("`prompt` must be a non-empty string or a list of non-empty strings")
        check_video_geometry(
            num_frames, height, width, multiple=self.size_multiple, name="video (num_frames, height, width)"
        )
        if motion is not None and skeleton_video is not None:
            raise InvalidInputError("give `motion` or `skeleton_video`, not both (a skeleton video already fixes it)")
        if skeleton_video is not None and camera is not None:
            raise InvalidInputError("`camera` only applies to a motion; a given `skeleton_video` is used as is")
        if motion is None and skeleton_video is None and self.structure is None:
            raise InvalidInputError(
                "this pipeline has no `structure` model: give a `motion` or a `skeleton_video` (or load a "
                "TextToMotionPipeline as `structure`)"
            )
        if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
            raise InvalidInputError(f"`fps` must be a positive number, got {fps!r}")
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise InvalidInputError(f"`num_inference_steps` must be a positive integer, got {num_inference_steps!r}")
        for name, value in (("guidance_scale", guidance_scale), ("skeleton_guidance_scale", skeleton_guidance_scale)):
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise InvalidInputError(f"`{name}` must be a finite number, got {value!r}")
        if isinstance(generator, list | tuple) and len(generator) != len(prompts):
            raise InvalidInputError(
                f"`generator` is a list of {len(generator)}; give one generator or one per prompt ({len(prompts)})"
            )
        if output_type not in OUTPUT_TYPES:
            raise InvalidInputError(f"`output_type` must be one of {OUTPUT_TYPES}, got {output_type!r}")

    # ------------------------------------------------------------------ 3. structure
    def prepare_structure(
        self,
        prompts: list[str],
        motion: Motion | list[Motion] | None,
        skeleton_video: torch.Tensor | None,
        camera: Camera | list[Camera] | None,
        num_frames: int,
        height: int,
        width: int,
        fps: float,
        generator: torch.Generator | list[torch.Generator] | None,
        motion_prompt_backend: str = "rules",
    ) -> StructureCondition:
        """The skeleton maps of each prompt: a given skeleton video as is, else a `Motion` (given, or generated
        by `structure` from the motion prompt) resampled to `fps`, seen by a camera (given, or sampled from
        `generator` so that every joint stays in frame) and drawn as COCO-18 skeleton maps."""
        batch_size = len(prompts)
        if skeleton_video is not None:
            skeleton = self.prepare_skeleton_video(skeleton_video, batch_size, num_frames, height, width)
            return StructureCondition(skeleton)
        motion_prompts = None
        if motion is None:
            motion_prompts = [extract_motion_prompt(p, backend=motion_prompt_backend) for p in prompts]
            motion = self.generate_motion(motion_prompts, num_frames, fps, generator)
        motions = [
            self.prepare_motion(item, num_frames, fps, index)
            for index, item in enumerate(per_sample("motion", motion, batch_size, Motion))
        ]
        given_cameras = [None] * batch_size if camera is None else per_sample("camera", camera, batch_size, Camera)
        cameras, maps = [], []
        for index, (item, given) in enumerate(zip(motions, given_cameras, strict=True)):
            joints = item.joints.detach().cpu()
            view = self.prepare_camera(given, joints, height, width, cpu_generator(generator, index), index)
            cameras.append(view)
            maps.append(skeleton_maps_to_tensor(render_skeleton_maps(joints, view)[0]))
        return StructureCondition(torch.stack(maps), motions, cameras, motion_prompts)

    def prepare_skeleton_video(
        self, skeleton_video: torch.Tensor, batch_size: int, num_frames: int, height: int, width: int
    ) -> torch.Tensor:
        """Check a given skeleton video and return it as `(B, 3, T, H, W)` float32 in [-1, 1]."""
        expected = (3, num_frames, height, width)
        if not isinstance(skeleton_video, torch.Tensor) or not skeleton_video.is_floating_point():
            raise InvalidInputError(
                f"`skeleton_video` must be a float tensor (B, 3, T, H, W) = (B, {', '.join(map(str, expected))}) "
                "in [-1, 1] (kinevid.render.skeleton_maps_to_tensor layout)"
            )
        video = skeleton_video[None] if skeleton_video.ndim == 4 else skeleton_video
        if video.ndim != 5 or tuple(video.shape[1:]) != expected or video.shape[0] not in (1, batch_size):
            raise InvalidInputError(
                f"`skeleton_video` must have shape (B, 3, T, H, W) = ({batch_size}, {', '.join(map(str, expected))}) "
                f"(num_frames {num_frames}, height {height}, width {width}), B 1 or {batch_size}; "
                f"got {tuple(skeleton_video.shape)}"
            )
        if not torch.isfinite(video).all() or video.min() < -1 - 1e-3 or video.max() > 1 + 1e-3:
            raise InvalidInputError("`skeleton_video` values must be finite and in [-1, 1]")
        return video.float().expand(batch_size, -1, -1, -1, -1)

    def generate_motion(
        self,
        motion_prompts: list[str],
        num_frames: int,
        fps: float,
        generator: torch.Generator | list[torch.Generator] | None,
    ) -> list[Motion]:
        """`structure` rollouts for `motion_prompts`, long enough for `num_frames` frames at `fps`."""
        structure = self.structure
        # frames at the structure model's rate that cover (num_frames - 1) / fps seconds after resampling
        source_frames = math.ceil((num_frames - 1) * structure.fps / fps - 1e-9) + 1
        motions = []
        for index, motion_prompt in enumerate(motion_prompts):
            seed_generator = cpu_generator(generator, index)
            structure_generator = torch.Generator(device=structure.device).manual_seed(seed_generator.initial_seed())
            output = structure(motion_prompt, seconds=source_frames / structure.fps, generator=structure_generator)
            motions.append(output.motions[0])
        return motions

    def prepare_motion(self, motion: Motion, num_frames: int, fps: float, index: int) -> Motion:
        """`motion` resampled to `fps` and cut to its first `num_frames` frames (it must cover them)."""
        motion = motion.to(dtype=torch.float32).validate(f"motion[{index}]")
        if abs(motion.fps - fps) > 1e-6:
            motion = motion.resample(fps)
        if motion.num_frames < num_frames:
            raise InvalidInputError(
                f"`motion[{index}]` has {motion.num_frames} frames at {fps:g} fps; the video needs {num_frames} "
                f"({num_frames / fps:.2f} s): give a longer motion or fewer `num_frames` (4k + 1)"
            )
        return motion.slice(0, num_frames)

    def prepare_camera(
        self,
        camera: Camera | None,
        joints: torch.Tensor,
        height: int,
        width: int,
        generator: torch.Generator,
        index: int,
    ) -> Camera:
        """The given camera (checked: image size, at least one joint in view) or a sampled one that frames
        every joint in every frame (`kinevid.render.sample_camera`)."""
        if camera is None:
            return sample_camera(joints, width, height, generator=generator)
        if camera.size != (height, width):
            raise InvalidInputError(
                f"`camera[{index}]` images are {camera.height}x{camera.width} (HxW) but the video is {height}x{width}; "
                "give a camera of the video's size"
            )
        pixels, depth = camera.project(smpl24_to_coco18(joints).to(torch.float64))
        if not bool(camera.in_frame(pixels, depth).any()):
            raise InvalidInputError(
                f"`camera[{index}]` sees none of the motion's joints in any frame (all behind it or outside the "
                f"{height}x{width} image); point it at the person (e.g. Camera.look_at) or omit it to sample one"
            )
        return camera

    # ------------------------------------------------------------------ 5. guidance
    @staticmethod
    def guided_prediction(
        call: PredictionFn,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        prompt_embeds: torch.Tensor,
        null_embeds: torch.Tensor,
        skeleton_video: torch.Tensor,
        guidance_scale: float,
        skeleton_guidance_scale: float,
    ) -> torch.Tensor:
        """The guided prediction (formula in the module docstring) from the passes of `call`.

        Args:
            call (`PredictionFn`): one DiT pass `(sample, timestep, text, skeleton or None) -> prediction`.
            sample (`torch.Tensor` of shape `(B, ...)`, 5-D): the current latents in the DiT's layout.
            timestep (`torch.Tensor` of shape `(B,)`).
            prompt_embeds, null_embeds (`torch.Tensor` of shape `(B, L, D)`): text and null text.
            skeleton_video (`torch.Tensor` of shape `(B, 3, T, H, W)`): the condition.
        """
        if guidance_scale == 1.0 and skeleton_guidance_scale == 1.0:
            return call(sample, timestep, prompt_embeds, skeleton_video)
        # u(x,s,y) and u(x,s,0) in one batch
        doubled = call(
            sample.repeat(2, 1, 1, 1, 1),
            timestep.repeat(2),
            torch.cat([prompt_embeds, null_embeds]),
            skeleton_video.repeat(2, 1, 1, 1, 1),
        )
        full, skeleton_only = doubled.chunk(2)
        if skeleton_guidance_scale == 1.0:
            return skeleton_only + guidance_scale * (full - skeleton_only)
        unconditional = call(sample, timestep, null_embeds, None)
        return motion_to_video_guidance(full, skeleton_only, unconditional, guidance_scale, skeleton_guidance_scale)
