"""`use_onednn_conv3d`: the VAE's 3D convolutions on oneDNN give PyTorch's results, gradients included, and
actually run on oneDNN (checked with the profiler, not with a clock)."""

from __future__ import annotations

import copy

import pytest
import torch
from diffusers import AutoencoderKLCogVideoX, AutoencoderKLWan
from torch import nn

from kinevid.models.vae import (
    SHIPPED_VAE_DIR,
    load_video_vae,
    tiny_vae_config,
    use_onednn_conv3d,
    use_pytorch_conv3d,
    uses_onednn_conv3d,
)


def profiled_ops(function) -> set[str]:
    with torch.autograd.profiler.profile() as profile:
        function()
    return {event.key for event in profile.key_averages()}


def tiny_wan_vae() -> AutoencoderKLWan:
    torch.manual_seed(0)
    return AutoencoderKLWan(**tiny_vae_config()).eval()


def test_wan_vae_encodes_and_decodes_as_before_on_onednn():
    reference, switched = tiny_wan_vae(), tiny_wan_vae()
    assert use_onednn_conv3d(switched) == sum(isinstance(m, nn.Conv3d) for m in switched.modules()) > 0
    video = torch.rand(1, 3, 9, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        latents = reference.encode(video).latent_dist.mode()
        torch.testing.assert_close(switched.encode(video).latent_dist.mode(), latents, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            switched.decode(latents).sample, reference.decode(latents).sample, atol=1e-5, rtol=1e-5
        )
        ops = profiled_ops(lambda: switched.decode(latents))
    assert "aten::mkldnn_convolution" in ops
    assert "aten::slow_conv3d_forward" not in ops  # batch 1: PyTorch's own choice would be the im2col path
    assert "aten::slow_conv3d_forward" in profiled_ops(lambda: reference.decode(latents))
    assert use_pytorch_conv3d(switched) == use_pytorch_conv3d(reference) + len(
        [m for m in switched.modules() if isinstance(m, nn.Conv3d)]
    )  # undone: PyTorch chooses again, bit for bit
    with torch.no_grad():
        torch.testing.assert_close(switched.decode(latents).sample, reference.decode(latents).sample, atol=0, rtol=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 3},
        {"kernel_size": (3, 1, 1), "stride": (1, 2, 2)},
        {"kernel_size": 3, "padding": 1, "dilation": 2},
        {"kernel_size": 3, "groups": 2, "bias": False},
    ],
)
def test_outputs_and_gradients_match_pytorch(kwargs):
    torch.manual_seed(0)
    reference = nn.Conv3d(4, 6, **kwargs)
    switched = copy.deepcopy(reference)
    use_onednn_conv3d(switched)
    x = torch.randn(1, 4, 5, 12, 12, requires_grad=True)
    outputs = [layer(x) for layer in (reference, switched)]
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
    weight = torch.randn_like(outputs[0])
    grads = [
        torch.autograd.grad((out * weight).sum(), [x, *layer.parameters()])
        for out, layer in zip(outputs, (reference, switched), strict=True)
    ]
    for switched_grad, reference_grad in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(switched_grad, reference_grad, atol=1e-4, rtol=1e-5)


def test_falls_back_where_onednn_does_not_apply():
    torch.manual_seed(0)
    reference = nn.Conv3d(2, 3, 3)
    switched = copy.deepcopy(reference)
    use_onednn_conv3d(switched)
    x = torch.randn(1, 2, 4, 6, 6)
    # float64 and oneDNN switched off through torch.backends: PyTorch's own path, bit for bit
    torch.testing.assert_close(switched.double()(x.double()), reference.double()(x.double()), atol=0, rtol=0)
    switched.float(), reference.float()
    with torch.backends.mkldnn.flags(enabled=False):
        torch.testing.assert_close(switched(x), reference(x), atol=0, rtol=0)
        assert "aten::mkldnn_convolution" not in profiled_ops(lambda: switched(x))


def test_only_zero_padded_conv3d_layers_are_switched_and_only_once():
    model = nn.Sequential(nn.Conv3d(2, 2, 3, padding=1), nn.Conv3d(2, 2, 3, padding=1, padding_mode="replicate"),
                          nn.Conv2d(2, 2, 3))  # fmt: skip
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    assert not uses_onednn_conv3d(model)
    assert use_onednn_conv3d(model) == 1
    assert use_onednn_conv3d(model) == 0
    assert uses_onednn_conv3d(model)
    assert "_conv_forward" in vars(model[0])
    assert "_conv_forward" not in vars(model[1]) and "_conv_forward" not in vars(model[2])
    switched_state = model.state_dict()  # weights untouched, no new entries
    assert switched_state.keys() == state.keys() and all(torch.equal(switched_state[k], state[k]) for k in state)
    copied = copy.deepcopy(model)  # e.g. an EMA copy: still switched, bound to its own layer
    assert uses_onednn_conv3d(copied) and copied[0]._conv_forward.__self__ is copied[0]
    assert use_pytorch_conv3d(model) == 1 and "_conv_forward" not in vars(model[0]) and not uses_onednn_conv3d(model)


def test_cogvideox_vae_is_switched_too():
    torch.manual_seed(0)
    config = dict(block_out_channels=(8, 8), down_block_types=("CogVideoXDownBlock3D",) * 2,
                  up_block_types=("CogVideoXUpBlock3D",) * 2, latent_channels=4, layers_per_block=1,
                  norm_num_groups=4, temporal_compression_ratio=2)  # fmt: skip
    reference = AutoencoderKLCogVideoX(**config).eval()
    switched = copy.deepcopy(reference)
    assert use_onednn_conv3d(switched) > 0
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        latents = reference.encode(video).latent_dist.mode()
        torch.testing.assert_close(
            switched.decode(latents).sample, reference.decode(latents).sample, atol=1e-5, rtol=1e-5
        )


@pytest.mark.skipif(not (SHIPPED_VAE_DIR / "config.json").is_file(), reason="the shipped VAE is not installed")
def test_loaded_vaes_use_onednn():
    assert uses_onednn_conv3d(load_video_vae())
