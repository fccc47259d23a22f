"""The video VAE helpers: latent geometry, Wan's normalisation, loading errors, identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.models.vae import (
    check_video_geometry,
    decode_latents,
    denormalize_latents,
    encode_video,
    latent_shape,
    load_video_vae,
    normalize_latents,
    pool_to_latent_grid,
    tiny_vae_config,
    vae_identity,
)


@pytest.fixture(scope="module")
def tiny_vae() -> AutoencoderKLWan:
    torch.manual_seed(0)
    return AutoencoderKLWan(**tiny_vae_config()).eval()


def test_latent_shape_matches_the_vae(tiny_vae):
    video = torch.rand(1, 3, 9, 32, 48) * 2 - 1
    with torch.no_grad():
        latents = encode_video(tiny_vae, video)
    assert tuple(latents.shape[2:]) == latent_shape(9, 32, 48) == (3, 4, 6)


def test_pool_to_latent_grid_groups_frames_as_the_causal_encoder():
    mask = torch.rand(2, 1, 9, 16, 24, generator=torch.Generator().manual_seed(1))
    pooled = pool_to_latent_grid(mask)
    array = mask.numpy()
    expected = np.zeros((2, 1, 3, 2, 3))
    groups = [[0], [1, 2, 3, 4], [5, 6, 7, 8]]
    for t, frames in enumerate(groups):
        for i in range(2):
            for j in range(3):
                expected[:, :, t, i, j] = array[:, :, frames, 8 * i : 8 * i + 8, 8 * j : 8 * j + 8].mean(axis=(2, 3, 4))
    np.testing.assert_allclose(pooled.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_geometry_errors_name_the_rule():
    with pytest.raises(InvalidInputError, match="4k \\+ 1"):
        check_video_geometry(8, 32, 32)
    with pytest.raises(InvalidInputError, match="multiples of 16"):
        check_video_geometry(9, 40, 32)
    with pytest.raises(InvalidInputError, match="4k \\+ 1"):
        pool_to_latent_grid(torch.zeros(1, 1, 6, 16, 16))


def test_normalisation_is_wans_rule_and_inverts(tiny_vae):
    latents = torch.randn(2, 16, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    mean = torch.tensor(tiny_vae.config.latents_mean).view(1, 16, 1, 1, 1)
    std = torch.tensor(tiny_vae.config.latents_std).view(1, 16, 1, 1, 1)
    normalized = normalize_latents(latents, tiny_vae.config)
    torch.testing.assert_close(normalized, (latents - mean) / std)
    torch.testing.assert_close(denormalize_latents(normalized, tiny_vae.config), latents)
    with pytest.raises(InvalidInputError, match="16"):
        normalize_latents(torch.zeros(1, 4, 1, 2, 2), tiny_vae.config)


def test_decode_inverts_encode_up_to_the_vae(tiny_vae):
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        latents = encode_video(tiny_vae, video)
        direct = tiny_vae.decode(tiny_vae.encode(video).latent_dist.mode()).sample
        decoded = decode_latents(tiny_vae, latents)
    torch.testing.assert_close(decoded, direct.clamp(-1, 1), atol=1e-5, rtol=1e-5)


def test_load_round_trip_and_identity(tmp_path, tiny_vae):
    tiny_vae.save_pretrained(tmp_path / "vae")
    loaded = load_video_vae(tmp_path / "vae")
    assert vae_identity(loaded) == vae_identity(tiny_vae)
    assert load_video_vae(tmp_path).config.base_dim == 8  # a pipeline directory with vae/
    with torch.no_grad():
        next(loaded.parameters()).add_(1e-3)
    assert vae_identity(loaded)["weights_sha256"] != vae_identity(tiny_vae)["weights_sha256"]


def test_missing_weights_name_the_directory(tmp_path):
    with pytest.raises(MissingWeightsError, match=str(tmp_path)):
        load_video_vae(tmp_path)


def test_bad_video_is_rejected(tiny_vae):
    with pytest.raises(InvalidInputError, match="video"):
        encode_video(tiny_vae, torch.zeros(1, 4, 5, 16, 16))
