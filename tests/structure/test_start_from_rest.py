"""Start from rest: the first frame is the standing pose and the first primitive's history is that pose."""

from __future__ import annotations

import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.models.structure import MotionPrimitiveDiffusionModel
from kinevid.pipelines import TextToMotionPipeline
from kinevid.pipelines.pipeline_text_to_motion import standing_motion


class HoldPoseModel(MotionPrimitiveDiffusionModel):
    """Predicts the last history frame held for the whole chunk (a person standing where they are)."""

    def forward(self, sample, timestep, history, history_mask, text_embeds, text_mask):
        return history[:, -1:].expand(-1, sample.shape[1], -1)


def test_standing_pose_has_arms_down_and_feet_on_the_floor():
    pose = standing_motion(1, 12.0, MotionPrimitiveDiffusionModel().body_offsets).joints[0]
    assert pose[:, 1].min().abs() < 1e-5
    for wrist, shoulder in ((20, 16), (21, 17)):
        assert pose[wrist, 1] < pose[shoulder, 1] - 0.3
    torch.testing.assert_close(pose[0, [0, 2]], torch.zeros(2))


def test_first_frames_are_the_standing_pose(tiny_motion_pipeline):
    tiny = tiny_motion_pipeline
    model = HoldPoseModel(**tiny.model.config)
    model.load_state_dict(tiny.model.state_dict())
    pipeline = TextToMotionPipeline(model, tiny.scheduler, text_encoder=tiny.text_encoder, num_inference_steps=2)
    motion = pipeline("a person jumps", seconds=2.0, seed=0, guidance_scale=1.0).motions[0]
    standing = standing_motion(1, 12.0, model.body_offsets).joints[0]
    first = motion.joints[: round(0.3 * motion.fps) + 1]  # the first 0.3 s
    torch.testing.assert_close(first, standing.expand_as(first), atol=1e-4, rtol=0)


def test_history_of_the_first_primitive(tiny_motion_pipeline):
    pipeline = tiny_motion_pipeline
    seen = []
    pipeline.model.register_forward_pre_hook(lambda module, args: seen.append((args[2].clone(), args[3].clone())))
    motion = pipeline("a person squats", seconds=1.0, seed=0).motions[0]
    standing = standing_motion(1, 12.0, pipeline.model.body_offsets).joints[0]
    torch.testing.assert_close(motion.joints[0], standing, atol=1e-5, rtol=0)
    history, mask = seen[0]
    assert mask.all()
    # The history's chunk frame is anchored on the standing pose itself, so its pelvis is at x = z = 0.
    pelvis = pipeline.model.denormalize(history)[..., :3]
    torch.testing.assert_close(pelvis[..., [0, 2]], torch.zeros_like(pelvis[..., [0, 2]]), atol=1e-5, rtol=0)
    seen.clear()
    in_motion = pipeline("a person squats", seconds=1.0, seed=0, start="motion").motions[0]
    assert not seen[0][1].any()  # no history
    assert in_motion.num_frames == motion.num_frames == 12
    assert not torch.allclose(in_motion.joints[0], standing, atol=1e-3)


def test_bad_start_mode(tiny_motion_pipeline):
    with pytest.raises(InvalidInputError, match="`start` must be one of"):
        tiny_motion_pipeline("walk", start="sitting")
    with pytest.raises(InvalidInputError, match="`start` must be one of"):
        TextToMotionPipeline(tiny_motion_pipeline.model, tiny_motion_pipeline.scheduler, start="standing")


def test_start_default_is_saved_with_the_pipeline(tiny_motion_pipeline, tmp_path):
    assert tiny_motion_pipeline.start == "rest"
    tiny_motion_pipeline.start = "motion"
    tiny_motion_pipeline.save_pretrained(tmp_path / "pipeline")
    loaded = TextToMotionPipeline.from_pretrained(tmp_path / "pipeline", text_encoder=tiny_motion_pipeline.text_encoder)
    assert loaded.start == "motion"
    seen = []
    loaded.model.register_forward_pre_hook(lambda module, args: seen.append(args[3].clone()))
    loaded("a person walks", seconds=0.5, seed=0)
    assert not seen[0].any()  # the saved default: no standing history
