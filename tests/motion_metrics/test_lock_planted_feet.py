"""`lock_planted_feet`: the root moves so that feet in contact stay put; poses are kept; nothing stays below the
floor; steps without contact are untouched."""

from __future__ import annotations

import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.motion.contacts import FOOT_JOINTS, lock_planted_feet
from kinevid.motion.metrics import dart_skate
from kinevid.motion.motion import Motion


def gliding(num_frames: int = 12, speed: float = 1.2) -> Motion:
    """The standing pose sliding along +Z at `speed` m/s: every foot joint skates."""
    rest = Motion.rest(num_frames, fps=12.0)
    translation = rest.translation.clone()
    translation[:, 2] += speed / 12.0 * torch.arange(num_frames)
    return Motion(rest.rotations, translation, 12.0, offsets=rest.offsets)


def test_planted_feet_stop_sliding_and_free_steps_keep_their_motion():
    motion = gliding()
    contacts = torch.zeros(12, 4, dtype=torch.bool)
    contacts[:6] = True  # planted over steps 0 -> 5, free afterwards
    locked = lock_planted_feet(motion, contacts)
    feet = locked.joints[:, list(FOOT_JOINTS)]
    torch.testing.assert_close(feet[:6], feet[:1].expand(6, -1, -1))  # planted: still
    free = torch.diff(locked.translation[5:], dim=0)
    torch.testing.assert_close(free, torch.diff(motion.translation[5:], dim=0))  # free: as before
    torch.testing.assert_close(locked.rotations, motion.rotations, rtol=0, atol=0)
    torch.testing.assert_close(locked.translation[:, 1], motion.translation[:, 1])
    assert dart_skate(locked.joints, 12.0) < dart_skate(motion.joints, 12.0)


def test_one_planted_foot_is_held_when_the_other_swings():
    motion = gliding()
    contacts = torch.zeros(12, 4, dtype=torch.bool)
    contacts[:, :2] = True  # the left ankle and toe only
    locked = lock_planted_feet(motion, contacts)
    left = locked.joints[:, [FOOT_JOINTS[0], FOOT_JOINTS[1]]]
    torch.testing.assert_close(left, left[:1].expand_as(left))


def test_frames_below_the_floor_are_lifted_by_their_depth():
    motion = gliding(speed=0.0)
    sunk = motion.translation.clone()
    sunk[3:5, 1] -= 0.04
    lowest = Motion(motion.rotations, sunk, 12.0, offsets=motion.offsets).joints[..., 1].amin(-1)
    assert (lowest[3:5] < -0.03).all()
    locked = lock_planted_feet(Motion(motion.rotations, sunk, 12.0, offsets=motion.offsets), torch.zeros(12, 4).bool())
    assert locked.joints[..., 1].amin() >= -1e-6
    torch.testing.assert_close(locked.joints[..., 1].amin(-1)[3:5], torch.zeros(2), atol=1e-5, rtol=0)


def test_wrong_contact_shape_names_the_field():
    with pytest.raises(InvalidInputError, match="contacts"):
        lock_planted_feet(gliding(), torch.ones(11, 4, dtype=torch.bool))
