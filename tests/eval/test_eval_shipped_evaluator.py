"""The shipped evaluator on real held-out CMU trials (test subjects, never seen in training)."""

from __future__ import annotations

import pytest
import torch

from kinevid.data.cmu import CMUMocap
from kinevid.eval import DEFAULT_EVALUATOR_DIR, TextMotionEvaluator
from kinevid.eval.metrics import euclidean_distance_matrix

NUM_TRIALS = 32


@pytest.fixture(scope="module")
def evaluator() -> TextMotionEvaluator:
    return TextMotionEvaluator.from_pretrained()


@pytest.fixture(scope="module")
def heldout(cmu_root, evaluator):
    """NUM_TRIALS test trials with distinct first captions, in a seeded random order."""
    dataset = CMUMocap(root=cmu_root, split="test", fps=evaluator.fps, min_frames=24)
    chosen, seen = [], set()
    for item in torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0)).tolist():
        trial = dataset[item]
        if not trial.texts or trial.texts[0].lower() in seen:
            continue
        seen.add(trial.texts[0].lower())
        chosen.append(trial)
        if len(chosen) == NUM_TRIALS:
            break
    return chosen


def test_shipped_weights_are_small_and_load():
    weights = list(DEFAULT_EVALUATOR_DIR.glob("*.safetensors"))
    assert len(weights) == 1 and weights[0].stat().st_size < 10 * 2**20
    assert (DEFAULT_EVALUATOR_DIR / "config.json").is_file()


def test_own_caption_ranks_above_other_captions_better_than_chance(evaluator, heldout):
    motions = [trial.motion.slice(0, evaluator.max_motion_frames) for trial in heldout]
    texts = [trial.texts[0] for trial in heldout]
    distances = euclidean_distance_matrix(evaluator.embed_motions(motions), evaluator.embed_texts(texts))
    # Rank of each motion's own caption among the 32 (0 = nearest). Chance: mean rank 15.5 (std of
    # the mean about 1.6), top-3 rate 3/32. The shipped evaluator gets about 9 and 0.3 on such sets.
    ranks = (distances < distances.diagonal()[:, None]).sum(dim=1).double()
    chance_mean_rank = (NUM_TRIALS - 1) / 2
    assert ranks.mean() < 0.75 * chance_mean_rank, f"mean rank {ranks.mean():.2f} (chance {chance_mean_rank})"
    assert (ranks < 3).double().mean() > 2 * 3 / NUM_TRIALS, f"ranks {ranks.tolist()}"


def test_embeddings_do_not_depend_on_batching(evaluator, heldout):
    motions = [trial.motion.slice(0, evaluator.max_motion_frames) for trial in heldout[:5]]
    together = evaluator.embed_motions(motions)
    alone = torch.cat([evaluator.embed_motions([m]) for m in motions])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_motions_at_another_fps_are_resampled(evaluator, heldout):
    motion = heldout[0].motion.slice(0, evaluator.max_motion_frames)
    native = evaluator.embed_motions([motion])
    upsampled = evaluator.embed_motions([motion.resample(24.0)])
    assert float((native - upsampled).norm()) < 0.1
