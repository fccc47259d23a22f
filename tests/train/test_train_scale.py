"""Scale options of the Trainer: gradient checkpointing, LoRA, mixed precision, FSDP wrap units,
DeepSpeed (on GPUs only)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from diffusers import WanTransformer3DModel
from engine_worker import BlockRegressor, RegressionDataset
from safetensors.torch import load_file
from torch import nn

from kinevid.errors import InvalidInputError
from kinevid.train import TrainConfig, Trainer
from kinevid.train.distributed import fsdp_wrap_classes
from kinevid.train.lora import add_lora, lora_scalings, merge_lora_state_dict
from tiny_models import tiny_wan_config

REPO = Path(__file__).resolve().parents[2]
TINY_WAN = tiny_wan_config(attention_head_dim=8)


def tiny_wan() -> WanTransformer3DModel:
    torch.manual_seed(0)
    return WanTransformer3DModel(**TINY_WAN)


class LatentDataset(torch.utils.data.Dataset):
    """Fixed random (latents, text, timestep, target) samples for a tiny Wan transformer."""

    def __init__(self, num: int = 8):
        generator = torch.Generator().manual_seed(2)
        self.latents = torch.randn(num, 4, 2, 8, 8, generator=generator)
        self.text = torch.randn(num, 6, 16, generator=generator)
        self.timestep = torch.randint(0, 1000, (num,), generator=generator)
        self.target = torch.randn(num, 4, 2, 8, 8, generator=generator)

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "latents": self.latents[index],
            "text": self.text[index],
            "timestep": self.timestep[index],
            "target": self.target[index],
        }


def wan_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    prediction = model(batch["latents"], batch["timestep"], batch["text"], return_dict=False)[0]
    return {"loss": ((prediction.float() - batch["target"]) ** 2).mean()}


def train_wan(output_dir: Path, model: nn.Module | None = None, **options) -> Trainer:
    model = tiny_wan() if model is None else model
    loader = torch.utils.data.DataLoader(LatentDataset(), batch_size=4, shuffle=False)
    values = dict(max_steps=3, batch_size=4, learning_rate=1e-3, log_every=1, checkpoint_every=100, max_grad_norm=0.0)
    config = TrainConfig(output_dir=str(output_dir), **{**values, **options})
    trainer = Trainer(model, wan_loss, loader, config)
    trainer.fit()
    return trainer


def logged_losses(output_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (output_dir / "logs.jsonl").read_text().splitlines()]


def test_gradient_checkpointing_recomputes_blocks_and_keeps_the_losses(tmp_path):
    def run(name: str, checkpointing: bool) -> tuple[list[float], int]:
        model = tiny_wan()
        calls = []
        block_forward = model.blocks[0].forward

        def counted_forward(*args, **kwargs):  # (module hooks do not fire in the recomputation)
            calls.append(1)
            return block_forward(*args, **kwargs)

        model.blocks[0].forward = counted_forward
        trainer = train_wan(tmp_path / name, model, gradient_checkpointing=checkpointing)
        assert trainer.accelerator.unwrap_model(trainer.model).gradient_checkpointing is checkpointing
        return logged_losses(tmp_path / name), len(calls)

    plain_losses, plain_calls = run("plain", False)
    checkpointed_losses, checkpointed_calls = run("checkpointed", True)
    assert plain_calls == 3  # one forward per step
    assert checkpointed_calls == 6  # and one recomputation in each backward
    assert checkpointed_losses == pytest.approx(plain_losses, rel=1e-6)


def test_gradient_checkpointing_needs_model_support(tmp_path):
    config = TrainConfig(
        output_dir=str(tmp_path), max_steps=1, batch_size=8, learning_rate=1e-3, gradient_checkpointing=True
    )
    loader = torch.utils.data.DataLoader(RegressionDataset(), batch_size=8)
    with pytest.raises(InvalidInputError, match="gradient_checkpointing"):
        Trainer(BlockRegressor(), lambda model, batch: {}, loader, config)


@pytest.fixture
def fresh_accelerator_state():
    """accelerate keeps one precision per process: let a test switch it, and restore the default after."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    yield
    AcceleratorState._reset_state()


def test_bf16_mixed_precision_runs_close_to_fp32(tmp_path, fresh_accelerator_state):
    from accelerate.state import AcceleratorState

    fp32 = logged_losses(train_wan(tmp_path / "fp32").output_dir)
    AcceleratorState._reset_state()
    bf16 = logged_losses(train_wan(tmp_path / "bf16", mixed_precision="bf16").output_dir)
    assert bf16 != fp32  # autocast was active
    assert bf16 == pytest.approx(fp32, rel=0.05)


def test_lora_trains_only_adapters_and_final_holds_the_merged_model(tmp_path):
    initial = {name: value.clone() for name, value in tiny_wan().state_dict().items()}
    trainer = train_wan(
        tmp_path, lora_rank=4, lora_alpha=8.0, lora_keep_trainable=(r"^proj_out\.",), learning_rate=1e-2
    )
    model = trainer.accelerator.unwrap_model(trainer.model)
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable and all(".lora_" in name or name.startswith("proj_out.") for name in trainable)
    assert any(name.startswith("proj_out.") for name in trainable)
    optimised = {id(parameter) for group in trainer.optimizer.param_groups for parameter in group["params"]}
    assert optimised == {id(parameter) for parameter in model.parameters() if parameter.requires_grad}
    state = model.state_dict()
    base = "blocks.0.attn1.to_q.base_layer.weight"
    assert torch.equal(state[base], initial["blocks.0.attn1.to_q.weight"])  # frozen
    assert not torch.equal(state["proj_out.weight"], initial["proj_out.weight"])  # kept trainable
    assert lora_scalings(model)["blocks.0.attn1.to_q"] == {"default": 2.0}  # alpha / r

    # final/ is a plain WanTransformer3DModel computing what the adapted model computes.
    final = WanTransformer3DModel.from_pretrained(tmp_path / "final")
    saved = load_file(tmp_path / "final" / "diffusion_pytorch_model.safetensors")
    assert not any(".lora_" in name or "base_layer" in name for name in saved)
    assert not torch.equal(saved["blocks.0.attn1.to_q.weight"], initial["blocks.0.attn1.to_q.weight"])
    batch = torch.utils.data.default_collate([LatentDataset()[i] for i in range(2)])
    with torch.no_grad():
        expected = model.eval()(batch["latents"], batch["timestep"], batch["text"], return_dict=False)[0]
        merged = final.eval()(batch["latents"], batch["timestep"], batch["text"], return_dict=False)[0]
    torch.testing.assert_close(merged, expected, rtol=1e-4, atol=1e-5)


def test_lora_merge_matches_an_independent_computation():
    layer = nn.Sequential(nn.Linear(5, 3))
    add_lora(layer, rank=2, alpha=6.0, target_modules=["0"])
    lora = layer[0]
    nn.init.normal_(lora.lora_B["default"].weight)
    state = layer.state_dict()
    merged = merge_lora_state_dict(state, lora_scalings(layer))
    down, up = state["0.lora_A.default.weight"], state["0.lora_B.default.weight"]
    torch.testing.assert_close(merged["0.weight"], state["0.base_layer.weight"] + 3.0 * up @ down)
    assert set(merged) == {"0.weight", "0.bias"}
    with pytest.raises(InvalidInputError, match="target_modules"):
        add_lora(nn.Sequential(nn.Linear(2, 2)), rank=2, target_modules=["to_q"])


def test_fsdp_wrap_units_are_the_transformer_blocks():
    from kinevid.models.appearance import MoSAWanTransformer3DModel

    assert fsdp_wrap_classes(tiny_wan(), None) == ["WanTransformerBlock"]
    assert fsdp_wrap_classes(MoSAWanTransformer3DModel(**TINY_WAN), None) == ["WanTransformerBlock"]
    assert fsdp_wrap_classes(BlockRegressor(), None) == ["Block"]  # the model's `_no_split_modules`
    assert fsdp_wrap_classes(BlockRegressor(), ("Block",)) == ["Block"]
    with pytest.raises(InvalidInputError, match=r"names \['CogVideoXBlock'\]"):
        fsdp_wrap_classes(tiny_wan(), ("CogVideoXBlock",))
    with pytest.raises(InvalidInputError, match="fsdp_wrap_modules"):
        fsdp_wrap_classes(nn.Sequential(nn.Linear(2, 2)), None)


def test_ema_is_rejected_with_sharded_weights(tmp_path):
    # Under FSDP every process holds a shard: an EMA checkpointed by the main process would be wrong.
    from accelerate.utils import DistributedType

    config = TrainConfig(output_dir=str(tmp_path), max_steps=1, batch_size=8, learning_rate=1e-3, ema_decay=0.9)
    loader = torch.utils.data.DataLoader(RegressionDataset(), batch_size=8)
    trainer = Trainer(BlockRegressor(), lambda model, batch: {}, loader, config)
    trainer.accelerator.state.distributed_type = DistributedType.FSDP
    try:
        with pytest.raises(InvalidInputError, match="ema_decay"):
            trainer._check_sharding_options()
    finally:
        trainer.accelerator.state.distributed_type = DistributedType.NO


@pytest.mark.heavy
@pytest.mark.skipif(
    not torch.cuda.is_available() or importlib.util.find_spec("deepspeed") is None,
    reason="DeepSpeed runs need a GPU and the deepspeed package",
)
@pytest.mark.parametrize("accelerate_config", ["zero2.yaml", "zero3.yaml"])
def test_deepspeed_matches_one_process(tmp_path, accelerate_config):
    import engine_worker

    num_processes = min(2, torch.cuda.device_count())
    reference = tmp_path / "single"
    assert engine_worker.main([str(reference), "--batch-size", "8", "--max-steps", "6"]) == 0
    command = engine_worker.launch_command(
        accelerate_config,
        tmp_path / "deepspeed",
        "--batch-size",
        str(8 // num_processes),
        "--max-steps",
        "6",
        num_processes=num_processes,
    )
    env = {key: value for key, value in os.environ.items() if key != "ACCELERATE_USE_CPU"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    losses = logged_losses(tmp_path / "deepspeed")
    assert losses == pytest.approx(logged_losses(reference), rel=1e-3)


@pytest.mark.parametrize(
    ("name", "distributed_type", "zero_stage"),
    [("ddp", "MULTI_GPU", None), ("fsdp", "FSDP", None), ("zero2", "DEEPSPEED", 2), ("zero3", "DEEPSPEED", 3)],
)
def test_accelerate_configs_parse(name, distributed_type, zero_stage):
    import yaml
    from accelerate.utils import DeepSpeedPlugin

    config = yaml.safe_load((REPO / "configs" / "accelerate" / f"{name}.yaml").read_text())
    assert config["distributed_type"] == distributed_type
    # Precision comes from TrainConfig.mixed_precision (the DeepSpeed json says "auto").
    assert config.get("mixed_precision", "no") == "no"
    if name == "fsdp":
        assert config["fsdp_config"]["fsdp_version"] == 2
        assert config["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    if zero_stage is not None:
        deepspeed_file = REPO / config["deepspeed_config"]["deepspeed_config_file"]
        plugin = DeepSpeedPlugin(hf_ds_config=str(deepspeed_file))  # parses without the deepspeed package
        assert plugin.zero_stage == zero_stage
        # Batch size, accumulation, clipping and precision come from the TrainConfig through accelerate.
        for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"):
            assert plugin.deepspeed_config[key] == "auto"
