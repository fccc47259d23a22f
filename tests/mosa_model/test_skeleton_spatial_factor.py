"""MoSA at a VAE spatial factor other than 8: the skeleton encoder's strides and token grid, the transformer's
`skeleton_spatial_factor` (registered, saved, old configs load as 8), HADC's shape check and MoSA weights."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import WanTransformer3DModel
from mosa_tiny import TINY_MOSA, TINY_WAN_CONFIG, single_threaded, tiny_mosa_wan  # noqa: F401 - autouse fixture

from kinevid.errors import InvalidInputError
from kinevid.models.appearance import MoSAWanTransformer3DModel, SkeletonEncoder
from kinevid.models.vae import latent_shape

PATCH_F4 = (1, 4, 4)


def _video(num_frames: int = 9, height: int = 32, width: int = 48, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, num_frames, height, width, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _randomise(model: MoSAWanTransformer3DModel, seed: int = 1) -> MoSAWanTransformer3DModel:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.mosa_parameters():
            parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    return model


def test_encoder_strides_follow_the_factor():
    assert SkeletonEncoder(3, (4, 8, 8)).conv_in.stride == (4, 4, 4)  # the default: 8x, as before
    assert SkeletonEncoder(3, (4, 8, 8), spatial_factor=8).conv_in.kernel_size == (4, 4, 4)
    encoder = SkeletonEncoder(3, (4, 8, 8), PATCH_F4, spatial_factor=4)
    assert encoder.conv_in.stride == encoder.conv_in.kernel_size == (4, 2, 2)
    assert encoder.conv_down.stride == (1, 2, 2)
    assert SkeletonEncoder(3, (4, 8, 8), spatial_factor=16).conv_in.stride == (4, 8, 8)
    for bad in (2, 3, 6, 12, 0, 4.0):
        with pytest.raises(ValueError, match="power of two >= 4"):
            SkeletonEncoder(3, (4, 8, 8), spatial_factor=bad)


def test_factor_4_with_patch_4_gives_the_token_grid_of_factor_8_with_patch_2():
    torch.manual_seed(0)
    f4 = SkeletonEncoder(3, (4, 8, 8), PATCH_F4, spatial_factor=4).eval()
    f8 = SkeletonEncoder(3, (4, 8, 8), (1, 2, 2)).eval()
    video = _video(9, 32, 48)
    frames, height, width = latent_shape(9, 32, 48, spatial_factor=4)  # (3, 8, 12)
    assert f4.token_grid(9, 32, 48) == (frames, height // 4, width // 4) == f8.token_grid(9, 32, 48) == (3, 2, 3)
    with torch.no_grad():
        assert f4(video).shape == f8(video).shape == (1, 3 * 2 * 3, 8)
    with pytest.raises(InvalidInputError, match="H a multiple of 16"):
        f4(_video(9, 24, 48))


def test_factor_4_token_order_is_the_dits():
    torch.manual_seed(0)
    encoder = SkeletonEncoder(3, (4, 8, 8), PATCH_F4, spatial_factor=4).eval()
    video = _video(5, 48, 64)
    token_frame, row, column = 1, 2, 1
    perturbed = video.clone()
    # token (row, column) covers 4 x 4 latent cells of 4 x 4 pixels; its inner 8 x 8 pixels reach no other token
    perturbed[:, :, 1:5, 16 * row + 4 : 16 * row + 12, 16 * column + 4 : 16 * column + 12] += 0.5
    with torch.no_grad():
        delta = (encoder(perturbed) - encoder(video)).abs().amax(dim=-1)[0]
    changed = (delta > 1e-6).reshape(encoder.token_grid(5, 48, 64))
    assert changed.sum() == 1 and bool(changed[token_frame, row, column])


def test_transformer_skeleton_tokens_match_its_video_tokens():
    model = _randomise(tiny_mosa_wan(patch_size=PATCH_F4, skeleton_spatial_factor=4))
    assert model.config.skeleton_spatial_factor == 4 and model.skeleton_encoder.spatial_factor == 4
    latents = torch.randn(2, 4, 3, 8, 12, generator=torch.Generator().manual_seed(0))  # a 9 x 32 x 48 video at 4x
    skeleton = _video(9, 32, 48, batch=2)
    text = torch.randn(2, 5, TINY_WAN_CONFIG["text_dim"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        video_tokens = model.patch_embedding(latents).flatten(2).shape[-1]
        skeleton_tokens = model.skeleton_encoder(skeleton)
        out = model(latents, torch.tensor([500.0, 200.0]), text, skeleton_video=skeleton, return_mask_logits=True)
        bare = model(latents, torch.tensor([500.0, 200.0]), text)
    assert skeleton_tokens.shape[1] == video_tokens == 3 * 2 * 3
    assert out.sample.shape == latents.shape
    assert out.mask_logits.shape == (2, len(model.hadc), 3, 8, 12)  # the latent grid
    assert not torch.allclose(out.sample, bare.sample)  # the skeleton is used
    # HADC checks the skeleton against the latents at the model's factor: an 8x-sized skeleton is an error.
    with pytest.raises(InvalidInputError, match=r"4H, 4W\) for latents"):
        model(latents, torch.tensor([500.0, 200.0]), text, skeleton_video=_video(9, 64, 96, batch=2))


def test_factor_is_saved_and_old_configs_load_as_8(tmp_path):
    model = tiny_mosa_wan(patch_size=PATCH_F4, skeleton_spatial_factor=4)
    model.save_pretrained(tmp_path / "f4")
    assert json.loads((tmp_path / "f4" / "config.json").read_text())["skeleton_spatial_factor"] == 4
    loaded = MoSAWanTransformer3DModel.from_pretrained(tmp_path / "f4")
    assert loaded.config.skeleton_spatial_factor == 4 and loaded.skeleton_encoder.conv_in.stride == (4, 2, 2)
    tiny_mosa_wan().save_pretrained(tmp_path / "old")
    config_path = tmp_path / "old" / "config.json"
    config = json.loads(config_path.read_text())
    del config["skeleton_spatial_factor"]  # a directory saved before the field existed
    config_path.write_text(json.dumps(config))
    old = MoSAWanTransformer3DModel.from_pretrained(tmp_path / "old")
    assert old.config.skeleton_spatial_factor == 8 and old.skeleton_encoder.conv_in.stride == (4, 4, 4)


def test_mosa_weights_keep_the_factor(tmp_path):
    torch.manual_seed(0)
    WanTransformer3DModel(**{**TINY_WAN_CONFIG, "patch_size": PATCH_F4}).save_pretrained(tmp_path / "backbone")
    model = MoSAWanTransformer3DModel.from_pretrained(tmp_path / "backbone", skeleton_spatial_factor=4, **TINY_MOSA)
    _randomise(model).save_mosa_weights(tmp_path / "weights")
    assert json.loads((tmp_path / "weights" / "mosa_config.json").read_text())["skeleton_spatial_factor"] == 4
    again = MoSAWanTransformer3DModel.from_backbone(tmp_path / "backbone", tmp_path / "weights")
    assert again.config.skeleton_spatial_factor == 4
    for (name, parameter), (_, expected) in zip(again.named_parameters(), model.named_parameters(), strict=True):
        torch.testing.assert_close(parameter, expected, msg=name)
    # 8x weights keep today's file: no new key
    tiny_mosa_wan().save_mosa_weights(tmp_path / "weights_f8")
    assert "skeleton_spatial_factor" not in json.loads((tmp_path / "weights_f8" / "mosa_config.json").read_text())
