"""The ablations' model variants: MoSA without HADC (`structure_fusion="add"`), EchoMotion with colliding
motion positions (`motion_rope_positions="colliding"`) and video-only tuning (`video_only`)."""

from __future__ import annotations

import json

import pytest
import torch
from echomotion_tiny import dummy_inputs, tiny_echomotion
from mosa_tiny import backbone_kwargs, single_threaded, tiny_mosa_wan, wan_inputs  # noqa: F401

from kinevid.diffusion.echomotion_training import EchoMotionTrainingConfig, echomotion_training_step
from kinevid.errors import InvalidInputError
from kinevid.models.appearance import MoSAWanTransformer3DModel
from kinevid.models.appearance.hadc import HADC, SkeletonAddition
from kinevid.models.rope import colliding_motion_positions, motion_positions, mvs_motion_positions, video_positions


# ---------------------------------------------------------------------- MoSA without HADC
def _set_skeleton_projections(model, seed: int = 3) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for site in model.hadc:
            site.skeleton_proj.weight.copy_(torch.randn(site.skeleton_proj.weight.shape, generator=generator))


def test_default_is_hadc_and_add_sites_have_no_weight_predictor():
    assert all(isinstance(site, HADC) for site in tiny_mosa_wan().hadc)
    model = tiny_mosa_wan(structure_fusion="add")
    assert all(isinstance(site, SkeletonAddition) for site in model.hadc) and len(model.hadc) == 3
    names = {name for name, _ in model.named_parameters() if name.startswith("hadc.")}
    assert names == {f"hadc.{k}.skeleton_proj.weight" for k in range(3)}
    with pytest.raises(ValueError, match="structure_fusion"):
        tiny_mosa_wan(structure_fusion="concat")


def test_add_site_adds_the_projected_skeleton_tokens():
    site = SkeletonAddition(dim=6, skeleton_dim=4)
    assert site.skeleton_proj.weight.abs().sum() == 0
    with torch.no_grad():
        site.skeleton_proj.weight.copy_(torch.randn(6, 4, generator=torch.Generator().manual_seed(0)))
    hidden, tokens = torch.randn(2, 5, 6), torch.randn(2, 5, 4)
    output, mask = site(hidden, tokens)
    assert mask is None
    torch.testing.assert_close(output, hidden + tokens @ site.skeleton_proj.weight.T)


def test_fresh_add_model_is_its_backbone_and_predicts_no_mask():
    model = tiny_mosa_wan(structure_fusion="add")
    inputs = wan_inputs()
    with torch.no_grad():
        bare = model(**backbone_kwargs(inputs)).sample
        fresh = model(**inputs, return_mask_logits=True)
    assert fresh.mask_logits is None
    assert (fresh.sample - bare).abs().max().item() == 0
    _set_skeleton_projections(model)
    with torch.no_grad():
        steered = model(**inputs).sample
        dropped = model(**inputs, skeleton_dropout=torch.tensor([True, False])).sample
    assert (steered - bare).abs().max().item() > 1e-3
    torch.testing.assert_close(dropped[0], bare[0])  # a dropped sample passes every site unchanged
    torch.testing.assert_close(dropped[1], steered[1])


def test_add_model_learns_from_the_first_step():
    model = tiny_mosa_wan(structure_fusion="add").train()
    inputs = wan_inputs()
    model(**inputs).sample.square().mean().backward()
    for site in model.hadc:
        assert site.skeleton_proj.weight.grad.abs().sum() > 0


def test_add_model_round_trips(tmp_path):
    model = tiny_mosa_wan(structure_fusion="add")
    _set_skeleton_projections(model)
    inputs = wan_inputs()
    model.save_pretrained(tmp_path / "model")
    assert json.loads((tmp_path / "model" / "config.json").read_text())["structure_fusion"] == "add"
    loaded = MoSAWanTransformer3DModel.from_pretrained(tmp_path / "model").eval()
    assert isinstance(loaded.hadc[0], SkeletonAddition)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).sample, model(**inputs).sample)
    # MoSA weights alone, put on the plain backbone again
    model.save_mosa_weights(tmp_path / "weights")
    backbone = MoSAWanTransformer3DModel.from_pretrained(tmp_path / "model")
    backbone.save_pretrained(tmp_path / "backbone")
    rebuilt = MoSAWanTransformer3DModel.from_backbone(tmp_path / "backbone", tmp_path / "weights").eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(**inputs).sample, model(**inputs).sample)


def test_hadc_checkpoint_without_the_key_loads_as_hadc(tmp_path):
    model = tiny_mosa_wan()
    model.save_pretrained(tmp_path / "model")
    config_path = tmp_path / "model" / "config.json"
    config = json.loads(config_path.read_text())
    del config["structure_fusion"]  # as written before the option existed (the shipped MoSA-tiny)
    config_path.write_text(json.dumps(config))
    loaded = MoSAWanTransformer3DModel.from_pretrained(tmp_path / "model")
    assert all(isinstance(site, HADC) for site in loaded.hadc)
    model.save_mosa_weights(tmp_path / "weights")
    assert "structure_fusion" not in json.loads((tmp_path / "weights" / "mosa_config.json").read_text())


def test_reset_mosa_parameters_keeps_the_backbone():
    model = tiny_mosa_wan()
    _set_skeleton_projections(model)
    backbone = {n: p.clone() for n, p in model.named_parameters() if not n.startswith(("hadc", "skeleton_encoder"))}
    encoder = model.skeleton_encoder.conv_in.weight.clone()
    torch.manual_seed(5)
    model.reset_mosa_parameters()
    assert all(site.skeleton_proj.weight.abs().sum() == 0 for site in model.hadc)
    assert not torch.equal(model.skeleton_encoder.conv_in.weight, encoder)
    for name, parameter in model.named_parameters():
        if name in backbone:
            assert torch.equal(parameter, backbone[name]), name


# ---------------------------------------------------------------------- EchoMotion: colliding positions
@pytest.mark.parametrize("latent_frames,grid_h,grid_w", [(5, 8, 8), (2, 2, 3)])
def test_colliding_positions_collide_and_mvs_do_not(latent_frames, grid_h, grid_w):
    video = {tuple(p) for p in video_positions(latent_frames, grid_h, grid_w).tolist()}
    num_motion_frames = 4 * (latent_frames - 1) + 1
    colliding = colliding_motion_positions(num_motion_frames, 51)
    mvs = mvs_motion_positions(num_motion_frames, 51, grid_h, grid_w, 4)
    assert colliding[7 * 51 + 3].tolist() == [7.0, 3.0, 3.0] if num_motion_frames > 7 else True
    shared = [tuple(p) for p in colliding.tolist() if tuple(p) in video]
    # motion token j of frame f sits on video token (f, j, j) for every latent frame f and j inside the grid
    assert len(shared) == latent_frames * min(grid_h, grid_w)
    assert not video & {tuple(p) for p in mvs.tolist()}
    torch.testing.assert_close(motion_positions("mvs", num_motion_frames, 51, grid_h, grid_w, 4), mvs)
    with pytest.raises(ValueError, match="motion positions"):
        motion_positions("diagonal", num_motion_frames, 51, grid_h, grid_w, 4)


def _motion_positions_seen(model, inputs) -> torch.Tensor:
    seen = []
    handle = model.motion_rope.register_forward_hook(lambda module, args, output: seen.append(args[0]))
    with torch.no_grad():
        output = model(**inputs)
    handle.remove()
    return seen[0], output


def test_the_model_uses_the_configured_motion_positions():
    inputs = dummy_inputs(latent_frames=2, height=4, width=6)  # patch grid (2, 2, 3), 5 motion frames
    mvs_model = tiny_echomotion()
    colliding_model = tiny_echomotion(motion_rope_positions="colliding")
    colliding_model.load_state_dict(mvs_model.state_dict())
    mvs_seen, mvs_out = _motion_positions_seen(mvs_model, inputs)
    colliding_seen, colliding_out = _motion_positions_seen(colliding_model, inputs)
    torch.testing.assert_close(mvs_seen, mvs_motion_positions(5, 51, 2, 3, 4))
    torch.testing.assert_close(colliding_seen, colliding_motion_positions(5, 51))
    assert (mvs_out.sample - colliding_out.sample).abs().max() > 1e-4  # positions matter in joint attention
    with torch.no_grad():  # without motion both are Wan
        torch.testing.assert_close(
            mvs_model(inputs["hidden_states"], inputs["timestep"], inputs["encoder_hidden_states"]).sample,
            colliding_model(inputs["hidden_states"], inputs["timestep"], inputs["encoder_hidden_states"]).sample,
        )
    with pytest.raises(ValueError, match="motion_rope_positions"):
        tiny_echomotion(motion_rope_positions="plain")


# ---------------------------------------------------------------------- EchoMotion: video-only tuning
def test_video_only_step_trains_the_video_alone():
    model = tiny_echomotion().train()
    inputs = dummy_inputs()
    batch = {
        "latents": inputs["hidden_states"],
        "motion": inputs["motion_hidden_states"],
        "encoder_hidden_states": inputs["encoder_hidden_states"],
        "negative_encoder_hidden_states": torch.zeros(5, 16),
    }
    calls = []
    handle = model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs), with_kwargs=True)
    config = EchoMotionTrainingConfig(video_only=True, text_dropout=0.0, shift=3.0)
    terms = echomotion_training_step(model, batch, 2, config, torch.Generator().manual_seed(0))
    handle.remove()
    assert set(terms) == {"loss", "loss/video"} and calls[0].get("motion_hidden_states") is None
    # the same loss by hand: the generator draws the video noise, then the levels
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(batch["latents"].shape, generator=generator)
    from kinevid.diffusion.flow_matching import sample_sigmas

    sigmas = sample_sigmas(2, 3.0, "uniform", generator=generator)
    noisy = (1 - sigmas.view(-1, 1, 1, 1, 1)) * batch["latents"] + sigmas.view(-1, 1, 1, 1, 1) * noise
    prediction = model(noisy, sigmas * 1000, batch["encoder_hidden_states"]).sample
    expected = (prediction - (noise - batch["latents"])).square().mean()
    torch.testing.assert_close(terms["loss"], expected, rtol=1e-5, atol=1e-6)
    terms["loss"].backward()
    motion_grads = [p.grad for n, p in model.named_parameters() if "motion" in n and p.grad is not None]
    assert all(g.abs().sum() == 0 for g in motion_grads)
    with pytest.raises(InvalidInputError, match="video_only"):
        echomotion_training_step(model, batch, 1, config)
