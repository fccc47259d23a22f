"""The recipes' ablation switches on tiny models and a tiny latent cache: fine-tuning with fresh MoSA weights,
no mask loss without HADC, and the per-clip test-cache losses the ablation tables report."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mosa_pipeline_tiny import (  # noqa: F401
    TINY_MOSA_CONFIG,
    build_tiny_cache,
    single_threaded,
    text_encoder,
    tiny_mosa,
    tiny_vae,
)

from kinevid.data.cache import LatentCacheDataset
from kinevid.diffusion.flow_matching import sample_sigmas
from kinevid.errors import InvalidInputError
from kinevid.losses import MoSALossConfig
from kinevid.models.appearance import MoSAWanTransformer3DModel
from kinevid.pipelines.pipeline_mosa import NULL_PROMPT, encode_text, pad_text_tokens
from kinevid.recipes.mosa import (
    MoSAModelConfig,
    MoSAObjectiveConfig,
    MoSATrainingConfig,
    MoSATrainingRecipe,
    build_transformer,
    evaluate_cache_loss,
)

MAX_TOKENS = 16


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablation_cache")
    vae = tiny_vae()
    vae.save_pretrained(root / "vae")
    return build_tiny_cache(root, vae), root / "vae"


def test_fresh_mosa_keeps_the_backbone_and_restarts_mosa(tmp_path):
    trained = tiny_mosa(randomize_mosa=True)  # as if trained: non-zero HADC / encoder weights
    trained.save_pretrained(tmp_path / "base")
    kept = build_transformer(MoSAModelConfig(pretrained=str(tmp_path / "base")))
    torch.manual_seed(0)
    fresh = build_transformer(MoSAModelConfig(pretrained=str(tmp_path / "base"), fresh_mosa=True))
    assert all(site.skeleton_proj.weight.abs().sum() > 0 for site in kept.hadc)
    assert all(site.skeleton_proj.weight.abs().sum() == 0 for site in fresh.hadc)
    trained_state = trained.state_dict()
    for name, parameter in fresh.state_dict().items():
        if not name.startswith(("hadc.", "skeleton_encoder.")):
            assert torch.equal(parameter, trained_state[name]), name
    torch.manual_seed(0)
    again = build_transformer(MoSAModelConfig(pretrained=str(tmp_path / "base"), fresh_mosa=True))
    for (name, a), b in zip(fresh.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # the seed decides the fresh weights
    # the "w/o HADC" row loads the same base with addition sites
    add = build_transformer(
        MoSAModelConfig(pretrained=str(tmp_path / "base"), config={"structure_fusion": "add"}, fresh_mosa=True)
    )
    assert add.structure_fusion == "add" and add.hadc[0].skeleton_proj.weight.abs().sum() == 0
    with pytest.raises(InvalidInputError, match="fresh_mosa"):
        MoSAModelConfig(fresh_mosa=True)


def test_no_mask_loss_without_hadc(cache):
    model = MoSAWanTransformer3DModel(**TINY_MOSA_CONFIG, structure_fusion="add")
    null_text = encode_text(text_encoder(), NULL_PROMPT, MAX_TOKENS)[0]
    objective = MoSAObjectiveConfig(max_sequence_length=MAX_TOKENS)
    with pytest.raises(InvalidInputError, match="lambda_mask"):
        MoSATrainingRecipe(model, tiny_vae(), null_text, objective, MoSALossConfig(lambda_mask=1.0))
    recipe = MoSATrainingRecipe(
        model, tiny_vae(), null_text, objective, MoSALossConfig(lambda_mask=0.0, track_every=2),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    dataset = LatentCacheDataset(cache[0], expect_text_encoder="minilm")
    terms = recipe.loss_terms(model, torch.utils.data.default_collate([dataset[0], dataset[1]]), step=1)
    assert "mask" not in terms and torch.isfinite(terms["loss"])
    torch.testing.assert_close(terms["loss"], terms["diffusion"])


def _config(cache, tmp_path) -> MoSATrainingConfig:
    values = {
        "data": {"cache_dir": str(cache[0])},
        "model": {"config": TINY_MOSA_CONFIG},
        "objective": {"max_sequence_length": MAX_TOKENS, "text_dropout": 0.5, "skeleton_dropout": 0.5},
        "loss": {"track_every": 4},
        "vae": str(cache[1]),
        "train": {"max_steps": 1, "batch_size": 1, "learning_rate": 1e-4},
    }
    return MoSATrainingConfig.from_dict(values, tmp_path / "run")


def test_cache_loss_per_clip_equals_a_direct_computation(cache, tmp_path):
    model = tiny_mosa(seed=3)
    model.save_pretrained(tmp_path / "final")
    config = _config(cache, tmp_path)
    losses = evaluate_cache_loss(config, tmp_path / "final", cache[0], seed=7)
    dataset = LatentCacheDataset(cache[0], expect_text_encoder="minilm")
    assert set(losses) == {"loss", "diffusion", "mask"}
    assert len(losses["diffusion"]) == len(dataset) == 4
    assert losses == evaluate_cache_loss(config, tmp_path / "final", cache[0], seed=7)  # fixed noise
    assert (
        losses["diffusion"][:2]
        == evaluate_cache_loss(config, tmp_path / "final", cache[0], num_clips=2, seed=7)["diffusion"]
    )
    # clip 0 by hand: no dropout (the config's 0.5 is not applied), the generator's draws in the recipe's order
    generator = torch.Generator().manual_seed(7)
    item = torch.utils.data.default_collate([dataset[0]])
    latents = item["latents"]
    noise = torch.randn(latents.shape, generator=generator)
    sigmas = sample_sigmas(1, 3.0, "uniform", generator=generator)
    torch.rand(1, generator=generator), torch.rand(1, generator=generator)  # the (unused) dropout draws
    noisy = (1 - sigmas.view(-1, 1, 1, 1, 1)) * latents + sigmas.view(-1, 1, 1, 1, 1) * noise
    text = pad_text_tokens(item["text_tokens"], item["text_mask"], MAX_TOKENS)
    loaded = MoSAWanTransformer3DModel.from_pretrained(tmp_path / "final").eval()
    with torch.no_grad():
        velocity = loaded(noisy, sigmas * 1000, text, skeleton_video=item["skeleton"]).sample
    expected = (velocity - (noise - latents)).square().mean().item()
    assert losses["diffusion"][0] == pytest.approx(expected, rel=1e-5)


def _tiny_echomotion_run(cache, tmp_path):
    """A tiny EchoMotion model saved to `tmp_path / "final"` and the stage-2 config values scoring it."""
    from kinevid.models.appearance import EchoMotionTransformer3DModel

    torch.manual_seed(0)
    model = EchoMotionTransformer3DModel(**TINY_MOSA_CONFIG, motion_only_grid_size=(2, 2)).eval()
    model.save_pretrained(tmp_path / "final")
    values = {
        "stage": 2, "init_from": str(tmp_path / "final"), "data": {"cache_dir": str(cache[0])},
        "max_sequence_length": MAX_TOKENS, "vae": str(cache[1]), "objective": {"shift": 3.0, "text_dropout": 0.5},
        "train": {"max_steps": 1, "batch_size": 1, "learning_rate": 1e-4},
    }  # fmt: skip
    return model, values


def test_echomotion_cache_losses_per_objective(cache, tmp_path):
    from kinevid.recipes.echomotion import EchoMotionStageConfig
    from kinevid.recipes.echomotion import evaluate_cache_loss as echomotion_cache_loss

    model, values = _tiny_echomotion_run(cache, tmp_path)
    config = EchoMotionStageConfig.from_dict(values, tmp_path / "run")
    losses = echomotion_cache_loss(config, tmp_path / "final", cache[0], num_clips=2, seed=1)
    assert set(losses) == {"joint/video", "joint/motion", "m2v/video", "v2m/motion", "video_alone/video"}
    assert all(len(v) == 2 and all(x > 0 for x in v) for v in losses.values())
    assert losses["m2v/video"] != losses["video_alone/video"]  # the clean motion is seen
    # video alone, clip 0, by hand: the generator draws the video noise, the levels, then the text dropout
    dataset = LatentCacheDataset(cache[0], expect_text_encoder="minilm")
    item = torch.utils.data.default_collate([dataset[0]])
    generator = torch.Generator().manual_seed(1)
    latents = item["latents"].float()
    noise = torch.randn(latents.shape, generator=generator)
    sigmas = sample_sigmas(1, 3.0, "uniform", generator=generator)
    noisy = (1 - sigmas.view(-1, 1, 1, 1, 1)) * latents + sigmas.view(-1, 1, 1, 1, 1) * noise
    text = pad_text_tokens(item["text_tokens"].float(), item["text_mask"], MAX_TOKENS)
    with torch.no_grad():
        velocity = model(noisy, sigmas * 1000, text).sample
    expected = (velocity - (noise - latents)).square().mean().item()
    assert losses["video_alone/video"][0] == pytest.approx(expected, rel=1e-5)
    # a video-only row is scored on the joint tasks as well (the same numbers: the model, not the config, counts)
    values["objective"]["video_only"] = True
    video_only = EchoMotionStageConfig.from_dict(values, tmp_path / "run")
    assert echomotion_cache_loss(video_only, tmp_path / "final", cache[0], num_clips=2, seed=1) == losses


def test_echomotion_attention_alignment_per_clip(cache, tmp_path):
    from kinevid.recipes.echomotion import EchoMotionStageConfig, evaluate_attention_alignment

    _, values = _tiny_echomotion_run(cache, tmp_path)
    config = EchoMotionStageConfig.from_dict(values, tmp_path / "run")
    scores = evaluate_attention_alignment(config, tmp_path / "final", cache[0], num_clips=2, seed=1)
    assert set(scores) == {"aligned_mass", "slope", "chance", "diagonal_slope", "mean_map"}
    assert all(len(scores[name]) == 2 for name in ("aligned_mass", "slope", "chance", "diagonal_slope"))
    item = LatentCacheDataset(cache[0], expect_text_encoder="minilm")[0]
    frames = item["latents"].shape[1]
    mean_map = torch.tensor(scores["mean_map"])  # (T, F), rows sum to 1
    assert mean_map.shape == (4 * (frames - 1) + 1, frames)
    torch.testing.assert_close(mean_map.sum(-1), torch.ones(mean_map.shape[0]))
    assert scores["chance"][0] == pytest.approx(1.0 / item["latents"].shape[1])  # latents (C, F, H, W)
    ceil_frames = [(t + 3) // 4 for t in range(4 * (item["latents"].shape[1] - 1) + 1)]
    expected_slope = np.polyfit(np.arange(len(ceil_frames)), ceil_frames, 1)[0]  # independent least squares
    assert scores["diagonal_slope"][0] == pytest.approx(expected_slope)
    assert all(0.0 <= v <= 1.0 for v in scores["aligned_mass"])
    assert scores == evaluate_attention_alignment(config, tmp_path / "final", cache[0], num_clips=2, seed=1)
