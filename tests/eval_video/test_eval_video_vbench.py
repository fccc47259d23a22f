"""VBench dimensions and CLIPSIM against literal re-implementations of VBench's loops and
transformers' own forward, on constructed videos and tiny random models."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from video_cases import moving_video, textured_frame

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.eval.video.clip_score import ClipEncoder, clipsim
from kinevid.eval.video.flow import dis_flow, flow_warp_interpolate
from kinevid.eval.video.vbench import (
    DinoEncoder,
    background_consistency,
    consistency_per_frame,
    dynamic_degree_is_dynamic,
    motion_smoothness,
    pooled_frame_mean,
    subject_consistency,
    top_flow_magnitude,
)


def _vbench_consistency_loop(features: torch.Tensor) -> tuple[float, int]:
    """VBench's subject/background consistency loop, written as in its repository (per frame, .item())."""
    video_sim, count = 0.0, 0
    first = former = None
    for i in range(len(features)):
        feature = F.normalize(features[i : i + 1], dim=-1, p=2)
        if i == 0:
            first = feature
        else:
            sim_pre = max(0.0, F.cosine_similarity(former, feature).item())
            sim_fir = max(0.0, F.cosine_similarity(first, feature).item())
            video_sim += (sim_pre + sim_fir) / 2
            count += 1
        former = feature
    return video_sim, count


def test_consistency_formula_matches_vbench_loop_and_pools_over_frames():
    generator = torch.Generator().manual_seed(0)
    videos = [torch.randn(9, 12, generator=generator), torch.randn(5, 12, generator=generator) + 0.5]
    sums_counts = [_vbench_consistency_loop(features) for features in videos]
    for features, (total, count) in zip(videos, sums_counts, strict=True):
        assert float(consistency_per_frame(features).mean()) == pytest.approx(total / count, abs=1e-6)
    pooled = sum(s for s, _ in sums_counts) / sum(c for _, c in sums_counts)
    assert pooled_frame_mean([consistency_per_frame(f) for f in videos]) == pytest.approx(pooled, abs=1e-6)
    assert consistency_per_frame(torch.ones(6, 4)).tolist() == pytest.approx([1.0] * 5)
    # Opposite features are clamped to 0, not -1.
    assert consistency_per_frame(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])).tolist() == [0.0]
    with pytest.raises(InvalidInputError, match="T >= 2"):
        consistency_per_frame(torch.ones(1, 4))


def test_subject_consistency_with_a_dino_vit_from_a_directory(tiny_dino_dir):
    from transformers import ViTModel

    encoder = DinoEncoder.from_pretrained(tiny_dino_dir, resolution=32)
    still = np.repeat(textured_frame(48, 64)[None], 6, axis=0)
    assert float(subject_consistency(still, encoder).mean()) == pytest.approx(1.0, abs=1e-6)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(6, 48, 64, 3), dtype=np.uint8)
    assert float(subject_consistency(noise, encoder).mean()) < 0.999
    # Features: the CLS token of the model's last hidden state on ImageNet-normalised frames whose
    # shorter side is 32 (48 x 64 -> 32 x 42, torchvision's floor rounding), kept at 8-bit levels.
    model = ViTModel.from_pretrained(tiny_dino_dir, add_pooling_layer=False).eval()
    images = torch.from_numpy(noise).permute(0, 3, 1, 2).float()  # torchvision resizes uint8, then rounds
    images = F.interpolate(images, size=(32, 42), mode="bilinear", align_corners=False).round().clamp(0, 255) / 255
    images = (images - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[
        :, None, None
    ]
    with torch.no_grad():
        expected = model(pixel_values=images, interpolate_pos_encoding=True).last_hidden_state[:, 0]
    assert torch.allclose(encoder.frame_features(noise), expected, atol=1e-5)


def test_clipsim_is_the_mean_frame_text_cosine_of_clip(tiny_clip_dir):
    from transformers import CLIPModel, CLIPTokenizer

    encoder = ClipEncoder.from_pretrained(tiny_clip_dir)
    model = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    tokenizer = CLIPTokenizer.from_pretrained(tiny_clip_dir)
    frames = np.random.default_rng(1).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    prompt = "a person walks"
    # Independent route: CLIP's own forward gives logit_scale * cos(image, text).
    pixel_values = (
        torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
        - torch.tensor([0.48145466, 0.4578275, 0.40821073])[:, None, None]
    ) / torch.tensor([0.26862954, 0.26130258, 0.27577711])[:, None, None]
    tokens = tokenizer([prompt], return_tensors="pt")
    with torch.no_grad():
        output = model(input_ids=tokens["input_ids"], pixel_values=pixel_values)
        cosines = output.logits_per_image[:, 0] / model.logit_scale.exp()
    assert clipsim(frames, prompt, encoder) == pytest.approx(float(cosines.mean()), abs=1e-5)
    still = np.repeat(frames[:1], 3, axis=0)
    assert clipsim(still, prompt, encoder) == pytest.approx(float(cosines[0]), abs=1e-5)
    # Background consistency of a still video is 1 (CLIP image embeddings of identical frames).
    assert float(background_consistency(still, encoder).mean()) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(InvalidInputError, match="non-empty prompt"):
        clipsim(frames, " ", encoder)


def test_model_loaders_name_the_missing_directory(tmp_path):
    with pytest.raises(MissingWeightsError, match="no CLIP model directory"):
        ClipEncoder.from_pretrained(tmp_path)
    with pytest.raises(MissingWeightsError, match="no DINO model directory"):
        DinoEncoder.from_pretrained(tmp_path)


def _vbench_motion_smoothness(frames: np.ndarray, interpolate) -> float:
    """VBench's motion_smoothness: interpolate between even frames, compare the odd ones (cv2.absdiff)."""
    even = frames[0::2]
    outputs = []
    for first, second in itertools.pairwise(even):
        outputs += [first, interpolate(first, second)]
    outputs.append(even[-1])
    original_odd, interpolated_odd = frames[1::2], outputs[1::2]
    scores = [np.mean(cv2.absdiff(a, b)) for a, b in zip(original_odd, interpolated_odd, strict=False)]
    return (255.0 - np.mean(scores)) / 255.0


def test_motion_smoothness_matches_vbench_and_drops_for_shuffled_frames():
    video = moving_video(9, 48, 64, step=2)
    for interpolate in (lambda a, b: a, flow_warp_interpolate):
        assert motion_smoothness(video, interpolate) == pytest.approx(
            _vbench_motion_smoothness(video, interpolate), abs=1e-9
        )
    ordered = motion_smoothness(video, flow_warp_interpolate)
    shuffled = motion_smoothness(video[np.random.default_rng(0).permutation(9)], flow_warp_interpolate)
    assert ordered > 0.98 and shuffled < ordered - 0.02
    # A still video is interpolated exactly: score 1.
    still = np.repeat(video[:1], 5, axis=0)
    assert motion_smoothness(still, flow_warp_interpolate) == 1.0
    with pytest.raises(InvalidInputError, match="at least 3 frames"):
        motion_smoothness(video[:2], flow_warp_interpolate)


def test_dis_flow_recovers_a_shift_and_top_flow_is_the_mean_of_the_largest_5_percent():
    video = moving_video(2, 64, 96, step=3)
    flow = dis_flow(video[0], video[1])
    interior = flow[8:-8, 8:-8]
    assert np.abs(interior[..., 0] - 3.0).mean() < 0.1 and np.abs(interior[..., 1]).mean() < 0.1
    field = np.zeros((10, 20, 2))
    field[0, :10, 0] = 4.0  # 10 pixels move 4 px
    field[1, :5, 1] = 100.0  # 5 pixels move 100 px: the top 5% (10 of 200) is these 5 and 5 of the 4 px ones
    assert top_flow_magnitude(field) == pytest.approx((5 * 100 + 5 * 4) / 10)


def _vbench_check_move(scores: list[float], height: int, width: int, count: int) -> bool:
    threshold, needed = 6.0 * (min(height, width) / 256.0), round(4 * (count / 16.0))
    moved = 0
    for score in scores:
        if score > threshold:
            moved += 1
        if moved >= needed:
            return True
    return False


def test_dynamic_degree_follows_vbench_rule_static_vs_moving():
    moving = moving_video(17, 64, 64, step=4)
    still = np.repeat(moving[:1], 17, axis=0)
    is_dynamic, scores = dynamic_degree_is_dynamic(moving, fps=8.0, estimate_flow=dis_flow)
    assert is_dynamic and len(scores) == 16 and min(scores) > 1.5  # threshold at 64 px: 1.5 px
    assert not dynamic_degree_is_dynamic(still, fps=8.0, estimate_flow=dis_flow)[0]
    # At 16 fps every second frame is used (9 frames, 8 pairs, threshold reached by 2 pairs).
    assert len(dynamic_degree_is_dynamic(moving, fps=16.0, estimate_flow=dis_flow)[1]) == 8
    # The decision equals VBench's check_move for arbitrary per-pair scores.
    rng = np.random.default_rng(0)
    for _ in range(50):
        magnitudes = rng.uniform(0, 3, size=16)
        flows = iter([np.full((64, 64, 2), m / np.sqrt(2)) for m in magnitudes])
        decided, scores = dynamic_degree_is_dynamic(moving, 8.0, lambda a, b, flows=flows: next(flows))
        assert scores == pytest.approx(list(magnitudes))
        assert decided == _vbench_check_move(scores, 64, 64, 17)
