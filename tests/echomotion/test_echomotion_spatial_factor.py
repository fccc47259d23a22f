"""EchoMotionPipeline reads the VAE's spatial factor from its layers (a 4x VAE whose `scale_factor_spatial` is
left at diffusers' 8 still gets H / 4 latents) and generates at that factor with a patch-(1, 4, 4) DiT."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKLWan
from echomotion_tiny import single_threaded  # noqa: F401 - autouse fixture
from test_echomotion_pipeline import NUM_FRAMES, TEXT_LEN, _components

from kinevid.models.appearance import EchoMotionTransformer3DModel
from kinevid.pipelines import EchoMotionPipeline
from tiny_models import tiny_wan_config

HEIGHT = WIDTH = 32


def _pipeline_f4() -> EchoMotionPipeline:
    components = _components()
    torch.manual_seed(0)
    components["vae"] = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1], num_res_blocks=1, temperal_downsample=[True, True]
    ).eval()
    torch.manual_seed(0)
    transformer = EchoMotionTransformer3DModel(**tiny_wan_config(in_channels=16, out_channels=16, patch_size=(1, 4, 4)))
    transformer.set_motion_normalizer(components["transformer"].motion_normalizer())
    components["transformer"] = transformer.eval()
    return EchoMotionPipeline(**components)


def test_latents_at_the_vaes_factor():
    pipe = _pipeline_f4()
    assert pipe.vae.config.scale_factor_spatial == 8  # diffusers' default: not what this VAE does
    assert pipe.vae_scale_factor_spatial == 4
    latents = pipe.prepare_latents(1, HEIGHT, WIDTH, NUM_FRAMES, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert latents.shape == (1, 16, 2, HEIGHT // 4, WIDTH // 4)
    out = pipe(
        prompt="a person jumps", height=HEIGHT, width=WIDTH, num_frames=NUM_FRAMES, num_inference_steps=2,
        generator=torch.Generator().manual_seed(0), max_sequence_length=TEXT_LEN,
    )  # fmt: skip
    assert out.frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3)


def test_f4_stage_two_config_warm_starts_the_8x_release_on_the_4x_caches(tmp_path):
    """`configs/echomotion_stage2_f4.json`: the shipped stage-2 recipe on the 4x VAE's caches, started from the
    8x EchoMotion-tiny (commit 6f7e18d, unpacked under runs/prev) with patch (1, 4, 4), for 2,000 steps."""
    import dataclasses
    from pathlib import Path

    from kinevid.recipes.echomotion import EchoMotionStageConfig

    configs = Path(__file__).resolve().parents[2] / "configs"
    f4 = EchoMotionStageConfig.load(configs / "echomotion_stage2_f4.json", output_dir=tmp_path)
    base = EchoMotionStageConfig.load(configs / "echomotion_stage2.json", output_dir=tmp_path)
    assert f4.data.cache_dir == "data/cache/vae_f4/synth128v2_train"
    assert f4.data.val_cache_dir == "data/cache/vae_f4/synth128v2_val"
    assert f4.init_from == "runs/prev/src/kinevid/assets/echomotion_tiny/transformer" and f4.vae == "runs/vae_f4/final"
    assert f4.model.config == {"patch_size": [1, 4, 4]} and f4.model.ignore_mismatched_sizes
    assert f4.objective == base.objective and f4.sampling == base.sampling
    assert f4.train.max_steps == 2000 and dataclasses.replace(f4.train, max_steps=base.train.max_steps) == base.train
