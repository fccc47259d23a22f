"""oneDNN for the 3D convolutions of a video VAE on the CPU.

PyTorch picks a convolution backend per call. For a float32 CPU `conv3d` with batch 1, kernels no wider than 3 and
a small `N x C x D x H`, its heuristic chooses the im2col path (`aten::slow_conv3d_forward`) over oneDNN
(`aten::mkldnn_convolution`). That is every convolution of a causal video VAE decoding one clip (Wan's and
CogVideoX's pad time and space themselves, then convolve frame window by frame window), and there the im2col
path is 3-4x slower: on the 2-core CPU it is 86% of a 17 x 128 x 128 decode of the shipped VAE.
`use_onednn_conv3d` routes those calls to oneDNN. The two paths agree to float32 rounding (about 1e-6), oneDNN has
a backward, so training benefits too, and anything oneDNN does not take (another device or dtype, oneDNN
disabled through `torch.backends.mkldnn`) falls back to PyTorch's own choice at call time.
"""

from __future__ import annotations

import types

import torch
from torch import nn

_PATCHED = "_kinevid_onednn_conv3d"


def _onednn_conv_forward(self: nn.Conv3d, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    if (
        input.device.type == "cpu"
        and input.dtype == torch.float32
        and weight.dtype == torch.float32
        and not input.is_mkldnn
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
    ):
        return torch.ops.aten.mkldnn_convolution(
            input.contiguous(), weight.contiguous(), bias, self.padding, self.stride, self.dilation, self.groups
        )
    return nn.Conv3d._conv_forward(self, input, weight, bias)


def use_onednn_conv3d(module: nn.Module) -> int:
    """Make every zero-padded `nn.Conv3d` in `module` (a VAE, or any model) run through oneDNN on the CPU.

    The weights, state dict and any other device are untouched; calling it again changes nothing.

    Args:
        module (`nn.Module`): e.g. an `AutoencoderKLWan` or `AutoencoderKLCogVideoX`.

    Returns:
        `int`: the number of convolutions switched (already switched ones not counted).
    """
    switched = 0
    for layer in module.modules():
        if isinstance(layer, nn.Conv3d) and layer.padding_mode == "zeros" and not getattr(layer, _PATCHED, False):
            layer._conv_forward = types.MethodType(_onednn_conv_forward, layer)
            setattr(layer, _PATCHED, True)
            switched += 1
    return switched


def use_pytorch_conv3d(module: nn.Module) -> int:
    """Undo `use_onednn_conv3d`: PyTorch chooses the backend of every 3D convolution again.

    Returns:
        `int`: the number of convolutions switched back.
    """
    switched = 0
    for layer in module.modules():
        if getattr(layer, _PATCHED, False):
            del layer._conv_forward
            delattr(layer, _PATCHED)
            switched += 1
    return switched


def uses_onednn_conv3d(module: nn.Module) -> bool:
    """Whether every zero-padded `nn.Conv3d` of `module` has been switched by `use_onednn_conv3d`."""
    layers = [m for m in module.modules() if isinstance(m, nn.Conv3d) and m.padding_mode == "zeros"]
    return all(getattr(layer, _PATCHED, False) for layer in layers)
