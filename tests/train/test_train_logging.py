"""Run logs: TensorBoard events hold the logged losses; `kinevid train plot` draws them to a PNG."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from engine_worker import BlockRegressor, RegressionDataset
from torch import nn

from kinevid.cli.main import main as kinevid
from kinevid.errors import InvalidInputError, MissingDataError
from kinevid.train import TrainConfig, Trainer
from kinevid.train.plot import curves, read_log


def mse(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    error = model(batch["x"]) - batch["y"]
    return {"loss": (error**2).mean(), "mae": error.abs().mean()}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    config = TrainConfig(
        output_dir=str(output),
        max_steps=12,
        batch_size=8,
        learning_rate=1e-2,
        log_every=2,
        checkpoint_every=6,
        log_with=("tensorboard",),
    )
    loader = torch.utils.data.DataLoader(RegressionDataset(), batch_size=8, shuffle=True)
    Trainer(BlockRegressor(), mse, loader, config, validate=lambda model, step: {"score": step / 12}).fit()
    return output


def test_tensorboard_events_hold_the_logged_losses(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert events
    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    logged = {record["step"]: record for record in read_log(run_dir) if "loss" in record}
    scalars = {event.step: event.value for event in accumulator.Scalars("loss")}
    assert sorted(scalars) == sorted(logged) == [2, 4, 6, 8, 10, 12]
    for step, value in scalars.items():
        assert value == pytest.approx(logged[step]["loss"], rel=1e-6)
    assert {"mae", "lr", "val/score"} <= set(accumulator.Tags()["scalars"])


def test_plot_writes_a_png_of_the_curves(run_dir, tmp_path, capsys):
    output = tmp_path / "plots" / "loss.png"
    assert kinevid(["train", "plot", str(run_dir), "-o", str(output)]) == 0
    assert str(output) in capsys.readouterr().out
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = iio.imread(output)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 10  # curves, not a blank canvas
    assert not list(output.parent.glob(".*tmp*"))
    # Default output beside the log.
    assert kinevid(["train", "plot", str(run_dir)]) == 0
    assert (run_dir / "loss.png").is_file()


def test_curves_keep_the_last_value_of_a_repeated_step():
    records = [{"step": 1, "loss": 3.0, "steps_per_s": 9.0}, {"step": 2, "loss": 2.0}, {"step": 2, "loss": 1.5}]
    assert curves(records) == {"loss": ([1, 2], [3.0, 1.5])}


def test_plot_of_a_missing_or_empty_log_is_a_one_line_error(tmp_path, capsys):
    assert kinevid(["train", "plot", str(tmp_path / "nowhere")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "logs.jsonl" in error and "does not exist" in error
    (tmp_path / "logs.jsonl").write_text("")
    assert kinevid(["train", "plot", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is empty" in error
    assert not (tmp_path / "loss.png").exists()
    with pytest.raises(MissingDataError):
        read_log(tmp_path / "missing.jsonl")
    (tmp_path / "logs.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n{not json\n")
    with pytest.raises(InvalidInputError, match="line 2: not valid JSON"):
        read_log(tmp_path)
