"""Cost of the text-to-motion evaluator on CPU, next to forward kinematics of the same motions.

Embedding a motion (resample check, FK, 145-dim features, the 3-layer transformer) is timed
against `Motion.joints` alone (FK, the reference measured in the same run), on held-out CMU clips
of up to 10 s at 12 fps. Also timed: the caption side (MiniLM + projection, encoder loaded once)
and the metrics (R-precision with 20 shuffles, FID, diversity) on the resulting embeddings.

Run: `.venv/bin/python benchmarks/bench_eval.py` (`--quick` for a smoke run on 32 clips).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from kinevid.eval import TextMotionEvaluator, metrics
from kinevid.eval.text_to_motion import load_heldout_clips
from timing import best_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 clips, one repeat")
    args = parser.parse_args()
    torch.set_num_threads(1)
    num_trials, repeats = (40, 1) if args.quick else (None, 3)

    evaluator = TextMotionEvaluator.from_pretrained()
    clips = load_heldout_clips(evaluator, "test", max_trials=num_trials)[: 32 if args.quick else None]
    motions = [clip.motion for clip in clips]
    texts = [clip.text for clip in clips]
    frames = sum(m.num_frames for m in motions)
    evaluator.embed_texts(texts[:1])  # load MiniLM outside the timings

    def fk_only():
        for motion in motions:
            _ = replace(motion).joints  # a copy without the cached joints

    def embed_motions():
        evaluator.embed_motions([replace(m) for m in motions])

    fk = best_seconds(fk_only, repeats)
    embed = best_seconds(embed_motions, repeats)
    text = best_seconds(lambda: evaluator.embed_texts(texts), repeats)
    motion_embeddings, text_embeddings = evaluator.embed_motions(motions), evaluator.embed_texts(texts)
    scores = best_seconds(lambda: evaluator.retrieval_scores(text_embeddings, motion_embeddings), repeats)
    half = len(motions) // 2
    fid = best_seconds(lambda: metrics.fid(motion_embeddings[:half], motion_embeddings[half:]), repeats)

    print(f"{len(motions)} clips, {frames} frames at {evaluator.fps:g} fps, 1 thread, best of {repeats}")
    print(f"FK only (reference)        {fk * 1e3:9.1f} ms  {frames / fk:10.0f} frames/s")
    print(f"embed motions              {embed * 1e3:9.1f} ms  {frames / embed:10.0f} frames/s  {embed / fk:5.2f}x FK")
    print(f"embed captions (MiniLM)    {text * 1e3:9.1f} ms  {len(texts) / text:10.0f} captions/s")
    print(f"R-precision x20, MM, div.  {scores * 1e3:9.1f} ms")
    print(f"FID (two halves)           {fid * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
