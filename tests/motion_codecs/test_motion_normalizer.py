"""MotionNormalizer: statistics, round trips, files."""

from __future__ import annotations

import pytest
import torch

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.motion.codecs import MotionNormalizer


def sequences(seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    scale = torch.linspace(0.1, 3.0, 235)
    return [torch.randn(length, 235, generator=generator) * scale + 5.0 for length in (7, 30, 1, 12)]


def test_fit_gives_population_mean_and_std():
    data = sequences()
    normalizer = MotionNormalizer.fit(iter(data))  # a one-shot iterator is enough
    stacked = torch.cat(data).double()
    assert torch.allclose(normalizer.mean.double(), stacked.mean(0), atol=1e-5)
    assert torch.allclose(normalizer.std.double(), stacked.std(0, unbiased=False), atol=1e-5)


def test_hand_computed_statistics_and_std_floor():
    first = torch.zeros(2, 235)
    first[:, 0] = torch.tensor([1.0, 3.0])
    second = torch.zeros(1, 235)
    second[:, 0] = 5.0
    normalizer = MotionNormalizer.fit([first, second], min_std=1e-3)
    assert normalizer.mean[0] == pytest.approx(3.0)
    assert normalizer.std[0] == pytest.approx((8.0 / 3.0) ** 0.5)  # values 1, 3, 5
    assert torch.all(normalizer.std[1:] == 1e-3)  # constant channels are floored
    assert torch.all(normalizer.normalize(second)[:, 1:] == 0)


def test_statistics_far_from_the_origin_stay_accurate():
    generator = torch.Generator().manual_seed(1)
    data = [1e4 + 1e-2 * torch.randn(500, 235, generator=generator, dtype=torch.float64) for _ in range(4)]
    normalizer = MotionNormalizer.fit(data)
    expected = torch.cat(data).std(0, unbiased=False)
    assert torch.allclose(normalizer.std.double(), expected, rtol=1e-3)


def test_normalize_denormalize_round_trip_batched():
    normalizer = MotionNormalizer.fit(sequences())
    batch = torch.stack(sequences(seed=2)[1:2] * 3)  # (3, 30, 235)
    normalized = normalizer.normalize(batch)
    assert torch.allclose(normalized, (batch - normalizer.mean) / normalizer.std)
    assert torch.allclose(normalizer.denormalize(normalized), batch, atol=1e-5)


def test_save_load_identical(tmp_path):
    normalizer = MotionNormalizer.fit(sequences())
    path = tmp_path / "stats" / "motion_stats.safetensors"
    normalizer.save(path)
    loaded = MotionNormalizer.load(path)
    assert torch.equal(loaded.mean, normalizer.mean) and torch.equal(loaded.std, normalizer.std)
    assert [p.name for p in path.parent.iterdir()] == ["motion_stats.safetensors"]  # no temporary left


def test_file_errors(tmp_path):
    with pytest.raises(MissingWeightsError, match="not found"):
        MotionNormalizer.load(tmp_path / "missing.safetensors")
    small = MotionNormalizer(torch.zeros(263), torch.ones(263))
    small.save(tmp_path / "hml.safetensors")
    with pytest.raises(InvalidInputError, match=r"\(235,\)"):
        MotionNormalizer.load(tmp_path / "hml.safetensors")
    assert MotionNormalizer.load(tmp_path / "hml.safetensors", feature_dim=263).feature_dim == 263
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InvalidInputError, match=r"broken\.safetensors"):
        MotionNormalizer.load(tmp_path / "broken.safetensors")


def test_input_errors():
    with pytest.raises(InvalidInputError, match=r"sequence 1: expected a tensor of shape \(T, 235\)"):
        MotionNormalizer.fit([torch.zeros(3, 235), torch.zeros(3, 234)])
    with pytest.raises(InvalidInputError, match="empty"):
        MotionNormalizer.fit([])
    with pytest.raises(InvalidInputError, match="NaN"):
        MotionNormalizer.fit([torch.full((2, 235), float("nan"))])
    with pytest.raises(InvalidInputError, match="235"):
        MotionNormalizer().normalize(torch.zeros(2, 10))
