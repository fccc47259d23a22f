"""Context parallelism of `MoSAWanTransformer3DModel`: 2 CPU processes on gloo (Ulysses) vs one process.

Two workers load the same tiny MoSA checkpoint (with trained-like, non-zero skeleton projections), call
diffusers' `enable_parallelism` and run the cases; the parent compares both ranks' samples and mask logits
with the single-process outputs (gloo on CPU processes: `tests/context_parallel_cpu.py`). Uneven shards
(`ulysses_anything=True`) are not tested: diffusers gathers them with `dist.all_gather` of unequal sizes,
which gloo rejects (for plain Wan as well).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import ContextParallelConfig
from mosa_tiny import single_threaded, tiny_mosa_wan, wan_inputs  # noqa: F401 - autouse fixture

from context_parallel_cpu import WORLD_SIZE, enable_context_parallel, gloo_process_group, spawn_workers
from kinevid.errors import InvalidInputError
from kinevid.models.appearance import MoSAWanTransformer3DModel

TOLERANCE = 1e-5


def _cases() -> dict[str, dict]:
    skeleton = wan_inputs(batch_size=2, latent_frames=2, height=4, width=6, seed=1)  # 12 tokens per sample
    dropped = {**wan_inputs(seed=2), "skeleton_dropout": torch.tensor([True, False])}
    no_skeleton = wan_inputs(seed=3)
    del no_skeleton["skeleton_video"]
    return {"skeleton": skeleton, "dropped": dropped, "no_skeleton": no_skeleton}


def _run(model: MoSAWanTransformer3DModel, cases: dict[str, dict]) -> dict[str, tuple]:
    """Per case `(sample, mask_logits)`, through the default `return_dict=True` output."""
    with torch.no_grad():
        outputs = {name: model(**inputs, return_mask_logits=True) for name, inputs in cases.items()}
    return {name: (output.sample, output.mask_logits) for name, output in outputs.items()}


def _worker(rank: int, root: str, store: str) -> None:
    with gloo_process_group(rank, store):
        root = Path(root)
        cases = torch.load(root / "cases.pt", weights_only=True)
        model = MoSAWanTransformer3DModel.from_pretrained(root / "mosa").eval()
        enable_context_parallel(model, ContextParallelConfig(ulysses_degree=WORLD_SIZE))
        results = _run(model, cases)
        per_token = {**cases["skeleton"], "timestep": torch.full((2, 12), 500.0)}
        try:
            model(**per_token)
        except InvalidInputError as error:
            results["per_token_timestep_error"] = str(error)
        torch.save(results, root / f"results_rank{rank}.pt")


@pytest.mark.heavy
def test_ulysses_context_parallel_equals_single_process(tmp_path):
    model = tiny_mosa_wan(seed=0)
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for site in model.hadc:
            site.skeleton_proj.weight.copy_(torch.randn(site.skeleton_proj.weight.shape, generator=generator))
    model.save_pretrained(tmp_path / "mosa")
    cases = _cases()
    torch.save(cases, tmp_path / "cases.pt")
    reference = _run(model, cases)

    for rank, results in enumerate(spawn_workers(_worker, tmp_path)):
        assert "not supported under context parallelism" in results.pop("per_token_timestep_error", "")
        assert results.keys() == reference.keys()
        for name, (sample, mask_logits) in results.items():
            expected_sample, expected_mask = reference[name]
            assert sample.shape == expected_sample.shape, (rank, name)
            assert (sample - expected_sample).abs().max().item() <= TOLERANCE, (rank, name)
            if expected_mask is None:
                assert mask_logits is None, (rank, name)
            else:
                assert mask_logits.shape == expected_mask.shape, (rank, name)
                assert (mask_logits - expected_mask).abs().max().item() <= TOLERANCE, (rank, name)
