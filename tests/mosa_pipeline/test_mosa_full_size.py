"""`MoSAPipeline.from_wan_pretrained`: MoSA weights on a diffusers Wan2.1 T2V directory, laid out exactly
like Wan2.1-T2V-1.3B-Diffusers (transformer/, vae/, text_encoder/ umT5, tokenizer/, scheduler/ UniPC), at
tiny size: the loaded pipeline equals one assembled by hand from the same parts."""

from __future__ import annotations

import pytest
import torch
from diffusers import UniPCMultistepScheduler
from mosa_pipeline_tiny import (  # noqa: F401
    NUM_FRAMES,
    WAN_TEXT_DIM,
    save_tiny_wan_with_mosa_weights,
    shipped_structure,
    single_threaded,
    tiny_vae,
)

from kinevid.errors import MissingWeightsError
from kinevid.motion import Motion
from kinevid.motion.io import sample_motion_path
from kinevid.pipelines import MoSAPipeline
from kinevid.text import load_text_encoder

SIZE = 32


@pytest.fixture(scope="module")
def wan_and_weights(tmp_path_factory):
    return save_tiny_wan_with_mosa_weights(tmp_path_factory.mktemp("wan"))


def _call(pipe, motion):
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        "a man in a red coat walks", motion=motion, height=SIZE, width=SIZE, num_frames=NUM_FRAMES,
        num_inference_steps=2, guidance_scale=2.0, generator=torch.Generator().manual_seed(0), output_type="pt",
    )  # fmt: skip


def test_wan_directory_with_mosa_weights_equals_the_hand_assembled_pipeline(wan_and_weights):
    wan_dir, weights_dir, mosa = wan_and_weights
    pipe = MoSAPipeline.from_wan_pretrained(wan_dir, weights_dir, structure=shipped_structure())
    assert isinstance(pipe.scheduler, UniPCMultistepScheduler) and pipe.text_encoder.dim == WAN_TEXT_DIM
    assert pipe.config.height == 480 and pipe.config.num_frames == 81  # Wan2.1's sampling defaults
    by_hand = MoSAPipeline(
        mosa, tiny_vae(), load_text_encoder(wan_dir), UniPCMultistepScheduler.from_pretrained(wan_dir / "scheduler"),
        structure=shipped_structure(), text_encoder_name=str(wan_dir),
    )  # fmt: skip
    motion = Motion.load(sample_motion_path()).resample(16.0).slice(0, NUM_FRAMES)
    expected, actual = _call(by_hand, motion), _call(pipe, motion)
    torch.testing.assert_close(actual.frames, expected.frames)


def test_not_a_wan_directory_is_one_clear_error(wan_and_weights, tmp_path):
    _, weights_dir, _ = wan_and_weights
    with pytest.raises(MissingWeightsError, match="WanPipeline"):
        MoSAPipeline.from_wan_pretrained(tmp_path, weights_dir)
