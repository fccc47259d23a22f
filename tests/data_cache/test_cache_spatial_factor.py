"""Latent caches record the spatial factor of the VAE they were encoded with: a tiny 4x VAE gives H / 4 latents
and mask_latent; 8x caches written before the field existed read (and resume) as 8x."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import AutoencoderKLWan

from kinevid.data.cache import CACHE_MANIFEST, LatentCacheDataset, build_latent_cache, cache_spatial_factor
from kinevid.errors import InvalidInputError
from kinevid.models.vae import encode_video, pool_to_latent_grid


@pytest.fixture(scope="module")
def vae_f4():
    torch.manual_seed(0)
    return AutoencoderKLWan(
        base_dim=4, z_dim=16, dim_mult=[1, 2, 2], num_res_blocks=1, temperal_downsample=[True, True]
    ).eval()


@pytest.fixture(scope="module")
def cache_f4(synth, vae_f4, text_encoder, tmp_path_factory):
    output = tmp_path_factory.mktemp("cache_f4")
    return build_latent_cache(synth, output, vae_f4, text_encoder, "minilm", clips_per_shard=3, batch_size=2,
                              show_progress=False)  # fmt: skip


def test_cache_of_a_4x_vae_records_4_and_holds_quarter_size_latents(synth, vae_f4, cache_f4):
    manifest = json.loads((cache_f4 / CACHE_MANIFEST).read_text())
    assert manifest["geometry"]["spatial_factor"] == 4
    assert manifest["geometry"]["latent_shape"] == [3, 32 // 4, 32 // 4]  # 9 frames of 32 x 32
    cache = LatentCacheDataset(cache_f4, expect_vae=vae_f4)
    assert cache.spatial_factor == 4
    for index in (0, len(cache) - 1):
        item, clip = cache[index], synth[index]
        with torch.no_grad():
            latents = encode_video(vae_f4, clip["video"][None])[0]
        assert item["latents"].shape == (16, 3, 8, 8)
        torch.testing.assert_close(item["latents"], latents, atol=1e-5, rtol=1e-5)
        assert item["mask_latent"].shape == (1, 3, 8, 8)
        # the mask pooled over 4 x 4 pixel cells (independently: a reshape mean per latent frame)
        mask = clip["mask"][0]  # (T, H, W)
        groups = ([0], [1, 2, 3, 4], [5, 6, 7, 8])
        expected = torch.stack([mask[g].reshape(len(g), 8, 4, 8, 4).mean(dim=(0, 2, 4)) for g in groups])[None]
        torch.testing.assert_close(item["mask_latent"], expected)
        torch.testing.assert_close(item["mask_latent"], pool_to_latent_grid(clip["mask"][None], 4)[0])


def test_caches_without_the_field_are_8x_and_resume(synth, vae, text_encoder, tmp_path):
    assert cache_spatial_factor({"height": 32}) == 8
    output = build_latent_cache(synth, tmp_path / "cache", vae, text_encoder, "minilm", clips_per_shard=5,
                                show_progress=False)  # fmt: skip
    manifest_path = output / CACHE_MANIFEST
    manifest = json.loads(manifest_path.read_text())
    assert manifest["geometry"]["spatial_factor"] == 8 and manifest["geometry"]["latent_shape"] == [3, 4, 4]
    del manifest["geometry"]["spatial_factor"]  # as written before the field existed
    manifest_path.write_text(json.dumps(manifest))
    old = LatentCacheDataset(output, expect_vae=vae)
    assert old.spatial_factor == 8 and old[0]["mask_latent"].shape == (1, 3, 4, 4)
    build_latent_cache(synth, output, vae, text_encoder, "minilm", clips_per_shard=5, show_progress=False)  # resumes
    assert LatentCacheDataset(output).spatial_factor == 8


def test_resuming_with_a_vae_of_another_factor_is_an_error(synth, vae_f4, cache_f4, text_encoder, tmp_path):
    torch.manual_seed(0)
    vae_f8 = AutoencoderKLWan(
        base_dim=4, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1, temperal_downsample=[False, True, True]
    ).eval()
    with pytest.raises(InvalidInputError, match="another VAE"):
        build_latent_cache(synth, cache_f4, vae_f8, text_encoder, "minilm", clips_per_shard=3, show_progress=False)


def test_cache_of_a_vae_with_4_latent_channels_reads_back(synth, text_encoder, tmp_path):
    """The reader takes the latent channel count from the cache's recorded VAE config (`z_dim`), not Wan's 16."""
    torch.manual_seed(0)
    vae_z4 = AutoencoderKLWan(
        base_dim=4, z_dim=4, dim_mult=[1, 2, 2], num_res_blocks=1, temperal_downsample=[True, True],
        latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    ).eval()  # fmt: skip
    output = build_latent_cache(synth, tmp_path / "cache_z4", vae_z4, text_encoder, "minilm", clips_per_shard=3,
                                batch_size=2, show_progress=False)  # fmt: skip
    cache = LatentCacheDataset(output, expect_vae=vae_z4)
    assert cache.latent_channels == 4
    item = cache[len(cache) - 1]
    with torch.no_grad():
        latents = encode_video(vae_z4, synth[len(cache) - 1]["video"][None])[0]
    assert item["latents"].shape == (4, 3, 8, 8)
    torch.testing.assert_close(item["latents"], latents, atol=1e-5, rtol=1e-5)
    # a shard whose latents do not have the recorded VAE's channels is refused, naming the file
    manifest = json.loads((output / CACHE_MANIFEST).read_text())
    manifest["vae"]["config"]["z_dim"] = 16
    (output / CACHE_MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(InvalidInputError, match=r"latents-00000\.safetensors: `latents` of clip 0 has shape \(4,"):
        LatentCacheDataset(output)[0]
