"""Side words for captions of one-sided actions: the side comes from the motion (which ankle rose higher, which
wrist rose over its shoulder), the phrase lands after the action or at the end of its clause, captions that
name a side stay as they are, and mirrored training windows carry the other side."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from kinevid.data.cmu import CMUMocap
from kinevid.data.motion_windows import MotionWindowDataset
from kinevid.data.side_words import HAND_SIDE_MARGIN, LEG_SIDE_MARGIN, add_side_words, dominant_side
from kinevid.errors import InvalidInputError
from kinevid.motion.limbs import ANKLES, SHOULDERS, WRISTS
from kinevid.motion.motion import Motion


def joints_with(ankles: tuple[float, float] = (0.1, 0.1), wrists: tuple[float, float] = (-0.4, -0.4)) -> torch.Tensor:
    """`(5, 24, 3)` joints with peak (left, right) ankle heights and wrist raises over the shoulders at frame 2."""
    joints = torch.zeros(5, 24, 3)
    joints[:, [SHOULDERS["left"], SHOULDERS["right"]], 1] = 1.4
    joints[:, [WRISTS["left"], WRISTS["right"]], 1] = 1.4 - 0.5
    for index, side in enumerate(("left", "right")):
        joints[2, ANKLES[side], 1] = ankles[index]
        joints[2, WRISTS[side], 1] = 1.4 + wrists[index]
    return joints


@pytest.mark.parametrize(
    ("text", "joints", "expected"),
    [
        ("kick ball", joints_with(ankles=(0.1, 0.6)), "kick ball with the right leg"),
        ("kick ball, walk away", joints_with(ankles=(0.6, 0.1)), "kick ball with the left leg, walk away"),
        ("Wave Hello", joints_with(wrists=(-0.4, 0.2)), "Wave Hello with the right hand"),
        ("Punch Kick", joints_with(ankles=(0.5, 0.1), wrists=(-0.1, -0.4)),
         "Punch with the left hand Kick with the left leg"),
        ("jumps kicks and punches", joints_with(ankles=(0.1, 0.5), wrists=(0.1, -0.4)),
         "jumps kicks with the right leg and punches with the left hand"),
        ("kick ball", joints_with(ankles=(0.1, 0.1 + LEG_SIDE_MARGIN / 2)), "kick ball"),  # too close to call
        ("wave", joints_with(wrists=(0.0, HAND_SIDE_MARGIN / 2)), "wave"),
        ("hop on left foot, kick", joints_with(ankles=(0.1, 0.6)), "hop on left foot, kick"),  # names a side
        ("walk forward", joints_with(ankles=(0.1, 0.6)), "walk forward"),  # no one-sided action
    ],
)  # fmt: skip
def test_add_side_words(text, joints, expected):
    assert add_side_words(text, joints) == expected


def test_dominant_side_reads_the_margin():
    assert dominant_side(joints_with(ankles=(0.1, 0.11 + LEG_SIDE_MARGIN)), "leg") == "right"
    assert dominant_side(joints_with(ankles=(0.1 + LEG_SIDE_MARGIN * 0.9, 0.1)), "leg") is None
    assert dominant_side(joints_with(wrists=(0.1, 0.09 - HAND_SIDE_MARGIN)), "hand") == "left"


@dataclass
class Clip:
    motion: Motion
    texts: list[str]


def test_a_real_kick_gets_its_side_and_the_mirrored_windows_the_other(cmu_root):
    """CMU 10_01 ("soccer - kick ball"): the right leg kicks; its mirrored windows say left, as their body does."""
    trial = CMUMocap(cmu_root, trial_ids=["10_01"])[0]
    assert add_side_words(trial.texts[0], trial.motion.joints) == "kick ball with the right leg"
    assert dominant_side(trial.motion.mirror().joints, "leg") == "left"
    dataset = MotionWindowDataset([Clip(trial.motion, trial.texts[:1])], 24, stride=8, templates=("{text}",),
                                  show_progress=False, side_words=True)  # fmt: skip
    assert dataset.num_side_worded_clips == 1
    plain, mirrored = dataset[0], dataset[1]
    assert dataset.prompts[plain["prompt_index"]] == "kick ball with the right leg"
    assert dataset.prompts[mirrored["prompt_index"]] == "kick ball with the left leg"
    off = MotionWindowDataset([Clip(trial.motion, trial.texts[:1])], 24, stride=8, templates=("{text}",),
                              show_progress=False)  # fmt: skip
    assert off.prompts == ["kick ball"] and off.num_side_worded_clips == 0


def test_side_word_repeats_copy_only_the_side_worded_clips_windows(cmu_root):
    """A kick (side-worded) and a walk (not) in one set: `side_word_repeats=3` triples the kick's windows, keeps
    the walk's, and every copy is the same window as the original."""
    kick, walk = CMUMocap(cmu_root, trial_ids=["10_01", "02_01"])
    clips = [Clip(kick.motion, kick.texts[:1]), Clip(walk.motion, walk.texts[:1])]
    options = {"stride": 8, "templates": ("{text}",), "show_progress": False, "side_words": True}
    once = MotionWindowDataset(clips, 24, **options)
    thrice = MotionWindowDataset(clips, 24, side_word_repeats=3, **options)
    assert once.num_side_worded_clips == thrice.num_side_worded_clips == 1
    kick_windows = (kick.motion.num_frames - 24) // 8 + 1
    assert thrice.num_windows == once.num_windows + 2 * kick_windows
    copy = thrice[2 * kick_windows]  # the first window of the first copy, plain
    for key in ("rotations_6d", "pelvis", "contacts"):
        torch.testing.assert_close(copy[key], once[0][key], rtol=0, atol=0)
    assert copy["prompt_index"] in range(len(thrice.prompts))
    assert thrice.prompts[copy["prompt_index"]] == "kick ball with the right leg"
    with pytest.raises(InvalidInputError, match="side_word_repeats"):
        MotionWindowDataset(clips, 24, side_word_repeats=0, **options)
