"""Caption balance: a caption's windows are repeated `round((n_max / n) ** (1 - balance))` times (capped), so rare
actions are seen more often; balance 1 leaves the windows exactly as they were."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from kinevid.data.motion_windows import MotionWindowDataset, caption_key, caption_repeats
from kinevid.errors import InvalidInputError
from kinevid.motion.motion import Motion


@dataclass
class Clip:
    motion: Motion
    texts: list[str]


def walking(num_frames: int, speed: float = 1.2) -> Motion:
    translation = torch.zeros(num_frames, 3)
    translation[:, 2] = speed / 12.0 * torch.arange(num_frames)
    translation[:, 1] = 0.9
    return Motion(torch.eye(3).expand(num_frames, 24, 3, 3).clone(), translation, fps=12.0)


def clips() -> list[Clip]:
    """Window counts at window 6, stride 1: "long walk" 100 + 100, "Jump" 4 + 21 (two cases, one caption), "kick" 1,
    no caption 50."""
    return [
        Clip(walking(105), ["long walk"]),
        Clip(walking(105), ["Long Walk ", "a second caption"]),
        Clip(walking(9, 0.5), ["Jump"]),
        Clip(walking(26, 0.5), ["jump"]),
        Clip(walking(6, 0.2), ["kick"]),
        Clip(walking(55, 0.3), []),
    ]


def test_caption_key_groups_case_and_spacing_and_reads_the_first_text():
    assert caption_key(["  Long Walk ", "other"]) == "long walk"
    assert caption_key(["", " ", "Jump"]) == "jump"
    assert caption_key([]) == ""


def test_repeats_follow_the_power_law_and_the_cap():
    # Counts: long walk 200, jump 25, kick 1.
    assert caption_repeats(clips(), 6, 1, 0.5, 16) == {"long walk": 1, "jump": round(8**0.5), "kick": 14}
    assert caption_repeats(clips(), 6, 1, 0.0, 16) == {"long walk": 1, "jump": 8, "kick": 16}
    assert caption_repeats(clips(), 6, 1, 0.0, 300) == {"long walk": 1, "jump": 8, "kick": 200}
    assert caption_repeats(clips(), 6, 1, 1.0, 16) == {}  # balance 1: nothing repeated
    assert caption_repeats(clips(), 6, 5, 0.0, 16) == {"long walk": 1, "jump": 7, "kick": 16}  # 41 vs 6 windows


def test_balanced_windows_are_copies_and_shares_move_towards_equal():
    plain = MotionWindowDataset(clips(), 6, mirror=False, show_progress=False, templates=("{text}",))
    balanced = MotionWindowDataset(
        clips(), 6, mirror=False, show_progress=False, templates=("{text}",), caption_balance=0.0
    )
    assert plain.caption_repeats == {} and plain.num_windows == 200 + 25 + 1 + 50
    assert balanced.num_windows == 200 + 8 * 25 + 16 * 1 + 50  # the uncaptioned clip is not repeated
    # The same windows, each repeated in place: the third clip's 4 windows come 8 times after the walks' 200.
    for copy in range(8):
        for window in range(4):
            item = balanced[200 + 4 * copy + window]
            torch.testing.assert_close(item["pelvis"], plain[200 + window]["pelvis"], rtol=0, atol=0)
            assert balanced.prompts[item["prompt_index"]].lower() == "jump"

    # A caption's share rises, the commonest's falls.
    def share(dataset: MotionWindowDataset, caption: str) -> float:
        indices = [dataset[i]["prompt_index"] for i in range(dataset.num_windows)]
        return sum(index >= 0 and dataset.prompts[index] == caption for index in indices) / dataset.num_windows

    assert share(plain, "kick") == 1 / 276 and share(balanced, "kick") == 16 / 466
    assert share(balanced, "long walk") < share(plain, "long walk")


def test_balance_one_reproduces_the_unbalanced_dataset_exactly():
    a = MotionWindowDataset(clips(), 6, show_progress=False)
    b = MotionWindowDataset(clips(), 6, show_progress=False, caption_balance=1.0, caption_balance_max_repeats=3)
    assert len(a) == len(b)
    for index in range(0, len(a), 7):
        for key in ("rotations_6d", "pelvis", "contacts"):
            assert torch.equal(a[index][key], b[index][key])
        assert a[index]["prompt_index"] == b[index]["prompt_index"]


@pytest.mark.parametrize(("balance", "max_repeats"), [(-0.1, 16), (1.5, 16), (0.5, 0)])
def test_bad_balance_settings_name_the_field(balance, max_repeats):
    with pytest.raises(InvalidInputError, match="caption_balance"):
        MotionWindowDataset(
            clips(), 6, show_progress=False, caption_balance=balance, caption_balance_max_repeats=max_repeats
        )
