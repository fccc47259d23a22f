"""Timelines: splitting prompts into segments, parsing explicit timelines, and the text condition the
sampler gives each primitive."""

from __future__ import annotations

import json

import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.pipelines.pipeline_text_to_motion import blend_embeddings, timeline_weights
from kinevid.text.motion_prompt.timeline import (
    TimelineSegment,
    load_timeline,
    parse_timeline,
    read_timeline_file,
    resolve_timeline,
    split_motion_sequence,
)


@pytest.mark.parametrize(
    ("prompt", "texts"),
    [
        ("a person walks forward and then jumps", ["a person walks forward", "a person jumps"]),
        ("a person walks forward, then jumps", ["a person walks forward", "a person jumps"]),
        ("walk forward then jump", ["walk forward", "jump"]),
        ("first walk forward, then jump, and then sit down", ["walk forward", "jump", "sit down"]),
        ("a person first waves, then turns around", ["a person waves", "a person turns around"]),
        ("a person walks forward, turns around, walks back", ["a person walks forward, turns around, walks back"]),
        ("a person strengthens their legs", ["a person strengthens their legs"]),
    ],
)
def test_split_motion_sequence(prompt, texts):
    assert [segment.text for segment in split_motion_sequence(prompt)] == texts


def test_durations_even_or_explicit():
    segments = split_motion_sequence("first walk for 3 seconds, then jump, then sit down")
    assert segments[0] == TimelineSegment("walk", 3.0)
    assert resolve_timeline(segments, 7.0) == [("walk", 3.0), ("jump", 2.0), ("sit down", 2.0)]
    assert resolve_timeline(split_motion_sequence("walk and then jump"), 6.0) == [("walk", 3.0), ("jump", 3.0)]
    with pytest.raises(InvalidInputError, match="leave no time"):
        resolve_timeline(segments, 3.0)


def test_parse_timeline():
    assert parse_timeline("walk forward:3, jump:2.5") == [
        TimelineSegment("walk forward", 3.0),
        TimelineSegment("jump", 2.5),
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("walk forward:3, jump", 'part 2 "jump": expected TEXT:SECONDS'),
        ("walk:x", 'part 1 "walk:x": seconds must be a number'),
        ("walk:3, :2", 'part 2 ":2": the text is empty'),
        ("walk:0", "seconds must be in"),
        ("walk:nan", "seconds must be in"),
        ("  ", "--timeline is empty"),
    ],
)
def test_bad_timelines_are_one_line_errors_naming_the_part(spec, message):
    with pytest.raises(InvalidInputError, match=message) as error:
        parse_timeline(spec)
    assert "\n" not in str(error.value)


def test_timeline_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps([["walk forward", 3], ["jump", 2]]))
    assert read_timeline_file(path) == load_timeline(str(path)) == parse_timeline("walk forward:3, jump:2")
    for content, message in [
        ("{not json", "is not JSON"),
        ("[]", "non-empty list"),
        ('[["walk", 3], ["jump"]]', "entry 1: expected \\[text, seconds\\]"),
        ('[["walk", "3"]]', "entry 0: seconds must be a number"),
        ('[["walk", -1]]', "entry 0: seconds must be in"),
    ]:
        path.write_text(content)
        with pytest.raises(InvalidInputError, match=message):
            read_timeline_file(path)
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_timeline_file(tmp_path / "missing.json")


def test_timeline_weights_cross_fade_over_the_boundary():
    times = torch.tensor([0.2, 0.875, 1.0, 1.125, 1.8])
    weights = timeline_weights(times, [1.0, 1.0], transition=1 / 3)
    expected = torch.tensor([[1.0, 0.0], [0.875, 0.125], [0.5, 0.5], [0.125, 0.875], [0.0, 1.0]])
    torch.testing.assert_close(weights, expected)
    unit = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    blended = blend_embeddings(unit, weights)
    torch.testing.assert_close(blended.norm(dim=-1), torch.ones(5))
    torch.testing.assert_close(blended[0], unit[0])


def record_text_conditions(pipeline) -> list[torch.Tensor]:
    """The conditional text embeddings of every denoiser call (first half of a guided batch)."""
    calls = []

    def hook(module, args):
        text_embeds, text_mask = args[4], args[5]
        calls.append(text_embeds[text_mask].clone())

    pipeline.model.register_forward_pre_hook(hook)
    return calls


def test_sampler_switches_the_text_per_segment(tiny_motion_pipeline):
    pipeline = tiny_motion_pipeline  # 12 fps, 4 frames per primitive, 2 denoising steps
    calls = record_text_conditions(pipeline)
    motion = pipeline(timeline=[("walk forward", 1.0), ("jump", 1.0)], seed=0).motions[0]
    assert motion.num_frames == 24  # 2 s at 12 fps
    walk, jump = pipeline.encode_prompt(["walk forward", "jump"])
    per_chunk = [calls[i][0] for i in range(0, len(calls), 2)]  # one entry per primitive
    assert len(per_chunk) == 6  # the standing frame + 23 generated frames in primitives of 4
    # Primitive centres (first frame 1 + 4c, centre +1.5 frames): 0.21, 0.54, 0.88, 1.21, 1.54, 1.88 s.
    for index in (0, 1):
        torch.testing.assert_close(per_chunk[index], walk)
    for index in (3, 4, 5):
        torch.testing.assert_close(per_chunk[index], jump)
    boundary = blend_embeddings(torch.stack([walk, jump]), torch.tensor([[0.875, 0.125]]))[0]
    torch.testing.assert_close(per_chunk[2], boundary)


def test_sequence_prompt_is_the_same_as_its_timeline(tiny_motion_pipeline):
    pipeline = tiny_motion_pipeline
    from_prompt = pipeline("walk forward and then jump", seconds=2.0, seed=1).motions[0]
    from_timeline = pipeline(timeline=[("walk forward", 1.0), ("jump", 1.0)], seed=1).motions[0]
    torch.testing.assert_close(from_prompt.rotations, from_timeline.rotations)
    unsplit = pipeline("walk forward and then jump", seconds=2.0, seed=1, split_sequences=False).motions[0]
    assert not torch.allclose(unsplit.rotations, from_timeline.rotations)


def test_bad_pipeline_timelines(tiny_motion_pipeline):
    with pytest.raises(InvalidInputError, match="entry 1"):
        tiny_motion_pipeline(timeline=[("walk", 1.0), ("jump", 0.0)])
    with pytest.raises(InvalidInputError, match="`timeline` is empty"):
        tiny_motion_pipeline(timeline=[])
    with pytest.raises(InvalidInputError, match="transition_seconds"):
        tiny_motion_pipeline("walk", transition_seconds=0.0)
