"""RAFT optical flow (Teed and Deng, 2020), the network VBench's dynamic degree uses (`raft-things.pth`).

Written here from the paper's design with the original release's module and parameter names, so
that release's checkpoints (`raft-things.pth`, saved from `DataParallel`: keys `module.fnet...`)
load with `RaftFlow.from_file`. Only the full model ("basic" encoders, 4 correlation levels of
radius 4, separable ConvGRU, convex 8x upsampling) is implemented, not RAFT-small.

Conventions kept from the release because the trained weights depend on them:

- images enter as float RGB in [0, 255] and are scaled to [-1, 1] inside;
- correlation lookups use a (2r + 1)^2 window whose offsets are added to `(x, y)` as
  `(d_i, d_j)` with i the slower index, i.e. the window is laid out x-major;
- the feature encoder uses instance norm, the context encoder batch norm; a residual block's
  downsampling norm is registered twice (`norm3` and `downsample.1`), as in the release.

VBench's dynamic degree pads both frames to a multiple of 8 (replicate, centred: "sintel" mode),
runs 20 iterations and reads the flow at the padded size; `RaftFlow` does the same. Frames must be
at least 128 px on the shorter side (the coarsest correlation level needs two pixels).

Checked against the release's code (`core/raft.py`, commit 2888e15) with random weights loaded into
both: identical flows (max difference 0.0 after 20 iterations on a 128 x 136 pair).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InvalidInputError, MissingWeightsError
from .weights import read_state_dict

CORRELATION_LEVELS = 4
CORRELATION_RADIUS = 4
HIDDEN_DIM = 128
CONTEXT_DIM = 128
VBENCH_ITERATIONS = 20
MIN_SIZE = 8 * 2 ** (CORRELATION_LEVELS - 1) * 2  # the coarsest level needs 2 pixels: 128


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    if kind == "none":
        return nn.Sequential()
    raise InvalidInputError(f"unknown RAFT norm {kind!r}; expected 'batch', 'instance' or 'none'.")


class ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, norm: str, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.norm1, self.norm2 = _norm(norm, channels), _norm(norm, channels)
        self.downsample = None
        if stride != 1:
            self.norm3 = _norm(norm, channels)
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, kernel_size=1, stride=stride), self.norm3)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        residual = F.relu(self.norm1(self.conv1(hidden_states)))
        residual = F.relu(self.norm2(self.conv2(residual)))
        shortcut = hidden_states if self.downsample is None else self.downsample(hidden_states)
        return F.relu(shortcut + residual)


class BasicEncoder(nn.Module):
    """Image `(B, 3, H, W)` -> features `(B, output_dim, H / 8, W / 8)`."""

    def __init__(self, output_dim: int, norm: str) -> None:
        super().__init__()
        self.norm1 = _norm(norm, 64)
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.layer1 = nn.Sequential(ResidualBlock(64, 64, norm), ResidualBlock(64, 64, norm))
        self.layer2 = nn.Sequential(ResidualBlock(64, 96, norm, stride=2), ResidualBlock(96, 96, norm))
        self.layer3 = nn.Sequential(ResidualBlock(96, 128, norm, stride=2), ResidualBlock(128, 128, norm))
        self.conv2 = nn.Conv2d(128, output_dim, kernel_size=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        hidden_states = F.relu(self.norm1(self.conv1(images)))
        return self.conv2(self.layer3(self.layer2(self.layer1(hidden_states))))


def _sample(volume: torch.Tensor, coordinates: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of `volume` `(N, C, H, W)` at pixel `coordinates` `(N, h, w, 2)` as `(x, y)`, zeros outside."""
    height, width = volume.shape[-2:]
    grid = torch.stack([2 * coordinates[..., 0] / (width - 1) - 1, 2 * coordinates[..., 1] / (height - 1) - 1], dim=-1)
    return F.grid_sample(volume, grid, align_corners=True)


class CorrelationPyramid:
    """All-pairs feature correlation, average-pooled into `levels` scales, looked up in a window around coordinates.

    Args:
        features1, features2 (`torch.Tensor` of shape `(B, D, h, w)`): the two frames' features.
    """

    def __init__(
        self,
        features1: torch.Tensor,
        features2: torch.Tensor,
        levels: int = CORRELATION_LEVELS,
        radius: int = CORRELATION_RADIUS,
    ) -> None:
        batch, dim, height, width = features1.shape
        self.levels, self.radius = levels, radius
        correlation = features1.flatten(2).transpose(1, 2) @ features2.flatten(2)  # (B, h w, h w)
        correlation = correlation.reshape(batch * height * width, 1, height, width) / dim**0.5
        self.pyramid = [correlation]
        for _ in range(levels - 1):
            self.pyramid.append(F.avg_pool2d(self.pyramid[-1], 2, stride=2))

    def __call__(self, coordinates: torch.Tensor) -> torch.Tensor:
        """Features `(B, levels (2r+1)^2, h, w)` around `coordinates` `(B, 2, h, w)` (pixels at 1/8 scale)."""
        batch, _, height, width = coordinates.shape
        steps = torch.linspace(-self.radius, self.radius, 2 * self.radius + 1, device=coordinates.device)
        offsets = torch.stack(torch.meshgrid(steps, steps, indexing="ij"), dim=-1)  # (2r+1, 2r+1, 2): x-major
        centres = coordinates.permute(0, 2, 3, 1).reshape(batch * height * width, 1, 1, 2)
        samples = [
            _sample(volume, centres / 2**level + offsets[None]).reshape(batch, height, width, -1)
            for level, volume in enumerate(self.pyramid)
        ]
        return torch.cat(samples, dim=-1).permute(0, 3, 1, 2).contiguous()


class BasicMotionEncoder(nn.Module):
    def __init__(self, correlation_channels: int) -> None:
        super().__init__()
        self.convc1 = nn.Conv2d(correlation_channels, 256, 1)
        self.convc2 = nn.Conv2d(256, 192, 3, padding=1)
        self.convf1 = nn.Conv2d(2, 128, 7, padding=3)
        self.convf2 = nn.Conv2d(128, 64, 3, padding=1)
        self.conv = nn.Conv2d(64 + 192, 128 - 2, 3, padding=1)

    def forward(self, flow: torch.Tensor, correlation: torch.Tensor) -> torch.Tensor:
        correlation = F.relu(self.convc2(F.relu(self.convc1(correlation))))
        motion = F.relu(self.convf2(F.relu(self.convf1(flow))))
        return torch.cat([F.relu(self.conv(torch.cat([correlation, motion], dim=1))), flow], dim=1)


class SepConvGRU(nn.Module):
    """A ConvGRU run twice: with 1x5 kernels (horizontal), then 5x1 (vertical)."""

    def __init__(self, hidden_dim: int, input_dim: int) -> None:
        super().__init__()
        channels = hidden_dim + input_dim
        for suffix, kernel, padding in (("1", (1, 5), (0, 2)), ("2", (5, 1), (2, 0))):
            for gate in ("z", "r", "q"):
                setattr(self, f"conv{gate}{suffix}", nn.Conv2d(channels, hidden_dim, kernel, padding=padding))

    def _step(self, hidden: torch.Tensor, inputs: torch.Tensor, suffix: str) -> torch.Tensor:
        joined = torch.cat([hidden, inputs], dim=1)
        update = torch.sigmoid(getattr(self, f"convz{suffix}")(joined))
        reset = torch.sigmoid(getattr(self, f"convr{suffix}")(joined))
        candidate = torch.tanh(getattr(self, f"convq{suffix}")(torch.cat([reset * hidden, inputs], dim=1)))
        return (1 - update) * hidden + update * candidate

    def forward(self, hidden: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return self._step(self._step(hidden, inputs, "1"), inputs, "2")


class FlowHead(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_dim, hidden_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_dim, 2, 3, padding=1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(hidden)))


class BasicUpdateBlock(nn.Module):
    def __init__(self, correlation_channels: int, hidden_dim: int = HIDDEN_DIM) -> None:
        super().__init__()
        self.encoder = BasicMotionEncoder(correlation_channels)
        self.gru = SepConvGRU(hidden_dim, input_dim=128 + hidden_dim)
        self.flow_head = FlowHead(hidden_dim, hidden_dim=256)
        self.mask = nn.Sequential(
            nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(256, 8 * 8 * 9, 1)
        )

    def forward(self, hidden, context, correlation, flow):
        inputs = torch.cat([context, self.encoder(flow, correlation)], dim=1)
        hidden = self.gru(hidden, inputs)
        return hidden, 0.25 * self.mask(hidden), self.flow_head(hidden)


def _pixel_grid(batch: int, height: int, width: int, device) -> torch.Tensor:
    """`(B, 2, H, W)` pixel coordinates `(x, y)`."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack([xs, ys])[None].expand(batch, -1, -1, -1)


class RAFT(nn.Module):
    """RAFT (full model). `forward(image1, image2)` with float RGB `(B, 3, H, W)` in [0, 255], H and W
    multiples of 8, returns the flow `(B, 2, H, W)` from image1 to image2 in pixels `(dx, dy)`."""

    def __init__(self) -> None:
        super().__init__()
        self.fnet = BasicEncoder(output_dim=256, norm="instance")
        self.cnet = BasicEncoder(output_dim=HIDDEN_DIM + CONTEXT_DIM, norm="batch")
        self.update_block = BasicUpdateBlock(CORRELATION_LEVELS * (2 * CORRELATION_RADIUS + 1) ** 2)

    @staticmethod
    def upsample_flow(flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Convex upsampling: each fine pixel is a softmax-weighted mix of the 3x3 coarse neighbours' 8x flow."""
        batch, _, height, width = flow.shape
        weights = torch.softmax(mask.view(batch, 1, 9, 8, 8, height, width), dim=2)
        neighbours = F.unfold(8 * flow, [3, 3], padding=1).view(batch, 2, 9, 1, 1, height, width)
        upsampled = (weights * neighbours).sum(dim=2)  # (B, 2, 8, 8, h, w)
        return upsampled.permute(0, 1, 4, 2, 5, 3).reshape(batch, 2, 8 * height, 8 * width)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor, iterations: int = VBENCH_ITERATIONS):
        batch, _, height, width = image1.shape
        if height % 8 or width % 8:
            raise InvalidInputError(f"RAFT needs H and W divisible by 8, got {height}x{width} (pad first).")
        if min(height, width) < MIN_SIZE:
            raise InvalidInputError(
                f"RAFT needs frames of at least {MIN_SIZE} px, got {height}x{width}: its coarsest correlation level "
                "would be one pixel wide (the release divides by zero there)."
            )
        image1, image2 = 2 * (image1 / 255.0) - 1.0, 2 * (image2 / 255.0) - 1.0
        features = self.fnet(torch.cat([image1, image2])).float()
        correlation = CorrelationPyramid(features[:batch], features[batch:])
        hidden, context = torch.split(self.cnet(image1), [HIDDEN_DIM, CONTEXT_DIM], dim=1)
        hidden, context = torch.tanh(hidden), torch.relu(context)
        start = _pixel_grid(batch, height // 8, width // 8, image1.device)
        target = start.clone()
        for _ in range(iterations):
            target = target.detach()
            hidden, mask, delta = self.update_block(hidden, context, correlation(target), target - start)
            target = target + delta
        return self.upsample_flow(target - start, mask)


def pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad `(B, C, H, W)` to multiples of `multiple`, split evenly around the image, the smaller half
    first (RAFT's "sintel" padding, AMT's `InputPadder`)."""
    height, width = image.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    return F.pad(image, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2], mode="replicate")


def pad_to_multiple_of_8(image: torch.Tensor) -> torch.Tensor:
    """`pad_to_multiple(image, 8)`, as RAFT needs."""
    return pad_to_multiple(image, 8)


class RaftFlow:
    """A `FlowEstimator` (see `kinevid.eval.video.vbench`) backed by RAFT weights from a local file."""

    def __init__(self, model: RAFT, iterations: int = VBENCH_ITERATIONS) -> None:
        self.model = model.eval()
        self.iterations = iterations

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> RaftFlow:
        """Load a RAFT state dict (`raft-things.pth` as released, `.pt`/`.pth`/`.safetensors`)."""
        path = Path(path)
        if not path.is_file():
            raise MissingWeightsError(f"{path}: no RAFT weight file (e.g. raft-things.pth from the RAFT release).")
        state = read_state_dict(path, "RAFT")
        model = RAFT()
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise InvalidInputError(
                f"{path}: does not match RAFT (full model): missing {result.missing_keys[:4]}, "
                f"unexpected {result.unexpected_keys[:4]}."
            )
        return cls(model.to(device))

    @torch.no_grad()
    def __call__(self, frame: np.ndarray, next_frame: np.ndarray) -> np.ndarray:
        """Flow `(H', W', 2)` from `frame` to `next_frame` (uint8 RGB `(H, W, 3)`), at the padded size H', W'
        (multiples of 8), as VBench reads it."""
        device = next(self.model.parameters()).device
        images = [
            torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1)[None].float().to(device)
            for f in (frame, next_frame)
        ]
        flow = self.model(*(pad_to_multiple_of_8(image) for image in images), iterations=self.iterations)
        return flow[0].permute(1, 2, 0).cpu().numpy()
