"""AMT-S frame interpolation (Li et al., CVPR 2023, "AMT: All-Pairs Multi-Field Transforms for Efficient
Frame Interpolation"), the network VBench's motion smoothness uses (`amt-s.pth`).

Written here from the paper's design with the release's module and parameter names (MCG-NKU/AMT,
`networks/AMT-S.py`), so that the released checkpoint loads with `AmtInterpolator.from_file`. The
release's code is licensed CC BY-NC 4.0 (and so, presumably, its weights): kinevid ships neither,
it reimplements the architecture and loads weights the user provides. Only AMT-S is implemented.

The network, at `time` t between two frames:

1. a feature encoder (RAFT's small encoder, instance norm, 84 channels at 1/8) gives all-pairs
   correlation volumes both ways (frame 0 -> 1 and 1 -> 0), each pooled into 4 levels and looked up
   in a 7 x 7 window (radius 3);
2. a 4-level context pyramid per frame (channels 20, 32, 44, 56 at 1/2 ... 1/16) feeds
   coarse-to-fine decoders that predict the flows from time t to frames 0 and 1 and an
   intermediate feature; at 1/8, 1/4 and 1/2 an update block refines flows and feature from the
   correlation looked up where the flows point (converted to frame-to-frame flows by the linear
   motion assumption, as the release does: `F_t1 / t` into frame 0's volume, `F_t0 / (1 - t)`
   into frame 1's; at VBench's t = 0.5 both are `2 F`);
3. the last decoder gives 3 flow pairs at full size with occlusion masks and residuals; the 3
   warped-and-blended candidates are averaged and corrected by a small convolution.

Conventions kept from the release because the trained weights depend on them: images are float RGB
in [0, 1]; their joint mean (over both frames, channels and pixels) is subtracted first and added
back to the prediction; the output is clamped to [0, 1]; warping samples bilinearly with border
replication. H and W must be multiples of 16 (pad first: `pad_to_multiple`), and at least 128 px on
the shorter side: the coarsest correlation level of a smaller frame is one pixel wide, where the
release divides by zero and returns NaN.

VBench's motion smoothness (`vbench/motion_smoothness.py`, commit 45e79ec) runs AMT-S at t = 0.5
on consecutive even frames (0, 2), (2, 4), ..., each a `(1, 3, H, W)` tensor `uint8 / 255`,
replicate-padded (centred) to multiples of `int(16 / scale)`; the prediction is unpadded and
converted back by `(x * 255).clip(0, 255).astype(uint8)` (truncation, not rounding).
`scale` is 1 on CPU; on a CUDA device VBench shrinks large frames to fit its memory estimate
(`vbench_scale_factor`). `AmtInterpolator` does exactly this per pair and plugs into
`kinevid.eval.video.vbench.motion_smoothness`, which holds the score formula.

Checked against the release's code (commit 70f988f) with shared random weights in
`tests/eval_video/test_eval_video_amt.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InvalidInputError, MissingWeightsError
from .raft import CorrelationPyramid, _pixel_grid, pad_to_multiple
from .weights import read_state_dict

CORRELATION_LEVELS = 4
CORRELATION_RADIUS = 3
NUM_FLOWS = 3
PYRAMID_CHANNELS = (20, 32, 44, 56)  # context features at 1/2, 1/4, 1/8, 1/16
SKIP_CHANNELS = 20  # the channels a residual block's side branch convolves again
FEATURE_DIM = 84  # correlation features at 1/8
PAD_MULTIPLE = 16
MIN_SIZE = 8 * 2 ** (CORRELATION_LEVELS - 1) * 2  # the coarsest correlation level needs 2 pixels: 128
VBENCH_TIME = 0.5


def _resize(image: torch.Tensor, scale_factor: float) -> torch.Tensor:
    return F.interpolate(image, scale_factor=scale_factor, mode="bilinear", align_corners=False)


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """`image` `(B, C, H, W)` sampled at `x + flow(x)` (`flow` `(B, 2, H, W)`, pixels `(dx, dy)`), bilinear,
    border replicated."""
    batch, _, height, width = flow.shape
    target = _pixel_grid(batch, height, width, flow.device) + flow
    grid = torch.stack([2 * target[:, 0] / (width - 1) - 1, 2 * target[:, 1] / (height - 1) - 1], dim=-1)
    return F.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode="border", align_corners=True)


def _conv_prelu(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2),
        nn.PReLU(out_channels),
    )


class ResBlock(nn.Module):
    """A residual block whose last `side_channels` channels get an extra convolution after each of its two
    first convolutions (IFRNet's design, used by AMT's decoders)."""

    def __init__(self, channels: int, side_channels: int) -> None:
        super().__init__()
        self.side_channels = side_channels
        self.conv1 = _conv_prelu(channels, channels)
        self.conv2 = _conv_prelu(side_channels, side_channels)
        self.conv3 = _conv_prelu(channels, channels)
        self.conv4 = _conv_prelu(side_channels, side_channels)
        self.conv5 = nn.Conv2d(channels, channels, 3, padding=1)
        self.prelu = nn.PReLU(channels)

    def _side(self, hidden_states: torch.Tensor, conv: nn.Module) -> torch.Tensor:
        main, side = hidden_states.split([hidden_states.shape[1] - self.side_channels, self.side_channels], dim=1)
        return torch.cat([main, conv(side)], dim=1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        residual = self._side(self.conv1(hidden_states), self.conv2)
        residual = self.conv5(self._side(self.conv3(residual), self.conv4))
        return self.prelu(hidden_states + residual)


class BottleneckBlock(nn.Module):
    """RAFT's bottleneck residual block (1x1, 3x3 with `stride`, 1x1), instance norm without parameters."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels // 4, kernel_size=1)
        self.conv2 = nn.Conv2d(channels // 4, channels // 4, kernel_size=3, padding=1, stride=stride)
        self.conv3 = nn.Conv2d(channels // 4, channels, kernel_size=1)
        self.norm1, self.norm2 = nn.InstanceNorm2d(channels // 4), nn.InstanceNorm2d(channels // 4)
        self.norm3 = nn.InstanceNorm2d(channels)
        self.downsample = None
        if stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, kernel_size=1, stride=stride), nn.InstanceNorm2d(channels)
            )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        residual = F.relu(self.norm1(self.conv1(hidden_states)))
        residual = F.relu(self.norm2(self.conv2(residual)))
        residual = F.relu(self.norm3(self.conv3(residual)))
        shortcut = hidden_states if self.downsample is None else self.downsample(hidden_states)
        return F.relu(shortcut + residual)


class SmallEncoder(nn.Module):
    """Image `(B, 3, H, W)` -> correlation features `(B, output_dim, H / 8, W / 8)` (RAFT's small encoder)."""

    def __init__(self, output_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=7, stride=2, padding=3)
        self.norm1 = nn.InstanceNorm2d(32)
        self.layer1 = nn.Sequential(BottleneckBlock(32, 32), BottleneckBlock(32, 32))
        self.layer2 = nn.Sequential(BottleneckBlock(32, 64, stride=2), BottleneckBlock(64, 64))
        self.layer3 = nn.Sequential(BottleneckBlock(64, 96, stride=2), BottleneckBlock(96, 96))
        self.conv2 = nn.Conv2d(96, output_dim, kernel_size=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        hidden_states = F.relu(self.norm1(self.conv1(images)))
        return self.conv2(self.layer3(self.layer2(self.layer1(hidden_states))))


class PyramidEncoder(nn.Module):
    """Image `(B, 3, H, W)` -> context features at 1/2, 1/4, ... (`pyramid1`, `pyramid2`, ...: a stride-2 and
    a stride-1 convolution each)."""

    def __init__(self, channels: tuple[int, ...] = PYRAMID_CHANNELS) -> None:
        super().__init__()
        self.num_levels = len(channels)
        for level, (previous, current) in enumerate(zip((3, *channels[:-1]), channels, strict=True), start=1):
            self.register_module(
                f"pyramid{level}",
                nn.Sequential(_conv_prelu(previous, current, stride=2), _conv_prelu(current, current)),
            )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        levels = []
        for level in range(1, self.num_levels + 1):
            images = getattr(self, f"pyramid{level}")(images)
            levels.append(images)
        return levels


def _decoder_block(in_channels: int, hidden_channels: int, out_channels: int, skip_channels: int) -> nn.Sequential:
    """Convolution, residual block, then a 2x transposed convolution (`convblock` of every decoder)."""
    return nn.Sequential(
        _conv_prelu(in_channels, hidden_channels),
        ResBlock(hidden_channels, skip_channels),
        nn.ConvTranspose2d(hidden_channels, out_channels, kernel_size=4, stride=2, padding=1),
    )


class InitDecoder(nn.Module):
    """The coarsest level: both frames' features `(B, C, h, w)` and t -> flows `F_t0`, `F_t1` `(B, 2, 2h, 2w)`
    and the intermediate feature `(B, out_channels, 2h, 2w)`."""

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int) -> None:
        super().__init__()
        self.convblock = _decoder_block(2 * in_channels + 1, 2 * in_channels, out_channels + 4, skip_channels)

    def forward(self, features0: torch.Tensor, features1: torch.Tensor, time: torch.Tensor):
        batch, _, height, width = features0.shape
        hidden_states = self.convblock(torch.cat([features0, features1, time.expand(batch, 1, height, width)], dim=1))
        flow0, flow1 = hidden_states[:, :4].chunk(2, dim=1)
        return flow0, flow1, hidden_states[:, 4:]


class IntermediateDecoder(nn.Module):
    """One level up: the intermediate feature, both frames' features warped by the current flows, and the
    flows -> flows at twice the size (residual on the upsampled ones) and the next intermediate feature."""

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int) -> None:
        super().__init__()
        self.convblock = _decoder_block(3 * in_channels + 4, 3 * in_channels, out_channels + 4, skip_channels)

    def forward(self, intermediate, features0, features1, flow0, flow1):
        warped = [backward_warp(features0, flow0), backward_warp(features1, flow1)]
        hidden_states = self.convblock(torch.cat([intermediate, *warped, flow0, flow1], dim=1))
        delta0, delta1 = hidden_states[:, :4].chunk(2, dim=1)
        flow0 = delta0 + 2.0 * _resize(flow0, 2.0)
        flow1 = delta1 + 2.0 * _resize(flow1, 2.0)
        return flow0, flow1, hidden_states[:, 4:]


class MultiFlowDecoder(nn.Module):
    """The finest level: `num_flows` flow pairs `(B, 2 n, H, W)` each, blending masks `(B, n, H, W)` (sigmoid)
    and colour residuals `(B, 3 n, H, W)`."""

    def __init__(self, in_channels: int, skip_channels: int, num_flows: int = NUM_FLOWS) -> None:
        super().__init__()
        self.num_flows = num_flows
        self.convblock = _decoder_block(3 * in_channels + 4, 3 * in_channels, 8 * num_flows, skip_channels)

    def forward(self, intermediate, features0, features1, flow0, flow1):
        count = self.num_flows
        warped = [backward_warp(features0, flow0), backward_warp(features1, flow1)]
        hidden_states = self.convblock(torch.cat([intermediate, *warped, flow0, flow1], dim=1))
        delta0, delta1, mask, residual = hidden_states.split([2 * count, 2 * count, count, 3 * count], dim=1)
        flow0 = delta0 + 2.0 * _resize(flow0, 2.0).repeat(1, count, 1, 1)
        flow1 = delta1 + 2.0 * _resize(flow1, 2.0).repeat(1, count, 1, 1)
        return flow0, flow1, torch.sigmoid(mask), residual


class SmallUpdateBlock(nn.Module):
    """Refines the intermediate feature and both flows from correlation features; runs at 1/8 scale, so a
    feature at `scale_factor` times that size is shrunk first and the updates are grown back.

    Args:
        feature_dim (`int`): channels of the intermediate feature.
        scale_factor (`int`, *optional*): size of the feature relative to 1/8 (2 at 1/4, 4 at 1/2).
    """

    def __init__(
        self,
        feature_dim: int,
        scale_factor: int | None = None,
        hidden_dim: int = 76,
        flow_dim: int = 20,
        correlation_dim: int = 64,
        fusion_dim: int = 68,
    ) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        correlation_channels = 2 * CORRELATION_LEVELS * (2 * CORRELATION_RADIUS + 1) ** 2
        self.convc1 = nn.Conv2d(correlation_channels, correlation_dim, 1)
        self.convf1 = nn.Conv2d(4, 2 * flow_dim, 7, padding=3)
        self.convf2 = nn.Conv2d(2 * flow_dim, flow_dim, 3, padding=1)
        self.conv = nn.Conv2d(correlation_dim + flow_dim, fusion_dim, 3, padding=1)
        self.gru = self._two_convs(fusion_dim + 4 + feature_dim, hidden_dim, hidden_dim)  # a plain conv stack
        self.feat_head = self._two_convs(hidden_dim, hidden_dim, feature_dim)
        self.flow_head = self._two_convs(hidden_dim, hidden_dim, 4)

    @staticmethod
    def _two_convs(in_channels: int, hidden_channels: int, out_channels: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(in_channels, hidden_channels, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(hidden_channels, out_channels, 3, padding=1),
        )

    def forward(self, intermediate: torch.Tensor, flows: torch.Tensor, correlation: torch.Tensor):
        """`intermediate` `(B, C, s h, s w)`, `flows` `(B, 4, h, w)`, `correlation` `(B, 2 L (2r+1)^2, h, w)` ->
        the feature update `(B, C, s h, s w)` and the flow update `(B, 4, s h, s w)` (in pixels at that size)."""
        if self.scale_factor is not None:
            intermediate = _resize(intermediate, 1 / self.scale_factor)
        correlation = F.leaky_relu(self.convc1(correlation), 0.1)
        motion = F.leaky_relu(self.convf2(F.leaky_relu(self.convf1(flows), 0.1)), 0.1)
        motion = F.leaky_relu(self.conv(torch.cat([correlation, motion], dim=1)), 0.1)
        hidden_states = self.gru(torch.cat([motion, flows, intermediate], dim=1))
        delta_intermediate, delta_flows = self.feat_head(hidden_states), self.flow_head(hidden_states)
        if self.scale_factor is not None:
            delta_intermediate = _resize(delta_intermediate, self.scale_factor)
            delta_flows = self.scale_factor * _resize(delta_flows, self.scale_factor)
        return delta_intermediate, delta_flows


class AMT(nn.Module):
    """AMT-S. `forward(image0, image1, time, scale_factor)` with float RGB `(B, 3, H, W)` in [0, 1] returns the
    frame at `time` between them, `(B, 3, H, W)` in [0, 1].

    `scale_factor` < 1 runs the network on frames shrunk by that factor and grows the flows back (the
    release's memory saving); the shrunk H and W must be multiples of 16 and at least 128.
    """

    def __init__(self) -> None:
        super().__init__()
        c1, c2, c3, c4 = PYRAMID_CHANNELS
        self.feat_encoder = SmallEncoder(FEATURE_DIM)
        self.encoder = PyramidEncoder(PYRAMID_CHANNELS)
        self.decoder4 = InitDecoder(c4, c3, SKIP_CHANNELS)
        self.decoder3 = IntermediateDecoder(c3, c2, SKIP_CHANNELS)
        self.decoder2 = IntermediateDecoder(c2, c1, SKIP_CHANNELS)
        self.decoder1 = MultiFlowDecoder(c1, SKIP_CHANNELS, NUM_FLOWS)
        self.update4 = SmallUpdateBlock(c3)
        self.update3 = SmallUpdateBlock(c2, scale_factor=2)
        self.update2 = SmallUpdateBlock(c1, scale_factor=4)
        self.comb_block = nn.Sequential(
            nn.Conv2d(3 * NUM_FLOWS, 6 * NUM_FLOWS, 3, padding=1),
            nn.PReLU(6 * NUM_FLOWS),
            nn.Conv2d(6 * NUM_FLOWS, 3, 3, padding=1),
        )

    @staticmethod
    def check_size(height: int, width: int) -> None:
        if height % PAD_MULTIPLE or width % PAD_MULTIPLE:
            raise InvalidInputError(f"AMT needs H and W divisible by 16, got {height}x{width} (pad first).")
        if min(height, width) < MIN_SIZE:
            raise InvalidInputError(
                f"AMT needs frames of at least {MIN_SIZE} px (after padding to a multiple of 16 and any scaling), "
                f"got {height}x{width}: its coarsest correlation level would be one pixel wide (the release "
                "returns NaN there)."
            )

    def _refine(self, update, correlations, grid, intermediate, flow0, flow1, time, downsample: int):
        """Look the correlation up where the flows point (at 1/8 scale) and apply `update`'s residuals."""
        lookup0, lookup1 = flow0, flow1
        if downsample != 1:
            lookup0 = _resize(flow0, 1 / downsample) / downsample
            lookup1 = _resize(flow1, 1 / downsample) / downsample
        forward, backward = correlations
        correlation = torch.cat([forward(grid + lookup1 / time), backward(grid + lookup0 / (1 - time))], dim=1)
        delta_intermediate, delta_flows = update(intermediate, torch.cat([lookup0, lookup1], dim=1), correlation)
        delta0, delta1 = delta_flows.chunk(2, dim=1)
        return intermediate + delta_intermediate, flow0 + delta0, flow1 + delta1

    def _combine(self, image0, image1, flow0, flow1, mask, residual, mean) -> torch.Tensor:
        """Blend the `n` warped candidates `(B n, 3, H, W)`, average them and add `comb_block`'s correction."""
        batch, _, height, width = flow0.shape
        count = NUM_FLOWS
        warped0 = backward_warp(image0.repeat_interleave(count, dim=0), flow0.reshape(batch * count, 2, height, width))
        warped1 = backward_warp(image1.repeat_interleave(count, dim=0), flow1.reshape(batch * count, 2, height, width))
        mask = mask.reshape(batch * count, 1, height, width)
        candidates = mask * warped0 + (1 - mask) * warped1 + mean.repeat_interleave(count, dim=0)
        candidates = (candidates + residual.reshape(batch * count, 3, height, width)).reshape(
            batch, count, 3, height, width
        )
        return candidates.mean(dim=1) + self.comb_block(candidates.reshape(batch, 3 * count, height, width))

    def forward(
        self, image0: torch.Tensor, image1: torch.Tensor, time: float = VBENCH_TIME, scale_factor: float = 1.0
    ) -> torch.Tensor:
        batch = image0.shape[0]
        time = torch.full((batch, 1, 1, 1), float(time), dtype=image0.dtype, device=image0.device)
        mean = torch.cat([image0, image1], dim=2).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        image0, image1 = image0 - mean, image1 - mean
        scaled0, scaled1 = (_resize(x, scale_factor) if scale_factor != 1.0 else x for x in (image0, image1))
        height, width = scaled0.shape[-2:]
        self.check_size(height, width)
        grid = _pixel_grid(batch, height // 8, width // 8, image0.device)
        features0, features1 = self.feat_encoder(torch.cat([scaled0, scaled1])).float().chunk(2)
        correlations = (
            CorrelationPyramid(features0, features1, CORRELATION_LEVELS, CORRELATION_RADIUS),
            CorrelationPyramid(features1, features0, CORRELATION_LEVELS, CORRELATION_RADIUS),
        )
        context0, context1 = self.encoder(scaled0), self.encoder(scaled1)  # 1/2, 1/4, 1/8, 1/16

        # coarse to fine: 1/16 -> 1/8, refined; 1/8 -> 1/4, refined; 1/4 -> 1/2, refined; 1/2 -> 1
        flow0, flow1, intermediate = self.decoder4(context0[3], context1[3], time)
        intermediate, flow0, flow1 = self._refine(self.update4, correlations, grid, intermediate, flow0, flow1, time, 1)
        flow0, flow1, intermediate = self.decoder3(intermediate, context0[2], context1[2], flow0, flow1)
        intermediate, flow0, flow1 = self._refine(self.update3, correlations, grid, intermediate, flow0, flow1, time, 2)
        flow0, flow1, intermediate = self.decoder2(intermediate, context0[1], context1[1], flow0, flow1)
        intermediate, flow0, flow1 = self._refine(self.update2, correlations, grid, intermediate, flow0, flow1, time, 4)
        flow0, flow1, mask, residual = self.decoder1(intermediate, context0[0], context1[0], flow0, flow1)

        if scale_factor != 1.0:
            flow0, flow1 = (_resize(flow, 1.0 / scale_factor) * (1.0 / scale_factor) for flow in (flow0, flow1))
            mask, residual = _resize(mask, 1.0 / scale_factor), _resize(residual, 1.0 / scale_factor)
        return self._combine(image0, image1, flow0, flow1, mask, residual, mean).clamp(0, 1)


def vbench_scale_factor(height: int, width: int, total_memory: int | None = None) -> float:
    """VBench's frame scale for AMT: 1 on CPU (`total_memory` None); on a GPU of `total_memory` bytes, frames
    whose padded area exceeds its estimate (1024 x 512 px per 1.5 GB beyond 2.5 GB) are shrunk to
    `16 / n` for the smallest integer n that fits."""
    if total_memory is None:  # VBench's CPU branch: "do not resize in cpu mode"
        anchor_resolution, anchor_memory, memory_bias, available = 8192 * 8192, 1, 0, 1
    else:
        anchor_resolution, anchor_memory, memory_bias = 1024 * 512, 1500 * 1024**2, 2500 * 1024**2
        available = total_memory
        if available <= memory_bias:
            raise InvalidInputError(f"`total_memory` must exceed VBench's 2.5 GB bias, got {available} bytes.")
    scale = anchor_resolution / (height * width) * np.sqrt((available - memory_bias) / anchor_memory)
    scale = min(scale, 1.0)
    return float(1 / np.floor(1 / np.sqrt(scale) * 16) * 16)


class AmtInterpolator:
    """An `Interpolator` (see `kinevid.eval.video.vbench`) backed by AMT-S weights, with VBench's frame handling.

    Args:
        model (`AMT`): the network.
        total_memory (`int`, *optional*): GPU memory in bytes for VBench's scale rule; None (CPU) never scales.
    """

    def __init__(self, model: AMT, total_memory: int | None = None) -> None:
        self.model = model.eval()
        self.total_memory = total_memory

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> AmtInterpolator:
        """Load an AMT-S state dict (`amt-s.pth` as released: `{"state_dict": ...}`; `.pt`/`.pth`/`.safetensors`)."""
        path = Path(path)
        if not path.is_file():
            raise MissingWeightsError(f"{path}: no AMT-S weight file (e.g. amt-s.pth from the AMT release).")
        state = read_state_dict(path, "AMT-S")
        model = AMT()
        expected = model.state_dict()
        missing = [key for key in expected if key not in state]
        unexpected = [key for key in state if key not in expected]
        wrong = [
            f"{key} {tuple(state[key].shape)} (expected {tuple(value.shape)})"
            for key, value in expected.items()
            if key in state and state[key].shape != value.shape
        ]
        if missing or unexpected or wrong:
            raise InvalidInputError(
                f"{path}: does not match AMT-S: missing {missing[:4]}, unexpected {unexpected[:4]}, "
                f"wrong shapes {wrong[:2]}."
            )
        model.load_state_dict(state)
        device = torch.device(device)
        total_memory = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None
        return cls(model.to(device), total_memory=total_memory)

    @torch.no_grad()
    def __call__(self, previous: np.ndarray, next_frame: np.ndarray) -> np.ndarray:
        """The middle frame (uint8 RGB `(H, W, 3)`) between uint8 RGB frames `(H, W, 3)`, as VBench computes it."""
        for frame in (previous, next_frame):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3 or frame.shape != previous.shape:
                raise InvalidInputError(
                    f"AMT needs two uint8 RGB frames (H, W, 3) of one size, got {previous.dtype} {previous.shape} "
                    f"and {next_frame.dtype} {next_frame.shape}."
                )
        height, width = previous.shape[:2]
        scale = vbench_scale_factor(height, width, self.total_memory)
        device = next(self.model.parameters()).device
        images = [
            pad_to_multiple(
                torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1)[None].to(device) / 255.0,
                int(PAD_MULTIPLE / scale),
            )
            for f in (previous, next_frame)
        ]
        middle = self.model(*images, time=VBENCH_TIME, scale_factor=scale)
        top, left = (middle.shape[2] - height) // 2, (middle.shape[3] - width) // 2
        middle = middle[0, :, top : top + height, left : left + width]
        return (middle * 255.0).permute(1, 2, 0).cpu().numpy().clip(0, 255).astype(np.uint8)
