"""Video R-precision and FD-kinevid against independent computations on constructed embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from kinevid.errors import InvalidInputError
from kinevid.eval.video.retrieval import fd_kinevid, video_r_precision


def _unit(rows: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(rows, dim=-1)


def _r_precision_by_sorting(texts: np.ndarray, videos: np.ndarray, order: np.ndarray) -> np.ndarray:
    """T2M R-precision written out: per batch of 32, sort each text's 32 candidates by distance."""
    hits = np.zeros(3)
    num_batches = len(texts) // 32
    for batch in range(num_batches):
        index = order[batch * 32 : (batch + 1) * 32]
        for row, text in enumerate(texts[index]):
            distances = np.linalg.norm(videos[index] - text, axis=1)
            rank = np.argsort(distances, kind="stable").tolist().index(row)
            hits += [rank < 1, rank < 2, rank < 3]
    return hits / (num_batches * 32)


def test_r_precision_matches_a_sorting_implementation_per_shuffle():
    generator = torch.Generator().manual_seed(3)
    videos = _unit(torch.randn(80, 8, generator=generator))
    texts = _unit(videos + 0.6 * torch.randn(80, 8, generator=generator))
    means, intervals = video_r_precision(texts, videos, repeats=5, seed=11)

    shuffles = torch.Generator().manual_seed(11)
    runs = []
    for _ in range(5):
        order = torch.randperm(80, generator=shuffles).numpy()
        runs.append(_r_precision_by_sorting(texts.double().numpy(), videos.double().numpy(), order))
    runs = np.array(runs)
    expected_means = runs.mean(0)
    expected_intervals = 1.96 * runs.std(0, ddof=1) / np.sqrt(5)
    for k in range(3):
        assert means[f"r_precision_top{k + 1}"] == pytest.approx(expected_means[k], abs=1e-12)
        assert intervals[f"r_precision_top{k + 1}"] == pytest.approx(expected_intervals[k], abs=1e-12)
    assert 0 < means["r_precision_top1"] < means["r_precision_top3"] < 1


def test_r_precision_is_one_for_matching_pairs_and_chance_for_unrelated_ones():
    generator = torch.Generator().manual_seed(0)
    videos = _unit(torch.randn(640, 16, generator=generator))
    means, _ = video_r_precision(videos, videos)
    assert means == {"r_precision_top1": 1.0, "r_precision_top2": 1.0, "r_precision_top3": 1.0}

    unrelated = _unit(torch.randn(640, 16, generator=generator))
    means, intervals = video_r_precision(unrelated, videos)
    for k in (1, 2, 3):
        assert means[f"r_precision_top{k}"] == pytest.approx(k / 32, abs=0.02)
        assert intervals[f"r_precision_top{k}"] > 0


def test_r_precision_needs_a_batch_of_32():
    with pytest.raises(InvalidInputError, match="at least 32"):
        video_r_precision(torch.randn(31, 4), torch.randn(31, 4))


def test_fd_is_zero_for_identical_sets_and_the_squared_shift_for_shifted_ones():
    generator = torch.Generator().manual_seed(1)
    videos = torch.randn(300, 6, generator=generator)
    assert fd_kinevid(videos, videos) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([0.5, -1.0, 0.0, 2.0, 0.0, 0.25])
    assert fd_kinevid(videos + shift, videos) == pytest.approx(float(shift @ shift), rel=1e-6)


def test_fd_matches_the_frechet_formula_computed_with_scipy():
    rng = np.random.default_rng(4)
    first = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    second = rng.normal(loc=0.3, size=(150, 5)) * np.array([1.0, 2.0, 0.5, 1.5, 1.0])
    mean_a, mean_b = first.mean(0), second.mean(0)
    cov_a, cov_b = np.cov(first, rowvar=False), np.cov(second, rowvar=False)
    # Tr((S_a S_b)^1/2) through the symmetric form S_a^1/2 S_b S_a^1/2, another route to the same trace.
    root_a = scipy.linalg.sqrtm(cov_a).real
    cross = np.trace(scipy.linalg.sqrtm(root_a @ cov_b @ root_a).real)
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    assert fd_kinevid(torch.from_numpy(first), torch.from_numpy(second)) == pytest.approx(expected, rel=1e-8)


def test_fd_rejects_nan_embeddings():
    embeddings = torch.randn(10, 3)
    embeddings[2, 1] = float("nan")
    with pytest.raises(InvalidInputError, match="NaN"):
        fd_kinevid(embeddings, torch.randn(10, 3))
