"""Context parallelism of `EchoMotionTransformer3DModel`: 2 CPU processes on gloo vs one process.

Each test spawns two workers that load the same tiny checkpoint, call diffusers'
`enable_parallelism(config=ContextParallelConfig(...))` and run a list of cases; the parent compares
what both ranks return with the single-process output of the model it saved (gloo on CPU processes:
`tests/context_parallel_cpu.py`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import ContextParallelConfig, WanTransformer3DModel
from echomotion_tiny import dummy_inputs, single_threaded, tiny_echomotion, tiny_wan  # noqa: F401 - autouse fixture

from context_parallel_cpu import WORLD_SIZE, enable_context_parallel, gloo_process_group, spawn_workers
from kinevid.errors import InvalidInputError
from kinevid.models.appearance import EchoMotionTransformer3DModel

TOLERANCE = 1e-5
RING_NEEDS_LSE = "does not support return_lse"


def _cases() -> dict[str, dict]:
    """Model inputs per case. Motion with video has `4k + 1` frames, so `51 (4k + 1)` tokens: always odd."""
    joint = dummy_inputs(batch_size=2, latent_frames=2, height=4, width=6, seed=1)  # 12 video, 255 motion tokens
    masked = dummy_inputs(batch_size=2, latent_frames=2, height=4, width=6, seed=2)
    masked["motion_attention_mask"] = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    masked["video_condition_mask"] = torch.tensor([True, False])
    motion_even = dummy_inputs(batch_size=2, seed=3)  # 4 motion frames: 204 tokens, no padding
    motion_even.update(
        hidden_states=None, timestep=None, motion_hidden_states=motion_even["motion_hidden_states"][:, :4]
    )
    motion_odd = dummy_inputs(batch_size=1, seed=4)  # 3 motion frames: 153 tokens, padded
    motion_odd.update(hidden_states=None, timestep=None, motion_hidden_states=motion_odd["motion_hidden_states"][:, :3])
    video = dummy_inputs(batch_size=2, seed=5)
    video.update(motion_hidden_states=None, motion_timestep=None)
    return {
        "joint": joint,
        "joint_masked": masked,
        "motion_even": motion_even,
        "motion_odd": motion_odd,
        "video": video,
    }


def _run_cases(model: torch.nn.Module, cases: dict[str, dict]) -> dict[str, object]:
    """Per case the output tensors `(sample, motion_sample)` or, if the forward raised, its message."""
    results = {}
    for name, inputs in cases.items():
        try:
            with torch.no_grad():
                if isinstance(model, EchoMotionTransformer3DModel):
                    results[name] = tuple(model(**inputs, return_dict=False))
                else:
                    wan_inputs = {key: inputs[key] for key in ("hidden_states", "timestep", "encoder_hidden_states")}
                    results[name] = (model(**wan_inputs, return_dict=False)[0], None)
        except (InvalidInputError, ValueError) as error:
            results[name] = f"{type(error).__name__}: {error}"
    return results


def _uneven_shards(config_kwargs: dict) -> dict:
    """The `ContextParallelConfig` flag for uneven shards of the mode in `config_kwargs`."""
    return {"ring_anything": True} if config_kwargs.get("ring_degree", 1) > 1 else {"ulysses_anything": True}


def _worker(rank: int, root: str, store: str, config_kwargs: dict) -> None:
    with gloo_process_group(rank, store):
        root = Path(root)
        cases = torch.load(root / "cases.pt", weights_only=True)
        video_cases = {"video": cases["video"]}

        echomotion = EchoMotionTransformer3DModel.from_pretrained(root / "echomotion").eval()
        enable_context_parallel(echomotion, ContextParallelConfig(**config_kwargs))
        results = {"echomotion": _run_cases(echomotion, cases)}

        # The plain Wan model and EchoMotion loaded from its checkpoint, both under diffusers' own plans.
        wan = WanTransformer3DModel.from_pretrained(root / "wan").eval()
        enable_context_parallel(wan, ContextParallelConfig(**config_kwargs))
        results["wan"] = _run_cases(wan, video_cases)
        from_wan = EchoMotionTransformer3DModel.from_pretrained(root / "wan").eval()
        enable_context_parallel(from_wan, ContextParallelConfig(**config_kwargs))
        results["echomotion_from_wan"] = _run_cases(from_wan, video_cases)

        odd_video = dummy_inputs(batch_size=1, latent_frames=1, height=2, width=6)  # 3 video tokens
        results["odd_video"] = _run_cases(echomotion, {"odd_video": odd_video})["odd_video"]
        uneven = EchoMotionTransformer3DModel.from_pretrained(root / "echomotion").eval()
        enable_context_parallel(uneven, ContextParallelConfig(**config_kwargs, **_uneven_shards(config_kwargs)))
        results["uneven_shards"] = _run_cases(uneven, {"joint": cases["joint"]})["joint"]
        torch.save(results, root / f"results_rank{rank}.pt")


@pytest.fixture
def saved_models(tmp_path):
    """Save the tiny EchoMotion and Wan checkpoints and the cases; return the single-process outputs."""
    cases = _cases()
    torch.save(cases, tmp_path / "cases.pt")
    echomotion = tiny_echomotion(seed=0)
    echomotion.save_pretrained(tmp_path / "echomotion")
    wan = tiny_wan(seed=1)
    wan.save_pretrained(tmp_path / "wan")
    reference = {"echomotion": _run_cases(echomotion, cases), "wan": _run_cases(wan, {"video": cases["video"]})}
    return tmp_path, reference


def _assert_close(actual: tuple, expected: tuple, label: str) -> None:
    assert not isinstance(actual, str), f"{label}: {actual}"
    for got, want, modality in zip(actual, expected, ("video", "motion"), strict=True):
        if want is None:
            assert got is None, f"{label} {modality}: expected no output"
            continue
        assert got.shape == want.shape, f"{label} {modality}: {tuple(got.shape)} != {tuple(want.shape)}"
        error = (got - want).abs().max().item()
        assert error <= TOLERANCE, f"{label} {modality}: max abs error {error:.3g}"


def test_ulysses_context_parallel_equals_single_process(saved_models):
    tmp_path, reference = saved_models
    per_rank = spawn_workers(_worker, tmp_path, {"ulysses_degree": WORLD_SIZE})
    for rank, results in enumerate(per_rank):
        for name, expected in reference["echomotion"].items():
            _assert_close(results["echomotion"][name], expected, f"rank {rank} {name}")
        # Without motion, EchoMotion under its plan computes what Wan computes under Wan's plan.
        _assert_close(results["wan"]["video"], reference["wan"]["video"], f"rank {rank} wan")
        _assert_close(results["echomotion_from_wan"]["video"], reference["wan"]["video"], f"rank {rank} from wan")
        assert "divisible by the world size" in results["odd_video"]
        assert "even shards only" in results["uneven_shards"]


def test_ring_context_parallel_on_cpu(saved_models):
    """diffusers' ring attention needs each chunk's log-sum-exp from the backend; the only context-parallel
    backend that runs on the CPU (NATIVE) cannot return it, so ring fails on the CPU, for Wan too. Joint
    calls need a key mask (odd motion length, padding), which ring cannot apply: a clear error."""
    tmp_path, reference = saved_models
    per_rank = spawn_workers(_worker, tmp_path, {"ring_degree": WORLD_SIZE})
    for results in per_rank:
        for name in ("joint", "joint_masked", "motion_odd"):
            assert "ring attention cannot apply" in results["echomotion"][name]
        assert "even shards only" in results["uneven_shards"]
    wan_result = per_rank[0]["wan"]["video"]
    if isinstance(wan_result, str) and RING_NEEDS_LSE in wan_result:
        for results in per_rank:
            for name in ("motion_even", "video"):
                assert RING_NEEDS_LSE in results["echomotion"][name]
        pytest.xfail(f"diffusers' ring attention does not run on the CPU: {wan_result}")
    for rank, results in enumerate(per_rank):
        for name in ("motion_even", "video"):
            _assert_close(results["echomotion"][name], reference["echomotion"][name], f"rank {rank} {name}")
