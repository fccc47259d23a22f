"""MoSAWanTransformer3DModel: exact Wan equivalence, checkpoint loading, training modes, masks, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from diffusers import WanTransformer3DModel
from mosa_tiny import (
    TINY_MOSA,
    TINY_WAN_CONFIG,
    assert_backbone_loaded_and_mosa_initialised,
    backbone_kwargs,
    single_threaded,  # noqa: F401 - autouse fixture
    tiny_mosa_wan,
    tiny_wan,
    wan_inputs,
)

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.models.appearance import MoSATransformerOutput, MoSAWanTransformer3DModel, is_mosa_parameter


def _wan_loaded_mosa(tmp_path, **load_kwargs):
    wan = tiny_wan(seed=1)
    wan.save_pretrained(tmp_path / "wan")
    model, info = MoSAWanTransformer3DModel.from_pretrained(tmp_path / "wan", output_loading_info=True, **load_kwargs)
    return wan, model.eval(), info


def _activate_hadc(model, seed: int = 3) -> None:
    """Give every site a non-zero skeleton projection (as after training)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for site in model.hadc:
            site.skeleton_proj.weight.copy_(torch.randn(site.skeleton_proj.weight.shape, generator=generator))


def test_fresh_model_with_skeleton_equals_wan(tmp_path):
    wan, model, _ = _wan_loaded_mosa(tmp_path)
    inputs = wan_inputs(latent_frames=3)
    with torch.no_grad():
        expected = wan(**backbone_kwargs(inputs)).sample
        with_skeleton = model(**inputs, return_mask_logits=True)
        without = model(**backbone_kwargs(inputs), return_mask_logits=True)
    assert isinstance(with_skeleton, MoSATransformerOutput)
    assert (with_skeleton.sample - expected).abs().max().item() <= 1e-5
    assert (without.sample - expected).abs().max().item() <= 1e-5
    assert with_skeleton.mask_logits.shape == (2, 3, 3, 4, 6)  # (B, K sites, F, H, W) at latent resolution
    assert without.mask_logits is None


def test_per_token_timesteps_and_some_sites_equal_wan():
    wan, model = tiny_wan(seed=2), tiny_mosa_wan(hadc_layers=[1])
    model.load_state_dict(wan.state_dict(), strict=False)
    inputs = wan_inputs()
    inputs["timestep"] = torch.rand(2, 2 * 2 * 3) * 1000  # one timestep per token (Wan2.2 TI2V)
    with torch.no_grad():
        expected = wan(**backbone_kwargs(inputs)).sample
        actual = model(**inputs, return_mask_logits=True)
    assert (actual.sample - expected).abs().max().item() <= 1e-5
    assert actual.mask_logits.shape == (2, 1, 2, 4, 6)


def test_trained_sites_steer_the_output_and_none_skips_them():
    wan, model = tiny_wan(seed=2), tiny_mosa_wan()
    model.load_state_dict(wan.state_dict(), strict=False)
    _activate_hadc(model)
    inputs = wan_inputs()
    with torch.no_grad():
        expected = wan(**backbone_kwargs(inputs)).sample
        steered = model(**inputs).sample
        skipped = model(**backbone_kwargs(inputs)).sample
    assert (steered - expected).abs().max().item() > 1e-3
    assert (skipped - expected).abs().max().item() <= 1e-5


def test_skeleton_dropout_equals_no_skeleton_per_sample():
    model = tiny_mosa_wan()
    _activate_hadc(model)
    inputs = wan_inputs()
    with torch.no_grad():
        full = model(**inputs).sample
        none = model(**backbone_kwargs(inputs)).sample
        dropped = model(**inputs, skeleton_dropout=torch.tensor([True, False])).sample
    assert torch.equal(dropped[0], none[0])
    assert torch.equal(dropped[1], full[1])
    assert not torch.allclose(full[0], none[0])


def test_wan_checkpoint_loads_every_backbone_weight_and_initialises_mosa(tmp_path):
    # Wan keeps modules in fp32, so diffusers always loads it with `low_cpu_mem_usage` (missing weights on
    # the meta device); the CogVideoX test covers the other path (missing weights left uninitialised).
    wan, model, info = _wan_loaded_mosa(tmp_path)
    assert_backbone_loaded_and_mosa_initialised(wan, model, info)


def test_mosa_save_load_round_trip(tmp_path):
    model = tiny_mosa_wan(hadc_layers=[0, 2], hadc_hidden_dim=5)
    _activate_hadc(model)
    model.save_pretrained(tmp_path / "mosa")
    loaded, info = MoSAWanTransformer3DModel.from_pretrained(tmp_path / "mosa", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert loaded.hadc_layers == [0, 2] and loaded.config.hadc_hidden_dim == 5
    state = loaded.state_dict()
    assert all(torch.equal(state[name], value) for name, value in model.state_dict().items())
    inputs = wan_inputs()
    with torch.no_grad():
        assert torch.equal(loaded.eval()(**inputs).sample, model(**inputs).sample)


def test_mosa_weights_alone_go_back_onto_the_public_backbone(tmp_path):
    """`save_mosa_weights` keeps only MoSA's parameters; `from_backbone` on the same Wan checkpoint gives the
    trained model back exactly (how trained MoSA weights for Wan2.1-T2V-1.3B are shared and used)."""
    from safetensors.torch import load_file

    _, model, _ = _wan_loaded_mosa(tmp_path, hadc_layers=[0, 2], skeleton_encoder_dims=[4, 8, 8])
    _activate_hadc(model)
    model.save_mosa_weights(tmp_path / "weights")
    saved = load_file(str(tmp_path / "weights" / "mosa_weights.safetensors"))
    assert saved and all(is_mosa_parameter(name) for name in saved)
    assert len(saved) == sum(is_mosa_parameter(name) for name, _ in model.named_parameters())
    loaded = MoSAWanTransformer3DModel.from_backbone(tmp_path / "wan", tmp_path / "weights").eval()
    assert loaded.hadc_layers == [0, 2]
    inputs = wan_inputs()
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).sample, model(**inputs).sample)
    assert not list(tmp_path.glob("*.partial"))


def test_mosa_weights_refuse_another_backbone_and_damaged_files(tmp_path):
    _, model, _ = _wan_loaded_mosa(tmp_path, skeleton_encoder_dims=[4, 8, 8])
    model.save_mosa_weights(tmp_path / "weights")
    torch.manual_seed(0)
    WanTransformer3DModel(**{**TINY_WAN_CONFIG, "attention_head_dim": 4, "num_layers": 3}).save_pretrained(
        tmp_path / "narrow"
    )
    with pytest.raises(MissingWeightsError, match="another backbone"):
        MoSAWanTransformer3DModel.from_backbone(tmp_path / "narrow", tmp_path / "weights")
    with pytest.raises(MissingWeightsError, match="not a MoSA weights directory"):
        MoSAWanTransformer3DModel.from_backbone(tmp_path / "wan", tmp_path / "nowhere")
    (tmp_path / "weights" / "mosa_weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(MissingWeightsError, match="damaged"):
        MoSAWanTransformer3DModel.from_backbone(tmp_path / "wan", tmp_path / "weights")


def test_checkpoint_without_backbone_weights_raises(tmp_path):
    config = {**TINY_WAN_CONFIG, "num_layers": 2}
    torch.manual_seed(0)
    WanTransformer3DModel(**config).save_pretrained(tmp_path / "short")
    with pytest.raises(MissingWeightsError, match="backbone weights"):
        MoSAWanTransformer3DModel.from_pretrained(tmp_path / "short", num_layers=3)


def _losses(output: MoSATransformerOutput, generator: torch.Generator) -> torch.Tensor:
    """A denoising-like MSE plus the mask L2 on sigmoid(logits), against fixed random targets."""
    target = torch.randn(output.sample.shape, generator=generator)
    mask = (torch.rand(output.mask_logits[:, :1].shape, generator=generator) > 0.5).float()
    mask_loss = F.mse_loss(output.mask_logits.sigmoid(), mask.expand_as(output.mask_logits))
    return F.mse_loss(output.sample, target) + mask_loss


def test_every_new_parameter_gets_a_gradient_and_a_step_changes_the_output():
    model = tiny_mosa_wan().train()
    model.freeze_backbone()
    inputs = wan_inputs()
    loss = _losses(model(**inputs, return_mask_logits=True), torch.Generator().manual_seed(0))
    loss.backward()
    for name, parameter in model.named_parameters():
        if is_mosa_parameter(name):
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
        else:
            assert parameter.grad is None, name
    optimizer = torch.optim.SGD(model.mosa_parameters(), lr=1.0)
    with torch.no_grad():
        before = model(**inputs).sample
    optimizer.step()
    with torch.no_grad():
        after = model(**inputs).sample
        assert (after - before).abs().max() > 1e-4


def test_gradient_checkpointing_gives_the_same_gradients():
    model = tiny_mosa_wan().train()
    _activate_hadc(model)
    inputs = wan_inputs()

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        _losses(model(**inputs, return_mask_logits=True), torch.Generator().manual_seed(0)).backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain = gradients()
    model.enable_gradient_checkpointing()
    assert model.gradient_checkpointing
    checkpointed = gradients()
    assert plain.keys() == checkpointed.keys() and any(is_mosa_parameter(name) for name in plain)
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_freeze_backbone_leaves_only_mosa_trainable():
    model = tiny_mosa_wan()
    model.freeze_backbone()
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {name for name, _ in model.named_parameters() if is_mosa_parameter(name)}
    assert sum(p.numel() for p in model.mosa_parameters()) == sum(
        p.numel() for p in model.parameters() if p.requires_grad
    )


def test_backbone_lora_on_attention_projections_only():
    model = tiny_mosa_wan()
    inputs = wan_inputs()
    with torch.no_grad():
        before = model(**inputs).sample
    model.add_backbone_lora(rank=2, alpha=4.0)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    lora = {name for name in trainable if ".lora_" in name}
    assert trainable == lora | {name for name, _ in model.named_parameters() if is_mosa_parameter(name)}
    adapted = {name.split(".lora_")[0] for name in lora}
    expected = {
        f"blocks.{i}.{attn}.{proj}"
        for i in range(3)
        for attn in ("attn1", "attn2")
        for proj in ("to_q", "to_k", "to_v", "to_out.0")
    }
    assert adapted == expected
    with torch.no_grad():
        assert torch.equal(model(**inputs).sample, before)  # LoRA B starts at zero
        model.blocks[0].attn1.to_q.lora_B["default"].weight.fill_(0.5)
        assert not torch.allclose(model(**inputs).sample, before)
    with pytest.raises(InvalidInputError, match="rank"):
        tiny_mosa_wan().add_backbone_lora(rank=0)


def test_return_dict_false():
    model = tiny_mosa_wan()
    inputs = wan_inputs()
    with torch.no_grad():
        (sample,) = model(**inputs, return_dict=False)
        sample_2, mask_logits = model(**inputs, return_dict=False, return_mask_logits=True)
    assert torch.equal(sample, sample_2) and mask_logits.shape == (2, 3, 2, 4, 6)


def test_bad_inputs_name_the_tensor_and_the_expected_shape():
    model = tiny_mosa_wan()
    inputs = wan_inputs()
    cases = [
        ({"skeleton_video": torch.zeros(2, 3, 4, 32, 48)}, r"`skeleton_video` must have shape \(2, 3, 5, 32, 48\)"),
        ({"skeleton_video": torch.zeros(2, 3, 5, 32, 40)}, r"`skeleton_video` must have shape \(2, 3, 5, 32, 48\)"),
        ({"skeleton_video": torch.zeros(1, 3, 5, 32, 48)}, r"`skeleton_video` must have shape \(2, 3, 5, 32, 48\)"),
        ({"skeleton_dropout": torch.tensor([1, 0])}, r"`skeleton_dropout` must be a bool tensor of shape \(2,\)"),
        ({"skeleton_dropout": torch.tensor([True])}, r"`skeleton_dropout` must be a bool tensor of shape \(2,\)"),
        ({"hidden_states": torch.zeros(2, 5, 2, 4, 6)}, r"`hidden_states` must be video latents of shape \(B, 4"),
        ({"hidden_states": torch.zeros(2, 4, 2, 5, 6)}, "`hidden_states` latent size"),
        ({"encoder_hidden_states": torch.zeros(2, 5, 8)}, r"`encoder_hidden_states` must have shape \(2, L, 16\)"),
    ]
    for override, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            model(**{**inputs, **override})
    with pytest.raises(InvalidInputError, match="without `skeleton_video`"):
        model(**backbone_kwargs(inputs), skeleton_dropout=torch.tensor([True, False]))


def test_bad_config_raises():
    with pytest.raises(ValueError, match="hadc_layers"):
        MoSAWanTransformer3DModel(**{**TINY_WAN_CONFIG, **TINY_MOSA, "hadc_layers": [3]})
    with pytest.raises(ValueError, match="hadc_layers"):
        MoSAWanTransformer3DModel(**{**TINY_WAN_CONFIG, **TINY_MOSA, "hadc_layers": [1, 0]})
