"""Tiny MoSA components shared by the pipeline and recipe tests (CPU, seconds)."""

from __future__ import annotations

import functools

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler

from kinevid.models.appearance import MoSAWanTransformer3DModel
from kinevid.models.vae import tiny_vae_config
from kinevid.pipelines import MoSAPipeline, TextToMotionPipeline
from kinevid.text import load_text_encoder
from tiny_models import single_threaded, tiny_wan_config  # noqa: F401 - autouse fixture, re-exported

HEIGHT = WIDTH = 32
NUM_FRAMES = 5
FPS = 16.0
MAX_SEQUENCE_LENGTH = 16
TINY_MOSA_CONFIG = tiny_wan_config(attention_head_dim=8, in_channels=16, out_channels=16, text_dim=384)  # MiniLM text


@functools.cache
def text_encoder():
    return load_text_encoder("minilm")


def tiny_mosa(seed: int = 0, randomize_mosa: bool = True) -> MoSAWanTransformer3DModel:
    """A random tiny MoSA DiT; `randomize_mosa` replaces the zero-initialised HADC / encoder weights by random
    ones, so the skeleton changes the output (a fresh model ignores it by design)."""
    torch.manual_seed(seed)
    model = MoSAWanTransformer3DModel(**TINY_MOSA_CONFIG)
    if randomize_mosa:
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for parameter in model.mosa_parameters():
                parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def tiny_vae(seed: int = 0) -> AutoencoderKLWan:
    torch.manual_seed(seed)
    return AutoencoderKLWan(**tiny_vae_config()).eval()


@functools.cache
def shipped_structure() -> TextToMotionPipeline:
    return TextToMotionPipeline.from_pretrained(text_encoder=text_encoder())


def tiny_pipeline(structure: bool = True, max_sequence_length: int = MAX_SEQUENCE_LENGTH) -> MoSAPipeline:
    return MoSAPipeline(
        tiny_mosa(),
        tiny_vae(),
        text_encoder(),
        FlowMatchEulerDiscreteScheduler(shift=3.0),
        structure=shipped_structure() if structure else None,
        max_sequence_length=max_sequence_length,
        fps=FPS,
    )


def build_tiny_cache(root, vae, num_clips: int = 4, num_frames: int = NUM_FRAMES, size: int = HEIGHT):
    """A latent cache of synthetic mannequin clips of the sample CMU walk (no CMU index needed), made with
    `kinevid.data`'s own builders: `build_synthetic_dataset` then `build_latent_cache`."""
    from kinevid.data.cache import build_latent_cache
    from kinevid.data.cmu import CMUTrial
    from kinevid.data.paired import SyntheticPairedDataset
    from kinevid.data.synth import SynthConfig, build_synthetic_dataset
    from kinevid.motion import Motion
    from kinevid.motion.io import sample_motion_path

    walk = Motion.load(sample_motion_path())
    trial = CMUTrial("02_01", "02", walk, ["walk forward"], "walk", "Walk")
    config = SynthConfig(
        num_clips=num_clips, clips_per_shard=num_clips, num_frames=num_frames, height=size, width=size,
        fps=8.0, num_track_points=16,
    )  # fmt: skip
    build_synthetic_dataset([trial], root / "synth", config, show_progress=False)
    return build_latent_cache(
        SyntheticPairedDataset(root / "synth"), root / "cache", vae, text_encoder(), "minilm", show_progress=False
    )
