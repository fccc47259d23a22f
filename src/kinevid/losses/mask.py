"""MoSA's mask loss L_m: the HADC weight maps should cover the person.

Each HADC site k turns its weight map into mask logits at latent resolution (`U^k(w^k)`); the
target is the ground-truth person mask brought to the latent grid by area pooling over the VAE's
cells, `kinevid.models.vae.pool_to_latent_grid` (f x f pixels, f the VAE's spatial factor, 8 by default;
the cache pools with its VAE's, `geometry["spatial_factor"]`; latent frame 0 = pixel frame 0,
latent frame i >= 1 = pixel frames 4i - 3 .. 4i), so a target value is the fraction of the cell the
person covers. L_m is the mean squared error between `sigmoid(logits)` and that fraction, averaged
over latent cells, samples and sites.
"""

from __future__ import annotations

import torch

from ..errors import InvalidInputError


def mask_loss(
    mask_logits: torch.Tensor, mask_latent: torch.Tensor, sample_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """L_m = mean over sites, samples and latent cells of `(sigmoid(logits) - mask)^2`.

    Args:
        mask_logits (`torch.Tensor` of shape `(B, K, T', H', W')`): logits of the K HADC sites.
        mask_latent (`torch.Tensor` of shape `(B, 1, T', H', W')`): person coverage in [0, 1] per latent
            cell (`pool_to_latent_grid` of the pixel mask `(B, 1, T, H, W)`).
        sample_mask (`torch.Tensor` of shape `(B,)`, *optional*): bool, which samples count (e.g. not
            those whose skeleton was dropped); all when None.

    Returns:
        `torch.Tensor`: scalar (0 with a gradient path when no sample counts).
    """
    if not isinstance(mask_logits, torch.Tensor) or mask_logits.ndim != 5:
        shape = tuple(mask_logits.shape) if isinstance(mask_logits, torch.Tensor) else type(mask_logits).__name__
        raise InvalidInputError(f"`mask_logits` must have shape (B, K, T', H', W'), got {shape}.")
    batch_size, _, *grid = mask_logits.shape
    expected = (batch_size, 1, *grid)
    if not isinstance(mask_latent, torch.Tensor) or tuple(mask_latent.shape) != expected:
        shape = tuple(mask_latent.shape) if isinstance(mask_latent, torch.Tensor) else type(mask_latent).__name__
        raise InvalidInputError(
            f"`mask_latent` must have shape {expected} (the mask pooled to the logits' latent grid), got {shape}."
        )
    if not torch.isfinite(mask_latent).all() or mask_latent.min() < 0 or mask_latent.max() > 1:
        raise InvalidInputError("`mask_latent` must hold coverage fractions in [0, 1].")
    error = (torch.sigmoid(mask_logits.float()) - mask_latent.float()).square()  # (B, K, T', H', W')
    if sample_mask is None:
        return error.mean()
    if tuple(sample_mask.shape) != (batch_size,):
        raise InvalidInputError(f"`sample_mask` must have shape ({batch_size},), got {tuple(sample_mask.shape)}.")
    weight = sample_mask.to(error.dtype)
    per_sample = error.flatten(1).mean(dim=1)  # (B,)
    return (per_sample * weight).sum() / weight.sum().clamp_min(1.0)
