"""The VAE's spatial factor: `vae_spatial_factor` from a model, its config or a dict, and `latent_shape` /
`pool_to_latent_grid` at factor 4 against a tiny random 4x `AutoencoderKLWan` and a direct computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan

from kinevid.errors import InvalidInputError
from kinevid.models.vae import (
    VAE_SPATIAL_FACTOR,
    encode_video,
    latent_shape,
    pool_to_latent_grid,
    tiny_vae_config,
    vae_identity,
    vae_spatial_factor,
)


def tiny_vae_f4(seed: int = 0, **overrides) -> AutoencoderKLWan:
    """A tiny random VAE with two down blocks (4x space, 4x time). `scale_factor_spatial` is left at diffusers'
    default (8) on purpose: the factor must come from the layers."""
    torch.manual_seed(seed)
    config = {"base_dim": 4, "z_dim": 16, "dim_mult": [1, 2, 2], "num_res_blocks": 1,
              "temperal_downsample": [True, True], **overrides}  # fmt: skip
    return AutoencoderKLWan(**config).eval()


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_factor_of_a_model_its_config_and_a_dict():
    vae = tiny_vae_f4()
    assert vae.config.scale_factor_spatial == 8  # diffusers' default, wrong for this VAE
    assert vae_spatial_factor(vae) == vae_spatial_factor(vae.config) == vae_spatial_factor(dict(vae.config)) == 4
    assert vae_spatial_factor(vae_identity(vae)["config"]) == 4  # what a cache manifest stores
    torch.manual_seed(0)
    assert vae_spatial_factor(AutoencoderKLWan(**tiny_vae_config())) == VAE_SPATIAL_FACTOR == 8
    assert vae_spatial_factor({"temperal_downsample": [False, True, True], "patch_size": 2}) == 16  # Wan2.2's VAE
    assert vae_spatial_factor({"block_out_channels": [8, 8, 8, 8]}) == 8  # CogVideoX / AutoencoderKL layout
    with pytest.raises(InvalidInputError, match="temperal_downsample"):
        vae_spatial_factor({"z_dim": 16})


@pytest.mark.parametrize("num_frames", [1, 5])
def test_latent_shape_is_the_encoders_output(num_frames):
    vae = tiny_vae_f4()
    video = torch.rand(1, 3, num_frames, 32, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        latents = encode_video(vae, video)
    expected = (1 + (num_frames - 1) // 4, 32 // 4, 48 // 4)
    assert tuple(latents.shape[2:]) == expected
    assert latent_shape(num_frames, 32, 48, spatial_factor=vae_spatial_factor(vae)) == expected
    assert latent_shape(num_frames, 32, 48) == latent_shape(num_frames, 32, 48, 8) == (expected[0], 4, 6)


def _pooled_by_hand(mask: np.ndarray, factor: int) -> np.ndarray:
    """(T, H, W) -> (T', H / f, W / f): latent frame 0 = frame 0, latent frame i = frames 4i - 3 .. 4i."""
    num_frames, height, width = mask.shape
    groups = [[0]] + [list(range(4 * i - 3, 4 * i + 1)) for i in range(1, (num_frames - 1) // 4 + 1)]
    out = np.zeros((len(groups), height // factor, width // factor))
    for t, frames in enumerate(groups):
        for y in range(height // factor):
            for x in range(width // factor):
                out[t, y, x] = mask[frames, factor * y : factor * (y + 1), factor * x : factor * (x + 1)].mean()
    return out


@pytest.mark.parametrize("factor", [4, 8, 16])
def test_pool_to_latent_grid_against_a_direct_computation(factor):
    mask = np.random.default_rng(factor).random((9, 32, 48)) > 0.6
    pooled = pool_to_latent_grid(torch.tensor(mask, dtype=torch.float32)[None, None], spatial_factor=factor)
    assert pooled.shape == (1, 1, 3, 32 // factor, 48 // factor)
    np.testing.assert_allclose(pooled[0, 0].numpy(), _pooled_by_hand(mask, factor), atol=1e-6)
    if factor == 8:  # the default is 8x, as before
        torch.testing.assert_close(pool_to_latent_grid(torch.tensor(mask, dtype=torch.float32)[None, None]), pooled)


def test_pool_to_latent_grid_at_factor_4_matches_the_vaes_grid():
    vae = tiny_vae_f4()
    video = torch.zeros(1, 3, 5, 16, 24)
    with torch.no_grad():
        latents = encode_video(vae, video)
    pooled = pool_to_latent_grid(torch.ones(1, 1, 5, 16, 24), spatial_factor=vae_spatial_factor(vae))
    assert pooled.shape[2:] == latents.shape[2:]


def test_bad_factors_and_sizes_are_clear_errors():
    with pytest.raises(InvalidInputError, match="positive multiples of 4"):
        pool_to_latent_grid(torch.zeros(1, 1, 5, 18, 16), spatial_factor=4)
    for bad in (0, -4, 2.0, True):
        with pytest.raises(InvalidInputError, match="`spatial_factor` must be a positive integer"):
            latent_shape(5, 16, 16, spatial_factor=bad)
