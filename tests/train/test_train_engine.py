"""The training engine: a tiny model overfits, checkpoints exist, resume reproduces an uninterrupted run."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.train import TrainConfig, Trainer


class TinyRegressor(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, in_dim: int = 4, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh(), nn.Dropout(0.1), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PairDataset(torch.utils.data.Dataset):
    def __init__(self, num: int = 40):
        generator = torch.Generator().manual_seed(1)
        self.x = torch.randn(num, 4, generator=generator)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.5 * self.x[:, :1] * self.x[:, 1:2]

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index]}


def noisy_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # Draws from the global RNG (as diffusion losses do), so resume must restore RNG states.
    noise = 0.01 * torch.randn_like(batch["y"])
    mse = ((model(batch["x"]) - batch["y"] - noise) ** 2).mean()
    return {"loss": mse, "mse": mse}


def run(output_dir, max_steps: int, resume: bool = False, **options) -> tuple[Trainer, dict[str, float]]:
    torch.manual_seed(0)
    model = TinyRegressor()
    loader = torch.utils.data.DataLoader(PairDataset(), batch_size=8, shuffle=True)
    values = dict(checkpoint_every=5, log_every=5, learning_rate=1e-2, seed=3, ema_decay=0.9)
    values.update(options)
    config = TrainConfig(output_dir=str(output_dir), max_steps=max_steps, batch_size=8, resume=resume, **values)
    trainer = Trainer(model, noisy_loss, loader, config, validate=lambda model, step: {"step_seen": float(step)})
    return trainer, trainer.fit()


def flat_parameters(module: nn.Module) -> torch.Tensor:
    return torch.cat([parameter.detach().flatten() for parameter in module.parameters()])


def test_tiny_model_overfits_and_writes_outputs(tmp_path):
    trainer, values = run(tmp_path, max_steps=60, ema_decay=None, learning_rate=3e-2)
    records = [json.loads(line) for line in (tmp_path / "logs.jsonl").read_text().splitlines()]
    train_records = [record for record in records if "loss" in record]
    assert train_records[-1]["loss"] < 0.3 * train_records[0]["loss"]
    assert {"lr", "steps_per_s", "mse"} <= set(train_records[0])
    assert any(record.get("val/step_seen") == 60 for record in records)
    assert (tmp_path / "final" / "config.json").is_file()
    assert (tmp_path / "final" / "diffusion_pytorch_model.safetensors").is_file()
    checkpoints = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    assert checkpoints == ["step_0000050", "step_0000055", "step_0000060"]  # limit of 3 kept
    assert (tmp_path / "checkpoints" / "step_0000060" / "model.safetensors").is_file()
    assert not list(tmp_path.rglob("*.partial"))
    reloaded = TinyRegressor.from_pretrained(tmp_path / "final")
    assert torch.equal(flat_parameters(reloaded), flat_parameters(trainer.accelerator.unwrap_model(trainer.model)))
    assert values["mse"] == pytest.approx(train_records[-1]["mse"])


@pytest.mark.parametrize("interrupt_at", [12, 15])  # mid-epoch (5 batches per epoch) and epoch boundary
def test_resume_matches_uninterrupted_run(tmp_path, interrupt_at):
    full, _ = run(tmp_path / "full", max_steps=22)
    run(tmp_path / "resumed", max_steps=interrupt_at)
    resumed, _ = run(tmp_path / "resumed", max_steps=22, resume=True)
    assert resumed.step == 22
    full_model = full.accelerator.unwrap_model(full.model)
    resumed_model = resumed.accelerator.unwrap_model(resumed.model)
    torch.testing.assert_close(flat_parameters(resumed_model), flat_parameters(full_model), rtol=0, atol=0)
    full_final = TinyRegressor.from_pretrained(tmp_path / "full" / "final")  # EMA weights
    resumed_final = TinyRegressor.from_pretrained(tmp_path / "resumed" / "final")
    torch.testing.assert_close(flat_parameters(resumed_final), flat_parameters(full_final), rtol=0, atol=0)
    assert not torch.equal(flat_parameters(full_final), flat_parameters(full_model))  # EMA differs from raw
    full_log = [json.loads(x) for x in (tmp_path / "full" / "logs.jsonl").read_text().splitlines()]
    resumed_log = [json.loads(x) for x in (tmp_path / "resumed" / "logs.jsonl").read_text().splitlines()]
    # Logged losses average the steps since the previous log line; compare lines whose steps all
    # come after the interruption (the first line after a mid-epoch resume averages fewer steps).
    losses = {r["step"]: r["loss"] for r in full_log if "loss" in r and r["step"] - 5 >= interrupt_at}
    assert losses and all(
        r["loss"] == pytest.approx(losses[r["step"]], rel=1e-6)
        for r in resumed_log
        if r["step"] in losses and "loss" in r
    )


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(MissingWeightsError, match="no checkpoint"):
        run(tmp_path, max_steps=5, resume=True)


def test_bad_config_values_raise():
    with pytest.raises(InvalidInputError, match="max_steps"):
        TrainConfig(output_dir="x", max_steps=0, batch_size=1, learning_rate=1e-3)
    with pytest.raises(InvalidInputError, match="mixed_precision"):
        TrainConfig(output_dir="x", max_steps=1, batch_size=1, learning_rate=1e-3, mixed_precision="fp8")
    with pytest.raises(InvalidInputError, match="unknown training options"):
        TrainConfig.from_dict({"output_dir": "x", "max_steps": 1, "batch_size": 1, "learning_rate": 1.0, "lr": 2})


def deterministic_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"loss": ((model(batch["x"]) - batch["y"]) ** 2).mean()}


def test_gradient_accumulation_matches_one_large_batch(tmp_path):
    def train(batch_size: int, accumulation: int) -> torch.Tensor:
        torch.manual_seed(0)
        model = TinyRegressor().eval()  # eval: no dropout, so both runs see the same function
        model.train = lambda mode=True: model  # keep dropout off inside the trainer
        loader = torch.utils.data.DataLoader(PairDataset(), batch_size=batch_size, shuffle=False)
        config = TrainConfig(
            output_dir=str(tmp_path / f"acc{accumulation}"),
            max_steps=3,
            batch_size=batch_size,
            learning_rate=1e-2,
            gradient_accumulation_steps=accumulation,
            max_grad_norm=0.0,
        )
        trainer = Trainer(model, deterministic_loss, loader, config)
        trainer.fit()
        return flat_parameters(trainer.accelerator.unwrap_model(trainer.model))

    # Two micro-batches of 4 per optimiser step = one batch of 8 (an optimiser step per micro-batch would not be).
    torch.testing.assert_close(train(4, 2), train(8, 1), atol=1e-6, rtol=1e-5)
