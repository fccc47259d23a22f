"""EchoMotion across a VAE change: a stage-2 config may start from another VAE's EchoMotion (`init_from`) with
a new `patch_size` (`model.ignore_mismatched_sizes`): the video patch embedding and output projection start
fresh, everything else (motion branch, motion normaliser, blocks) comes from the checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from echomotion_tiny import TINY_WAN_CONFIG, single_threaded, tiny_echomotion  # noqa: F401 - autouse fixture

from kinevid.errors import InvalidInputError
from kinevid.models.appearance import EchoMotionTransformer3DModel
from kinevid.motion.codecs.echomotion import MOTION_FEATURE_DIM
from kinevid.motion.codecs.normalizer import MotionNormalizer
from kinevid.recipes.echomotion import EchoMotionStageConfig, build_transformer

CHANGED = {"patch_embedding.weight", "proj_out.weight", "proj_out.bias"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = tiny_echomotion(seed=5)
    generator = torch.Generator().manual_seed(6)
    model.set_motion_normalizer(
        MotionNormalizer(torch.randn(MOTION_FEATURE_DIM, generator=generator), torch.rand(MOTION_FEATURE_DIM) + 0.5)
    )
    directory = tmp_path_factory.mktemp("echomotion_f8")
    model.save_pretrained(directory)
    return directory, {name: tensor.clone() for name, tensor in model.state_dict().items()}


def test_stage_two_warm_start_from_another_vaes_model(checkpoint, tmp_path):
    directory, saved = checkpoint
    values = {"stage": 2, "init_from": str(directory), "data": {"cache_dir": str(tmp_path)},
              "model": {"config": {"patch_size": [1, 4, 4]}, "ignore_mismatched_sizes": True},
              "train": {"max_steps": 1, "batch_size": 1, "learning_rate": 1e-4}}  # fmt: skip
    config = EchoMotionStageConfig.from_dict(values, output_dir=tmp_path)
    torch.manual_seed(7)
    model = build_transformer(config)
    torch.manual_seed(7)
    fresh = EchoMotionTransformer3DModel(**{**TINY_WAN_CONFIG, "patch_size": (1, 4, 4)}).state_dict()
    assert tuple(model.config.patch_size) == (1, 4, 4)
    saved_config = json.loads((directory / "config.json").read_text())
    assert model.config.motion_feature_mean == saved_config["motion_feature_mean"]
    for name, tensor in model.state_dict().items():
        if name in CHANGED:
            assert tensor.shape != saved[name].shape, name
            torch.testing.assert_close(tensor, fresh[name], rtol=0, atol=0, msg=name)
        else:
            torch.testing.assert_close(tensor, saved[name], rtol=0, atol=0, msg=name)


def test_stage_one_warm_start_needs_a_checkpoint(tmp_path):
    values = {"stage": 1, "data": {"cache_dir": str(tmp_path)}, "model": {"ignore_mismatched_sizes": True},
              "train": {"max_steps": 1, "batch_size": 1, "learning_rate": 1e-4}}  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"needs `model\.pretrained`"):
        EchoMotionStageConfig.from_dict(values, output_dir=tmp_path)
