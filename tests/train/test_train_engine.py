"""The training engine: a tiny model overfits, checkpoints exist, resume reproduces an uninterrupted run."""

from __future__ import annotations

import json
import math

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


def test_resume_at_max_steps_exports_the_checkpoint_not_a_fresh_model(tmp_path):
    """A run stopped after its last checkpoint and resumed with `max_steps` = that step trains nothing but
    must still write the checkpoint's weights (the EMA ones included) to `final/`."""
    run(tmp_path / "full", max_steps=15)
    run(tmp_path / "resumed", max_steps=15)
    (tmp_path / "resumed" / "final" / "diffusion_pytorch_model.safetensors").unlink()
    resumed, _ = run(tmp_path / "resumed", max_steps=15, resume=True)
    assert resumed.step == 15
    full_final = TinyRegressor.from_pretrained(tmp_path / "full" / "final")
    resumed_final = TinyRegressor.from_pretrained(tmp_path / "resumed" / "final")
    torch.testing.assert_close(flat_parameters(resumed_final), flat_parameters(full_final), rtol=0, atol=0)
    resumed_model = resumed.accelerator.unwrap_model(resumed.model)  # what a final validation would see
    full_trainer, _ = run(tmp_path / "again", max_steps=15)
    full_model = full_trainer.accelerator.unwrap_model(full_trainer.model)
    torch.testing.assert_close(flat_parameters(resumed_model), flat_parameters(full_model), rtol=0, atol=0)


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


# ---------------------------------------------------------------------- best checkpoint
SCRIPTED_TOP3 = {2: 0.2, 4: 0.9, 6: 0.5, 8: 0.8, 10: 0.85, 12: 0.1}  # best at step 4


def run_scripted(output_dir, max_steps: int, resume: bool = False, scores=None, **options):
    """A run whose validation returns `scores[step]` and snapshots the weights it was shown."""
    scores = SCRIPTED_TOP3 if scores is None else scores
    snapshots: dict[int, torch.Tensor] = {}

    def validate(model: nn.Module, step: int) -> dict[str, float]:
        if step in snapshots:
            raise AssertionError(f"validated twice at step {step}")
        snapshots[step] = flat_parameters(model).clone()
        return {"top3": scores[step], "other": 0.0}

    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(PairDataset(), batch_size=8, shuffle=True)
    values = dict(checkpoint_every=2, validate_every=2, log_every=2, learning_rate=1e-2, seed=3, ema_decay=0.9)
    values.update(best_metric="val/top3", checkpoints_total_limit=None)
    values.update(options)
    config = TrainConfig(output_dir=str(output_dir), max_steps=max_steps, batch_size=8, resume=resume, **values)
    trainer = Trainer(TinyRegressor(), noisy_loss, loader, config, validate=validate)
    trainer.fit()
    return trainer, snapshots


def best_record(output_dir) -> dict:
    return json.loads((output_dir / "best" / "best_metric.json").read_text())


def test_best_checkpoint_is_the_model_at_the_best_validation(tmp_path):
    trainer, snapshots = run_scripted(tmp_path, max_steps=12)
    assert sorted(snapshots) == [2, 4, 6, 8, 10, 12]
    assert (trainer.best_step, trainer.best_value) == (4, 0.9)
    assert best_record(tmp_path) == {"metric": "val/top3", "mode": "max", "value": 0.9, "step": 4}
    best = TinyRegressor.from_pretrained(tmp_path / "best")
    # The validated weights are the EMA's: `best` must hold exactly what validation saw at step 4.
    torch.testing.assert_close(flat_parameters(best), snapshots[4], rtol=0, atol=0)
    assert not torch.equal(snapshots[4], snapshots[10])
    assert not list(tmp_path.rglob("*.partial"))
    for step, expected in [(2, 0.2), (6, 0.9), (12, 0.9)]:
        state = json.loads((tmp_path / "checkpoints" / f"step_{step:07d}" / "trainer_state.json").read_text())
        assert state["best_value"] == expected


@pytest.mark.parametrize("interrupt_at", [6, 8])  # the first run ends on a worse value / on a better-than-old one
def test_best_checkpoint_survives_a_resume(tmp_path, interrupt_at):
    run_scripted(tmp_path / "full", max_steps=12)
    _, first_snapshots = run_scripted(tmp_path / "resumed", max_steps=interrupt_at)
    resumed, snapshots = run_scripted(tmp_path / "resumed", max_steps=12, resume=True)
    assert min(snapshots) == interrupt_at + 2  # no validation repeated or skipped
    # 0.8 and 0.85 after the resume must not replace the 0.9 of step 4 from before it.
    assert (resumed.best_step, resumed.best_value) == (4, 0.9)
    assert best_record(tmp_path / "resumed")["step"] == 4
    torch.testing.assert_close(
        flat_parameters(TinyRegressor.from_pretrained(tmp_path / "resumed" / "best")),
        first_snapshots[4],
        rtol=0,
        atol=0,
    )
    torch.testing.assert_close(
        flat_parameters(TinyRegressor.from_pretrained(tmp_path / "resumed" / "best")),
        flat_parameters(TinyRegressor.from_pretrained(tmp_path / "full" / "best")),
        rtol=0,
        atol=0,
    )


def test_best_checkpoint_min_mode_and_improvement_after_resume(tmp_path):
    losses = {2: 3.0, 4: 2.0, 6: 2.5, 8: 1.0, 10: 1.5}
    run_scripted(tmp_path, max_steps=4, scores=losses, best_metric_mode="min")
    assert best_record(tmp_path)["step"] == 4
    # The last validation of a run (step 4) is part of its last checkpoint: 2.5 at step 6 is no improvement.
    run_scripted(tmp_path, max_steps=6, resume=True, scores=losses, best_metric_mode="min")
    assert best_record(tmp_path)["step"] == 4
    resumed, snapshots = run_scripted(tmp_path, max_steps=10, resume=True, scores=losses, best_metric_mode="min")
    assert (resumed.best_step, resumed.best_value) == (8, 1.0)
    assert best_record(tmp_path) == {"metric": "val/top3", "mode": "min", "value": 1.0, "step": 8}
    torch.testing.assert_close(flat_parameters(TinyRegressor.from_pretrained(tmp_path / "best")), snapshots[8])


def test_best_metric_must_be_a_validation_value(tmp_path):
    with pytest.raises(InvalidInputError, match=r"'val/top5' is not among the validation values \['val/other'"):
        run_scripted(tmp_path / "a", max_steps=2, best_metric="val/top5")
    with pytest.raises(InvalidInputError, match="no `validate` callback"):
        config = TrainConfig(output_dir=str(tmp_path / "b"), max_steps=2, batch_size=8, learning_rate=1e-2)
        config.best_metric = "val/top3"
        Trainer(TinyRegressor(), noisy_loss, torch.utils.data.DataLoader(PairDataset(), batch_size=8), config)
    with pytest.raises(InvalidInputError, match="best_metric_mode"):
        TrainConfig(output_dir="x", max_steps=1, batch_size=1, learning_rate=1e-3, best_metric_mode="highest")


def test_cosine_with_min_lr_schedule(tmp_path):
    warmup, total, floor, peak = 4, 20, 0.05, 1e-2
    config = TrainConfig(
        output_dir=str(tmp_path),
        max_steps=total,
        batch_size=8,
        learning_rate=peak,
        warmup_steps=warmup,
        lr_scheduler="cosine_with_min_lr",
        min_lr_rate=floor,
    )
    trainer = Trainer(TinyRegressor(), noisy_loss, torch.utils.data.DataLoader(PairDataset(), batch_size=8), config)
    rates = []
    for _ in range(total + 1):
        rates.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    for step, rate in enumerate(rates):
        if step < warmup:
            expected = peak * step / warmup
        else:
            progress = (step - warmup) / (total - warmup)
            expected = peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
        assert rate == pytest.approx(expected, rel=1e-9, abs=1e-15), step
    assert rates[total] == pytest.approx(floor * peak)
    with pytest.raises(InvalidInputError, match="min_lr_rate"):
        TrainConfig(output_dir="x", max_steps=1, batch_size=1, learning_rate=1e-3, min_lr_rate=0.1)


def test_resume_with_another_best_metric_starts_a_new_best(tmp_path):
    run_scripted(tmp_path, max_steps=4)
    assert best_record(tmp_path)["value"] == 0.9
    # "val/other" is 0.0 at every step: compared with the 0.9 of "val/top3" it would never win.
    resumed, _ = run_scripted(tmp_path, max_steps=6, resume=True, best_metric="val/other")
    assert (resumed.best_step, resumed.best_value) == (6, 0.0)
    assert best_record(tmp_path) == {"metric": "val/other", "mode": "max", "value": 0.0, "step": 6}


def test_config_sections_check_value_types_and_name_the_key():
    from kinevid.train.engine import build_config_section

    with pytest.raises(InvalidInputError, match=r"run\.json: train: `max_steps` must be int, got null"):
        TrainConfig.from_dict({"output_dir": "x", "max_steps": None, "batch_size": 1, "learning_rate": 1.0},
                              source="run.json: train")  # fmt: skip
    with pytest.raises(InvalidInputError, match="`adam_betas` must be"):
        TrainConfig.from_dict({"output_dir": "x", "max_steps": 1, "batch_size": 1, "learning_rate": 1.0,
                               "adam_betas": [0.9]})  # fmt: skip
    config = build_config_section(TrainConfig, {"output_dir": "x", "max_steps": 2, "batch_size": 1,
                                                "learning_rate": 1, "ema_decay": None}, "s")  # fmt: skip
    assert config.learning_rate == 1 and config.ema_decay is None
