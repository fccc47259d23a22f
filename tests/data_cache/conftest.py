"""Fixtures of the latent-cache tests: a tiny random video VAE saved to disk, MiniLM, a tiny synthetic set."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKLWan

from kinevid.data.cmu import CMUMocap
from kinevid.data.paired import SyntheticPairedDataset
from kinevid.data.synth import SynthConfig, build_synthetic_dataset
from kinevid.models.vae import load_video_vae, tiny_vae_config
from kinevid.text import load_text_encoder


def save_tiny_vae(path, seed: int = 0):
    torch.manual_seed(seed)
    AutoencoderKLWan(**tiny_vae_config()).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def make_vae_dir():
    """`make_vae_dir(path, seed)` saves a tiny random `AutoencoderKLWan` there."""
    return save_tiny_vae


@pytest.fixture(scope="session")
def vae_dir(tmp_path_factory):
    return save_tiny_vae(tmp_path_factory.mktemp("vae"))


@pytest.fixture(scope="session")
def vae(vae_dir):
    return load_video_vae(vae_dir)


@pytest.fixture(scope="session")
def text_encoder():
    return load_text_encoder("minilm")


@pytest.fixture(scope="session")
def synth_dir(cmu_root, tmp_path_factory):
    trials = CMUMocap(cmu_root, trial_ids=["02_01", "05_02", "13_29"], fps=8, min_frames=9)
    config = SynthConfig(num_clips=5, clips_per_shard=5, num_frames=9, height=32, width=32, num_track_points=12)
    return build_synthetic_dataset(trials, tmp_path_factory.mktemp("synth"), config, show_progress=False)


@pytest.fixture(scope="session")
def synth(synth_dir):
    return SyntheticPairedDataset(synth_dir)
