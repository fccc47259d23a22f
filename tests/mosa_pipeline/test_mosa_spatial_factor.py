"""MoSA on a 4x VAE: a tiny latent cache encoded by a random 4x `AutoencoderKLWan`, recipe steps on it with a
patch-(1, 4, 4) DiT, `kinevid train mosa` end to end, the pipeline generating 32 x 32 videos, and the clear
errors when the transformer's `skeleton_spatial_factor` is not the VAE's / the cache's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler
from mosa_pipeline_tiny import (
    HEIGHT,
    NUM_FRAMES,
    TINY_MOSA_CONFIG,
    WIDTH,
    cache_with_vae,
    first_batch,
    text_encoder,
    tiny_mosa,
    tiny_vae,
)

from kinevid.data.cache import LatentCacheDataset
from kinevid.errors import InvalidInputError
from kinevid.losses import DenseTracker, MoSALossConfig
from kinevid.models.appearance import MoSAWanTransformer3DModel
from kinevid.models.vae import vae_spatial_factor
from kinevid.pipelines import MoSAPipeline
from kinevid.pipelines.pipeline_mosa import NULL_PROMPT, encode_text
from kinevid.recipes.mosa import MoSAObjectiveConfig, MoSATrainingRecipe, check_spatial_factor

MAX_TOKENS = 64
TINY_MOSA_F4_CONFIG = {**TINY_MOSA_CONFIG, "patch_size": (1, 4, 4), "skeleton_spatial_factor": 4}


def tiny_vae_f4(seed: int = 0) -> AutoencoderKLWan:
    """Two down blocks: 4x space and time (`scale_factor_spatial` left at diffusers' 8: the layers decide)."""
    torch.manual_seed(seed)
    return AutoencoderKLWan(
        base_dim=4, z_dim=16, dim_mult=[1, 2, 2], num_res_blocks=1, temperal_downsample=[True, True]
    ).eval()


def tiny_mosa_f4(seed: int = 0) -> MoSAWanTransformer3DModel:
    """`tiny_mosa` with patch (1, 4, 4) at factor 4, MoSA weights random (so the skeleton matters)."""
    torch.manual_seed(seed)
    model = MoSAWanTransformer3DModel(**TINY_MOSA_F4_CONFIG)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for parameter in model.mosa_parameters():
            parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> tuple[Path, Path]:
    """(cache directory, VAE directory) of the 4x VAE."""
    return cache_with_vae(tmp_path_factory.mktemp("mosa_cache_f4"), tiny_vae_f4())


@pytest.fixture(scope="module")
def batch(cache) -> dict:
    return first_batch(cache[0])


def _pipeline(transformer, vae) -> MoSAPipeline:
    return MoSAPipeline(transformer, vae, text_encoder(), FlowMatchEulerDiscreteScheduler(shift=3.0),
                        max_sequence_length=16, fps=16.0)  # fmt: skip


def test_cache_of_the_4x_vae(cache, batch):
    dataset = LatentCacheDataset(cache[0])
    assert dataset.spatial_factor == 4 and dataset.geometry["spatial_factor"] == 4
    assert batch["latents"].shape == (2, 16, 2, HEIGHT // 4, WIDTH // 4)
    assert batch["mask_latent"].shape == (2, 1, 2, HEIGHT // 4, WIDTH // 4)
    assert batch["skeleton"].shape == (2, 3, NUM_FRAMES, HEIGHT, WIDTH)


def _recipe(model) -> MoSATrainingRecipe:
    return MoSATrainingRecipe(
        model, tiny_vae_f4(), encode_text(text_encoder(), NULL_PROMPT, MAX_TOKENS)[0],
        MoSAObjectiveConfig(max_sequence_length=MAX_TOKENS, skeleton_dropout=0.0), MoSALossConfig(track_every=2),
        DenseTracker(), generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def test_recipe_steps_on_the_4x_cache(cache, batch):
    model = tiny_mosa_f4().train()
    assert check_spatial_factor(model, LatentCacheDataset(cache[0]), tiny_vae_f4()) == 4
    # a tracking call: every term runs at 4x (L_track / L_cont on the video the 4x VAE decodes)
    terms = _recipe(model).loss_terms(model, batch, step=0)
    for name in ("loss", "diffusion", "mask", "track", "contact"):
        assert terms[name].ndim == 0 and torch.isfinite(terms[name]), name
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.skeleton_encoder.parameters())
    # AdamW steps on the batch with the same noise and levels every step: L_d + L_m falls
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(8):
        loss = _recipe(model).loss_terms(model, batch, step=1)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_mismatched_factors_are_clear_errors(cache):
    dataset = LatentCacheDataset(cache[0])
    with pytest.raises(InvalidInputError, match=r"latents are 4x .*skeleton_spatial_factor is 8") as error:
        check_spatial_factor(tiny_mosa(), dataset)
    assert "\n" not in str(error.value)
    with pytest.raises(
        InvalidInputError, match=r"skeleton_spatial_factor \(8\) must equal the VAE's spatial factor \(4\)"
    ):
        _pipeline(tiny_mosa(), tiny_vae_f4())
    with pytest.raises(
        InvalidInputError, match=r"skeleton_spatial_factor \(4\) must equal the VAE's spatial factor \(8\)"
    ):
        _pipeline(tiny_mosa_f4(), tiny_vae())


def test_pipeline_with_the_4x_vae_generates_32x32_videos(cache):
    pipe = _pipeline(tiny_mosa_f4(), tiny_vae_f4())
    assert pipe.vae_scale_factor_spatial == vae_spatial_factor(pipe.vae) == 4 and pipe.size_multiple == 16
    skeleton = LatentCacheDataset(cache[0])[0]["skeleton"]
    kwargs = {"skeleton_video": skeleton, "height": HEIGHT, "width": WIDTH, "num_frames": NUM_FRAMES,
              "num_inference_steps": 2}  # fmt: skip
    latents = pipe("a person walks", output_type="latent", generator=torch.Generator().manual_seed(0), **kwargs)
    assert latents.frames.shape == (1, 16, 2, HEIGHT // 4, WIDTH // 4)
    out = pipe("a person walks", generator=torch.Generator().manual_seed(0), **kwargs)
    assert out.frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3)
    # the skeleton reaches the 4x model: another skeleton, other latents
    shifted = pipe("a person walks", output_type="latent", generator=torch.Generator().manual_seed(0),
                   **{**kwargs, "skeleton_video": skeleton.roll(8, dims=-1)})  # fmt: skip
    assert not torch.allclose(latents.frames, shifted.frames)


def _tiny_config(cache_dir: Path, vae_dir: Path, model_config: dict) -> dict:
    return {
        "data": {"cache_dir": str(cache_dir), "val_cache_dir": str(cache_dir), "validation_batches": 1},
        "model": {"config": model_config},
        "objective": {"max_sequence_length": MAX_TOKENS},
        "loss": {"track_every": 2},
        "vae": str(vae_dir),
        "train": {"max_steps": 2, "batch_size": 2, "learning_rate": 1e-3, "log_every": 1, "checkpoint_every": 2,
                  "num_threads": 1},
    }  # fmt: skip


def test_kinevid_train_mosa_on_the_4x_cache(cache, tmp_path, capsys):
    from kinevid.cli.main import main

    cache_dir, vae_dir = cache
    config_path = tmp_path / "mosa_f4.json"
    config_path.write_text(
        json.dumps(_tiny_config(cache_dir, vae_dir, {**TINY_MOSA_F4_CONFIG, "patch_size": [1, 4, 4]}))
    )
    output = tmp_path / "run"
    assert main(["train", "mosa", "--config", str(config_path), "--output", str(output)]) == 0
    pipe = MoSAPipeline.from_pretrained(output / "pipeline", text_encoder=text_encoder())
    assert pipe.transformer.config.skeleton_spatial_factor == 4 and pipe.vae_scale_factor_spatial == 4
    out = pipe("a person walks", skeleton_video=LatentCacheDataset(cache_dir)[0]["skeleton"], num_inference_steps=2,
               generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert out.frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3)  # the cache's size, the pipeline's default
    # an 8x model on the 4x cache stops before training with one clear line naming both factors
    capsys.readouterr()
    config_path.write_text(json.dumps(_tiny_config(cache_dir, vae_dir, TINY_MOSA_CONFIG)))
    assert main(["train", "mosa", "--config", str(config_path), "--output", str(tmp_path / "run8")]) == 1
    error = capsys.readouterr().err.strip()
    assert "latents are 4x" in error and "skeleton_spatial_factor is 8" in error and "\n" not in error


def test_shipped_f4_config_loads(tmp_path):
    """`configs/mosa_synth_f4.json`: the 8x recipe on the 4x VAE's caches, warm-started from the 8x MoSA-tiny
    (commit 6f7e18d, unpacked under runs/prev) with patch (1, 4, 4), for 6,000 steps."""
    import dataclasses

    from kinevid.recipes.mosa import MoSATrainingConfig

    repo = Path(__file__).resolve().parents[2]
    config = MoSATrainingConfig.load(repo / "configs" / "mosa_synth_f4.json", output_dir=tmp_path)
    base = MoSATrainingConfig.load(repo / "configs" / "mosa_synth.json", output_dir=tmp_path)
    assert config.model.config == {"patch_size": [1, 4, 4], "skeleton_spatial_factor": 4}
    assert config.model.pretrained == "runs/prev/src/kinevid/assets/mosa_tiny/transformer"  # the 8x release
    assert config.model.ignore_mismatched_sizes and config.model.trainable == "all"
    assert config.data.cache_dir == "data/cache/vae_f4/synth128v2_train" and config.vae == "runs/vae_f4/final"
    assert config.data.val_cache_dir == "data/cache/vae_f4/synth128v2_val"
    # everything else as the 8x config
    assert config.objective == base.objective and config.loss == base.loss
    assert config.train.max_steps == 6000
    assert dataclasses.replace(config.train, max_steps=base.train.max_steps) == base.train
    assert config.sampling == base.sampling and config.text_encoder == base.text_encoder
