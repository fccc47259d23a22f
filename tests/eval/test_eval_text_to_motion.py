"""The text-to-motion benchmark's model column, with a stand-in "model" that returns real motions."""

from __future__ import annotations

import pytest

from kinevid.errors import InvalidInputError
from kinevid.eval import TextMotionEvaluator, text_to_motion
from kinevid.eval.text_to_motion import evaluate_text_to_motion, split_halves


class ReplayPipeline:
    """Answers each caption with the real clip that carries it, at 20 fps (like a perfect model)."""

    def __init__(self, motions_by_text):
        self.motions_by_text = {text: motion.resample(20.0) for text, motion in motions_by_text.items()}
        self.calls = []

    def __call__(self, prompts, seconds, generator):
        self.calls.append((list(prompts), seconds))
        motions = [self.motions_by_text[p] for p in prompts]
        return type("Output", (), {"motions": motions})()


def test_a_model_that_replays_real_motions_scores_like_real_data(cmu_root, monkeypatch):
    evaluator = TextMotionEvaluator.from_pretrained()
    clips = text_to_motion.load_heldout_clips(evaluator, "test", cmu_root=cmu_root, max_trials=34)
    replay = ReplayPipeline({c.text: c.motion for c in reversed(clips)})  # first clip of each caption
    monkeypatch.setattr(text_to_motion, "load_text_to_motion_pipeline", lambda model_dir: (replay, None))
    monkeypatch.setattr(text_to_motion, "load_heldout_clips", lambda *args, **kwargs: clips)  # load once
    report = evaluate_text_to_motion(
        evaluator,
        "test",
        cmu_root=cmu_root,
        max_trials=34,
        multimodality_texts=2,
        multimodality_repeats=3,
        show_progress=False,
    )
    real, model = (column.metrics for column in report.columns)
    assert real["fid"] > 0 and model["fid"] < 0.5 * real["fid"]  # same motions: far below two disjoint halves
    assert model["r_precision_top3"] == pytest.approx(real["r_precision_top3"], abs=0.1)
    assert model["multimodality"] == pytest.approx(0.0, abs=1e-6)  # the replay is deterministic
    assert model["physical/foot_skating_ratio"] == pytest.approx(real["physical/foot_skating_ratio"], abs=0.02)
    # Each generation call asks for the clip's duration, one batch per duration.
    durations = {c.duration for c in clips}
    assert {seconds for _, seconds in replay.calls} == durations


def test_halves_are_disjoint_and_keep_trials_together():
    clips = [type("Clip", (), {"trial_id": f"{i // 3:02d}_01"})() for i in range(30)]
    first, second = split_halves(clips, seed=0)
    assert sorted(first + second) == list(range(30)) and abs(len(first) - len(second)) <= 3
    trials_first = {clips[i].trial_id for i in first}
    assert not trials_first & {clips[i].trial_id for i in second}
    assert split_halves(clips, seed=0) == (first, second) != split_halves(clips, seed=1)


def test_repeated_generations_report_mean_and_interval(cmu_root, monkeypatch):
    evaluator = TextMotionEvaluator.from_pretrained()
    clips = text_to_motion.load_heldout_clips(evaluator, "test", cmu_root=cmu_root, max_trials=34)
    replay = ReplayPipeline({c.text: c.motion for c in reversed(clips)})
    monkeypatch.setattr(text_to_motion, "load_text_to_motion_pipeline", lambda model_dir: (replay, None))
    monkeypatch.setattr(text_to_motion, "load_heldout_clips", lambda *args, **kwargs: clips)
    once = evaluate_text_to_motion(evaluator, "test", multimodality_texts=0, show_progress=False).columns[1]
    calls_once = len(replay.calls)
    twice = evaluate_text_to_motion(evaluator, "test", multimodality_texts=0, repeats=2, show_progress=False)
    model = twice.columns[1]
    assert len(replay.calls) == 3 * calls_once  # two more rounds of generation
    assert model.metrics["r_precision_top3"] == pytest.approx(once.metrics["r_precision_top3"])
    assert model.intervals["r_precision_top3"] == pytest.approx(0.0, abs=1e-9)  # the replay is deterministic
    assert twice.settings["generation_repeats"] == 2 and "2 generations" in model.note
    with pytest.raises(InvalidInputError, match="repeats"):
        evaluate_text_to_motion(evaluator, "test", repeats=0, show_progress=False)
