"""`TrainConfig.lr_schedule_steps`: a run stopped before the end of its schedule keeps that schedule."""

from __future__ import annotations

import math

import pytest
import torch
from engine_worker import BlockRegressor, RegressionDataset

from kinevid.errors import InvalidInputError
from kinevid.train.engine import TrainConfig, Trainer


def _fit(tmp_path, **options) -> Trainer:
    config = TrainConfig(output_dir=str(tmp_path), max_steps=4, batch_size=4, learning_rate=1.0,
                         lr_scheduler="cosine", **options)  # fmt: skip
    loader = torch.utils.data.DataLoader(RegressionDataset(), batch_size=4)
    trainer = Trainer(BlockRegressor(), lambda m, b: {"loss": (m(b["x"]) - b["y"]).square().mean()}, loader, config)
    trainer.fit()
    return trainer


def test_lr_schedule_steps_sets_the_schedule_length(tmp_path):
    assert _fit(tmp_path / "plain").lr_scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)
    stopped = _fit(tmp_path / "stopped", lr_schedule_steps=8)
    assert stopped.step == 4
    assert stopped.lr_scheduler.get_last_lr()[0] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    with pytest.raises(InvalidInputError, match="lr_schedule_steps"):
        TrainConfig(output_dir=str(tmp_path), max_steps=4, batch_size=1, learning_rate=1.0, lr_schedule_steps=2)
