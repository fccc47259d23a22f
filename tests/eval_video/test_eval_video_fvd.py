"""FVD: the I3D architecture and its loaders, the preprocessing, and the Frechet distance vs an
eigenvalue computation."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.linalg
import torch
from safetensors.torch import save_file

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.eval.metrics import fid
from kinevid.eval.video.fvd import I3DFeatureExtractor, preprocess_for_i3d
from kinevid.eval.video.i3d import InceptionI3d, _same_padding


def _independent_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr S_a + tr S_b - 2 sum sqrt(eig(S_a^1/2 S_b S_a^1/2)) (a symmetric route)."""
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = scipy.linalg.sqrtm(cov_a).real
    eigenvalues = np.linalg.eigvalsh(root_a @ cov_b @ root_a).clip(min=0)
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(eigenvalues).sum())


def test_frechet_distance_of_feature_sets_matches_an_eigenvalue_computation():
    rng = np.random.default_rng(0)
    generated = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    reference = rng.normal(size=(150, 6)) * 0.5 + 1.0
    assert fid(torch.tensor(generated), torch.tensor(reference)) == pytest.approx(
        _independent_frechet(generated, reference), rel=1e-6
    )
    assert fid(torch.tensor(generated), torch.tensor(generated)) == pytest.approx(0.0, abs=1e-8)
    # A pure shift by d moves only the mean term: distance |d|^2.
    shift = np.array([3.0, 0, 0, 0, 0, 4.0])
    assert fid(torch.tensor(generated + shift), torch.tensor(generated)) == pytest.approx(25.0, rel=1e-6)


def test_same_padding_follows_tensorflow():
    # TF SAME: output = ceil(size / stride); total padding = max((out - 1) * stride + kernel - size, 0).
    for size in range(1, 20):
        for kernel in (1, 2, 3, 7):
            for stride in (1, 2):
                out = -(-size // stride)
                total = max((out - 1) * stride + kernel - size, 0)
                assert sum(_same_padding(size, kernel, stride)) == total


def test_preprocessing_resizes_the_shorter_side_then_crops_the_centre():
    frames = np.zeros((20, 64, 128, 3), dtype=np.uint8)
    frames[:, :, 48:80] = 255  # a white central band, a quarter of the width
    clip = preprocess_for_i3d(frames)
    assert clip.shape == (3, 16, 224, 224)
    # 64 x 128 -> 224 x 448 (no stretching), crop columns 112..336: the band lands on columns 56..168.
    assert torch.allclose(clip[..., :50], -torch.ones(1), atol=1e-5)
    assert torch.allclose(clip[..., 60:164], torch.ones(1), atol=1e-5)
    assert torch.allclose(clip[..., 174:], -torch.ones(1), atol=1e-5)
    with pytest.raises(InvalidInputError, match="at least 16 frames"):
        preprocess_for_i3d(frames[:10])


def test_i3d_state_dict_and_torchscript_files_load(tmp_path):
    network = InceptionI3d(num_classes=400).eval()
    assert sum(p.numel() for p in network.parameters()) == 12_697_264
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(tmp_path / "i3d.safetensors"))
    torch.save({"module." + k: v for k, v in network.state_dict().items()}, tmp_path / "i3d_dataparallel.pt")
    for name in ("i3d.safetensors", "i3d_dataparallel.pt"):
        loaded = I3DFeatureExtractor.from_file(tmp_path / name)
        assert not loaded.is_torchscript
        for key, value in network.state_dict().items():
            assert torch.equal(loaded.network.state_dict()[key], value), key

    class Detector(torch.nn.Module):  # StyleGAN-V's call signature
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(3, 400)

        def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False):
            pooled = self.proj(x.mean(dim=(2, 3, 4)))
            if rescale or resize or not return_features:
                return pooled.softmax(-1)
            return pooled

    detector = torch.jit.script(Detector())
    detector.save(str(tmp_path / "i3d_torchscript.pt"))
    scripted = I3DFeatureExtractor.from_file(tmp_path / "i3d_torchscript.pt")
    assert scripted.is_torchscript
    clips = torch.rand(2, 3, 16, 8, 8) * 2 - 1
    assert torch.allclose(scripted.features(clips), detector(clips, False, False, True).double(), atol=1e-6)


def test_i3d_loader_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(MissingWeightsError, match="no I3D weight file"):
        I3DFeatureExtractor.from_file(tmp_path / "absent.pt")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(InvalidInputError, match=re.escape("logits.conv3d.weight")):
        I3DFeatureExtractor.from_file(tmp_path / "other.pt")
    state = InceptionI3d().state_dict()
    state.pop("Mixed_5c.b0.conv3d.weight")
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(InvalidInputError, match=re.escape("Mixed_5c.b0.conv3d.weight")):
        I3DFeatureExtractor.from_file(tmp_path / "partial.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidInputError, match=re.escape("junk.pt")):
        I3DFeatureExtractor.from_file(tmp_path / "junk.pt")


def test_i3d_features_of_a_16_frame_clip():
    """The full network on one 224 px clip: 400 logits, and the same clip gives the same features."""
    torch.manual_seed(0)
    extractor = I3DFeatureExtractor(InceptionI3d(), is_torchscript=False)
    video = np.random.default_rng(0).integers(0, 256, size=(16, 112, 112, 3), dtype=np.uint8)
    features = extractor.video_features([video])
    assert features.shape == (1, 400) and torch.isfinite(features).all()
    logits = extractor.network(preprocess_for_i3d(video)[None])  # (1, 400, 1)
    assert logits.shape == (1, 400, 1)
    assert torch.allclose(features, logits[:, :, 0].double(), atol=1e-5)
