"""The VAE's person-first phase options: person-centred crops, the mask-weighted loss, the person PSNR."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan

from kinevid.data.cmu import CMUMocap
from kinevid.data.paired import SyntheticPairedDataset
from kinevid.data.synth import SynthConfig, build_synthetic_dataset
from kinevid.errors import InvalidInputError
from kinevid.models.vae import tiny_vae_config
from kinevid.recipes.vae import (
    SyntheticClipFrames,
    SyntheticFrameDataset,
    VAELoss,
    VAELossConfig,
    person_loss_weight,
    reconstruction_scores,
)


@pytest.fixture(scope="module")
def synth_dir(cmu_root, tmp_path_factory):
    trials = CMUMocap(cmu_root, trial_ids=["02_01", "05_02"], fps=8, min_frames=5)
    config = SynthConfig(num_clips=4, clips_per_shard=2, num_frames=5, height=64, width=64, num_track_points=4)
    return build_synthetic_dataset(trials, tmp_path_factory.mktemp("synth"), config, show_progress=False)


def test_masks_are_the_paired_datasets_masks(synth_dir):
    clips, paired = SyntheticClipFrames(synth_dir), SyntheticPairedDataset(synth_dir)
    for index in range(len(clips)):
        np.testing.assert_array_equal(clips.masks(index, 1, 4), paired.arrays(index)["masks"][1:4] > 0)


def test_person_weight_is_a_dilated_mask():
    masks = torch.zeros(2, 9, 9, dtype=torch.bool)
    masks[0, 4, 4] = True
    weight = person_loss_weight(masks, person_weight=5.0, margin=1)
    assert weight.shape == (1, 2, 9, 9)
    expected = torch.ones(2, 9, 9)
    expected[0, 3:6, 3:6] = 6.0
    torch.testing.assert_close(weight[0], expected)


def test_person_crops_contain_the_person_and_uniform_crops_often_miss_it(synth_dir):
    clips = SyntheticClipFrames(synth_dir)
    centred = SyntheticFrameDataset(synth_dir, 1, 64, seed=0, flip=False, crop_size=16, person_crop_prob=1.0,
                                    person_weight=1.0)  # fmt: skip
    uniform = SyntheticFrameDataset(synth_dir, 1, 64, seed=0, flip=False, crop_size=16, person_weight=1.0)
    person_share = {name: np.mean([(d[i]["weight"] > 1).float().mean().item() for i in range(64)])
                    for name, d in (("centred", centred), ("uniform", uniform))}  # fmt: skip
    assert all((centred[i]["weight"] > 1).any() for i in range(64))
    assert person_share["centred"] > 1.3 * person_share["uniform"]
    # The weight follows the crop and the flip of the frames it belongs to.
    flipped = SyntheticFrameDataset(synth_dir, 1, 16, seed=1, crop_size=32, person_crop_prob=1.0, person_weight=1.0)
    for index in range(16):
        item = flipped[index]
        rng = np.random.default_rng([1, index])
        clip, start = int(rng.integers(len(clips))), int(rng.integers(5))
        frame = clips.frames(clip, start, start + 1)[0].astype(np.float64) / 127.5 - 1
        video = item["video"][:, 0].permute(1, 2, 0).numpy()
        masks = clips.masks(clip, start, start + 1)[0]

        def crop(array, i, j, f):
            window = array[i : i + 32, j : j + 32]
            return window[:, ::-1] if f else window

        offsets = [(i, j, f) for i in range(33) for j in range(33) for f in (False, True)
                   if np.allclose(crop(frame, i, j, f), video, atol=1e-5)]  # fmt: skip
        assert offsets
        expected = person_loss_weight(torch.from_numpy(crop(masks, *offsets[0]).copy())[None], 1.0)
        torch.testing.assert_close(item["weight"], expected)
    with pytest.raises(InvalidInputError, match="person_crop_prob"):
        SyntheticFrameDataset(synth_dir, 1, 4, person_crop_prob=1.5)


def test_weighted_loss_is_the_plain_loss_at_unit_weight_and_favours_the_person(synth_dir):
    torch.manual_seed(0)
    vae = AutoencoderKLWan(**tiny_vae_config())
    dataset = SyntheticFrameDataset(synth_dir, 1, 4, seed=0, person_weight=4.0)
    batch = {key: torch.stack([dataset[i][key] for i in range(2)]) for key in ("video", "weight")}
    loss = VAELoss(VAELossConfig(mse_weight=1.0, kl_weight=0.0))
    torch.manual_seed(1)
    plain = loss(vae, {"video": batch["video"]})
    torch.manual_seed(1)
    unit = loss(vae, {"video": batch["video"], "weight": torch.ones_like(batch["weight"])})
    torch.testing.assert_close(plain["loss"], unit["loss"])
    torch.manual_seed(1)
    weighted = loss(vae, batch)
    with torch.no_grad():
        torch.manual_seed(1)
        posterior = vae.encode(batch["video"]).latent_dist
        from kinevid.recipes.vae import decode_unclamped

        error = decode_unclamped(vae, posterior.sample()) - batch["video"]
    weight = batch["weight"].expand_as(error)
    expected = (weight * error.abs()).sum() / weight.sum() + (weight * error.square()).sum() / weight.sum()
    torch.testing.assert_close(weighted["loss"], expected, rtol=1e-5, atol=1e-6)


def test_reconstruction_scores_report_the_person_psnr(synth_dir):
    class Identity(torch.nn.Module):
        """An 'autoencoder' that returns its input plus noise on the person only."""

        def encode(self, video):
            return type("E", (), {"latent_dist": type("D", (), {"mode": lambda self: video})()})()

        def decode(self, latents):
            return type("O", (), {"sample": latents + 0.1 * person})()

    clips = SyntheticClipFrames(synth_dir)
    person = torch.from_numpy(clips.masks(0)).float()[None, None]  # (1, 1, T, H, W)
    scores = reconstruction_scores(Identity(), clips, num_clips=1)
    assert scores["psnr_person"] == pytest.approx(10 * np.log10(4 / 0.01), abs=1e-3)
    assert scores["psnr"] > scores["psnr_person"]
