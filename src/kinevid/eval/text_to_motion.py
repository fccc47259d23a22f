"""The text-to-motion benchmark behind `kinevid eval motion`: held-out CMU clips (real data) and a
text-to-motion model's motions for the same captions and durations, side by side.

Protocol:
1. The held-out split's trials (test subjects by default, never seen by the evaluator or the
   model) give one clip each: their first 10 s (the evaluator's length; shorter trials whole, at
   least 2 s), captioned with the trial's first caption (`kinevid.eval.clips`). `num_samples`
   picks a seeded random subset.
2. Real column: R-precision (top-1/2/3 among 32, 20 seeded shuffles), MM-distance, diversity (300
   seeded pairs), the real-vs-real FID baseline (the clips split into two halves by trial, so no
   trial feeds both halves) and the physical metrics.
3. Model column: one motion per clip, generated from the caption with the clip's duration (seeded
   per batch), then the same metrics, FID against all real clips, and multimodality (several
   motions for a few captions). With `repeats` > 1 the generation is repeated with other seeds and
   each metric is reported as mean +- 95% confidence interval (the T2M protocol).

Physical metrics are computed at the evaluator's frame rate (12 fps, CMU's native rate) for both
columns, so that generated motions at another rate are measured like the real data.
"""

from __future__ import annotations

import os
from collections import defaultdict

import torch
from tqdm.auto import tqdm

from ..errors import InvalidInputError, KinevidError
from ..motion.motion import Motion
from . import metrics
from .clips import EvaluationClip, cut_clips
from .evaluator import TextMotionEvaluator, mean_physical_metrics
from .report import EvaluationReport, ReportColumn

MIN_CLIP_SECONDS = 2.0
GENERATION_BATCH_SIZE = 32
REPEAT_SEED_STRIDE = 100_003  # seeds of repeated generations lie apart from the per-batch seed offsets


def load_heldout_clips(
    evaluator: TextMotionEvaluator,
    split: str = "test",
    num_samples: int | None = None,
    seed: int = 0,
    cmu_root: str | os.PathLike[str] | None = None,
    max_trials: int | None = None,
) -> list[EvaluationClip]:
    """Held-out CMU clips at the evaluator's fps, one per trial (all, or a seeded subset of
    `num_samples`; `max_trials` keeps only the split's first N trials, for smoke runs)."""
    from ..data.cmu import CMUMocap

    if num_samples is not None and num_samples < metrics.R_PRECISION_BATCH_SIZE:
        raise InvalidInputError(
            f"`num_samples` must be at least {metrics.R_PRECISION_BATCH_SIZE} (one R-precision batch), "
            f"got {num_samples}."
        )
    min_frames = round(MIN_CLIP_SECONDS * evaluator.fps)
    dataset = CMUMocap(root=cmu_root, split=split, fps=evaluator.fps, min_frames=min_frames)
    if max_trials is not None:
        dataset.trial_ids = dataset.trial_ids[:max_trials]
    clips = cut_clips(dataset.load_all(), evaluator.max_motion_frames, min_frames, windows_per_trial=1)
    if num_samples is not None and num_samples < len(clips):
        chosen = torch.randperm(len(clips), generator=torch.Generator().manual_seed(seed))[:num_samples]
        clips = [clips[i] for i in sorted(chosen.tolist())]
    return clips


def split_halves(clips: list[EvaluationClip], seed: int = 0) -> tuple[list[int], list[int]]:
    """Two disjoint index sets of about half the clips each; all windows of a trial fall in one half."""
    by_trial: dict[str, list[int]] = defaultdict(list)
    for index, clip in enumerate(clips):
        by_trial[clip.trial_id].append(index)
    trial_ids = sorted(by_trial)
    order = torch.randperm(len(trial_ids), generator=torch.Generator().manual_seed(seed)).tolist()
    first, second = [], []
    for position in order:
        indices = by_trial[trial_ids[position]]
        (first if len(first) <= len(second) else second).extend(indices)
    if len(first) < 2 or len(second) < 2:
        raise InvalidInputError(
            f"The real-vs-real FID needs at least 2 clips per half; got {len(first)} and {len(second)}."
        )
    return sorted(first), sorted(second)


def generate_for_clips(
    pipeline, texts: list[str], durations: list[float], seed: int, show_progress: bool = True
) -> list[Motion]:
    """One motion per (text, duration); clips of equal duration are generated together, seeded per batch."""
    groups: dict[float, list[int]] = defaultdict(list)
    for index, duration in enumerate(durations):
        groups[duration].append(index)
    motions: list[Motion | None] = [None] * len(texts)
    batches = [
        indices[start : start + GENERATION_BATCH_SIZE]
        for _, indices in sorted(groups.items())
        for start in range(0, len(indices), GENERATION_BATCH_SIZE)
    ]
    for batch_index, indices in enumerate(tqdm(batches, desc="generate motions", disable=not show_progress)):
        generator = torch.Generator().manual_seed(seed + batch_index)
        output = pipeline([texts[i] for i in indices], seconds=durations[indices[0]], generator=generator)
        for index, motion in zip(indices, output.motions, strict=True):
            motions[index] = motion
    return motions


def load_text_to_motion_pipeline(model_dir: str | os.PathLike[str] | None):
    """`(pipeline, None)` or `(None, reason)` when the model or the pipeline code is not available."""
    try:
        from ..pipelines.pipeline_text_to_motion import TextToMotionPipeline
    except ImportError as error:
        return None, f"text-to-motion pipeline not available in this install ({error})"
    try:
        return TextToMotionPipeline.from_pretrained(model_dir), None
    except (KinevidError, OSError) as error:
        where = model_dir if model_dir is not None else "the shipped checkpoint"
        return None, f"no text-to-motion model at {where}: {error}"


def evaluate_text_to_motion(
    evaluator: TextMotionEvaluator,
    split: str = "test",
    num_samples: int | None = None,
    model_dir: str | os.PathLike[str] | None = None,
    include_model: bool = True,
    seed: int = 0,
    multimodality_texts: int = 10,
    multimodality_repeats: int = 10,
    repeats: int = 1,
    cmu_root: str | os.PathLike[str] | None = None,
    max_trials: int | None = None,
    show_progress: bool = True,
) -> EvaluationReport:
    """Real held-out data and (when available) the text-to-motion model, as an `EvaluationReport`.

    Args:
        evaluator (`TextMotionEvaluator`): the retrieval evaluator.
        split (`str`, defaults to `"test"`): CMU split to evaluate on (`"test"` or `"val"`).
        num_samples (`int`, *optional*): evaluate a seeded subset of this many clips (>= 32).
        model_dir (`str` or `Path`, *optional*): text-to-motion pipeline directory (default: shipped).
        include_model (`bool`, defaults to `True`): also evaluate the model column.
        seed (`int`, defaults to 0): seeds clip selection, R-precision shuffles, diversity pairs,
            FID halves and generation.
        multimodality_texts / multimodality_repeats (`int`, default 10 / 10): captions and motions per
            caption for multimodality (0 texts skips it).
        repeats (`int`, defaults to 1): generate the model's motions this many times (seeds `seed`,
            `seed + REPEAT_SEED_STRIDE`, ...) and report each metric's mean and 95% confidence interval.
        cmu_root (`str` or `Path`, *optional*): CMU data directory.
        max_trials (`int`, *optional*): only the split's first N trials (smoke runs).
        show_progress (`bool`, defaults to `True`): progress bars.
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise InvalidInputError(f"`repeats` must be a positive integer, got {repeats!r}.")
    if split not in ("train", "val", "test"):
        raise InvalidInputError(f"`split` must be 'train', 'val' or 'test', got {split!r}.")
    clips = load_heldout_clips(evaluator, split, num_samples, seed, cmu_root, max_trials)
    if len(clips) < metrics.R_PRECISION_BATCH_SIZE:
        raise InvalidInputError(
            f"The {split!r} split gives only {len(clips)} clips; R-precision needs {metrics.R_PRECISION_BATCH_SIZE}."
        )
    texts = [clip.text for clip in clips]
    real_motions = [clip.motion for clip in clips]

    # Real data.
    text_embeddings = evaluator.embed_texts(texts)
    real_embeddings = evaluator.embed_motions(real_motions, show_progress=show_progress)
    real_scores = evaluator.retrieval_scores(text_embeddings, real_embeddings, seed=seed, texts=texts)
    first, second = split_halves(clips, seed)
    real_scores["fid"] = metrics.fid(real_embeddings[first], real_embeddings[second])
    real_scores.update({f"physical/{k}": v for k, v in mean_physical_metrics(real_motions, show_progress).items()})
    columns = [
        ReportColumn(
            f"real ({split})",
            real_scores,
            note=f"FID is the real-vs-real baseline: two disjoint halves ({len(first)} vs {len(second)} clips, "
            "no trial in both).",
        )
    ]

    # The model.
    if include_model:
        pipeline, reason = load_text_to_motion_pipeline(model_dir)
        if pipeline is None:
            columns.append(ReportColumn("model", note=f"NOT EVALUATED: {reason}"))
        else:
            durations = [clip.duration for clip in clips]
            runs = []
            for repeat in tqdm(range(repeats), desc="repeats", disable=not show_progress or repeats == 1):
                generated = generate_for_clips(
                    pipeline, texts, durations, seed + REPEAT_SEED_STRIDE * repeat, show_progress
                )
                generated = [m.resample(evaluator.fps) if m.fps != evaluator.fps else m for m in generated]
                model_embeddings = evaluator.embed_motions(generated, show_progress=show_progress)
                scores = evaluator.retrieval_scores(
                    text_embeddings, model_embeddings, real_embeddings, seed=seed, texts=texts
                )
                scores.update({f"physical/{k}": v for k, v in mean_physical_metrics(generated, show_progress).items()})
                runs.append(scores)
            model_scores, intervals = metrics.mean_and_interval(runs)
            if multimodality_texts > 0 and multimodality_repeats >= 2:
                unique = list(dict.fromkeys(texts))[:multimodality_texts]
                duration = {t: d for t, d in zip(texts, durations, strict=True)}
                repeated = [t for t in unique for _ in range(multimodality_repeats)]
                motions = generate_for_clips(
                    pipeline, repeated, [duration[t] for t in repeated], seed + 1, show_progress
                )
                embeddings = evaluator.embed_motions(motions).reshape(len(unique), multimodality_repeats, -1)
                model_scores["multimodality"] = metrics.multimodality(
                    embeddings, generator=torch.Generator().manual_seed(seed)
                )
            where = model_dir if model_dir is not None else "shipped checkpoint"
            note = f"{where}; FID against all {len(clips)} real clips"
            if repeats > 1:
                note += f"; mean ± 95% confidence interval over {repeats} generations"
            columns.append(ReportColumn("model", model_scores, note=note + ".", intervals=intervals))

    settings = {
        "split": split,
        "clips": len(clips),
        "trials": len({clip.trial_id for clip in clips}),
        "clip_seconds": f"{MIN_CLIP_SECONDS:g}-{evaluator.max_motion_frames / evaluator.fps:g}",
        "evaluator_fps": evaluator.fps,
        "seed": seed,
        "generation_repeats": repeats if include_model else 0,
        "r_precision": "top-k among 32 (ground truth + 31), Euclidean distance, mean of 20 seeded shuffles",
        "r_precision_distinct": "the same over one random clip per distinct caption (no duplicate captions in a batch)",
        "distinct_captions": len(metrics.one_pair_per_caption(texts)),
        "diversity_pairs": min(metrics.DIVERSITY_PAIRS, len(clips)),
        "physical_metrics_fps": evaluator.fps,
    }
    return EvaluationReport(
        title=f"Text-to-motion evaluation on CMU {split} subjects", columns=columns, settings=settings
    )
