"""Reconstruction quality of images and videos: PSNR and SSIM (Wang et al. 2004, as scikit-image's
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=...)`).

Videos are scored frame by frame and averaged; pixel values in [-1, 1] (data range 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InvalidInputError

SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _frames(name: str, video: torch.Tensor) -> torch.Tensor:
    """`(N, C, H, W)` float64 frames of a `(B, C, T, H, W)` video or `(B, C, H, W)` images."""
    if not isinstance(video, torch.Tensor) or video.ndim not in (4, 5):
        raise InvalidInputError(f"`{name}` must be a (B, C, T, H, W) or (B, C, H, W) tensor.")
    if video.ndim == 5:
        video = video.transpose(1, 2).flatten(0, 1)
    return video.to(torch.float64)


def _pair(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    prediction, target = _frames("prediction", prediction), _frames("target", target)
    if prediction.shape != target.shape:
        raise InvalidInputError(
            f"`prediction` {tuple(prediction.shape)} and `target` {tuple(target.shape)} must have the same shape."
        )
    return prediction, target


def psnr(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per frame, `(N,)` with N = B * T: `10 log10(range^2 / MSE)`."""
    prediction, target = _pair(prediction, target)
    mse = (prediction - target).square().mean(dim=(1, 2, 3)).clamp_min(1e-20)
    return 10.0 * torch.log10(data_range**2 / mse)


def _gaussian_window(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    radius = int(3.5 * sigma + 0.5)  # scikit-image's truncate=3.5
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    window = torch.exp(-(x**2) / (2 * sigma**2))
    return window / window.sum()


def ssim(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Structural similarity per frame, `(N,)`: Gaussian-weighted local statistics (sigma 1.5), population
    covariance, mean over channels and over the pixels at least a window radius from the border."""
    prediction, target = _pair(prediction, target)
    channels = prediction.shape[1]
    window = _gaussian_window(SSIM_SIGMA, prediction.dtype, prediction.device)
    radius = window.numel() // 2
    if min(prediction.shape[-2:]) <= 2 * radius:
        raise InvalidInputError(f"SSIM needs frames larger than {2 * radius + 1} pixels, got {prediction.shape[-2:]}.")

    def blur(x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, window.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
        return F.conv2d(x, window.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)

    mu_x, mu_y = blur(prediction), blur(target)
    var_x = blur(prediction * prediction) - mu_x**2
    var_y = blur(target * target) - mu_y**2
    cov = blur(prediction * target) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(1, 2, 3))
