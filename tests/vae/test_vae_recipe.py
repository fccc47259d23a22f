"""`kinevid train vae`: frame windows, the unclamped decode, the loss, phases, latent statistics, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan

from kinevid.cli.main import main
from kinevid.data.cmu import CMUMocap
from kinevid.data.paired import SyntheticPairedDataset
from kinevid.data.synth import SynthConfig, build_synthetic_dataset
from kinevid.errors import InvalidInputError
from kinevid.eval.image_quality import psnr
from kinevid.models.vae import load_video_vae, tiny_vae_config
from kinevid.recipes.vae import (
    CARD_FILE,
    SyntheticClipFrames,
    SyntheticFrameDataset,
    VAELoss,
    VAELossConfig,
    VAETrainingConfig,
    decode_unclamped,
    latent_statistics,
)


@pytest.fixture(scope="module")
def synth_dir(cmu_root, tmp_path_factory):
    trials = CMUMocap(cmu_root, trial_ids=["02_01", "05_02"], fps=8, min_frames=5)
    config = SynthConfig(num_clips=4, clips_per_shard=2, num_frames=5, height=32, width=32, num_track_points=4)
    return build_synthetic_dataset(trials, tmp_path_factory.mktemp("synth"), config, show_progress=False)


@pytest.fixture()
def tiny_vae() -> AutoencoderKLWan:
    torch.manual_seed(0)
    return AutoencoderKLWan(**tiny_vae_config())


def test_frame_windows_are_deterministic_slices_of_the_clips(synth_dir):
    dataset = SyntheticFrameDataset(synth_dir, num_frames=1, length=50, seed=3, flip=False)
    clips = SyntheticPairedDataset(synth_dir)
    every_frame = np.concatenate([clips.arrays(i)["frames"] for i in range(len(clips))])
    for index in range(10):
        item = dataset[index]["video"]
        assert item.shape == (3, 1, 32, 32)
        torch.testing.assert_close(item, dataset[index]["video"])
        pixels = ((item[:, 0].permute(1, 2, 0) + 1) * 127.5).round().numpy()
        assert np.abs(every_frame.astype(np.float64) - pixels).max(axis=(1, 2, 3)).min() < 0.51
    windows = SyntheticFrameDataset(synth_dir, num_frames=5, length=4, seed=3)
    assert windows[0]["video"].shape == (3, 5, 32, 32)
    crops = SyntheticFrameDataset(synth_dir, num_frames=1, length=8, seed=3, flip=False, crop_size=16)
    full = SyntheticFrameDataset(synth_dir, num_frames=1, length=8, seed=3, flip=False)
    for index in range(4):
        crop, frame = crops[index]["video"][:, 0], full[index]["video"][:, 0]
        offsets = [(i, j) for i in range(17) for j in range(17) if torch.equal(frame[:, i : i + 16, j : j + 16], crop)]
        assert crop.shape == (3, 16, 16) and offsets
    with pytest.raises(InvalidInputError, match="exceeds"):
        SyntheticFrameDataset(synth_dir, num_frames=1, length=4, crop_size=48)
    with pytest.raises(InvalidInputError, match="4k \\+ 1"):
        SyntheticFrameDataset(synth_dir, num_frames=4, length=4)
    with pytest.raises(InvalidInputError, match="cannot cut windows of 9"):
        SyntheticFrameDataset(synth_dir, num_frames=9, length=4)


def test_unclamped_decode_is_diffusers_decode_before_its_clamp(tiny_vae):
    latents = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(0)) * 3
    with torch.no_grad():
        raw = decode_unclamped(tiny_vae, latents)
        clamped = tiny_vae.decode(latents).sample
    torch.testing.assert_close(raw.clamp(-1, 1), clamped, atol=1e-6, rtol=1e-6)


def test_loss_terms_and_a_few_steps_improve_reconstruction(tiny_vae, synth_dir):
    batch = {"video": torch.stack([SyntheticFrameDataset(synth_dir, 1, 8, seed=0)[i]["video"] for i in range(4)])}
    loss = VAELoss(VAELossConfig(mse_weight=1.0, kl_weight=1e-6))
    terms = loss(tiny_vae, batch)
    assert set(terms) == {"loss", "l1", "mse", "kl", "psnr"}
    expected = terms["l1"] + terms["mse"] + 1e-6 * terms["kl"]
    torch.testing.assert_close(terms["loss"], expected)
    optimizer = torch.optim.Adam(tiny_vae.parameters(), lr=2e-3)
    with torch.no_grad():
        before = psnr(tiny_vae.decode(tiny_vae.encode(batch["video"]).latent_dist.mode()).sample, batch["video"])
    for _ in range(30):
        optimizer.zero_grad()
        loss(tiny_vae, batch)["loss"].backward()
        optimizer.step()
    with torch.no_grad():
        after = psnr(tiny_vae.decode(tiny_vae.encode(batch["video"]).latent_dist.mode()).sample, batch["video"])
    assert after.mean() > before.mean() + 0.5


def test_latent_statistics_match_a_direct_computation(tiny_vae, synth_dir):
    clips = SyntheticPairedDataset(synth_dir)
    mean, std = latent_statistics(tiny_vae, SyntheticClipFrames(synth_dir), num_clips=3)
    with torch.no_grad():
        latents = torch.cat([
            tiny_vae.encode((torch.from_numpy(clips.arrays(i)["frames"]).float() / 127.5 - 1).permute(3, 0, 1, 2)[None])
            .latent_dist.mode() for i in range(3)
        ], dim=2).double()  # fmt: skip
    np.testing.assert_allclose(mean, latents.mean(dim=(0, 2, 3, 4)).numpy(), atol=1e-5)
    np.testing.assert_allclose(std, latents.std(dim=(0, 2, 3, 4), unbiased=False).numpy(), atol=1e-5)


def _write_config(tmp_path, synth_dir, **changes) -> str:
    values = {
        "model": tiny_vae_config(),
        "train_data": str(synth_dir),
        "val_data": str(synth_dir),
        "phases": [
            {"name": "images", "num_frames": 1, "batch_size": 2, "max_steps": 2},
            {"name": "clips", "num_frames": 5, "batch_size": 1, "max_steps": 2, "learning_rate": 1e-4},
        ],
        "items_per_epoch": 16,
        "val_clips": 2,
        "stats_clips": 2,
        "train": {"learning_rate": 1e-3, "checkpoint_every": 1, "log_every": 1, "num_threads": 1},
        **changes,
    }
    path = tmp_path / "vae.json"
    path.write_text(json.dumps(values))
    return str(path)


def test_train_vae_command_runs_both_phases_and_ships_statistics(tmp_path, synth_dir, capsys):
    config = _write_config(tmp_path, synth_dir)
    assert main(["train", "vae", "--config", config, "--output", str(tmp_path / "run")]) == 0
    assert "trained VAE" in capsys.readouterr().out
    for phase in ("images", "clips"):
        assert (tmp_path / "run" / phase / "final" / "config.json").is_file()
    vae = load_video_vae(tmp_path / "run" / "final")
    card = json.loads((tmp_path / "run" / "final" / CARD_FILE).read_text())
    mean, std = latent_statistics(vae, SyntheticClipFrames(synth_dir), num_clips=2)
    np.testing.assert_allclose(vae.config.latents_mean, mean, atol=1e-5)
    np.testing.assert_allclose(vae.config.latents_std, std, atol=1e-5)
    assert np.isfinite(card["val_scores"]["psnr"]) and card["parameters"] == sum(p.numel() for p in vae.parameters())
    # A finished run is resumable: nothing is retrained, the export is rewritten identically.
    assert main(["train", "vae", "--config", config, "--output", str(tmp_path / "run"), "--resume"]) == 0
    np.testing.assert_allclose(load_video_vae(tmp_path / "run" / "final").config.latents_mean, mean, atol=1e-7)


def test_config_errors_name_the_field(tmp_path, synth_dir):
    with pytest.raises(InvalidInputError, match="unknown keys \\['phase'\\]"):
        VAETrainingConfig.load(_write_config(tmp_path, synth_dir, phase=[]), tmp_path / "run")
    config = _write_config(tmp_path, synth_dir, train_data=str(tmp_path / "missing"))
    with pytest.raises(InvalidInputError, match="no complete synthetic dataset"):
        from kinevid.recipes.vae import train_vae

        train_vae(VAETrainingConfig.load(config, tmp_path / "run"))


def test_a_resumed_run_starts_a_phase_added_to_its_config(tmp_path, synth_dir):
    phases = json.loads(Path(_write_config(tmp_path, synth_dir)).read_text())["phases"]
    first = _write_config(tmp_path, synth_dir, phases=phases[:1])
    assert main(["train", "vae", "--config", first, "--output", str(tmp_path / "run")]) == 0
    both = _write_config(tmp_path, synth_dir, phases=phases)
    assert main(["train", "vae", "--config", both, "--output", str(tmp_path / "run"), "--resume"]) == 0
    assert (tmp_path / "run" / "clips" / "final" / "config.json").is_file()
