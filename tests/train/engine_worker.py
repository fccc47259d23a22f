"""One training run for the engine's subprocess tests (multi-process launches, SIGKILL and resume).

    python tests/train/engine_worker.py OUTPUT [--max-steps N] [--hang-at-step K] ...
    accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 tests/train/engine_worker.py OUTPUT

`--hang-at-step K` blocks the run inside step K (after the checkpoints before it were written) until
the test kills it; `--noisy` draws noise and dropout from the global RNG, which resume must restore.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from kinevid.errors import KinevidError
from kinevid.train import TrainConfig, Trainer

WORKER_PATH = __file__
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(accelerate_config: str, output: Path, *worker_args: str, num_processes: int = 2) -> list[str]:
    """`accelerate launch` of this worker on `num_processes` processes with `configs/accelerate/<accelerate_config>`."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "configs" / "accelerate" / accelerate_config),
        "--num_processes",
        str(num_processes),
        "--main_process_port",
        str(free_port()),
        WORKER_PATH,
        str(output),
        *worker_args,
    ]


class Block(nn.Module):
    """A residual MLP block: the FSDP wrap unit of `BlockRegressor`."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states + self.mlp(self.norm(hidden_states))


class BlockRegressor(ModelMixin, ConfigMixin):
    _no_split_modules = ("Block",)

    @register_to_config
    def __init__(self, in_dim: int = 6, dim: int = 16, num_blocks: int = 2, dropout: float = 0.0):
        super().__init__()
        self.proj_in = nn.Linear(in_dim, dim)
        self.blocks = nn.ModuleList([Block(dim, dropout) for _ in range(num_blocks)])
        self.proj_out = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden_states = self.proj_in(x)
        for block in self.blocks:
            hidden_states = block(hidden_states)
        return self.proj_out(hidden_states)


class RegressionDataset(torch.utils.data.Dataset):
    def __init__(self, num: int = 48, in_dim: int = 6):
        generator = torch.Generator().manual_seed(1)
        self.x = torch.randn(num, in_dim, generator=generator)
        self.y = torch.sin(self.x[:, :1] * 2) + self.x[:, 1:2] * self.x[:, 2:3]

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index]}


def build_trainer(args: argparse.Namespace) -> Trainer:
    torch.manual_seed(0)
    model = BlockRegressor(dropout=0.1 if args.noisy else 0.0)
    if args.unused_branch:  # trainable, never in the loss: DDP needs `ddp_find_unused_parameters`
        model.add_module("unused", nn.Linear(2, 2))
    loader = torch.utils.data.DataLoader(RegressionDataset(), batch_size=args.batch_size, shuffle=True, drop_last=True)

    def compute_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        step = trainer.step + 1
        if step == args.hang_at_step:
            print(f"hanging at step {step}", flush=True)
            time.sleep(600)
        target = batch["y"] + (0.05 * torch.randn_like(batch["y"]) if args.noisy else 0.0)
        prediction = model(batch["x"])
        loss = ((prediction - target) ** 2).mean()
        if step == args.nan_at_step:
            loss = loss * float("nan")
        return {"loss": loss, "mae": (prediction - batch["y"]).abs().mean().detach()}

    config = TrainConfig(
        output_dir=args.output,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=1e-2,
        warmup_steps=2,
        lr_scheduler="cosine",
        checkpoint_every=args.checkpoint_every,
        log_every=1,
        seed=5,
        resume=args.resume,
        split_batches=args.split_batches,
        gradient_accumulation_steps=args.accumulation,
        ema_decay=0.9 if args.ema else None,
        checkpoints_total_limit=None,
        ddp_find_unused_parameters=args.unused_branch,
    )
    trainer = Trainer(model, compute_loss, loader, config)
    write_sharded_modules(trainer)
    return trainer


def write_sharded_modules(trainer: Trainer) -> None:
    """Record which modules FSDP wrapped (`fsdp_units.json`), for the tests to check the wrap units."""
    from torch.distributed.fsdp import FSDPModule

    units = [name for name, module in trainer.model.named_modules() if isinstance(module, FSDPModule)]
    if units and trainer.accelerator.is_main_process:
        Path(trainer.config.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(trainer.config.output_dir) / "fsdp_units.json").write_text(json.dumps(units))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument("--checkpoint-every", type=int, default=3)
    parser.add_argument("--split-batches", action="store_true")
    parser.add_argument("--noisy", action="store_true")
    parser.add_argument("--ema", action="store_true")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--hang-at-step", type=int, default=None)
    parser.add_argument("--nan-at-step", type=int, default=None)
    parser.add_argument("--unused-branch", action="store_true")
    parser.add_argument(
        "--partial-state-first", action="store_true", help="call accelerate.PartialState() before the Trainer"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    args = parse_args(argv)
    if args.partial_state_first:  # as a recipe that asks for the process count before building its data
        from accelerate import PartialState

        PartialState()
    try:
        build_trainer(args).fit()
    except KinevidError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
