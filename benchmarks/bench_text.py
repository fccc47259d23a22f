"""Text-stage speed: MiniLM encoding against sentence-transformers, and motion-prompt extraction.

Run: `.venv/bin/python benchmarks/bench_text.py` (`--quick` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from kinevid.text import MiniLMTextEncoder, extract_motion_prompt
from kinevid.text.minilm import bundled_minilm_dir

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "text" / "motion_prompts.json"


def _best_of(repeats: int, function) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and prompts")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    prompts = [case["prompt"] for case in json.loads(FIXTURE.read_text())["cases"]]
    prompts = prompts[:8] if args.quick else prompts * 2

    start = time.perf_counter()
    encoder = MiniLMTextEncoder()
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    MiniLMTextEncoder()
    cached_seconds = time.perf_counter() - start

    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(bundled_minilm_dir()), device="cpu")
    ours = _best_of(repeats, lambda: encoder.encode(prompts, batch_size=32))
    theirs = _best_of(repeats, lambda: reference.encode(prompts, batch_size=32, convert_to_tensor=True))
    extraction = _best_of(repeats, lambda: [extract_motion_prompt(prompt) for prompt in prompts])

    print(f"prompts: {len(prompts)}, threads: {torch.get_num_threads()}")
    print(f"MiniLM load: {load_seconds:.2f} s first, {cached_seconds * 1e3:.2f} ms cached")
    print(
        f"MiniLM encode: {ours * 1e3 / len(prompts):.2f} ms/prompt (tokens + mask + pooled); "
        f"sentence-transformers encode (pooled only): {theirs * 1e3 / len(prompts):.2f} ms/prompt; "
        f"ratio {ours / theirs:.2f}x"
    )
    print(f"rule-based motion prompt: {extraction * 1e3 / len(prompts):.3f} ms/prompt")


if __name__ == "__main__":
    main()
