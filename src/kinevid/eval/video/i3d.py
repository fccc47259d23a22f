"""Inflated 3D ConvNet (I3D, Inception-v1 inflated; Carreira and Zisserman, 2017), the FVD feature network.

The module and parameter names follow the widely used PyTorch port of DeepMind's Kinetics-400
RGB model (`InceptionI3d`, "pytorch-i3d"), so its `rgb_imagenet.pt`-style state dicts load
unchanged: `Conv3d_1a_7x7.conv3d.weight`, `Conv3d_1a_7x7.bn.running_mean`, `Mixed_3b.b1b.conv3d.weight`,
..., `logits.conv3d.{weight,bias}`.

Padding is TensorFlow's "SAME" (computed from the input size, asymmetric when odd), as in the
TensorFlow original; convolutions have no bias and are followed by batch norm (eps 1e-3) and ReLU.
For a (B, 3, 16, 224, 224) input in [-1, 1] the network reduces time by 8 and space by 32, then
averages a (2, 7, 7) window: the logits are (B, num_classes, 1, 1, 1).

Checked against the port's code (`pytorch_i3d.py`, piergiaj/pytorch-i3d commit 05783d1): its state
dict loads strictly, and with the same random weights (batch-norm statistics randomised too) both
give identical logits (max difference 0.0) on a (2, 3, 16, 224, 224) input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NUM_KINETICS_CLASSES = 400
FEATURE_CHANNELS = 1024  # channels after Mixed_5c (384 + 384 + 128 + 128)

# Inception block widths: (1x1, 3x3 reduce, 3x3, 3x3 reduce, 3x3, pool projection), as in Inception-v1.
_INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


# Blocks in forward order (the logits head follows).
_TRUNK = (
    "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
    "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
    "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c",
)  # fmt: skip


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one dimension."""
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad_same(hidden_states: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]) -> torch.Tensor:
    _, _, num_frames, height, width = hidden_states.shape
    pad_t = _same_padding(num_frames, kernel[0], stride[0])
    pad_h = _same_padding(height, kernel[1], stride[1])
    pad_w = _same_padding(width, kernel[2], stride[2])
    return F.pad(hidden_states, (*pad_w, *pad_h, *pad_t))


class Unit3D(nn.Module):
    """SAME-padded Conv3d, then batch norm and ReLU (or a biased conv alone, for the logits)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        use_batch_norm: bool = True,
        activation: bool = True,
        use_bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.activation = tuple(kernel_size), tuple(stride), activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel_size, self.stride, padding=0, bias=use_bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if use_batch_norm else None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.conv3d(_pad_same(hidden_states, self.kernel_size, self.stride))
        if self.bn is not None:
            hidden_states = self.bn(hidden_states)
        return F.relu(hidden_states) if self.activation else hidden_states


class MaxPool3dSamePadding(nn.Module):
    """Max pooling with TensorFlow "SAME" zero padding (inputs are post-ReLU, so zeros never win wrongly)."""

    def __init__(self, kernel_size: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel_size, self.stride = tuple(kernel_size), tuple(stride)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(hidden_states, self.kernel_size, self.stride), self.kernel_size, self.stride)


class InceptionModule(nn.Module):
    """Four parallel branches (1x1; 1x1 -> 3x3; 1x1 -> 3x3; 3x3 max pool -> 1x1), concatenated on channels."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        self.b0 = Unit3D(in_channels, widths[0])
        self.b1a = Unit3D(in_channels, widths[1])
        self.b1b = Unit3D(widths[1], widths[2], kernel_size=(3, 3, 3))
        self.b2a = Unit3D(in_channels, widths[3])
        self.b2b = Unit3D(widths[3], widths[4], kernel_size=(3, 3, 3))
        self.b3a = MaxPool3dSamePadding(kernel_size=(3, 3, 3), stride=(1, 1, 1))
        self.b3b = Unit3D(in_channels, widths[5])
        self.out_channels = widths[0] + widths[2] + widths[4] + widths[5]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        branches = (
            self.b0(hidden_states),
            self.b1b(self.b1a(hidden_states)),
            self.b2b(self.b2a(hidden_states)),
            self.b3b(self.b3a(hidden_states)),
        )
        return torch.cat(branches, dim=1)


class InceptionI3d(nn.Module):
    """I3D (Inception-v1 inflated to 3D) with Kinetics-style logits.

    Args:
        num_classes (`int`, defaults to 400): logits (Kinetics-400).
        in_channels (`int`, defaults to 3): RGB.
        dropout_prob (`float`, defaults to 0.5): dropout before the logits (inactive in `eval()`).

    Input `(B, 3, T, 224, 224)` in [-1, 1]; `forward` returns logits `(B, num_classes, T')` with
    `T' = T / 8 - 1` (1 for 16 frames).
    """

    def __init__(self, num_classes: int = NUM_KINETICS_CLASSES, in_channels: int = 3, dropout_prob: float = 0.5):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, kernel_size=(7, 7, 7), stride=(2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSamePadding(kernel_size=(1, 3, 3), stride=(1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, kernel_size=(3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSamePadding(kernel_size=(1, 3, 3), stride=(1, 2, 2))
        self.Mixed_3b = InceptionModule(192, _INCEPTION_WIDTHS["Mixed_3b"])
        self.Mixed_3c = InceptionModule(self.Mixed_3b.out_channels, _INCEPTION_WIDTHS["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = MaxPool3dSamePadding(kernel_size=(3, 3, 3), stride=(2, 2, 2))
        self.Mixed_4b = InceptionModule(self.Mixed_3c.out_channels, _INCEPTION_WIDTHS["Mixed_4b"])
        self.Mixed_4c = InceptionModule(self.Mixed_4b.out_channels, _INCEPTION_WIDTHS["Mixed_4c"])
        self.Mixed_4d = InceptionModule(self.Mixed_4c.out_channels, _INCEPTION_WIDTHS["Mixed_4d"])
        self.Mixed_4e = InceptionModule(self.Mixed_4d.out_channels, _INCEPTION_WIDTHS["Mixed_4e"])
        self.Mixed_4f = InceptionModule(self.Mixed_4e.out_channels, _INCEPTION_WIDTHS["Mixed_4f"])
        self.MaxPool3d_5a_2x2 = MaxPool3dSamePadding(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.Mixed_5b = InceptionModule(self.Mixed_4f.out_channels, _INCEPTION_WIDTHS["Mixed_5b"])
        self.Mixed_5c = InceptionModule(self.Mixed_5b.out_channels, _INCEPTION_WIDTHS["Mixed_5c"])
        self.avg_pool = nn.AvgPool3d(kernel_size=(2, 7, 7), stride=(1, 1, 1))
        self.dropout = nn.Dropout(dropout_prob)
        self.logits = Unit3D(
            self.Mixed_5c.out_channels, num_classes, use_batch_norm=False, activation=False, use_bias=True
        )

    def extract_features(self, video: torch.Tensor) -> torch.Tensor:
        """Pooled Mixed_5c features `(B, 1024, T', 1, 1)` of `video` `(B, 3, T, 224, 224)`."""
        hidden_states = video
        for name in _TRUNK:
            hidden_states = getattr(self, name)(hidden_states)
        return self.avg_pool(hidden_states)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        logits = self.logits(self.dropout(self.extract_features(video)))  # (B, classes, T', 1, 1)
        return logits.squeeze(-1).squeeze(-1)
