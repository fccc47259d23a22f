"""uint8 frames <-> model tensors; seeded scene sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.render.frames import frames_to_tensor, tensor_to_frames
from kinevid.render.scene import sample_scene


def test_frames_tensor_round_trip():
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 5, 7, 3), dtype=np.uint8)
    video = frames_to_tensor(frames)
    assert video.shape == (3, 3, 5, 7)
    assert float(video[1, 2, 3, 4]) == pytest.approx(frames[2, 3, 4, 1] / 127.5 - 1)
    np.testing.assert_array_equal(tensor_to_frames(video), frames)
    assert tensor_to_frames(torch.full((3, 1, 2, 2), 5.0)).max() == 255  # clipped
    with pytest.raises(InvalidInputError, match="uint8"):
        frames_to_tensor(np.zeros((2, 4, 4, 3), dtype=np.float32))


def test_scene_sampling_is_seeded():
    first = sample_scene(torch.Generator().manual_seed(5))
    assert first == sample_scene(torch.Generator().manual_seed(5))
    assert first != sample_scene(torch.Generator().manual_seed(6))
    assert first.light.unit_direction()[1] > 0
