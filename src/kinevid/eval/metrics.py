"""Text-to-motion metrics in an evaluator's embedding space (the HumanML3D / T2M protocol).

- R-precision: texts and motions are grouped in batches of 32 (a pair's ground truth plus 31
  others); for each text the 32 motions are ranked by Euclidean distance and top-k counts whether
  its own motion is among the k nearest. Reported for k = 1, 2, 3, averaged over batches.
- MM-distance: mean Euclidean distance between each text and its motion.
- FID: Frechet distance between Gaussians fitted to two sets of motion embeddings.
- Diversity: mean distance between random pairs of motions (300 pairs by default, seeded).
- Multimodality: mean distance between pairs of motions generated for the same text.
- Repeated runs: mean and 95% confidence interval over repetitions (`mean_and_interval`).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from ..errors import InvalidInputError

R_PRECISION_BATCH_SIZE = 32
DIVERSITY_PAIRS = 300
MULTIMODALITY_PAIRS = 10


def _as_matrix(name: str, embeddings: torch.Tensor | np.ndarray) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(embeddings) if not isinstance(embeddings, torch.Tensor) else embeddings)
    if tensor.ndim != 2:
        raise InvalidInputError(f"`{name}` must have shape (N, D), got {tuple(tensor.shape)}.")
    if not torch.isfinite(tensor).all():
        raise InvalidInputError(f"`{name}` contains NaN or infinite values.")
    return tensor.to(torch.float64)


def euclidean_distance_matrix(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances `(N, M)` between rows of `first` `(N, D)` and `second` `(M, D)`."""
    return torch.cdist(first.to(torch.float64), second.to(torch.float64))


def r_precision(
    text_embeddings: torch.Tensor,
    motion_embeddings: torch.Tensor,
    top_k: int = 3,
    batch_size: int = R_PRECISION_BATCH_SIZE,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """R-precision top-1..top-k among `batch_size` candidates (T2M protocol).

    Pairs are shuffled (with `generator`; kept in order when it is None) and cut into consecutive
    batches of `batch_size`; a trailing incomplete batch is dropped, as in T2M.

    Args:
        text_embeddings (`torch.Tensor` of shape `(N, D)`): one text per pair.
        motion_embeddings (`torch.Tensor` of shape `(N, D)`): the matching motions (or videos), same order.
        top_k (`int`, defaults to 3): largest k reported.
        batch_size (`int`, defaults to 32): candidates per ranking (ground truth + batch_size - 1).
        generator (`torch.Generator`, *optional*): shuffles the pairs before batching.

    Returns:
        `torch.Tensor` of shape `(top_k,)`: fraction of texts whose motion ranks within 1..top_k.
    """
    texts = _as_matrix("text_embeddings", text_embeddings)
    motions = _as_matrix("motion_embeddings", motion_embeddings)
    if texts.shape != motions.shape:
        raise InvalidInputError(
            f"`text_embeddings` {tuple(texts.shape)} and `motion_embeddings` {tuple(motions.shape)} must match."
        )
    num_batches = len(texts) // batch_size
    if num_batches == 0:
        raise InvalidInputError(f"R-precision needs at least {batch_size} text-motion pairs, got {len(texts)}.")
    order = torch.randperm(len(texts), generator=generator) if generator is not None else torch.arange(len(texts))
    hits = torch.zeros(top_k, dtype=torch.float64)
    for batch in range(num_batches):
        index = order[batch * batch_size : (batch + 1) * batch_size]
        distances = euclidean_distance_matrix(texts[index], motions[index])  # (32, 32)
        # Rank of the ground truth = number of candidates strictly closer than it (ties favour it).
        rank = (distances < distances.diagonal()[:, None]).sum(dim=1)  # (32,)
        hits += torch.stack([(rank < k).double().sum() for k in range(1, top_k + 1)])
    return hits / (num_batches * batch_size)


def one_pair_per_caption(captions: list[str], generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices `(num_distinct,)` of one pair per distinct caption (a random one with `generator`,
    else the first), in caption order of first appearance.

    Several clips often share a caption (CMU's "Story", "walk"); in an R-precision batch their
    motions are equally right for each other's caption, which caps the score of any evaluator.
    R-precision over one pair per caption removes that ambiguity.
    """
    groups: dict[str, list[int]] = {}
    for index, caption in enumerate(captions):
        groups.setdefault(caption.strip().lower(), []).append(index)
    chosen = [
        members[int(torch.randint(len(members), (1,), generator=generator))] if generator is not None else members[0]
        for members in groups.values()
    ]
    return torch.tensor(chosen, dtype=torch.long)


def mm_distance(text_embeddings: torch.Tensor, motion_embeddings: torch.Tensor) -> float:
    """Mean Euclidean distance between each text `(N, D)` and its motion `(N, D)`."""
    texts = _as_matrix("text_embeddings", text_embeddings)
    motions = _as_matrix("motion_embeddings", motion_embeddings)
    if texts.shape != motions.shape:
        raise InvalidInputError(
            f"`text_embeddings` {tuple(texts.shape)} and `motion_embeddings` {tuple(motions.shape)} must match."
        )
    return float((texts - motions).norm(dim=-1).mean())


def gaussian_statistics(embeddings: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean `(D,)` and unbiased covariance `(D, D)` of embeddings `(N, D)`, N >= 2, as float64 numpy."""
    matrix = _as_matrix("embeddings", embeddings).numpy()
    if len(matrix) < 2:
        raise InvalidInputError(f"Gaussian statistics need at least 2 embeddings, got {len(matrix)}.")
    return matrix.mean(axis=0), np.cov(matrix, rowvar=False)


def frechet_distance(
    mean_a: np.ndarray, covariance_a: np.ndarray, mean_b: np.ndarray, covariance_b: np.ndarray, eps: float = 1e-6
) -> float:
    """Frechet distance between two Gaussians:
    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    When the product is singular to numerical precision, `eps` is added to both diagonals (as in
    the reference FID implementations).
    """
    mean_a, mean_b = np.atleast_1d(mean_a), np.atleast_1d(mean_b)
    covariance_a, covariance_b = np.atleast_2d(covariance_a), np.atleast_2d(covariance_b)
    if mean_a.shape != mean_b.shape or covariance_a.shape != covariance_b.shape:
        raise InvalidInputError(
            f"Gaussian statistics differ in size: means {mean_a.shape} vs {mean_b.shape}, "
            f"covariances {covariance_a.shape} vs {covariance_b.shape}."
        )
    difference = mean_a - mean_b
    sqrt_product = scipy.linalg.sqrtm(covariance_a @ covariance_b)
    if not np.isfinite(sqrt_product).all():
        offset = np.eye(len(covariance_a)) * eps
        sqrt_product = scipy.linalg.sqrtm((covariance_a + offset) @ (covariance_b + offset))
    if np.iscomplexobj(sqrt_product):
        sqrt_product = sqrt_product.real  # imaginary parts are numerical noise from near-singular covariances
    value = difference @ difference + np.trace(covariance_a) + np.trace(covariance_b) - 2 * np.trace(sqrt_product)
    return float(max(value, 0.0))


def fid(embeddings_a: torch.Tensor, embeddings_b: torch.Tensor) -> float:
    """FID between two sets of embeddings `(N_a, D)` and `(N_b, D)` (motions; videos for FD-kinevid)."""
    return frechet_distance(*gaussian_statistics(embeddings_a), *gaussian_statistics(embeddings_b))


def diversity(
    embeddings: torch.Tensor, num_pairs: int = DIVERSITY_PAIRS, generator: torch.Generator | None = None
) -> float:
    """Mean Euclidean distance between `num_pairs` random pairs of embeddings `(N, D)` (T2M).

    Two index sets of size `num_pairs` are drawn without replacement; when N < `num_pairs`, all N
    embeddings are used (two permutations of them).
    """
    matrix = _as_matrix("embeddings", embeddings)
    if len(matrix) < 2:
        raise InvalidInputError(f"Diversity needs at least 2 embeddings, got {len(matrix)}.")
    count = min(num_pairs, len(matrix))
    first = torch.randperm(len(matrix), generator=generator)[:count]
    second = torch.randperm(len(matrix), generator=generator)[:count]
    return float((matrix[first] - matrix[second]).norm(dim=-1).mean())


def multimodality(
    embeddings: torch.Tensor, num_pairs: int = MULTIMODALITY_PAIRS, generator: torch.Generator | None = None
) -> float:
    """Mean distance between pairs of motions generated for the same text (T2M multimodality).

    Args:
        embeddings (`torch.Tensor` of shape `(num_texts, num_repeats, D)`): `num_repeats` >= 2
            motions per text.
        num_pairs (`int`, defaults to 10): pairs drawn per text (without replacement within each
            index set; at most `num_repeats`).
        generator (`torch.Generator`, *optional*): for the pair draws.
    """
    tensor = torch.as_tensor(embeddings).to(torch.float64)
    if tensor.ndim != 3 or tensor.shape[1] < 2:
        raise InvalidInputError(
            f"`embeddings` must have shape (num_texts, num_repeats >= 2, D), got {tuple(tensor.shape)}."
        )
    num_repeats = tensor.shape[1]
    count = min(num_pairs, num_repeats)
    first = torch.randperm(num_repeats, generator=generator)[:count]
    second = torch.randperm(num_repeats, generator=generator)[:count]
    return float((tensor[:, first] - tensor[:, second]).norm(dim=-1).mean())


def mean_and_interval(runs: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean of each metric over repeated runs and the half-width of its 95% confidence interval.

    The T2M protocol repeats generation (20 times in HumanML3D papers) and reports
    mean +- 1.96 * std / sqrt(runs), with the sample standard deviation. One run has no interval.

    Args:
        runs (`list[dict[str, float]]`): one metric dict per run; a metric missing from some runs is
            averaged over the runs that have it.

    Returns:
        `(means, intervals)`: dicts keyed by metric name (`intervals` empty for a single run).
    """
    if not runs:
        raise InvalidInputError("`runs` is empty: give at least one metric dict.")
    names = list(dict.fromkeys(name for run in runs for name in run))
    means, intervals = {}, {}
    for name in names:
        values = np.array([run[name] for run in runs if name in run], dtype=np.float64)
        means[name] = float(values.mean())
        if len(values) >= 2:
            intervals[name] = float(1.96 * values.std(ddof=1) / np.sqrt(len(values)))
    return means, intervals
