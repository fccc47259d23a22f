"""Motion -> video attention maps (`kinevid.eval.video.attention_sync`): against a direct softmax, recorded without
changing the model, and summarised correctly on constructed maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from echomotion_tiny import dummy_inputs, tiny_echomotion

from kinevid.eval.video.attention_sync import (
    aligned_latent_frames,
    frame_attention,
    measure_temporal_alignment,
    plot_frame_attention,
    recording_motion_attention,
    temporal_alignment,
)
from kinevid.models.appearance.transformer_echomotion import EchoMotionDualBlock


def test_frame_attention_matches_a_direct_softmax_with_masked_keys():
    generator = torch.Generator().manual_seed(0)
    batch, heads, dim, frames, per_frame, motion_frames, tokens = 2, 3, 8, 3, 4, 2, 5
    num_video, num_motion = frames * per_frame, motion_frames * tokens
    query = torch.randn(batch, num_video + num_motion, heads, dim, generator=generator)
    key = torch.randn(batch, num_video + num_motion, heads, dim, generator=generator)
    mask = torch.ones(batch, 1, 1, num_video + num_motion, dtype=torch.bool)
    mask[1, ..., 2] = False  # a hidden video key
    mask[0, ..., -3:] = False  # hidden motion keys
    result = frame_attention(query, key, mask, num_video, frames, tokens_per_frame=tokens).numpy()

    q, k, m = query.double().numpy(), key.double().numpy(), mask[:, 0, 0].numpy()
    expected = np.zeros((batch, motion_frames, frames))
    for b in range(batch):
        for h in range(heads):
            for i in range(num_motion):
                logits = np.array([q[b, num_video + i, h] @ k[b, j, h] / np.sqrt(dim) for j in range(len(m[b]))])
                weights = np.where(m[b], np.exp(logits - logits[m[b]].max()), 0.0)
                weights = weights / weights.sum()
                video = weights[:num_video].reshape(frames, per_frame).sum(axis=1)
                expected[b, i // tokens] += video / video.sum() / (heads * tokens)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.sum(axis=-1), 1.0, atol=1e-6)


def test_recording_leaves_the_model_unchanged_and_keeps_one_map_per_dual_block():
    model = tiny_echomotion(seed=11)
    inputs = dummy_inputs(batch_size=2, latent_frames=3)
    with torch.no_grad():
        plain = model(**inputs)
        originals = [b.joint_attn_processor for b in model.blocks if isinstance(b, EchoMotionDualBlock)]
        with recording_motion_attention(model, num_latent_frames=3) as recorder:
            recorded = model(**inputs)
    torch.testing.assert_close(recorded.sample, plain.sample, rtol=0, atol=0)
    torch.testing.assert_close(recorded.motion_sample, plain.motion_sample, rtol=0, atol=0)
    assert len(recorder.maps) == len(originals) > 0
    assert all(m.shape == (2, 9, 3) for m in recorder.maps)  # T = 4 (F - 1) + 1
    torch.testing.assert_close(recorder.maps[0].sum(-1), torch.ones(2, 9))
    assert [b.joint_attn_processor for b in model.blocks if isinstance(b, EchoMotionDualBlock)] == originals


def test_alignment_of_constructed_maps():
    frames, latent = 17, 5
    aligned = aligned_latent_frames(frames, 4, latent)
    assert aligned.tolist() == [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]
    diagonal = temporal_alignment(torch.nn.functional.one_hot(aligned, latent).float(), 4)
    assert diagonal.aligned_mass == 1.0 and diagonal.slope == pytest.approx(diagonal.diagonal_slope)
    assert diagonal.slope == pytest.approx(0.25, abs=0.02)  # the 4:1 diagonal
    uniform = temporal_alignment(torch.full((frames, latent), 1.0 / latent), 4)
    assert uniform.aligned_mass == pytest.approx(uniform.chance) and uniform.slope == pytest.approx(0.0, abs=1e-12)
    one_to_one = torch.nn.functional.one_hot(torch.arange(frames).clamp(max=latent - 1), latent).float()
    colliding = temporal_alignment(one_to_one, 4)  # frame t on latent frame t: colliding positions' diagonal
    assert colliding.aligned_mass == pytest.approx(6 / 17) and colliding.slope < diagonal.slope


def test_measure_on_a_model_gives_one_alignment_per_sample():
    model = tiny_echomotion(seed=12)
    inputs = dummy_inputs(batch_size=2, latent_frames=3)
    alignments = measure_temporal_alignment(
        model, inputs["hidden_states"], inputs["motion_hidden_states"], torch.zeros(5, 16),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert len(alignments) == 2
    for alignment in alignments:
        assert alignment.attention.shape == (9, 3) and alignment.chance == pytest.approx(1 / 3)
        assert 0.0 <= alignment.aligned_mass <= 1.0


def test_attention_maps_are_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    aligned = aligned_latent_frames(17, 4, 5)
    maps = {"diagonal": torch.nn.functional.one_hot(aligned, 5).float(), "uniform": torch.full((17, 5), 0.2)}
    plot_frame_attention(maps, tmp_path / "attention.png")
    assert (tmp_path / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
