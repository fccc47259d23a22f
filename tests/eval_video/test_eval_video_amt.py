"""AMT-S against the release's code on shared random weights, checkpoint loading, VBench's frame handling
and motion smoothness with AMT (against an independent run of VBench's procedure), and the CLI."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from video_cases import moving_video, textured_frame

from kinevid.cli.main import main
from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.eval.video.amt import AMT, NUM_FLOWS, AmtInterpolator, vbench_scale_factor
from kinevid.eval.video.vbench import motion_smoothness
from kinevid.eval.video.videos import load_video_set
from kinevid.render.video import write_video

# The release (MCG-NKU/AMT) as a git directory; its code is read from there, never shipped.
RELEASE_GIT = Path(os.environ.get("KINEVID_AMT_RELEASE_GIT", "/work/.mirror/MCG-NKU+AMT/repo"))
RELEASE_COMMIT = "70f988fbfc0d3d458beba1ee49caf876e57968fe"
RELEASE_FILES = (
    "networks/__init__.py",
    "networks/AMT-S.py",
    "networks/blocks/__init__.py",
    "networks/blocks/feat_enc.py",
    "networks/blocks/ifrnet.py",
    "networks/blocks/multi_flow.py",
    "networks/blocks/raft.py",
    "utils/__init__.py",
    "utils/flow_utils.py",  # imports PIL, which kinevid has
)


@pytest.fixture
def release_model_class(tmp_path, monkeypatch):
    """The release's `networks/AMT-S.py` `Model`, imported from its files written to `tmp_path` (the release
    imports `networks.blocks...` and `utils...` as top-level packages)."""
    if not RELEASE_GIT.is_dir():
        pytest.skip(f"the AMT release is not at {RELEASE_GIT} (set KINEVID_AMT_RELEASE_GIT)")
    root = tmp_path / "amt_release"
    for name in RELEASE_FILES:
        result = subprocess.run(
            ["git", "-C", str(RELEASE_GIT), "show", f"{RELEASE_COMMIT}:{name}"], capture_output=True, check=False
        )
        if result.returncode != 0:
            pytest.skip(f"cannot read {name} at {RELEASE_COMMIT[:7]} from {RELEASE_GIT}")
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(result.stdout)
    shadowed = {k: v for k, v in sys.modules.items() if k.split(".")[0] in ("networks", "utils")}
    for key in shadowed:
        monkeypatch.delitem(sys.modules, key)
    monkeypatch.syspath_prepend(str(root))
    spec = importlib.util.spec_from_file_location("amt_release_amt_s", root / "networks" / "AMT-S.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.Model
    for key in [k for k in sys.modules if k.split(".")[0] in ("networks", "utils")]:
        del sys.modules[key]
    sys.modules.update(shadowed)


def _random_amt(seed: int = 0, gain: float = 0.5, flow_gain: float = 100.0) -> AMT:
    """AMT-S with default random weights scaled by `gain` (at full scale the output saturates at 0 and 1), and
    the layers that emit flows by `flow_gain` more, so flows are pixels (not hundredths) and the correlation
    lookups, warps and multi-flow blending are exercised."""
    torch.manual_seed(seed)
    model = AMT().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(gain)
        decoders = [(model.decoder4, 4), (model.decoder3, 4), (model.decoder2, 4), (model.decoder1, 4 * NUM_FLOWS)]
        for decoder, flow_channels in decoders:  # the flows are the first output channels
            decoder.convblock[2].weight[:, :flow_channels].mul_(flow_gain)
            decoder.convblock[2].bias[:flow_channels].mul_(flow_gain)
        for update in (model.update4, model.update3, model.update2):
            update.flow_head[2].weight.mul_(flow_gain)
            update.flow_head[2].bias.mul_(flow_gain)
    return model


def _blend_amt() -> AMT:
    """AMT-S whose flows, feature updates, residuals and correction are all zero: it predicts the average of
    the two frames (masks are sigmoid(0) = 0.5), so a still video is reproduced exactly."""
    model = _random_amt()
    last_layers = [model.decoder4, model.decoder3, model.decoder2, model.decoder1]
    with torch.no_grad():
        for layer in [d.convblock[2] for d in last_layers] + [model.comb_block[2]]:
            layer.weight.zero_()
            layer.bias.zero_()
        for update in (model.update4, model.update3, model.update2):
            for head in (update.flow_head[2], update.feat_head[2]):
                head.weight.zero_()
                head.bias.zero_()
    return model


@pytest.mark.parametrize(
    ("batch", "height", "width", "scale"), [(1, 128, 128, 1.0), (2, 128, 144, 1.0), (1, 256, 256, 0.5)]
)
def test_amt_matches_the_release_on_shared_random_weights(release_model_class, batch, height, width, scale):
    release = release_model_class().eval()  # AMT-S.yaml: corr_radius 3, corr_lvls 4, num_flows 3
    ours = _random_amt()
    assert sorted(release.state_dict()) == sorted(ours.state_dict())
    release.load_state_dict(ours.state_dict())
    generator = torch.Generator().manual_seed(height + batch)
    image0 = torch.rand(batch, 3, height, width, generator=generator)
    image1 = torch.rand(batch, 3, height, width, generator=generator)
    with torch.no_grad():
        expected = release(image0, image1, torch.full((batch, 1, 1, 1), 0.5), scale_factor=scale, eval=True)
        predicted = ours(image0, image1, time=0.5, scale_factor=scale)
    expected = expected["imgt_pred"]
    assert predicted.shape == expected.shape == image0.shape
    assert ((expected > 0) & (expected < 1)).float().mean() > 0.9  # not clamped: the comparison means something
    assert expected.std() > 1e-2
    assert (predicted - expected).abs().max() <= 1e-4


def test_frames_below_128_px_are_refused_where_the_release_returns_nan(release_model_class):
    release = release_model_class().eval()
    ours = _random_amt()
    release.load_state_dict(ours.state_dict())
    image = torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.isnan(release(image, image, torch.full((1, 1, 1, 1), 0.5), eval=True)["imgt_pred"]).all()
    with pytest.raises(InvalidInputError, match="at least 128 px"):
        ours(image, image)


def test_interpolator_pads_runs_unpads_and_truncates_like_vbench(tmp_path):
    model = _random_amt()
    torch.save({"state_dict": model.state_dict(), "epoch": 300}, tmp_path / "amt-s.pth")
    save_file(model.state_dict(), tmp_path / "amt-s.safetensors")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(2, 120, 130, 3), dtype=np.uint8)
    # VBench: img2tensor (/ 255), InputPadder(divisor 16): replicate, centred; unpad; tensor2img (truncation)
    images = [torch.from_numpy(f).permute(2, 0, 1)[None] / 255.0 for f in frames]
    padded = [F.pad(image, [7, 7, 4, 4], mode="replicate") for image in images]  # 120 -> 128, 130 -> 144
    with torch.no_grad():
        middle = model(*padded)[..., 4:124, 7:137]
    expected = (middle * 255.0).squeeze(0).permute(1, 2, 0).numpy().clip(0, 255).astype(np.uint8)
    for name in ("amt-s.pth", "amt-s.safetensors"):
        interpolator = AmtInterpolator.from_file(tmp_path / name)
        for key, value in model.state_dict().items():
            assert torch.equal(interpolator.model.state_dict()[key], value), key
        predicted = interpolator(frames[0], frames[1])
        assert predicted.dtype == np.uint8 and predicted.shape == (120, 130, 3)
        np.testing.assert_array_equal(predicted, expected)
    with pytest.raises(InvalidInputError, match="at least 128 px"):
        interpolator(frames[0, :100], frames[1, :100])  # pads to 112
    with pytest.raises(InvalidInputError, match="uint8 RGB frames"):
        interpolator(frames[0], frames[1, :64])


def test_loader_rejects_missing_foreign_and_misshapen_files_with_one_line(tmp_path):
    with pytest.raises(MissingWeightsError, match="no AMT-S weight file") as missing:
        AmtInterpolator.from_file(tmp_path / "amt-s.pth")
    state = AMT().state_dict()
    torch.save({"state_dict": {"feat_encoder.conv1.weight": state["feat_encoder.conv1.weight"]}}, tmp_path / "p.pth")
    with pytest.raises(InvalidInputError, match="does not match AMT-S: missing") as partial:
        AmtInterpolator.from_file(tmp_path / "p.pth")
    state["comb_block.0.weight"] = torch.zeros(18, 12, 3, 3)  # an AMT with 4 flows
    torch.save(state, tmp_path / "four_flows.pth")
    with pytest.raises(InvalidInputError, match=r"comb_block.0.weight \(18, 12, 3, 3\)") as misshapen:
        AmtInterpolator.from_file(tmp_path / "four_flows.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(InvalidInputError, match="not a readable AMT-S state dict") as unreadable:
        AmtInterpolator.from_file(tmp_path / "text.pth")
    for error in (missing, partial, misshapen, unreadable):
        message = str(error.value)
        assert "\n" not in message and message.startswith(str(tmp_path))


def test_vbench_scale_factor_is_one_on_cpu_and_shrinks_big_frames_on_small_gpus():
    assert vbench_scale_factor(4096, 4096) == 1.0  # VBench never resizes in CPU mode
    four_gb = 4000 * 1024**2  # sqrt((4000 - 2500) / 1500) = 1: 1024 x 512 px fit unscaled
    assert vbench_scale_factor(512, 1024, four_gb) == 1.0
    assert vbench_scale_factor(1024, 2048, four_gb) == 0.5  # area ratio 1/4 -> sqrt 1/2 -> 16 / 32
    assert vbench_scale_factor(1024, 1024, four_gb) == pytest.approx(16 / 22)  # floor(16 sqrt 2) = 22
    with pytest.raises(InvalidInputError, match=r"2\.5 GB"):
        vbench_scale_factor(64, 64, 2000 * 1024**2)


def _vbench_motion_score(frames: np.ndarray, model: AMT) -> float:
    """VBench's `MotionSmoothness.motion_score` on CPU, step by step: even frames, all padded to 16, AMT at
    t = 0.5 between neighbours, outputs interleaved with the inputs, unpadded, `tensor2img`; then
    `vfi_score` on the odd frames with `cv2.absdiff`."""
    inputs = [torch.from_numpy(frame).permute(2, 0, 1)[None] / 255.0 for frame in frames[0::2]]
    height, width = inputs[0].shape[-2:]
    pad_h, pad_w = (((height // 16) + 1) * 16 - height) % 16, (((width // 16) + 1) * 16 - width) % 16
    pads = [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2]
    inputs = [F.pad(x, pads, mode="replicate") for x in inputs]
    outputs = [inputs[0]]
    with torch.no_grad():
        for in_0, in_1 in itertools.pairwise(inputs):
            outputs += [model(in_0, in_1, time=0.5), in_1]
    outputs = [x[..., pads[2] : x.shape[-2] - pads[3], pads[0] : x.shape[-1] - pads[1]] for x in outputs]
    outputs = [(x * 255.0).squeeze(0).permute(1, 2, 0).numpy().clip(0, 255).astype(np.uint8) for x in outputs]
    originals, interpolated = frames[1::2], outputs[1::2]
    differences = [np.mean(cv2.absdiff(originals[i], interpolated[i])) for i in range(len(interpolated))]
    return (255.0 - np.mean(np.array(differences))) / 255.0


def test_motion_smoothness_with_amt_orders_still_moving_and_random_videos():
    interpolator = AmtInterpolator(_blend_amt())
    still = np.stack([textured_frame(120, 128, seed=1)] * 5)
    moving = moving_video(5, 120, 128, step=3, seed=2)
    random = np.random.default_rng(0).integers(0, 256, size=(6, 120, 128, 3), dtype=np.uint8)  # 6: last odd unused
    scores = {name: motion_smoothness(video, interpolator) for name, video in [("still", still), ("moving", moving)]}
    scores["random"] = motion_smoothness(random, interpolator)
    assert scores["still"] == pytest.approx(1.0, abs=1 / 255)  # truncation to uint8 may lose one level
    assert scores["still"] > scores["moving"] > scores["random"]
    assert scores["random"] < 0.85  # |U - (V + W) / 2| of uniform noise is about 0.29 of the range
    for video, name in [(still, "still"), (random, "random")]:
        assert scores[name] == pytest.approx(_vbench_motion_score(video, interpolator.model), abs=1e-12)


def test_motion_smoothness_with_random_amt_weights_matches_vbench_procedure():
    model = _random_amt(seed=3)
    video = moving_video(5, 120, 130, step=2, seed=4)  # padded to 128 x 144
    score = motion_smoothness(video, AmtInterpolator(model))
    assert 0.0 < score < 1.0
    assert score == pytest.approx(_vbench_motion_score(video, model), abs=1e-12)


def _save_blend_checkpoint(path: Path) -> Path:
    torch.save({"state_dict": _blend_amt().state_dict()}, path)
    return path


def test_cli_scores_motion_smoothness_with_amt_weights(tmp_path, capsys):
    generated = tmp_path / "generated"
    write_video(np.stack([textured_frame(128, 128, seed=5)] * 5), generated / "still.mp4", fps=8)
    noise = np.random.default_rng(1).integers(0, 256, size=(5, 128, 128, 3), dtype=np.uint8)
    write_video(noise, generated / "noise.mp4", fps=8)
    weights = _save_blend_checkpoint(tmp_path / "amt-s.pth")
    argv = ["eval", "video", str(generated), "--metrics", "motion_smoothness", "--amt", str(weights)]
    assert main([*argv, "-o", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    per_video = report["repeats"][0]["per_video"]
    interpolator = AmtInterpolator.from_file(weights)
    for video in load_video_set(generated):  # the frames the command decoded
        assert per_video[video.name]["motion_smoothness"] == pytest.approx(
            motion_smoothness(video.frames, interpolator)
        )
    assert per_video["still"]["motion_smoothness"] > 0.99 > per_video["noise"]["motion_smoothness"]
    mean = (per_video["still"]["motion_smoothness"] + per_video["noise"]["motion_smoothness"]) / 2
    assert report["means"]["motion_smoothness"] == pytest.approx(mean)  # VBench: the mean over videos
    assert "AMT" in report["legend"]["motion_smoothness"]
    assert f"motion_smoothness: {mean:.4f}" in capsys.readouterr().out


def test_cli_without_amt_names_the_missing_option(tmp_path, capsys):
    generated = tmp_path / "generated"
    write_video(np.stack([textured_frame(128, 128)] * 3), generated / "a.mp4", fps=8)
    assert main(["eval", "video", str(generated), "--metrics", "motion_smoothness", "-o", str(tmp_path / "r")]) == 1
    error = capsys.readouterr().err
    assert "metric 'motion_smoothness' needs --amt" in error and error.count("\n") == 1
    argv = ["eval", "video", str(generated), "--metrics", "motion_smoothness", "--amt", str(tmp_path / "no.pth")]
    assert main([*argv, "-o", str(tmp_path / "r")]) == 1
    error = capsys.readouterr().err
    assert "no.pth: no AMT-S weight file" in error and error.count("\n") == 1
    assert not (tmp_path / "r").exists()
