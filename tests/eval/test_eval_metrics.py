"""Text-to-motion metrics against independent computations and hand-built cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.eval import metrics


def _random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
    matrix = rng.normal(size=(dim, dim))
    return matrix @ matrix.T + 0.1 * np.eye(dim)


def test_frechet_distance_matches_eigenvalue_formula_on_known_gaussians():
    rng = np.random.default_rng(0)
    mean_a, mean_b = rng.normal(size=6), rng.normal(size=6)
    cov_a, cov_b = _random_spd(rng, 6), _random_spd(rng, 6)
    # Tr((S_a S_b)^(1/2)) = sum of square roots of the (real, positive) eigenvalues of S_a S_b.
    trace_sqrt = np.sqrt(np.linalg.eigvals(cov_a @ cov_b).real).sum()
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
    assert metrics.frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_diagonal_gaussians_is_closed_form():
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 2) ** 2 + (3 - 1) ** 2
    assert metrics.frechet_distance(mean_a, np.diag(var_a), mean_b, np.diag(var_b)) == pytest.approx(expected)


def test_fid_of_identical_sets_is_zero_and_of_shifted_sets_is_squared_shift():
    embeddings = torch.randn(400, 8, generator=torch.Generator().manual_seed(1))
    assert metrics.fid(embeddings, embeddings) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([0.5, -1.0, 0.0, 2.0, 0.0, 0.0, 0.3, 0.0])
    assert metrics.fid(embeddings, embeddings + shift) == pytest.approx(float(shift @ shift), rel=1e-6)


def test_fid_of_samples_approaches_the_population_value():
    rng = np.random.default_rng(3)
    cov_a, cov_b = _random_spd(rng, 4), _random_spd(rng, 4)
    mean_b = np.array([1.0, 0.0, -1.0, 0.5])
    a = rng.multivariate_normal(np.zeros(4), cov_a, size=200_000)
    b = rng.multivariate_normal(mean_b, cov_b, size=200_000)
    population = metrics.frechet_distance(np.zeros(4), cov_a, mean_b, cov_b)
    assert metrics.fid(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(population, rel=0.03)


def _per_text_rank(texts: torch.Tensor, motions: torch.Tensor) -> list[int]:
    """Rank of each text's own motion by an explicit loop over candidates."""
    ranks = []
    for i in range(len(texts)):
        own = math.dist(texts[i].tolist(), motions[i].tolist())
        ranks.append(sum(math.dist(texts[i].tolist(), motions[j].tolist()) < own for j in range(len(motions))))
    return ranks


def test_r_precision_on_embeddings_with_known_ranks():
    # Texts on a line 1000 apart; motion j sits at its text's x, raised by h_j. Text i's neighbours
    # (i +- 1, h = 0) are 1000 away, so h_i = 1200 or 1500 puts its own motion third (rank 2), or
    # second at the end of the line (i = 31: one neighbour).
    heights = torch.tensor([1500.0 if i % 4 == 1 else 1200.0 if i % 4 == 3 else 0.0 for i in range(32)])
    texts = torch.stack([torch.arange(32) * 1000.0, torch.zeros(32)], dim=1)
    motions = torch.stack([torch.arange(32) * 1000.0, heights], dim=1)
    expected_ranks = [0 if i % 2 == 0 else (1 if i == 31 else 2) for i in range(32)]
    assert _per_text_rank(texts, motions) == expected_ranks
    precision = metrics.r_precision(texts, motions, top_k=3)
    torch.testing.assert_close(precision, torch.tensor([16 / 32, 17 / 32, 32 / 32], dtype=torch.float64))


def test_r_precision_matches_a_per_text_loop_over_shuffled_batches():
    generator = torch.Generator().manual_seed(5)
    texts = torch.randn(100, 4, generator=generator)
    motions = texts + 0.8 * torch.randn(100, 4, generator=generator)
    precision = metrics.r_precision(texts, motions, generator=torch.Generator().manual_seed(9))
    order = torch.randperm(100, generator=torch.Generator().manual_seed(9))
    ranks = []
    for batch in range(3):  # 100 // 32 full batches; the last 4 pairs are dropped
        index = order[batch * 32 : (batch + 1) * 32]
        ranks += _per_text_rank(texts[index], motions[index])
    expected = torch.tensor([sum(r < k for r in ranks) / 96 for k in (1, 2, 3)], dtype=torch.float64)
    torch.testing.assert_close(precision, expected)


def test_r_precision_of_perfect_and_random_embeddings():
    texts = torch.randn(64, 16)
    assert metrics.r_precision(texts, texts.clone()).tolist() == [1.0, 1.0, 1.0]
    chance = torch.stack(
        [metrics.r_precision(torch.randn(320, 16), torch.randn(320, 16), top_k=3) for _ in range(10)]
    ).mean(0)
    torch.testing.assert_close(chance, torch.tensor([1, 2, 3], dtype=torch.float64) / 32, atol=0.02, rtol=0)


def test_r_precision_rejects_too_few_or_mismatched_pairs():
    with pytest.raises(InvalidInputError, match="at least 32"):
        metrics.r_precision(torch.randn(31, 4), torch.randn(31, 4))
    with pytest.raises(InvalidInputError, match="must match"):
        metrics.r_precision(torch.randn(40, 4), torch.randn(41, 4))
    with pytest.raises(InvalidInputError, match="NaN"):
        metrics.r_precision(torch.full((40, 4), float("nan")), torch.randn(40, 4))


def test_mm_distance_of_known_offsets():
    texts = torch.randn(50, 6)
    offset = torch.tensor([3.0, 0.0, 4.0, 0.0, 0.0, 0.0])  # norm 5
    assert metrics.mm_distance(texts, texts + offset) == pytest.approx(5.0)


def test_diversity_of_points_on_a_segment_is_one_third():
    # For U, V uniform on [0, 1], E|U - V| = 1/3; 300 random pairs estimate it within a few percent.
    points = torch.stack([torch.linspace(0, 1, 3000), torch.zeros(3000)], dim=1)
    values = [metrics.diversity(points, generator=torch.Generator().manual_seed(seed)) for seed in range(5)]
    assert np.mean(values) == pytest.approx(1 / 3, abs=0.02)
    assert metrics.diversity(torch.ones(10, 3)) == 0.0


def test_diversity_is_seeded():
    points = torch.randn(500, 8)
    first = metrics.diversity(points, generator=torch.Generator().manual_seed(0))
    again = metrics.diversity(points, generator=torch.Generator().manual_seed(0))
    other = metrics.diversity(points, generator=torch.Generator().manual_seed(1))
    assert first == again != other


def test_multimodality_of_identical_and_two_point_repeats():
    same = torch.randn(5, 1, 4).expand(5, 10, 4)
    assert metrics.multimodality(same) == 0.0
    # Repeats alternate between two points 2 apart: the mean distance equals 2 x the fraction of
    # drawn pairs whose repeats have different parity, counted by an explicit loop.
    base = torch.zeros(3, 10, 4)
    base[:, 1::2, 0] = 2.0
    generator = torch.Generator().manual_seed(4)
    value = metrics.multimodality(base, generator=generator)
    replay = torch.Generator().manual_seed(4)
    first, second = torch.randperm(10, generator=replay), torch.randperm(10, generator=replay)
    expected = 2.0 * sum(int(a) % 2 != int(b) % 2 for a, b in zip(first, second, strict=True)) / 10
    assert value == pytest.approx(expected)
    with pytest.raises(InvalidInputError):
        metrics.multimodality(torch.randn(4, 1, 3))


def test_one_pair_per_caption():
    captions = ["walk", "Story", "walk ", "jump", "story"]
    assert metrics.one_pair_per_caption(captions).tolist() == [0, 1, 3]
    for seed in range(5):
        chosen = metrics.one_pair_per_caption(captions, torch.Generator().manual_seed(seed)).tolist()
        assert chosen[0] in (0, 2) and chosen[1] in (1, 4) and chosen[2] == 3


def test_mean_and_interval_matches_scipy():
    from scipy import stats

    from kinevid.eval.metrics import mean_and_interval

    runs = [{"a": 0.2, "b": 1.0}, {"a": 0.25, "b": 3.0}, {"a": 0.3}]
    means, intervals = mean_and_interval(runs)
    assert means == pytest.approx({"a": 0.25, "b": 2.0})
    assert intervals["a"] == pytest.approx(1.96 * stats.sem([0.2, 0.25, 0.3]))
    assert intervals["b"] == pytest.approx(1.96 * stats.sem([1.0, 3.0]))
    assert mean_and_interval([{"a": 0.5}]) == ({"a": 0.5}, {})  # one run: no interval
    with pytest.raises(InvalidInputError, match="empty"):
        mean_and_interval([])
