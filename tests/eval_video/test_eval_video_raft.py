"""RAFT: the correlation lookup against a direct dot product, checkpoint loading, padding and size checks.
(The whole network was compared once with the release's code on shared random weights: identical
flows; see `kinevid.eval.video.raft`.)"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.eval.video.raft import RAFT, CorrelationPyramid, RaftFlow, pad_to_multiple_of_8


def test_correlation_lookup_is_the_scaled_dot_product_at_the_offset_pixel():
    generator = torch.Generator().manual_seed(0)
    features1 = torch.randn(1, 8, 6, 7, generator=generator)
    features2 = torch.randn(1, 8, 6, 7, generator=generator)
    pyramid = CorrelationPyramid(features1, features2, levels=1, radius=1)
    ys, xs = torch.meshgrid(torch.arange(6.0), torch.arange(7.0), indexing="ij")
    looked_up = pyramid(torch.stack([xs, ys])[None])  # (1, 9, 6, 7)
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0), (1, 1)]  # (dx, dy), x-major
    for channel, (dx, dy) in enumerate(offsets):
        for y in range(6):
            for x in range(7):
                inside = 0 <= x + dx < 7 and 0 <= y + dy < 6
                expected = (features1[0, :, y, x] @ features2[0, :, y + dy, x + dx]) / 8**0.5 if inside else 0.0
                assert float(looked_up[0, channel, y, x]) == pytest.approx(float(expected), abs=1e-5)


def test_padding_is_replicated_and_centred():
    image = torch.arange(2 * 130 * 9, dtype=torch.float32).reshape(1, 2, 130, 9)
    padded = pad_to_multiple_of_8(image)
    assert padded.shape == (1, 2, 136, 16)
    assert torch.equal(padded[..., 3:133, 3:12], image)  # 6 rows: 3 + 3; 7 columns: 3 + 4
    assert torch.equal(padded[..., 0, 3:12], image[..., 0, :])
    assert torch.equal(pad_to_multiple_of_8(padded), padded)


def test_raft_checkpoint_loads_and_gives_a_flow_at_the_padded_size(tmp_path):
    torch.manual_seed(0)
    model = RAFT().eval()
    with torch.no_grad():  # keep 2 random iterations numerically tame
        for parameter in model.update_block.parameters():
            parameter.mul_(0.2)
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "raft-things.pth")
    flow = RaftFlow.from_file(tmp_path / "raft-things.pth")
    flow.iterations = 2
    for key, value in model.state_dict().items():
        assert torch.equal(flow.model.state_dict()[key], value), key
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 130, 136, 3), dtype=np.uint8)
    result = flow(frames[0], frames[1])
    assert result.shape == (136, 136, 2) and np.isfinite(result).all()
    with torch.no_grad():
        padded = [pad_to_multiple_of_8(torch.from_numpy(f).permute(2, 0, 1)[None].float()) for f in frames]
        expected = model(*padded, iterations=2)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(result, expected, atol=1e-5)
    with pytest.raises(InvalidInputError, match="at least 128 px"):
        flow(frames[0, :64, :64], frames[1, :64, :64])


def test_raft_loader_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(MissingWeightsError, match="no RAFT weight file"):
        RaftFlow.from_file(tmp_path / "raft-things.pth")
    torch.save({"fnet.conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "partial.pth")
    with pytest.raises(InvalidInputError, match=re.escape("does not match RAFT")):
        RaftFlow.from_file(tmp_path / "partial.pth")
