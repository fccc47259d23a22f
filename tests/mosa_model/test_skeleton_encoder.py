"""SkeletonEncoder: token grid and order aligned with Wan's video tokens, causal time grouping, errors."""

from __future__ import annotations

import pytest
import torch
from mosa_tiny import single_threaded, tiny_wan  # noqa: F401 - autouse fixture

from kinevid.errors import InvalidInputError
from kinevid.models.appearance import SkeletonEncoder
from kinevid.models.vae import latent_shape


def _encoder(seed: int = 0, patch_size=(1, 2, 2)) -> SkeletonEncoder:
    torch.manual_seed(seed)
    return SkeletonEncoder(3, (4, 8, 8), patch_size).eval()


def _video(num_frames: int = 9, height: int = 32, width: int = 48, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, num_frames, height, width, generator=generator) * 2 - 1


def _changed_tokens(encoder: SkeletonEncoder, video: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
    """Bool per token (frame, row, column grid) whose features change when `video` becomes `perturbed`."""
    with torch.no_grad():
        delta = (encoder(perturbed) - encoder(video)).abs().amax(dim=-1)[0]
    return (delta > 1e-6).reshape(encoder.token_grid(*video.shape[2:]))


def test_tokens_match_wan_token_count():
    encoder = _encoder()
    video = _video(num_frames=9, height=32, width=48)
    tokens = encoder(video)
    frames, height, width = latent_shape(9, 32, 48)  # (3, 4, 6)
    assert encoder.token_grid(9, 32, 48) == (frames, height // 2, width // 2)
    assert tokens.shape == (1, frames * (height // 2) * (width // 2), 8)


def test_time_is_grouped_causally_like_the_vae():
    encoder = _encoder()
    video = _video(num_frames=9)
    for frame, token_frame in [(0, 0), (1, 1), (4, 1), (5, 2), (8, 2)]:
        perturbed = video.clone()
        perturbed[:, :, frame] = -perturbed[:, :, frame]
        changed = _changed_tokens(encoder, video, perturbed)
        frames_changed = changed.flatten(1).any(dim=1).nonzero().flatten().tolist()
        assert frames_changed == [token_frame], (frame, frames_changed)


def test_token_order_is_wan_video_token_order():
    wan = tiny_wan()
    encoder = _encoder()
    video = _video(num_frames=5, height=48, width=64)
    token_frame, row, column = 1, 2, 1
    perturbed = video.clone()
    # the 4 pixel frames of latent frame 1 and the 16 x 16 pixels of token (row, column), inner 8 x 8 only
    perturbed[:, :, 1:5, 16 * row + 4 : 16 * row + 12, 16 * column + 4 : 16 * column + 12] += 0.5
    changed = _changed_tokens(encoder, video, perturbed).flatten()
    assert changed.sum() == 1

    latents = torch.zeros(1, 4, 2, 6, 8)
    bumped = latents.clone()
    bumped[:, :, token_frame, 2 * row, 2 * column] = 1.0
    with torch.no_grad():
        wan_delta = (wan.patch_embedding(bumped) - wan.patch_embedding(latents)).flatten(2).transpose(1, 2)
    wan_changed = wan_delta.abs().amax(-1)[0] > 0
    assert torch.equal(changed, wan_changed)


def test_bad_skeleton_videos_raise():
    encoder = _encoder()
    for shape in [(1, 3, 8, 32, 32), (1, 3, 9, 24, 32), (1, 4, 9, 32, 32), (3, 9, 32, 32)]:
        with pytest.raises(InvalidInputError, match="skeleton_video"):
            encoder(torch.zeros(shape))
    with pytest.raises(InvalidInputError, match="float"):
        encoder(torch.zeros(1, 3, 5, 32, 32, dtype=torch.uint8))


def test_temporal_patch_groups_latent_frames():
    encoder = _encoder(patch_size=(2, 2, 2))
    assert encoder(_video(num_frames=13, height=32, width=32)).shape == (1, 2 * 2 * 2, 8)
    with pytest.raises(InvalidInputError, match="divisible by 2"):
        encoder(_video(num_frames=9, height=32, width=32))
