"""MoSALoss: L = L_d + l_m L_m + l_track L_track + l_cont L_cont, the tracking schedule, sample selection, errors."""

from __future__ import annotations

import pytest
import torch
from mosa_losses_clips import shifted_clip, shifted_tracks

from kinevid.errors import InvalidInputError
from kinevid.losses import DenseTracker, MoSALoss, MoSALossConfig, mask_loss, tracking_loss, video_contact_loss

T = 5


def _batch():
    video = torch.cat([shifted_clip((1.0, 0.0), T), shifted_clip((0.5, 0.5), T, seed=1)])  # (2, 3, T, 64, 64)
    queries = 20 + 20 * torch.rand(2, 6, 2, generator=torch.Generator().manual_seed(0))
    gt = shifted_tracks(queries, (1.2, 0.2), T)
    feet = queries[:, None, :4].expand(2, T, 4, 2)
    return {
        "mask_logits": torch.randn(2, 3, 2, 8, 8),
        "mask_latent": torch.rand(2, 1, 2, 8, 8),
        "pred_video": video,
        "gt_tracks": gt,
        "track_visibility": torch.ones(2, T, 6, dtype=torch.bool),
        "foot_pixels": feet,
        "foot_contacts": torch.ones(2, T - 1, 4, dtype=torch.bool),
    }


def test_total_is_the_weighted_sum_of_the_terms():
    config = MoSALossConfig(lambda_mask=0.5, lambda_track=0.2, lambda_contact=0.3, track_every=3, num_query_frames=1)
    loss_fn, batch = MoSALoss(config), _batch()
    diffusion = torch.tensor(0.7)
    terms = loss_fn(diffusion, step=3, generator=torch.Generator().manual_seed(1), **batch)
    assert set(terms) == {"diffusion", "mask", "track", "contact", "loss"}
    tracker = DenseTracker()
    mask = mask_loss(batch["mask_logits"], batch["mask_latent"])
    track = tracking_loss(batch["pred_video"], batch["gt_tracks"], batch["track_visibility"], tracker,
                          num_query_frames=1, max_points=32, generator=torch.Generator().manual_seed(1))  # fmt: skip
    contact = video_contact_loss(batch["pred_video"], batch["foot_pixels"], batch["foot_contacts"], tracker)
    for name, value in (("mask", mask), ("track", track), ("contact", contact)):
        torch.testing.assert_close(terms[name], value)
    torch.testing.assert_close(terms["loss"], 0.7 + 0.5 * mask + 0.2 * track + 0.3 * contact)


def test_tracking_terms_only_every_track_every_steps():
    loss_fn, batch = MoSALoss(MoSALossConfig(track_every=4)), _batch()
    assert [loss_fn.should_track(step) for step in range(6)] == [True, False, False, False, True, False]
    terms = loss_fn(torch.tensor(1.0), step=1, mask_logits=batch["mask_logits"], mask_latent=batch["mask_latent"])
    assert set(terms) == {"diffusion", "mask", "loss"}
    assert not MoSALoss(MoSALossConfig(lambda_track=0.0, lambda_contact=0.0)).should_track(0)


def test_static_weights_for_the_ablation():
    batch = _batch()
    weighted = MoSALoss(MoSALossConfig(num_query_frames=1, lambda_contact=0.0))
    static = MoSALoss(MoSALossConfig(num_query_frames=1, lambda_contact=0.0, temporal_weighting=False))
    a = weighted(torch.tensor(0.0), 0, generator=torch.Generator().manual_seed(0), **batch)["track"]
    b = static(torch.tensor(0.0), 0, generator=torch.Generator().manual_seed(0), **batch)["track"]
    assert float(a) > float(b) > 0  # errors grow with the gap; exp weights favour long gaps


def test_sample_mask_drops_samples_from_every_term():
    loss_fn, batch = MoSALoss(MoSALossConfig(num_query_frames=1)), _batch()
    kept = torch.tensor([False, True])
    terms = loss_fn(torch.tensor(0.0), 0, sample_mask=kept, generator=torch.Generator().manual_seed(0), **batch)
    single = {name: value[1:] for name, value in batch.items()}
    alone = loss_fn(torch.tensor(0.0), 0, generator=torch.Generator().manual_seed(0), **single)
    for name in ("mask", "track", "contact"):
        torch.testing.assert_close(terms[name], alone[name])
    nobody = loss_fn(torch.tensor(0.0), 0, sample_mask=torch.zeros(2, dtype=torch.bool), **batch)
    assert float(nobody["track"]) == 0.0 and float(nobody["contact"]) == 0.0


def test_missing_pieces_and_bad_config_raise_clear_errors():
    loss_fn, batch = MoSALoss(), _batch()
    with pytest.raises(InvalidInputError, match=r"tracking step .* pass `pred_video`"):
        loss_fn(torch.tensor(0.0), 0, mask_logits=batch["mask_logits"], mask_latent=batch["mask_latent"])
    with pytest.raises(InvalidInputError, match="`mask_logits` and `mask_latent`"):
        loss_fn(torch.tensor(0.0), 1)
    without_tracks = {k: v for k, v in batch.items() if k != "gt_tracks"}
    with pytest.raises(InvalidInputError, match="`gt_tracks` and `track_visibility`"):
        loss_fn(torch.tensor(0.0), 0, **without_tracks)
    with pytest.raises(InvalidInputError, match="`track_every`"):
        MoSALossConfig(track_every=0)
    with pytest.raises(InvalidInputError, match="`lambda_mask`"):
        MoSALossConfig(lambda_mask=-1.0)
