"""mask_loss against an independent computation (pooling by explicit frame groups and 8x8 cells), bad shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.losses import mask_loss
from kinevid.models.vae import pool_to_latent_grid


def _pool_by_hand(mask: np.ndarray) -> np.ndarray:
    """(T, H, W) -> (T', H / 8, W / 8): latent frame 0 = frame 0, latent frame i = frames 4i - 3 .. 4i."""
    num_frames, height, width = mask.shape
    groups = [[0]] + [list(range(4 * i - 3, 4 * i + 1)) for i in range(1, (num_frames - 1) // 4 + 1)]
    out = np.zeros((len(groups), height // 8, width // 8))
    for i, frames in enumerate(groups):
        for y in range(height // 8):
            for x in range(width // 8):
                out[i, y, x] = mask[frames, 8 * y : 8 * y + 8, 8 * x : 8 * x + 8].mean()
    return out


def test_mask_loss_matches_an_independent_computation():
    rng = np.random.default_rng(0)
    pixel_mask = rng.random((2, 9, 16, 24)) > 0.6  # (B, T, H, W)
    logits = torch.tensor(rng.normal(size=(2, 3, 3, 2, 3)), dtype=torch.float32)  # K = 3 sites
    latent = pool_to_latent_grid(torch.tensor(pixel_mask, dtype=torch.float32)[:, None])
    loss = mask_loss(logits, latent)
    expected_sites = []
    for k in range(3):
        total, count = 0.0, 0
        for b in range(2):
            target = _pool_by_hand(pixel_mask[b].astype(np.float64))
            for index, value in np.ndenumerate(logits[b, k].double().numpy()):
                total += (1 / (1 + math.exp(-value)) - target[index]) ** 2
                count += 1
        expected_sites.append(total / count)
    assert float(loss) == pytest.approx(sum(expected_sites) / 3, rel=1e-5)


def test_sample_mask_keeps_only_chosen_samples():
    logits, latent = torch.randn(3, 2, 2, 2, 2), torch.rand(3, 1, 2, 2, 2)
    kept = torch.tensor([True, False, True])
    torch.testing.assert_close(mask_loss(logits, latent, kept), mask_loss(logits[kept], latent[kept]))
    none = mask_loss(logits.requires_grad_(), latent, torch.zeros(3, dtype=torch.bool))
    assert float(none.detach()) == 0.0 and none.requires_grad


def test_perfect_logits_give_zero():
    latent = torch.tensor([0.0, 1.0]).repeat(8).reshape(1, 1, 2, 2, 4)
    assert float(mask_loss(torch.where(latent > 0, 30.0, -30.0).expand(1, 4, 2, 2, 4), latent)) < 1e-10


def test_wrong_shapes_and_values_raise_clear_errors():
    logits = torch.zeros(2, 3, 3, 4, 4)
    with pytest.raises(InvalidInputError, match=r"`mask_latent` must have shape \(2, 1, 3, 4, 4\)"):
        mask_loss(logits, torch.zeros(2, 1, 3, 32, 32))  # a pixel-resolution mask
    with pytest.raises(InvalidInputError, match="`mask_logits` must have shape"):
        mask_loss(logits[0], torch.zeros(2, 1, 3, 4, 4))
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        mask_loss(logits, torch.full((2, 1, 3, 4, 4), 255.0))
    with pytest.raises(InvalidInputError, match="`sample_mask`"):
        mask_loss(logits, torch.zeros(2, 1, 3, 4, 4), torch.ones(3, dtype=torch.bool))
