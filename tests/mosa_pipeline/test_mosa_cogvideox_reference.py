"""The behaviour reference of `MoSACogVideoXPipeline`: with fresh (zero-initialised) MoSA modules it samples
exactly what diffusers' own `CogVideoXPipeline` samples on the same weights, prompt, initial latents, scheduler
and steps, for CogVideoX-2b's sincos positions, 5b's cropped 3D RoPE and 1.5's sliced RoPE with its temporal
patch (whose latent padding both pipelines add), with the DDIM and the DPM sampler, guidance on and off."""

from __future__ import annotations

import pytest
import torch
from diffusers import CogVideoXPipeline
from mosa_cogvideox_tiny import (  # noqa: F401
    FPS,
    HEIGHT,
    NUM_FRAMES,
    TINY_COGVIDEOX,
    WIDTH,
    scheduler,
    single_threaded,
    tiny_backbone,
    tiny_mosa,
    tiny_t5,
    tiny_vae,
)

from kinevid.motion import Motion
from kinevid.motion.io import sample_motion_path
from kinevid.pipelines import MoSACogVideoXPipeline

PROMPT = "a man in a red coat walks in a park"
STEPS = 3


def _pipelines(variant: str, scheduler_kind: str) -> tuple[CogVideoXPipeline, MoSACogVideoXPipeline]:
    tokenizer, t5 = tiny_t5()
    vae = tiny_vae()
    reference = CogVideoXPipeline(tokenizer, t5, vae, tiny_backbone(variant), scheduler(scheduler_kind))
    mosa = MoSACogVideoXPipeline(
        tokenizer, t5, vae, tiny_mosa(variant, randomize_mosa=False), scheduler(scheduler_kind)
    )
    for pipeline in (reference, mosa):
        pipeline.set_progress_bar_config(disable=True)
    return reference, mosa


@pytest.mark.parametrize(
    ("variant", "scheduler_kind"), [("2b", "ddim"), ("5b", "dpm"), ("1.5", "ddim"), ("1.5", "dpm")]
)
@pytest.mark.parametrize(("guidance_scale", "skeleton_guidance_scale"), [(1.0, 1.0), (4.5, 1.0), (4.5, 2.5)])
def test_fresh_mosa_samples_what_diffusers_cogvideox_samples(
    variant, scheduler_kind, guidance_scale, skeleton_guidance_scale
):
    reference, mosa = _pipelines(variant, scheduler_kind)
    latent_frames = 4 if variant == "1.5" else 3  # (9 - 1) / 4 + 1 = 3, padded to 1.5's patch_size_t 2
    latents = torch.randn(1, latent_frames, 4, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(7))
    common = {
        "height": HEIGHT, "width": WIDTH, "num_frames": NUM_FRAMES, "num_inference_steps": STEPS,
        "guidance_scale": guidance_scale, "latents": latents.clone(), "output_type": "latent",
    }  # fmt: skip
    expected = reference(
        PROMPT, max_sequence_length=TINY_COGVIDEOX["max_text_seq_length"],
        generator=torch.Generator().manual_seed(0), **common,
    ).frames  # fmt: skip
    motion = Motion.load(sample_motion_path())
    actual = mosa(
        PROMPT, motion=motion, fps=FPS, skeleton_guidance_scale=skeleton_guidance_scale,
        generator=torch.Generator().manual_seed(0), **common,
    ).frames  # fmt: skip
    assert actual.shape == expected.shape == latents.shape
    assert (actual - latents).abs().max() > 0.1  # the sampler moved the latents
    assert (actual - expected).abs().max() <= 1e-5


def test_the_skeleton_reaches_the_dit_of_a_trained_model():
    """The reference check is not vacuous: with trained (non-zero) MoSA weights the skeleton changes the sample."""
    reference, mosa = _pipelines("2b", "ddim")
    mosa.transformer = tiny_mosa("2b", randomize_mosa=True)
    latents = torch.randn(1, 3, 4, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(7))
    common = {"height": HEIGHT, "width": WIDTH, "num_frames": NUM_FRAMES, "num_inference_steps": STEPS,
              "latents": latents, "output_type": "latent", "guidance_scale": 1.0}  # fmt: skip
    expected = reference(PROMPT, max_sequence_length=TINY_COGVIDEOX["max_text_seq_length"], **common).frames
    actual = mosa(PROMPT, motion=Motion.load(sample_motion_path()), fps=FPS, **common).frames
    assert (actual - expected).abs().max() > 1e-3
