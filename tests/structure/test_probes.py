"""Kinematic action probes: each check passes on a real CMU clip of its action and fails on a clip of
a contrasting action; the runner checks exactly the motions the pipeline generates."""

from __future__ import annotations

import pytest

from kinevid.data.cmu import CMUMocap
from kinevid.errors import InvalidInputError
from kinevid.eval.probes import (
    ACTION_PROBES,
    PROBES_BY_FAMILY,
    BodyTrack,
    get_probes,
    pass_rates,
    probe_table,
    real_probe_clips,
    run_model_probes,
)

# family -> (a real CMU trial of the action, a trial of a contrasting action)
CASES = {
    "kick_right_leg": ("74_04", "02_01"),  # kick vs walk
    "wave_right_hand": ("111_37", "111_32"),  # one-hand wave vs both arms up (stretch and yawn)
    "turn_around": ("105_53", "02_01"),  # 180 vs walk
    "walk_backwards": ("111_01", "02_01"),
    "jump_in_place": ("118_01", "02_01"),
    "walk_then_jump": ("133_04", "118_01"),  # walk jump vs a standing jump
    "sit_down": ("143_18", "02_01"),
    "squat": ("22_14", "02_01"),
    "sidestep_left": ("143_40", "02_01"),
    "sidestep_right": ("141_33", "02_01"),
    "crawl": ("111_03", "02_01"),
    "lie_down_get_up": ("113_08", "143_18"),  # lying down vs sitting down
    "stretch_arms": ("111_32", "02_01"),
    "run": ("09_01", "08_06"),  # run vs a fast walk
    "walk_forward": ("07_01", "111_01"),  # forwards vs backwards
}


@pytest.fixture(scope="module")
def trials(cmu_root):
    ids = sorted({trial for pair in CASES.values() for trial in pair})
    return {t.trial_id: t.motion for t in CMUMocap(root=cmu_root, trial_ids=ids).load_all(show_progress=False)}


def test_every_family_has_a_case():
    assert set(CASES) == set(PROBES_BY_FAMILY)


@pytest.mark.parametrize("family", list(CASES))
def test_check_passes_on_its_action_and_fails_on_a_contrasting_one(family, trials):
    probe = PROBES_BY_FAMILY[family]
    action, contrast = CASES[family]
    result = probe.check_real(trials[action])
    assert result.passed, (action, result.failed, result.values)
    assert set(result.values) == {c.name for c in probe.criteria}
    contrasting = probe.check_real(trials[contrast])
    assert not contrasting.passed, (contrast, contrasting.values)


def test_sided_checks_fail_on_the_mirrored_side(trials):
    # A right kick mirrored is a left kick; a leftward sidestep is not a rightward one.
    kick = PROBES_BY_FAMILY["kick_right_leg"]
    right_kick = kick.orient_real(trials["74_04"])
    assert kick.check(right_kick).passed and not kick.check(right_kick.mirror()).passed
    assert PROBES_BY_FAMILY["sidestep_left"].check(trials["143_40"]).passed
    assert not PROBES_BY_FAMILY["sidestep_right"].check(trials["143_40"]).passed
    wave = PROBES_BY_FAMILY["wave_right_hand"]
    right_wave = wave.orient_real(trials["111_37"])
    assert not wave.check(right_wave.mirror()).passed


def test_measures_are_physical(trials):
    walk = BodyTrack(trials["07_01"])
    assert 1.0 < walk.forward_speed() < 1.7  # m/s, a normal walk
    assert walk.heading_change() < 45
    assert 0.85 < walk.start_pelvis_ratio() < 1.05
    assert BodyTrack(trials["111_01"]).forward_speed() < -0.2  # walking backwards
    assert BodyTrack(trials["105_53"]).heading_change() > 170  # "180"
    assert BodyTrack(trials["118_01"]).pelvis_rise() > 0.15  # a jump lifts the pelvis
    assert BodyTrack(trials["07_01"].mirror()).ankle_peak("left") == pytest.approx(walk.ankle_peak("right"), abs=1e-4)


def test_real_clips_follow_the_caption_pattern(cmu_root):
    clips = real_probe_clips(PROBES_BY_FAMILY["walk_then_jump"], root=cmu_root)
    assert [trial for trial, _ in clips] == ["133_03", "133_04", "133_05", "133_06", "133_07"]


def test_unknown_family_is_an_error():
    with pytest.raises(InvalidInputError, match="kick_left"):
        get_probes(["kick_left"])
    assert get_probes() == list(ACTION_PROBES)


def test_runner_checks_the_generated_motion(tiny_motion_pipeline):
    probe = PROBES_BY_FAMILY["jump_in_place"]
    outcomes = run_model_probes(tiny_motion_pipeline, probes=[probe], seeds=(3,), prompts_per_family=1)
    assert len(outcomes) == 1
    outcome = outcomes[0]
    assert (outcome.family, outcome.source, outcome.seed) == ("jump_in_place", probe.prompts[0], 3)
    motion = tiny_motion_pipeline([probe.prompts[0]], seconds=probe.seconds, seed=3).motions[0]
    assert motion.num_frames == round(probe.seconds * 12)
    assert outcome.result == probe.check(motion)
    rates = pass_rates(outcomes)
    assert rates["overall"] == rates["jump_in_place"] == (int(outcome.result.passed), 1)
    table = probe_table(outcomes, outcomes)
    assert "| jump_in_place |" in table and "| overall |" in table
