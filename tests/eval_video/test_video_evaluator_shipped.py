"""The shipped text-video evaluator on clips rendered here from held-out (test-subject) CMU motions with
`kinevid.data.synth`: renders with their own captions rank far above shuffled captions."""

from __future__ import annotations

import pytest
import torch

from kinevid.data.cmu import CMUMocap
from kinevid.data.synth import SynthConfig, synthesize_clip
from kinevid.eval.video.retrieval import DEFAULT_VIDEO_EVALUATOR_DIR, load_video_evaluator

NUM_CLIPS = 12
SEED = 12345  # not a seed of the shipped datasets (train 0, val 1, test 2)


@pytest.fixture(scope="module")
def clips(cmu_root):
    """12 clips rendered like `kinevid data synth` makes the training data (128 px, 17 frames, 8 fps)."""
    trial_ids = CMUMocap(cmu_root, split="test", fps=8, min_frames=17).trial_ids[:60]
    trials = CMUMocap(cmu_root, trial_ids=trial_ids, fps=8, min_frames=17)
    config = SynthConfig(
        num_clips=NUM_CLIPS, num_frames=17, height=128, width=128, num_track_points=4, seed=SEED, split="test"
    )
    rendered = [synthesize_clip(trials, index, config) for index in range(NUM_CLIPS)]
    return [(arrays["frames"], config.fps) for arrays, _ in rendered], [info["caption"] for _, info in rendered]


def test_shipped_evaluator_is_small_and_loads():
    weights = list(DEFAULT_VIDEO_EVALUATOR_DIR.glob("*.safetensors"))
    assert len(weights) == 1 and weights[0].stat().st_size <= 3 * 1024 * 1024
    assert (DEFAULT_VIDEO_EVALUATOR_DIR / "README.md").is_file()
    model = load_video_evaluator().model
    assert model.dtype == torch.float32 and not model.training


def test_renders_rank_their_own_captions_far_above_shuffled_ones(clips):
    videos, captions = clips
    evaluator = load_video_evaluator()
    similarity = evaluator.embed_texts(captions) @ evaluator.embed_frames(videos).T  # (texts, videos)
    # Rank of each caption's own render among the 12 renders (0 = nearest).
    own_rank = (similarity > similarity.diagonal()[:, None]).sum(dim=1).double()
    shuffled = torch.roll(torch.arange(NUM_CLIPS), 1)  # every caption paired with another clip's render
    shuffled_similarity = similarity[shuffled]
    shuffled_rank = (shuffled_similarity > shuffled_similarity.diagonal()[:, None]).sum(dim=1).double()
    # Measured on two seeds: mean own rank 2.5 / 2.8 against 6.6 / 6.3 shuffled (chance 5.5); cosine 0.60 / 0.58
    # against -0.01 / 0.07.
    assert own_rank.mean() < 4.0 and shuffled_rank.mean() > own_rank.mean() + 2.0
    assert similarity.diagonal().mean() > shuffled_similarity.diagonal().mean() + 0.3
