"""Training windows: enumeration, mirroring with left/right caption swaps, paraphrases."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from kinevid.body.rotations import axis_angle_to_matrix, matrix_to_rotation_6d
from kinevid.data.motion_windows import MotionWindowDataset, paraphrases, swap_left_right
from kinevid.errors import InvalidInputError
from kinevid.motion.contacts import foot_contacts
from kinevid.motion.motion import Motion


@dataclass
class Clip:
    motion: Motion
    texts: list[str]


def make_motion(num_frames: int, seed: int = 0, fps: float = 12.0) -> Motion:
    generator = torch.Generator().manual_seed(seed)
    rotations = axis_angle_to_matrix(0.3 * torch.randn(num_frames, 24, 3, generator=generator))
    translation = torch.cumsum(0.05 * torch.randn(num_frames, 3, generator=generator), 0) + torch.tensor([0, 0.9, 0])
    return Motion(rotations, translation, fps=fps)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("turn left", "turn right"),
        ("Right arm up, LEFT leg out", "Left arm up, RIGHT leg out"),
        ("spin clockwise then counter-clockwise", "spin counterclockwise then clockwise"),
        ("walk leftwards; anticlockwise circle", "walk rightwards; clockwise circle"),
        ("leftover bright lights", "leftover bright lights"),  # not whole words
        ("jump forward", "jump forward"),
    ],
)
def test_swap_left_right(text, expected):
    assert swap_left_right(text) == expected


def test_paraphrases_keep_the_caption_first_and_swap_subjects():
    assert paraphrases("  A person   jumps ") == [
        "a person jumps",
        "someone jumps",
        "a man jumps",
        "a woman jumps",
        "the person jumps",
    ]
    phrases = paraphrases("forward jumps, turn around")
    assert phrases[0] == "forward jumps, turn around"
    assert len(phrases) == len(set(phrases)) > 1
    assert all("forward jumps, turn around" in phrase for phrase in phrases)
    assert paraphrases("Walk", ("{text}",)) == ["walk"]


def test_windows_are_enumerated_plain_and_mirrored():
    clips = [
        Clip(make_motion(20, 0), ["wave the left hand"]),
        Clip(make_motion(8, 1), ["short"]),
        Clip(make_motion(15, 2), []),
    ]
    dataset = MotionWindowDataset(clips, window_frames=10, stride=2, show_progress=False)
    # Clip 0: starts 0, 2, ..., 10 (6 windows); clip 1 too short; clip 2: starts 0, 2, 4 (3 windows).
    assert dataset.num_windows == 9 and len(dataset) == 18
    motion = clips[0].motion
    item = dataset[2 * 3]  # window 3 of clip 0 (start 6), plain
    torch.testing.assert_close(item["rotations_6d"], matrix_to_rotation_6d(motion.rotations[6:16]))
    torch.testing.assert_close(item["pelvis"], motion.translation[6:16] + motion.offsets[0])
    torch.testing.assert_close(item["contacts"], foot_contacts(motion.joints, 12.0)[6:16].float())
    assert "left" in dataset.prompts[item["prompt_index"]]

    mirrored = dataset[2 * 3 + 1]
    expected = motion.slice(6, 16).mirror()
    torch.testing.assert_close(mirrored["rotations_6d"], matrix_to_rotation_6d(expected.rotations), atol=1e-6, rtol=0)
    torch.testing.assert_close(mirrored["pelvis"], expected.translation + expected.offsets[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(mirrored["offsets"], expected.offsets)
    torch.testing.assert_close(mirrored["contacts"], item["contacts"][:, [2, 3, 0, 1]])
    prompt = dataset.prompts[mirrored["prompt_index"]]
    assert "right hand" in prompt and "left" not in prompt
    # The mirrored window's labels agree with labels computed on the mirrored joints.
    torch.testing.assert_close(mirrored["contacts"], foot_contacts(motion.mirror().joints, 12.0)[6:16].float())
    assert dataset[2 * 6]["prompt_index"] == -1  # clip without captions
    with pytest.raises(IndexError):
        dataset[18]


def test_items_are_a_function_of_their_index():
    clips = [Clip(make_motion(30, 0), ["walk", "a person walks"])]
    first = MotionWindowDataset(clips, window_frames=5, show_progress=False)
    second = MotionWindowDataset(clips, window_frames=5, show_progress=False)
    for index in (0, 7, 31):
        a, b = first[index], second[index]
        assert a["prompt_index"] == b["prompt_index"]
        torch.testing.assert_close(a["rotations_6d"], b["rotations_6d"])
    # Captions are spread over windows, not all the same.
    assert len({first[index]["prompt_index"] for index in range(0, len(first), 2)}) > 3


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="window_frames"):
        MotionWindowDataset([Clip(make_motion(5), [])], window_frames=0, show_progress=False)
    with pytest.raises(InvalidInputError, match="No clip"):
        MotionWindowDataset([Clip(make_motion(5), [])], window_frames=6, show_progress=False)
    with pytest.raises(InvalidInputError, match="fps"):
        MotionWindowDataset(
            [Clip(make_motion(8), []), Clip(make_motion(8, fps=30.0), [])], window_frames=4, show_progress=False
        )
