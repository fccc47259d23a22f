"""Warm starts across a VAE change (`ignore_mismatched_sizes=True`): a MoSA DiT saved at patch (1, 2, 2) for an
8x VAE loads at patch (1, 4, 4) / skeleton factor 4; weights of unchanged shape come from the checkpoint, the
changed ones keep the fresh model's initialisation."""

from __future__ import annotations

import pytest
import torch
from mosa_tiny import TINY_MOSA, TINY_WAN_CONFIG, tiny_mosa_wan
from safetensors.torch import load_file, save_file

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.models.appearance import MoSAWanTransformer3DModel
from kinevid.recipes.mosa import MoSAModelConfig, build_transformer

F4 = {"patch_size": (1, 4, 4), "skeleton_spatial_factor": 4}
CHANGED = {"patch_embedding.weight", "proj_out.weight", "proj_out.bias",
           "skeleton_encoder.conv_in.weight", "skeleton_encoder.conv_patch.weight"}  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny 8x MoSA DiT with random HADC weights, saved in float16 (as kinevid ships its models)."""
    model = tiny_mosa_wan(seed=3)
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for parameter in model.mosa_parameters():
            parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    directory = tmp_path_factory.mktemp("mosa_f8")
    model.half().save_pretrained(directory)
    return directory, {name: tensor.clone() for name, tensor in model.state_dict().items()}


def test_matching_weights_load_and_changed_ones_start_fresh(checkpoint):
    directory, saved = checkpoint
    torch.manual_seed(11)
    model, info = MoSAWanTransformer3DModel.from_pretrained(
        directory, ignore_mismatched_sizes=True, output_loading_info=True, **F4
    )
    torch.manual_seed(11)
    fresh = MoSAWanTransformer3DModel(**{**TINY_WAN_CONFIG, **TINY_MOSA, **F4})
    assert tuple(model.config.patch_size) == (1, 4, 4) and model.config.skeleton_spatial_factor == 4
    mismatched = {name for name, _, _ in info["mismatched_keys"]}
    mask_heads = {name for name in saved if ".mask_head." in name}
    assert mask_heads and mismatched == CHANGED | mask_heads
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    fresh_state = fresh.state_dict()
    for name, tensor in model.state_dict().items():
        assert tensor.dtype == torch.float32, name
        expected = fresh_state[name] if name in mismatched else saved[name].float()
        torch.testing.assert_close(tensor, expected, rtol=0, atol=0, msg=name)


def test_without_the_flag_a_shape_change_is_refused(checkpoint):
    with pytest.raises((RuntimeError, ValueError), match=r"size|shape"):
        MoSAWanTransformer3DModel.from_pretrained(checkpoint[0], **F4)


def test_a_checkpoint_lacking_backbone_weights_is_named(checkpoint, tmp_path):
    directory, _ = checkpoint
    for item in directory.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    weights = tmp_path / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    del state["blocks.0.attn1.to_q.weight"]
    save_file(state, weights)
    with pytest.raises(MissingWeightsError, match=r"lacks 1 backbone weights.*blocks\.0\.attn1\.to_q\.weight"):
        MoSAWanTransformer3DModel.from_pretrained(tmp_path, ignore_mismatched_sizes=True, **F4)


def test_recipe_warm_start(checkpoint):
    directory, saved = checkpoint
    model = build_transformer(MoSAModelConfig(config=dict(F4), pretrained=str(directory), ignore_mismatched_sizes=True))
    torch.testing.assert_close(model.blocks[0].ffn.net[0].proj.weight, saved["blocks.0.ffn.net.0.proj.weight"].float())
    assert model.patch_embedding.weight.shape[-2:] == (4, 4)
    with pytest.raises(InvalidInputError, match="`ignore_mismatched_sizes` needs `pretrained`"):
        MoSAModelConfig(config=dict(F4), ignore_mismatched_sizes=True)
