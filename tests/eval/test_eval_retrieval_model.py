"""`TextMotionRetrievalModel`: save/load round trip, padding invariance, the InfoNCE loss."""

from __future__ import annotations

import math

import pytest
import torch

from kinevid.errors import InvalidInputError
from kinevid.eval.retrieval_model import TextMotionRetrievalModel, info_nce_loss

TINY = dict(hidden_dim=24, num_layers=2, num_heads=2, ffn_dim=32, latent_dim=8, max_frames=16, text_embedding_dim=12)


def _inputs(batch_size: int = 3, num_frames: int = 10):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(batch_size, num_frames, 145, generator=generator)
    mask = torch.ones(batch_size, num_frames, dtype=torch.bool)
    mask[1, 7:] = False
    texts = torch.randn(batch_size, 12, generator=generator)
    return features, mask, texts


def test_save_and_load_round_trip(tmp_path):
    model = TextMotionRetrievalModel(**TINY).eval()
    model.set_feature_statistics(torch.randn(145), torch.rand(145) + 0.5)
    model.save_pretrained(tmp_path / "evaluator")
    loaded = TextMotionRetrievalModel.from_pretrained(tmp_path / "evaluator").eval()
    public = lambda config: {k: v for k, v in config.items() if not k.startswith("_")}
    assert public(loaded.config) == public(model.config)
    features, mask, texts = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_motion(features, mask), model.encode_motion(features, mask))
        torch.testing.assert_close(loaded.encode_text(texts), model.encode_text(texts))
    torch.testing.assert_close(loaded.feature_std, model.feature_std)


def test_embeddings_are_unit_norm_and_ignore_padding():
    model = TextMotionRetrievalModel(**TINY).eval()
    features, mask, _ = _inputs()
    with torch.no_grad():
        embeddings = model.encode_motion(features, mask)
        torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3))
        # Sequence 1 has 7 real frames: garbage after them, or cutting them off, changes nothing.
        noisy = features.clone()
        noisy[1, 7:] = 1e3
        torch.testing.assert_close(model.encode_motion(noisy, mask)[1], embeddings[1])
        alone = model.encode_motion(features[1:2, :7])
        torch.testing.assert_close(alone[0], embeddings[1], atol=1e-5, rtol=1e-5)


def test_info_nce_matches_a_per_row_computation():
    generator = torch.Generator().manual_seed(1)
    text = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=-1)
    motion = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=-1)
    duplicates = torch.zeros(4, 4, dtype=torch.bool)
    duplicates[0, 2] = duplicates[2, 0] = True  # pairs 0 and 2 share a caption: not negatives of each other
    loss = info_nce_loss(text, motion, temperature=0.1, duplicate_mask=duplicates)

    def cross_entropy(rows: torch.Tensor, columns: torch.Tensor) -> float:
        total = 0.0
        for i in range(4):
            negatives = [j for j in range(4) if j == i or not duplicates[i, j]]
            logits = [float(rows[i] @ columns[j]) / 0.1 for j in negatives]
            total += -float(rows[i] @ columns[i]) / 0.1 + math.log(sum(math.exp(v) for v in logits))
        return total / 4

    expected = 0.5 * (cross_entropy(text, motion) + cross_entropy(motion, text))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_forward_gives_a_trainable_loss():
    model = TextMotionRetrievalModel(**TINY)
    features, mask, texts = _inputs(batch_size=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        loss = model(features, mask, texts)["loss"]
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.7 * first


def test_bad_shapes_raise():
    model = TextMotionRetrievalModel(**TINY)
    with pytest.raises(InvalidInputError, match="145"):
        model.encode_motion(torch.randn(1, 5, 10))
    with pytest.raises(InvalidInputError, match="at most 16"):
        model.encode_motion(torch.randn(1, 17, 145))
    with pytest.raises(InvalidInputError, match=r"\(B, 12\)"):
        model.encode_text(torch.randn(2, 11))
    with pytest.raises(InvalidInputError, match="divisible"):
        TextMotionRetrievalModel(hidden_dim=10, num_heads=3)


def test_position_table_interleaves_sine_and_cosine():
    from kinevid.eval.retrieval_model import sinusoidal_positions

    table = sinusoidal_positions(7, 8)
    for position in range(7):
        for k in range(4):
            angle = position / 10000 ** (2 * k / 8)
            assert float(table[position, 2 * k]) == pytest.approx(math.sin(angle), abs=1e-6)
            assert float(table[position, 2 * k + 1]) == pytest.approx(math.cos(angle), abs=1e-6)
