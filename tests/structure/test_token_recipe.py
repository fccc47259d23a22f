"""The structure recipe's token-level text: token caching, captions that keep their side and direction
words, from-rest windows, initialising a token model from a pooled one, a tiny token training."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from kinevid.body.rotations import matrix_to_rotation_6d
from kinevid.data.motion_windows import MotionWindowDataset, motion_onset, starts_at_rest
from kinevid.errors import InvalidInputError
from kinevid.models.structure import MotionPrimitiveDiffusionModel
from kinevid.motion.motion import Motion
from kinevid.pipelines import TextToMotionPipeline
from kinevid.recipes.structure import (
    StructureTrainingConfig,
    encode_prompt_tokens,
    initialise_from,
    train_text_to_motion,
)


def test_prompt_tokens_are_cached_padded_and_cut(word_token_encoder):
    encoder = word_token_encoder
    prompts = ["walk", "a person kicks with the left leg", "one two three four five six seven"]
    cached = encode_prompt_tokens(encoder, prompts, max_tokens=6, batch_size=2)
    assert cached.tokens.shape == (3, 6, 384) and cached.tokens.dtype == torch.float16
    assert cached.mask.sum(1).tolist() == [3, 6, 6]  # "walk" + CLS/SEP; the others cut at 6
    alone = encoder.encode(["walk"])
    torch.testing.assert_close(cached.tokens[0, :3].float(), alone.tokens[0], atol=2e-3, rtol=2e-3)
    assert cached.tokens[0, 3:].abs().sum() == 0
    looked_up = cached.lookup(torch.tensor([2, 0]), torch.device("cpu"))
    assert looked_up["text_tokens"].dtype == torch.float32
    assert torch.equal(looked_up["text_token_mask"], cached.mask[[2, 0]])
    # The same prompt gives the same cached tokens whatever batch it was encoded in.
    again = encode_prompt_tokens(encoder, prompts[1:2], max_tokens=6)
    assert torch.equal(again.tokens[0], cached.tokens[1])


@dataclass
class Clip:
    motion: Motion
    texts: list[str]


def still_then_moving(num_frames: int, still_frames: int) -> Motion:
    translation = torch.zeros(num_frames, 3)
    translation[still_frames:, 2] = 0.1 * torch.arange(1, num_frames - still_frames + 1)  # 1.2 m/s
    translation[:, 1] = 0.9
    return Motion(torch.eye(3).expand(num_frames, 24, 3, 3).clone(), translation, fps=12.0)


def test_rest_start_windows_hold_the_first_frame_then_play_the_take():
    clips = [Clip(still_then_moving(20, 8), ["walk"]), Clip(still_then_moving(20, 0), ["run"])]
    dataset = MotionWindowDataset(
        clips, window_frames=6, stride=1, mirror=False, show_progress=False, rest_start_history=2, rest_start_repeats=3
    )
    assert starts_at_rest(clips[0].motion) and not starts_at_rest(clips[1].motion)
    assert dataset.num_windows == 2 * 15 + 3 and dataset.num_rest_start_windows == 3  # only the still take
    rest = [dataset[index] for index in range(len(dataset)) if dataset[index]["rest_start"]]
    assert len(rest) == 3
    expected = clips[0].motion.translation[[0, 0, 1, 2, 3, 4]] + clips[0].motion.offsets[0]
    torch.testing.assert_close(rest[0]["pelvis"], expected)
    rotations = matrix_to_rotation_6d(clips[0].motion.rotations[[0, 0, 1, 2, 3, 4]])
    torch.testing.assert_close(rest[0]["rotations_6d"], rotations)
    assert not dataset[0]["rest_start"]
    with pytest.raises(InvalidInputError, match="rest_start_history"):
        MotionWindowDataset(clips, window_frames=6, show_progress=False, rest_start_history=6)


def test_real_captions_keep_side_and_direction_words(cmu_root):
    """CMU captions naming a side or a direction keep those words in the training prompts (and in
    MiniLM's tokens); mirrored windows swap left and right, never "backward"."""
    from kinevid.data.cmu import CMUMocap, cmu_texts
    from kinevid.text import load_text_encoder

    split = CMUMocap(cmu_root, split="train", fps=12.0, min_frames=15)
    wanted: dict[str, str | None] = {"left": None, "right": None, "backward": None}
    for trial_id in split.trial_ids:
        entry = split.index[trial_id]
        texts = cmu_texts(entry.description, entry.action_class)
        for word in wanted:
            if wanted[word] is None and len(texts) == 1 and word in texts[0].lower().split():
                wanted[word] = trial_id
    assert all(wanted.values()), wanted
    trials = CMUMocap(cmu_root, split="train", fps=12.0, trial_ids=list(wanted.values())).load_all(show_progress=False)
    tokenizer = load_text_encoder("minilm").tokenizer
    for word, trial in zip(wanted, trials, strict=True):
        dataset = MotionWindowDataset([trial], window_frames=15, stride=50, show_progress=False)
        plain = {dataset.prompts[dataset[i]["prompt_index"]] for i in range(0, len(dataset), 2)}
        mirrored = {dataset.prompts[dataset[i]["prompt_index"]] for i in range(1, len(dataset), 2)}
        caption = " ".join(trial.texts[0].lower().split())
        assert plain and all(caption in prompt for prompt in plain), (caption, plain)
        assert all(word in tokenizer.tokenize(prompt) for prompt in plain), plain
        if word == "backward":
            assert all(caption in prompt for prompt in mirrored)
        else:
            other = "right" if word == "left" else "left"
            assert all(other in tokenizer.tokenize(p) and word not in p.split() for p in mirrored), mirrored


def test_initialise_a_token_model_from_a_pooled_one(tmp_path):
    torch.manual_seed(0)
    config = dict(num_history_frames=2, num_future_frames=4, hidden_dim=24, num_layers=2, num_heads=2)
    pooled = MotionPrimitiveDiffusionModel(**config)
    with torch.no_grad():
        pooled.feature_mean.fill_(0.5)
    pooled.save_pretrained(tmp_path / "pipeline" / "model")
    tokens = MotionPrimitiveDiffusionModel(**config, text_conditioning="tokens")
    new = initialise_from(tokens, tmp_path / "pipeline")
    assert new and all("cross_attention" in name or "token" in name for name in new)
    assert torch.equal(tokens.feature_mean, pooled.feature_mean)
    assert torch.equal(tokens.blocks[0].adaln.weight, pooled.blocks[0].adaln.weight)
    wider = MotionPrimitiveDiffusionModel(**{**config, "num_layers": 3}, text_conditioning="tokens")
    with pytest.raises(InvalidInputError, match="does not match"):
        initialise_from(wider, tmp_path / "pipeline")


TINY_TOKENS = {
    "normalization_windows": 200,
    "validation_batches": 1,
    "max_text_tokens": 16,
    "data": {"max_trials": 2, "stride": 4, "rest_start_repeats": 4, "onset_repeats": 3},
    "model": {"num_history_frames": 2, "num_future_frames": 6, "hidden_dim": 32, "num_layers": 1, "num_heads": 2,
              "text_conditioning": "tokens", "cross_attention_dim": 16},
    "train": {"max_steps": 40, "batch_size": 8, "learning_rate": 0.003, "checkpoint_every": 20, "log_every": 5,
              "validate_every": 10, "ema_decay": 0.9, "num_threads": 1},
}  # fmt: skip


def test_tiny_token_training_end_to_end(tmp_path, cmu_root):
    config = StructureTrainingConfig.from_dict(
        {**TINY_TOKENS, "data": {**TINY_TOKENS["data"], "cmu_root": str(cmu_root)}}, tmp_path
    )
    pipeline_dir = train_text_to_motion(config)
    records = [json.loads(line) for line in (tmp_path / "logs.jsonl").read_text().splitlines()]
    val_losses = [record["val/diffusion"] for record in records if "val/diffusion" in record]
    assert val_losses[-1] < val_losses[0]
    summary = json.loads((tmp_path / "data_summary.json").read_text())
    assert summary["train"]["rest_start_windows"] > 0
    assert summary["train"]["onset_windows"] > 0 and summary["val"]["onset_windows"] == 0  # training split only
    pipeline = TextToMotionPipeline.from_pretrained(pipeline_dir)
    assert pipeline.uses_text_tokens
    # The cross-attention was trained off its zero initialisation.
    assert pipeline.model.blocks[0].cross_attention.to_out.weight.abs().sum() > 0
    motion = pipeline("a person kicks with the left leg", seconds=1.0, seed=0).motions[0]
    assert motion.num_frames == 12 and torch.isfinite(motion.rotations).all()


def test_onset_windows_end_their_history_on_the_last_still_frame():
    clips = [Clip(still_then_moving(20, 8), ["walk"]), Clip(still_then_moving(20, 0), ["run"])]
    moving_from = 8  # the first frame that has moved (translation steps from frame 7 to 8)
    assert motion_onset(clips[0].motion) == moving_from - 1
    assert motion_onset(still_then_moving(20, 20)) is None
    twitch = still_then_moving(20, 20)
    twitch.translation[9:, 2] = 0.1  # one step of 1.2 m/s, then still again: not a start
    assert motion_onset(twitch) is None
    dataset = MotionWindowDataset(clips, window_frames=6, stride=1, mirror=False, show_progress=False,
                                  rest_start_history=2, rest_start_repeats=0, onset_repeats=4)  # fmt: skip
    assert dataset.num_windows == 2 * 15 + 4 and dataset.num_onset_windows == 4  # only the still take has one
    onset = [dataset[index] for index in range(15, 19)]  # after the still take's 15 plain windows
    expected = clips[0].motion.translation[6:12] + clips[0].motion.offsets[0]  # history 6, 7 still; chunk 8.. moves
    for item in onset:
        assert not item["rest_start"]
        torch.testing.assert_close(item["pelvis"], expected)
    assert torch.equal(onset[0]["pelvis"][0], onset[0]["pelvis"][1])
    assert onset[0]["pelvis"][2, 2] > onset[0]["pelvis"][1, 2]
    with pytest.raises(InvalidInputError, match="onset_repeats"):
        MotionWindowDataset(clips, window_frames=6, show_progress=False, onset_repeats=2)
