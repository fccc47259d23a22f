"""`TextVideoRetrievalModel`: shapes, save/load, a few training steps, input checks, preprocessing, loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.eval.video.retrieval import (
    TextVideoEvaluator,
    TextVideoRetrievalModel,
    load_video_evaluator,
    prepare_video,
)
from kinevid.recipes.video_evaluator import shift_video

TINY = dict(
    text_embedding_dim=12,
    num_frames=5,
    frame_size=16,
    channels=(4, 8),
    hidden_dim=16,
    num_layers=1,
    num_heads=2,
    ffn_dim=32,
    latent_dim=8,
    dropout=0.0,
)


def _tiny_model(seed: int = 0) -> TextVideoRetrievalModel:
    torch.manual_seed(seed)
    return TextVideoRetrievalModel(**TINY)


def _videos(batch: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, 5, 16, 16, generator=generator) * 2 - 1


def test_embeddings_have_the_joint_size_and_unit_norm():
    model = _tiny_model().eval()
    video_latents = model.encode_video(_videos(3))
    text_latents = model.encode_text(torch.randn(3, 12))
    assert video_latents.shape == text_latents.shape == (3, 8)
    torch.testing.assert_close(video_latents.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(text_latents.norm(dim=-1), torch.ones(3))
    output = model(_videos(3), torch.randn(3, 12))
    assert output["loss"].ndim == 0 and output["video_latents"].shape == (3, 8)


def test_a_clip_embedding_does_not_depend_on_its_batch():
    model = _tiny_model().eval()
    videos = _videos(4)
    torch.testing.assert_close(model.encode_video(videos)[2:3], model.encode_video(videos[2:3]))


def test_the_encoder_sees_motion_order():
    model = _tiny_model().eval()
    video = _videos(1)
    reversed_video = video.flip(2)
    assert not torch.allclose(model.encode_video(video), model.encode_video(reversed_video), atol=1e-4)


def test_save_and_load_round_trip(tmp_path):
    model = _tiny_model().eval()
    model.save_pretrained(tmp_path / "evaluator")
    loaded = load_video_evaluator(tmp_path / "evaluator").model
    videos, texts = _videos(2), torch.randn(2, 12)
    torch.testing.assert_close(loaded.encode_video(videos), model.encode_video(videos))
    torch.testing.assert_close(loaded.encode_text(texts), model.encode_text(texts))
    assert list(loaded.config.channels) == [4, 8]


def test_a_few_steps_on_a_handful_of_clips_reduce_the_loss():
    model = _tiny_model(seed=1).train()
    videos = _videos(6, seed=2)
    texts = torch.randn(6, 12, generator=torch.Generator().manual_seed(3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(videos, texts)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    "shape",
    [(2, 3, 4, 16, 16), (2, 3, 5, 32, 32), (2, 1, 5, 16, 16), (3, 5, 16, 16)],
)
def test_a_bad_video_shape_is_a_one_line_error_naming_the_tensor(shape):
    model = _tiny_model()
    with pytest.raises(InvalidInputError) as error:
        model.encode_video(torch.zeros(shape))
    message = str(error.value)
    assert "`videos`" in message and "(B, 3, 5, 16, 16)" in message and str(tuple(shape)) in message
    assert "\n" not in message


def test_nan_videos_and_bad_text_embeddings_are_rejected():
    model = _tiny_model()
    videos = _videos(1)
    videos[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(InvalidInputError, match="`videos` contains NaN"):
        model.encode_video(videos)
    with pytest.raises(InvalidInputError, match=r"`text_embeddings` must have shape \(B, 12\)"):
        model.encode_text(torch.zeros(2, 7))


def test_frame_size_must_fit_the_cnn():
    with pytest.raises(InvalidInputError, match="multiple of 4"):
        TextVideoRetrievalModel(**{**TINY, "frame_size": 18})


def test_prepare_video_samples_time_resizes_and_crops():
    frames = np.zeros((33, 40, 60, 3), np.uint8)
    for t in range(33):
        frames[t] = t  # the frame index is its grey level
    frames[:, :, :10] = 255  # a bar at the left edge, cropped away by the centre square
    video = prepare_video(frames, fps=16.0, num_frames=5, frame_size=8, target_fps=8.0)
    assert video.shape == (3, 5, 8, 8) and video.dtype == torch.float32
    levels = (video[0, :, 4, 4] + 1) / 2 * 255
    torch.testing.assert_close(levels, torch.tensor([0.0, 2.0, 4.0, 6.0, 8.0]), atol=1e-3, rtol=0)
    assert float(video.max()) < 0  # the bar is outside the central square
    same_rate = prepare_video(frames[:5], fps=8.0, num_frames=5, frame_size=8, target_fps=8.0)
    torch.testing.assert_close((same_rate[0, :, 4, 4] + 1) / 2 * 255, torch.arange(5.0), atol=1e-3, rtol=0)


def test_prepare_video_rejects_short_videos():
    with pytest.raises(InvalidInputError, match="needs at least 17"):
        prepare_video(np.zeros((12, 16, 16, 3), np.uint8), fps=8.0, num_frames=17, frame_size=16, target_fps=8.0)


def test_evaluator_embeds_frames_as_the_model_embeds_prepared_videos():
    model = _tiny_model().eval()
    evaluator = TextVideoEvaluator(model, batch_size=2)
    rng = np.random.default_rng(0)
    clips = [(rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8), 8.0) for _ in range(3)]
    expected = model.encode_video(torch.stack([evaluator.prepare(f, fps) for f, fps in clips]))
    torch.testing.assert_close(evaluator.embed_frames(clips), expected)


def test_missing_weights_are_a_one_line_error(tmp_path):
    with pytest.raises(MissingWeightsError) as error:
        load_video_evaluator(tmp_path / "nowhere")
    assert "nowhere" in str(error.value) and "\n" not in str(error.value)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{}")
    (tmp_path / "broken" / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(MissingWeightsError, match="broken"):
        load_video_evaluator(tmp_path / "broken")


def test_shift_video_translates_with_repeated_edges():
    video = torch.arange(16.0).reshape(1, 1, 4, 4)
    shifted = shift_video(video, dx=1, dy=-1)
    assert shifted.shape == video.shape
    torch.testing.assert_close(shifted[0, 0, 0], torch.tensor([4.0, 4.0, 5.0, 6.0]))
    torch.testing.assert_close(shifted[0, 0, 3], torch.tensor([12.0, 12.0, 13.0, 14.0]))
    torch.testing.assert_close(shift_video(video, 0, 0), video)
