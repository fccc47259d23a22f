"""The judge-free paired scores of `kinevid eval generate` against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from kinevid.errors import InvalidInputError
from kinevid.eval.video.generation import paired_scores, ssim_map, video_psnr, video_ssim


def _video(seed: int = 0, shape=(3, 32, 40, 3)) -> np.ndarray:
    """A smooth textured video (so SSIM is far from 0 and 1 under small changes)."""
    rng = np.random.default_rng(seed)
    t, h, w, _ = shape
    yy, xx = np.mgrid[0:h, 0:w]
    frames = [
        127
        + 60 * np.sin(xx / 3.0 + k)[..., None] * np.cos(yy / 5.0)[..., None] * np.ones(3)
        + rng.normal(0, 8, (h, w, 3))
        for k in range(t)
    ]
    return np.clip(np.stack(frames), 0, 255).round().astype(np.uint8)


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    per_frame = [
        structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
                              channel_axis=-1)
        for x, y in zip(a, b, strict=True)
    ]  # fmt: skip
    return float(np.mean(per_frame))


def test_identical_videos_are_inf_and_one():
    video = _video()
    mask = np.zeros(video.shape[:3], bool)
    mask[:, 8:24, 10:30] = True
    scores = paired_scores(video, video.copy(), mask)
    assert scores["paired/psnr"] == float("inf") and scores["paired/psnr_person"] == float("inf")
    assert scores["paired/ssim"] == pytest.approx(1.0, abs=1e-12)
    assert scores["paired/ssim_person"] == pytest.approx(1.0, abs=1e-12)


def test_psnr_of_a_known_error_and_against_skimage():
    video = np.full((2, 20, 20, 3), 100, np.uint8)
    other = video.copy()
    other[..., 0] += 6  # MSE = 36 / 3 = 12 over all channels
    assert video_psnr(other, video) == pytest.approx(10 * np.log10(255**2 / 12.0), abs=1e-9)
    noisy = np.clip(_video(0).astype(int) + np.random.default_rng(1).integers(-20, 21, _video(0).shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    assert video_psnr(noisy, _video(0)) == pytest.approx(peak_signal_noise_ratio(_video(0), noisy, data_range=255))


def test_masked_psnr_counts_only_the_person():
    reference = _video(2)
    frames = reference.copy()
    mask = np.zeros(reference.shape[:3], bool)
    mask[:, 5:15, 5:15] = True
    frames[~mask] = 255 - frames[~mask]  # wrong everywhere outside the person
    frames[mask] = np.clip(frames[mask].astype(int) + 4, 0, 255)
    diff = frames[mask].astype(float) - reference[mask].astype(float)
    expected = 10 * np.log10(255**2 / np.mean(diff**2))
    assert video_psnr(frames, reference, mask) == pytest.approx(expected)
    assert video_psnr(frames, reference) < expected - 10
    assert np.isnan(video_psnr(frames, reference, np.zeros_like(mask)))


@pytest.mark.parametrize("change", ["noise", "shift", "darker"])
def test_ssim_matches_skimage(change):
    reference = _video(3)
    if change == "noise":
        frames = np.clip(reference + np.random.default_rng(4).normal(0, 15, reference.shape), 0, 255).astype(np.uint8)
    elif change == "shift":
        frames = np.roll(reference, 2, axis=2)
    else:
        frames = (reference * 0.7).astype(np.uint8)
    ours = video_ssim(frames, reference)
    assert ours == pytest.approx(_skimage_ssim(frames, reference), abs=1e-9)
    assert ours < 0.99


def test_masked_ssim_is_the_mean_of_the_map_inside_the_mask():
    reference = _video(5)
    frames = np.roll(reference, 3, axis=1)
    mask = np.zeros(reference.shape[:3], bool)
    mask[:, 10:22, 12:30] = True
    values = ssim_map(frames, reference)  # (T, H - 10, W - 10, 3)
    assert values.shape == (3, 22, 30, 3)
    expected = values[mask[:, 5:-5, 5:-5]].mean()
    assert video_ssim(frames, reference, mask) == pytest.approx(expected)
    # a person drawn right on a wrong background: the person score stays high
    framed = 255 - reference
    framed[mask] = reference[mask]
    assert video_ssim(framed, reference, mask) > video_ssim(framed, reference) + 0.3


def test_shapes_are_checked():
    with pytest.raises(InvalidInputError, match="one shape"):
        video_psnr(_video(), _video()[:, :-1])
    with pytest.raises(InvalidInputError, match="mask"):
        video_ssim(_video(), _video(), np.ones((3, 32, 40), bool)[:, :-1])


def test_background_delta_e_against_skimage_and_the_mask():
    """`video_delta_e` is CIE76 in CIELAB (D65), as `skimage.color.deltaE_cie76(rgb2lab(a), rgb2lab(b))`, over the
    pixels outside the person; the person's pixels do not count."""
    from skimage.color import deltaE_cie76, rgb2lab

    from kinevid.eval.video.generation import video_delta_e

    reference = _video(3)
    frames = np.clip(reference.astype(int) + np.random.default_rng(4).integers(-30, 31, reference.shape), 0, 255)
    frames = frames.astype(np.uint8)
    expected = float(np.mean([deltaE_cie76(rgb2lab(a), rgb2lab(b)) for a, b in zip(frames, reference, strict=True)]))
    assert video_delta_e(frames, reference) == pytest.approx(expected, rel=2e-3)
    person = np.zeros(reference.shape[:3], bool)
    person[:, 8:24, 10:30] = True
    repainted = frames.copy()
    repainted[person] = 255 - repainted[person]  # the person changes, the background does not
    scores = paired_scores(repainted, reference, person)
    assert scores["paired/delta_e_background"] == pytest.approx(video_delta_e(frames, reference, ~person), abs=1e-9)
    assert video_delta_e(reference, reference.copy()) == 0.0
    assert np.isnan(video_delta_e(frames, reference, np.zeros_like(person)))
