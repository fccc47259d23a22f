"""`kinevid eval video --metrics retrieval_precision fd_kinevid` on a tiny evaluator saved to disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kinevid.cli.main import main
from kinevid.eval.video.evaluate import VideoEvaluationInputs
from kinevid.eval.video.retrieval import TextVideoRetrievalModel
from kinevid.render.video import write_video


@pytest.fixture(scope="module")
def tiny_evaluator_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = TextVideoRetrievalModel(
        num_frames=5, frame_size=16, channels=(4, 8), hidden_dim=16, num_layers=1, num_heads=2, ffn_dim=32
    )
    directory = tmp_path_factory.mktemp("video_evaluator")
    model.save_pretrained(directory)
    return directory


def _write_set(directory, count: int, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    prompts = {}
    for index in range(count):
        colour = rng.integers(0, 256, size=3, dtype=np.uint8)
        frames = np.broadcast_to(colour, (5, 16, 16, 3)).copy()
        frames[:, 4:12, 4 + index % 4 : 8 + index % 4] = 255 - colour
        write_video(frames, directory / f"clip{index:02d}.mp4", fps=8)
        prompts[f"clip{index:02d}"] = f"a person number {index} in a {['red', 'blue', 'green'][index % 3]} shirt"
    return prompts


def test_retrieval_metrics_from_the_command_line(tmp_path, tiny_evaluator_dir, capsys):
    generated = tmp_path / "generated"
    prompts = _write_set(generated, 32)
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
    argv = ["eval", "video", str(generated), "--prompts", str(tmp_path / "prompts.json"), "--reference", str(generated)]
    argv += ["--metrics", "retrieval_precision", "fd_kinevid", "--video-evaluator", str(tiny_evaluator_dir)]
    assert main([*argv, "-o", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    means = report["means"]
    assert means["fd_kinevid"] == pytest.approx(0.0, abs=1e-6)  # the set against itself
    assert 0 <= means["r_precision_top1"] <= means["r_precision_top2"] <= means["r_precision_top3"] <= 1
    assert "fd_kinevid" in report["legend"] and "not FVD" in report["legend"]["fd_kinevid"]
    assert "fd_kinevid: 0.0000" in capsys.readouterr().out


def test_retrieval_metrics_are_opt_in():
    inputs = VideoEvaluationInputs(prompts_file="prompts.json", reference_dir="reference")
    assert not {"retrieval_precision", "fd_kinevid"} & set(inputs.available_metrics())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "retrieval_precision", "--prompts", "PROMPTS"], "needs at least 32 videos"),
        (["--metrics", "retrieval_precision"], "needs --prompts"),
        (["--metrics", "fd_kinevid"], "needs --reference"),
        (["--metrics", "fd_kinevid", "--reference", "GEN", "--video-evaluator", "nowhere"], "nowhere"),
    ],
)
def test_bad_requests_are_one_line_errors(tmp_path, capsys, extra, message):
    generated = tmp_path / "generated"
    prompts = _write_set(generated, 3)
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
    extra = [{"PROMPTS": str(tmp_path / "prompts.json"), "GEN": str(generated)}.get(a, a) for a in extra]
    extra = [str(tmp_path / a) if a == "nowhere" else a for a in extra]
    assert main(["eval", "video", str(generated), *extra, "-o", str(tmp_path / "report")]) == 1
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "report").exists()
