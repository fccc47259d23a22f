"""HADC: the update and mask head against an independent computation, zero-init identity, unpatchify."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mosa_tiny import single_threaded  # noqa: F401 - autouse fixture

from kinevid.models.appearance import HADC, is_mosa_parameter
from kinevid.models.appearance.hadc import unpatchify_tokens


def _site(seed: int = 0) -> HADC:
    torch.manual_seed(seed)
    return HADC(dim=16, skeleton_dim=6, hidden_dim=4, patch_size=(1, 2, 2))


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 10, 16, generator=generator) * 3 + 1, torch.randn(2, 10, 6, generator=generator)


def test_fresh_site_is_the_identity_with_nonzero_weights():
    site = _site()
    hidden_states, tokens = _inputs()
    output, mask = site(hidden_states, tokens)
    assert torch.equal(output, hidden_states)
    assert mask.shape == (2, 10, 4) and mask.abs().sum() > 0
    assert torch.count_nonzero(site.skeleton_proj.weight) == 0
    for layer in (site.hidden_in, site.skeleton_in, site.weight_out, site.mask_head):
        assert layer.weight.abs().sum() > 0


def test_update_and_mask_head_match_the_equations():
    site = _site()
    with torch.no_grad():
        site.skeleton_proj.weight.normal_()
    hidden_states, tokens = _inputs(1)
    output, mask = site(hidden_states, tokens)

    skeleton = tokens @ site.skeleton_proj.weight.T  # s = S t
    normed = F.layer_norm(hidden_states, (16,), eps=1e-6)
    hidden = normed @ site.hidden_in.weight.T + site.hidden_in.bias + tokens @ site.skeleton_in.weight.T
    weights = F.silu(hidden) @ site.weight_out.weight.T + site.weight_out.bias  # w, per token and channel
    torch.testing.assert_close(output, hidden_states + weights * skeleton, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mask, weights @ site.mask_head.weight.T + site.mask_head.bias, rtol=1e-5, atol=1e-5)


def test_zero_skeleton_tokens_pass_through_after_training():
    site = _site()
    with torch.no_grad():
        for parameter in site.parameters():
            parameter.normal_()
    hidden_states, _ = _inputs()
    output, _ = site(hidden_states, torch.zeros(2, 10, 6))
    assert torch.equal(output, hidden_states)


def test_unpatchify_puts_each_patch_value_on_its_latent_cell():
    grid, patch = (2, 3, 4), (1, 2, 2)
    tokens = torch.arange(2 * 24 * 4, dtype=torch.float32).reshape(2, 24, 4)
    latent = unpatchify_tokens(tokens, grid, patch)
    assert latent.shape == (2, 1, 2, 6, 8)
    for frame in range(2):
        for row in range(6):
            for column in range(8):
                token = (frame * 3 + row // 2) * 4 + column // 2
                within = (row % 2) * 2 + column % 2
                assert latent[1, 0, frame, row, column] == tokens[1, token, within]


def test_is_mosa_parameter():
    assert is_mosa_parameter("hadc.0.weight_out.weight")
    assert is_mosa_parameter("skeleton_encoder.conv_in.bias")
    assert not is_mosa_parameter("blocks.0.attn1.to_q.weight")
    assert not is_mosa_parameter("blocks.0.hadc_like.weight")
