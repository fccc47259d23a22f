"""`EchoMotionPipeline` directories that name their text encoder and share their VAE (the shipped layout)."""

import json
import shutil

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler

from kinevid.errors import MissingWeightsError
from kinevid.models.appearance import EchoMotionTransformer3DModel
from kinevid.motion.codecs import MotionNormalizer
from kinevid.pipelines import EchoMotionPipeline
from kinevid.text import load_text_encoder
from tiny_models import tiny_wan_config

TEXT_LEN = 8


@pytest.fixture(scope="module")
def named_pipe() -> EchoMotionPipeline:
    text_encoder = load_text_encoder("minilm")
    torch.manual_seed(0)
    transformer = EchoMotionTransformer3DModel(**tiny_wan_config(in_channels=16, out_channels=16, text_dim=384)).eval()
    generator = torch.Generator().manual_seed(1)
    transformer.set_motion_normalizer(
        MotionNormalizer(torch.randn(235, generator=generator) * 0.1, torch.rand(235, generator=generator) + 0.5)
    )
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    ).eval()
    return EchoMotionPipeline(
        tokenizer=text_encoder.tokenizer,
        text_encoder=text_encoder.model,
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        max_sequence_length=TEXT_LEN,
        fps=8.0,
        text_encoder_name="minilm",
    )


def _sample(pipe):
    return pipe(
        "a person jumps", height=16, width=16, num_frames=5, num_inference_steps=2, guidance_scale=3.0,
        generator=torch.Generator().manual_seed(0), max_sequence_length=TEXT_LEN,
    )  # fmt: skip


def test_a_named_text_encoder_is_recorded_not_copied(named_pipe, tmp_path):
    named_pipe.save_pretrained(tmp_path / "pipe")
    assert sorted(p.name for p in (tmp_path / "pipe").iterdir()) == [
        "model_index.json",
        "scheduler",
        "transformer",
        "vae",
    ]
    index = json.loads((tmp_path / "pipe" / "model_index.json").read_text())
    assert index["text_encoder_name"] == "minilm" and index["fps"] == 8.0
    loaded = EchoMotionPipeline.from_pretrained(tmp_path / "pipe")
    assert loaded.config.max_sequence_length == TEXT_LEN and loaded.config.text_encoder_name == "minilm"
    a, b = _sample(named_pipe), _sample(loaded)
    assert np.allclose(a.frames, b.frames, atol=1e-6)
    torch.testing.assert_close(a.motion_features, b.motion_features)


def test_a_shared_vae_is_found_through_component_paths(named_pipe, tmp_path):
    named_pipe.save_pretrained(tmp_path / "pipe")
    shutil.move(tmp_path / "pipe" / "vae", tmp_path / "shared_vae")
    index_path = tmp_path / "pipe" / "model_index.json"
    index = json.loads(index_path.read_text())
    index_path.write_text(json.dumps({**index, "component_paths": {"vae": "../shared_vae"}}))
    loaded = EchoMotionPipeline.from_pretrained(tmp_path / "pipe")
    assert np.allclose(_sample(named_pipe).frames, _sample(loaded).frames, atol=1e-6)

    index_path.write_text(json.dumps({**index, "component_paths": {"vae": "../elsewhere"}}))
    with pytest.raises(MissingWeightsError, match="elsewhere"):
        EchoMotionPipeline.from_pretrained(tmp_path / "pipe")
