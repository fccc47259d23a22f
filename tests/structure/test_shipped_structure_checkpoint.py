"""The text-to-motion checkpoint shipped in `kinevid/assets/structure` loads, is small and generates."""

from __future__ import annotations

import torch

from kinevid.motion.metrics import penetration
from kinevid.pipelines import TextToMotionPipeline
from kinevid.pipelines.pipeline_text_to_motion import default_checkpoint_dir


def test_shipped_checkpoint_generates_plausible_motion():
    directory = default_checkpoint_dir()
    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    assert size <= 20 * 1024 * 1024
    pipeline = TextToMotionPipeline.from_pretrained()
    assert pipeline.model.config.fps == 12.0 and pipeline.contact_guidance_scale > 0
    motions = pipeline(["a person walks forward", "a person jumps"], seconds=3.0, seed=0).motions
    for motion in motions:
        assert motion.num_frames == 36
        motion.validate()
        joints = motion.joints
        assert float(penetration(joints)) < 0.02  # the target: mean penetration <= 2 cm
        height = joints[:, 15, 1] - joints[..., 1].amin(-1)  # head above the lowest joint
        assert 1.0 < float(height.median()) < 2.0  # an upright adult, not a collapsed or exploded body
    assert not torch.allclose(motions[0].rotations, motions[1].rotations)


def test_shipped_checkpoint_follows_the_prompt():
    """Coarse text grounding: over 4 s, runs cover more ground than walks, walks far more than standing."""
    pipeline = TextToMotionPipeline.from_pretrained()

    def mean_travel(prompt: str) -> float:
        motions = pipeline([prompt] * 8, seconds=4.0, seed=0).motions
        return float(torch.stack([(m.translation[-1] - m.translation[0])[[0, 2]].norm() for m in motions]).mean())

    run, walk, stand = (mean_travel(p) for p in ("a person runs", "a person walks forward", "a person stands still"))
    assert run > 1.5 * walk and walk > 4.0 * stand, (run, walk, stand)
