"""Frame counts the commands pick: `4k + 1` for Wan-VAE pipelines, `8k + 1` for CogVideoX."""

import pytest

from kinevid.cli.commands.generate import frame_interval, frames_for_seconds, usable_frames
from kinevid.errors import InvalidInputError
from kinevid.pipelines import EchoMotionPipeline, MoSACogVideoXPipeline, MoSAPipeline


def test_each_pipeline_names_its_frame_interval():
    assert frame_interval(MoSAPipeline) == 4 and frame_interval(EchoMotionPipeline) == 4
    assert frame_interval(MoSACogVideoXPipeline) == 8


@pytest.mark.parametrize(
    "seconds,fps,interval,expected",
    [(2.0, 8.0, 4, 17), (1.4, 8.0, 4, 13), (1.4, 8.0, 8, 9), (6.0, 8.0, 8, 49), (0.1, 16.0, 8, 9)],
)
def test_frames_for_seconds(seconds, fps, interval, expected):
    frames = frames_for_seconds(seconds, fps, interval)
    assert frames == expected and (frames - 1) % interval == 0


def test_usable_frames_round_down_to_the_interval():
    assert usable_frames(24, None, 8.0, "walk.npz") == 21
    assert usable_frames(24, None, 8.0, "walk.npz", interval=8) == 17
    assert usable_frames(24, 1.0, 8.0, "walk.npz", interval=8) == 9
    with pytest.raises(InvalidInputError, match=r"walk.npz has 8 frames at 8 fps; at least 9 \(8k \+ 1"):
        usable_frames(8, None, 8.0, "walk.npz", interval=8)
