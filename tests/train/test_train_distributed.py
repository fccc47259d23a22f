"""Multi-process training (DDP, FSDP on a gloo CPU group) equals one process with the same global
batch; a SIGKILLed run (one process, or FSDP on two) resumes to the uninterrupted run's losses bit
for bit; a NaN loss stops with a clear error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import engine_worker
import pytest
import torch
from engine_worker import launch_command
from safetensors.torch import load_file

from kinevid.train import TrainingDivergedError

WORKER = Path(engine_worker.WORKER_PATH)
WEIGHTS = "diffusion_pytorch_model.safetensors"


CPU_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}  # a gloo group even with GPUs


def launch(accelerate_config: str, output: Path, *worker_args: str) -> None:
    """Run the worker on 2 CPU processes to the end."""
    command = launch_command(accelerate_config, output, *worker_args)
    result = subprocess.run(command, env=CPU_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def kill_at(command: list[str], step: int) -> None:
    """Start `command` (a worker run with `--hang-at-step step`) and SIGKILL it, with every process it
    started, once it is inside `step`."""
    with subprocess.Popen(
        command, env=CPU_ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    ) as run:
        try:
            for line in run.stdout:
                if line.startswith(f"hanging at step {step}"):
                    break
            else:
                pytest.fail(f"the run ended (exit code {run.wait()}) before reaching step {step}")
        finally:
            os.killpg(run.pid, signal.SIGKILL)
        assert run.wait(timeout=60) == -signal.SIGKILL


def step_losses(output: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (output / "logs.jsonl").read_text().splitlines()]
    steps = [record["step"] for record in records]
    assert steps == sorted(set(steps)), f"one log line per step expected, got steps {steps}"
    return {record["step"]: record["loss"] for record in records}


def assert_same_run(output: Path, reference: Path, rel: float) -> None:
    losses, expected = step_losses(output), step_losses(reference)
    assert list(losses) == list(expected)
    for step, loss in expected.items():
        assert losses[step] == pytest.approx(loss, rel=rel), f"step {step}"
    weights, expected_weights = load_file(output / "final" / WEIGHTS), load_file(reference / "final" / WEIGHTS)
    assert weights.keys() >= expected_weights.keys()
    for name, value in expected_weights.items():
        torch.testing.assert_close(weights[name], value, rtol=rel, atol=1e-6, msg=name)


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory) -> Path:
    """The reference: one process, batches of 8, 6 steps."""
    output = tmp_path_factory.mktemp("single")
    assert engine_worker.main([str(output), "--batch-size", "8", "--max-steps", "6"]) == 0
    return output


@pytest.mark.heavy  # 25-50 s on the shared 2-core machine (two processes importing torch and diffusers)
def test_ddp_two_processes_equal_one_process(tmp_path, one_process_run):
    # 2 processes x 2 samples x 2 accumulation steps = the single process's batch of 8, in the same order.
    # `--partial-state-first`: a bare `PartialState()` before the Trainer must not split the group.
    # `--unused-branch`: a trainable module outside the loss, which DDP accepts with `ddp_find_unused_parameters`.
    options = ["--batch-size", "2", "--accumulation", "2", "--max-steps", "6"]
    options += ["--partial-state-first", "--unused-branch"]
    launch("ddp.yaml", tmp_path, *options)
    assert_same_run(tmp_path, one_process_run, rel=1e-5)
    # Every process wrote its RNG states into the checkpoint.
    assert {path.name for path in (tmp_path / "checkpoints" / "step_0000006").glob("random_states_*")} == {
        "random_states_0.pkl",
        "random_states_1.pkl",
    }


@pytest.mark.heavy  # 30-55 s on the shared 2-core machine (two processes importing torch and diffusers)
def test_fsdp_two_processes_equal_one_process(tmp_path, one_process_run):
    # `--split-batches`: the same batch size 8 as the single process, split over the 2 processes.
    launch("fsdp.yaml", tmp_path, "--batch-size", "8", "--split-batches", "--max-steps", "6")
    assert_same_run(tmp_path, one_process_run, rel=1e-5)
    assert json.loads((tmp_path / "fsdp_units.json").read_text()) == ["", "blocks.0", "blocks.1"]  # root + blocks
    checkpoint = tmp_path / "checkpoints" / "step_0000006"
    assert (checkpoint / "pytorch_model_fsdp_0").is_dir()  # sharded (torch.distributed.checkpoint)
    config = json.loads((tmp_path / "final" / "config.json").read_text())
    assert config["_class_name"] == "BlockRegressor"  # the model class, not FSDP's wrapper class


@pytest.mark.heavy  # 30-45 s on the shared 2-core machine (a subprocess importing torch and diffusers)
def test_killed_run_resumes_to_the_uninterrupted_losses(tmp_path):
    # 48 samples / 8 = 6 steps per epoch; checkpoints at 4 and 8; killed inside step 10, resumed
    # from step 8, mid-epoch. Noise and dropout come from the global RNG, the EMA is checkpointed.
    options = ["--noisy", "--ema", "--max-steps", "14", "--checkpoint-every", "4"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert engine_worker.main([str(full), *options]) == 0

    kill_at([sys.executable, str(WORKER), str(killed), *options, "--hang-at-step", "10"], step=10)
    assert sorted(path.name for path in (killed / "checkpoints").iterdir()) == ["step_0000004", "step_0000008"]
    assert max(step_losses(killed)) == 9  # the killed run logged past its last checkpoint

    assert engine_worker.main([str(killed), *options, "--resume"]) == 0
    losses, expected = step_losses(killed), step_losses(full)
    assert list(losses) == list(range(1, 15))
    assert losses == expected  # bit for bit
    for name, value in load_file(full / "final" / WEIGHTS).items():
        assert torch.equal(load_file(killed / "final" / WEIGHTS)[name], value), name


@pytest.mark.heavy  # 2-3 minutes on the shared 2-core machine (three 2-process launches)
def test_killed_fsdp_run_resumes_to_the_uninterrupted_losses(tmp_path):
    # Sharded model and optimiser checkpoints (torch.distributed.checkpoint), one RNG state per process.
    options = ["--batch-size", "8", "--split-batches", "--noisy", "--max-steps", "10", "--checkpoint-every", "3"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    launch("fsdp.yaml", full, *options)
    kill_at(launch_command("fsdp.yaml", killed, *options, "--hang-at-step", "8"), step=8)
    assert sorted(path.name for path in (killed / "checkpoints").iterdir()) == ["step_0000003", "step_0000006"]
    launch("fsdp.yaml", killed, *options, "--resume")
    assert step_losses(killed) == step_losses(full)  # bit for bit
    for name, value in load_file(full / "final" / WEIGHTS).items():
        assert torch.equal(load_file(killed / "final" / WEIGHTS)[name], value), name


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path):
    options = [str(tmp_path), "--max-steps", "8", "--checkpoint-every", "2"]
    trainer = engine_worker.build_trainer(engine_worker.parse_args([*options, "--nan-at-step", "5"]))
    with pytest.raises(TrainingDivergedError) as error:
        trainer.fit()
    message = str(error.value)
    assert message.startswith("step 5: the loss is not finite (loss=nan")
    assert "\n" not in message
    assert str(tmp_path / "checkpoints" / "step_0000004") in message
    assert sorted(path.name for path in (tmp_path / "checkpoints").iterdir()) == ["step_0000002", "step_0000004"]
    assert not (tmp_path / "final").exists()
    # The kept checkpoint is usable: resuming from it with a finite loss finishes the run.
    assert engine_worker.main([*options, "--resume"]) == 0
    assert list(step_losses(tmp_path)) == list(range(1, 9))
