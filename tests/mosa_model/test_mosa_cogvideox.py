"""MoSACogVideoXTransformer3DModel: exact CogVideoX equivalence, HADC on the video stream, loading, training."""

from __future__ import annotations

import pytest
import torch
from mosa_tiny import (
    assert_backbone_loaded_and_mosa_initialised,
    backbone_kwargs,
    cogvideox_inputs,
    single_threaded,  # noqa: F401 - autouse fixture
    tiny_cogvideox,
    tiny_mosa_cogvideox,
)

from kinevid.errors import InvalidInputError
from kinevid.models.appearance import MoSACogVideoXTransformer3DModel, is_mosa_parameter


def _activate_hadc(model, seed: int = 3) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for site in model.hadc:
            site.skeleton_proj.weight.copy_(torch.randn(site.skeleton_proj.weight.shape, generator=generator))


@pytest.mark.parametrize("low_cpu_mem_usage", [True, False])
def test_cogvideox_checkpoint_loads_and_fresh_model_equals_it(tmp_path, low_cpu_mem_usage):
    cogvideox = tiny_cogvideox(seed=1)
    cogvideox.save_pretrained(tmp_path / "cogvideox")
    model, info = MoSACogVideoXTransformer3DModel.from_pretrained(
        tmp_path / "cogvideox", output_loading_info=True, low_cpu_mem_usage=low_cpu_mem_usage
    )
    assert_backbone_loaded_and_mosa_initialised(cogvideox, model, info)
    inputs = cogvideox_inputs()
    with torch.no_grad():
        expected = cogvideox(**backbone_kwargs(inputs)).sample
        actual = model.eval()(**inputs, return_mask_logits=True)
    assert actual.sample.shape == expected.shape == inputs["hidden_states"].shape
    assert (actual.sample - expected).abs().max().item() <= 1e-5
    assert actual.mask_logits.shape == (2, 3, 2, 4, 4)  # (B, K, F, H, W)


def test_hadc_sees_the_video_stream_only_and_steers_it():
    cogvideox, model = tiny_cogvideox(seed=2), tiny_mosa_cogvideox(hadc_layers=[0, 2])
    model.load_state_dict(cogvideox.state_dict(), strict=False)
    _activate_hadc(model)
    seen = []
    model.hadc[0].register_forward_hook(lambda module, args, output: seen.append(args[0].shape))
    inputs = cogvideox_inputs()
    with torch.no_grad():
        expected = cogvideox(**backbone_kwargs(inputs)).sample
        steered = model(**inputs).sample
        skipped = model(**backbone_kwargs(inputs)).sample
    assert seen == [torch.Size([2, 2 * 2 * 2, 16])]  # video tokens (F x H/2 x W/2), not the 6 text tokens
    assert (steered - expected).abs().max().item() > 1e-3
    assert (skipped - expected).abs().max().item() <= 1e-5


def test_round_trip_gradient_checkpointing_and_lora(tmp_path):
    model = tiny_mosa_cogvideox(hadc_layers=[1])
    _activate_hadc(model)
    model.save_pretrained(tmp_path / "mosa")
    loaded = MoSACogVideoXTransformer3DModel.from_pretrained(tmp_path / "mosa")
    assert all(torch.equal(loaded.state_dict()[name], value) for name, value in model.state_dict().items())

    inputs = cogvideox_inputs()
    model.train()

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        output = model(**inputs, return_mask_logits=True)
        (output.sample.square().mean() + output.mask_logits.sigmoid().square().mean()).backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain = gradients()
    model.enable_gradient_checkpointing()
    checkpointed = gradients()
    assert plain.keys() == checkpointed.keys()
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-5, atol=1e-6, msg=name)

    model.add_backbone_lora(rank=2)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(is_mosa_parameter(name) or ".lora_" in name for name in trainable)
    assert {name.split(".lora_")[0] for name in trainable if ".lora_" in name} == {
        f"transformer_blocks.{i}.attn1.{proj}" for i in range(3) for proj in ("to_q", "to_k", "to_v", "to_out.0")
    }
    model.freeze_backbone()
    assert {name for name, p in model.named_parameters() if p.requires_grad} == {
        name for name, _ in model.named_parameters() if is_mosa_parameter(name)
    }


def test_bad_inputs_raise():
    model = tiny_mosa_cogvideox()
    inputs = cogvideox_inputs()
    with pytest.raises(InvalidInputError, match=r"`skeleton_video` must have shape \(2, 3, 5, 32, 32\)"):
        model(**{**inputs, "skeleton_video": torch.zeros(2, 3, 9, 32, 32)})
    with pytest.raises(InvalidInputError, match=r"`hidden_states` must be video latents of shape \(B, F, 4"):
        model(**{**inputs, "hidden_states": torch.zeros(2, 4, 2, 4, 4)})
