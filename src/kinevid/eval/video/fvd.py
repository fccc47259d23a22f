"""FVD: the Frechet distance between Gaussians fitted to I3D (Kinetics-400) features of two video sets.

Preprocessing (one clip per video, as the PyTorch FVD ports of fvd-comparison / VideoGPT-style code):

1. the first `FVD_NUM_FRAMES` = 16 frames of the video (a shorter video is an error);
2. uint8 -> [0, 1]; every frame resized so that its shorter side is 224 px (bilinear,
   `align_corners=False`, no antialiasing; the longer side rounded up), then the central
   224 x 224 window is kept (aspect ratio is preserved: no stretching);
3. scaled to [-1, 1] and laid out `(B, 3, 16, 224, 224)`.

Resizing choices shift FVD strongly, so compare numbers only under the same preprocessing.
StyleGAN-V's own metric instead hands the TorchScript detector 0-255 frames with `rescale=True,
resize=True`, letting it stretch them to 224 x 224 inside; kinevid always calls the detector with
`rescale=False, resize=False` on the tensor above, so both weight files see the same input.

Features: the 400 Kinetics logits before the softmax (averaged over the network's output time
steps, of which there is one for 16 frames), as the original FVD and StyleGAN-V's detector
(`return_features=True`) use. Two weight files load:

- an `InceptionI3d` state dict (the PyTorch port's names, e.g. `rgb_imagenet.pt`; `.pt`/`.pth`
  read with `torch.load(weights_only=True)`, or `.safetensors`), into `kinevid.eval.video.i3d`;
- StyleGAN-V's TorchScript detector `i3d_torchscript.pt` (`torch.jit.load`, the tf.hub I3D),
  called as `detector(videos, rescale=False, resize=False, return_features=True)`.

The two files hold different weights (tf.hub's I3D differs from the I3D repository's release), so
their FVDs are not interchangeable; the report records which file was used.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...errors import InvalidInputError, MissingWeightsError
from ..metrics import fid
from .i3d import InceptionI3d
from .videos import center_crop, frames_to_float, resize_shorter_side
from .weights import read_state_dict

FVD_NUM_FRAMES = 16
FVD_RESOLUTION = 224


def preprocess_for_i3d(
    frames: np.ndarray, num_frames: int = FVD_NUM_FRAMES, resolution: int = FVD_RESOLUTION
) -> torch.Tensor:
    """One FVD clip `(3, num_frames, resolution, resolution)` in [-1, 1] from uint8 frames `(T, H, W, 3)`."""
    if len(frames) < num_frames:
        raise InvalidInputError(f"FVD needs videos of at least {num_frames} frames, got {len(frames)}.")
    images = frames_to_float(frames[:num_frames])  # (T, 3, H, W)
    images = center_crop(resize_shorter_side(images, resolution, mode="bilinear", round_up=True), resolution)
    return (images * 2.0 - 1.0).permute(1, 0, 2, 3).contiguous()


def _is_torchscript_archive(path: Path) -> bool:
    """TorchScript archives hold a `code/` folder; `torch.save` archives do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name or name.startswith("code/") for name in archive.namelist())


class I3DFeatureExtractor:
    """I3D features for FVD, from a local weight file.

    Args:
        network (`torch.nn.Module`): an `InceptionI3d` or a TorchScript detector.
        is_torchscript (`bool`): whether `network` is StyleGAN-V's TorchScript detector.
    """

    def __init__(self, network: torch.nn.Module, is_torchscript: bool) -> None:
        self.network = network.eval()
        self.is_torchscript = is_torchscript

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> I3DFeatureExtractor:
        """Load an `InceptionI3d` state dict (`.pt`, `.pth`, `.safetensors`) or a TorchScript detector."""
        path = Path(path)
        if not path.is_file():
            raise MissingWeightsError(
                f"{path}: no I3D weight file (give an `InceptionI3d` state dict or StyleGAN-V's i3d_torchscript.pt)."
            )
        if _is_torchscript_archive(path):
            return cls(torch.jit.load(str(path), map_location=device), is_torchscript=True)
        state = read_state_dict(path, "I3D")
        if "logits.conv3d.weight" not in state:
            raise InvalidInputError(
                f"{path}: not an `InceptionI3d` state dict (no `logits.conv3d.weight`; keys start {list(state)[:3]})."
            )
        network = InceptionI3d(num_classes=state["logits.conv3d.weight"].shape[0])
        result = network.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise InvalidInputError(
                f"{path}: does not match `InceptionI3d`: missing {result.missing_keys[:4]}, "
                f"unexpected {result.unexpected_keys[:4]}."
            )
        return cls(network.to(device), is_torchscript=False)

    @property
    def device(self) -> torch.device:
        return next(iter(self.network.parameters()), torch.empty(0)).device

    @torch.no_grad()
    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """Logit features `(B, num_classes)` of preprocessed clips `(B, 3, 16, 224, 224)` in [-1, 1]."""
        if clips.ndim != 5 or clips.shape[1] != 3:
            raise InvalidInputError(f"I3D clips must have shape (B, 3, T, H, W), got {tuple(clips.shape)}.")
        clips = clips.to(self.device, torch.float32)
        if self.is_torchscript:
            return self.network(clips, rescale=False, resize=False, return_features=True).to(torch.float64).cpu()
        return self.network(clips).mean(dim=-1).to(torch.float64).cpu()  # (B, classes, T') -> (B, classes)

    def video_features(
        self, videos: Sequence[np.ndarray], batch_size: int = 4, show_progress: bool = False
    ) -> torch.Tensor:
        """Features `(N, num_classes)` of uint8 videos `(T_i, H_i, W_i, 3)` (each preprocessed as in the module doc)."""
        rows = []
        for start in tqdm(range(0, len(videos), batch_size), desc="I3D", disable=not show_progress):
            clips = torch.stack([preprocess_for_i3d(video) for video in videos[start : start + batch_size]])
            rows.append(self.features(clips))
        return torch.cat(rows)


def fvd(
    generated_videos: Sequence[np.ndarray], reference_videos: Sequence[np.ndarray], extractor: I3DFeatureExtractor
) -> float:
    """FVD between two sets of uint8 videos `(T_i, H_i, W_i, 3)` (at least 2 each, >= 16 frames)."""
    return fid(extractor.video_features(generated_videos), extractor.video_features(reference_videos))
