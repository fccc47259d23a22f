"""Recipe: train the text-motion retrieval evaluator on the CMU train split (by subject).

    kinevid train evaluator --config configs/evaluator_cmu.json --output runs/evaluator_cmu [--resume]

Steps: (1) retarget the train trials, compute their per-frame motion features (`joint_motion_features`)
and cache them (safetensors) under `<output>/cache`; cut the val trials into the evaluation's
non-overlapping windows; (2) encode every caption once with the frozen sentence encoder (cached too);
(3) fit the feature normalisation on the train frames and train `TextMotionRetrievalModel` through
`kinevid.train.Trainer` on random windows (2-10 s, `RandomWindowDataset`), with symmetric InfoNCE
and val R-precision every `validate_every` steps. The Trainer keeps the model of the best val top-3
(`train.best_metric`) in `<output>/best` (`save_pretrained` layout plus `best_metric.json`), which
is the directory to ship; `<output>/final` holds the last step, `<output>/checkpoints` the
resumable states, `<output>/logs.jsonl` the losses and val scores.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from ..body.skeleton import SMPL24
from ..errors import InvalidInputError
from ..eval.clips import EvaluationClip, cut_clips
from ..eval.metrics import mm_distance, r_precision
from ..eval.motion_features import joint_motion_features, mirror_joint_motion_features, pad_feature_sequences
from ..eval.retrieval_model import TextMotionRetrievalModel
from ..train.engine import (
    BEST_DIR,
    BEST_RECORD,
    RecipeConfig,
    TrainConfig,
    Trainer,
    build_config_section,
    check_config_keys,
)
from ..utils.io import atomic_write

if TYPE_CHECKING:
    from ..data.cmu import CMUTrial

_SIDE_WORDS = re.compile(r"\b(left|right)\b", re.IGNORECASE)
# Set by the data and the text encoder, not by the config.
_DERIVED_MODEL_ARGUMENTS = ("motion_feature_dim", "text_embedding_dim")


# ---------------------------------------------------------------------------------------------- config
@dataclass
class EvaluatorDataConfig:
    """Where the motions come from and how training windows are drawn.

    Args:
        cmu_root (`str`, *optional*): CMU data directory (see `kinevid.data.cmu.find_cmu_root`).
        window_min_seconds (`float`, defaults to 2.0): shortest random training window (and shortest val window).
        window_max_seconds (`float`, defaults to 10.0): longest random training window (capped by the
            model's `max_frames`).
        mirror (`bool`, defaults to `True`): mirror (x -> -x) half of the windows whose caption names no side.
        max_trials (`int`, *optional*): use only the first N trials of each split (smoke runs).
    """

    cmu_root: str | None = None
    window_min_seconds: float = 2.0
    window_max_seconds: float = 10.0
    mirror: bool = True
    max_trials: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.window_min_seconds <= self.window_max_seconds:
            raise InvalidInputError(
                "data: need 0 < `window_min_seconds` <= `window_max_seconds`, got "
                f"{self.window_min_seconds} and {self.window_max_seconds}."
            )
        if self.max_trials is not None and self.max_trials < 1:
            raise InvalidInputError(f"data: `max_trials` must be a positive integer, got {self.max_trials!r}.")


@dataclass
class EvaluatorTrainingConfig(RecipeConfig):
    """Everything `configs/evaluator_cmu.json` holds: one section per dataclass.

    Args:
        train (`TrainConfig`): optimisation, checkpoints, validation and best-model selection
            (`output_dir` comes from the command line).
        data (`EvaluatorDataConfig`):
        model (`dict`): `TextMotionRetrievalModel` arguments except `motion_feature_dim` and
            `text_embedding_dim` (set by the features and the text encoder); the model's defaults
            fill the rest.
    """

    train: TrainConfig
    data: EvaluatorDataConfig = field(default_factory=EvaluatorDataConfig)
    model: dict = field(default_factory=dict)

    @classmethod
    def from_dict(
        cls, values: dict, output_dir: str | os.PathLike[str], source: str = "config"
    ) -> EvaluatorTrainingConfig:
        check_config_keys(values, [f.name for f in fields(cls)], source)
        train = values.get("train", {})
        check_config_keys(train, [f.name for f in fields(TrainConfig) if f.name != "output_dir"], f"{source}: train")
        data = values.get("data", {})
        check_config_keys(data, [f.name for f in fields(EvaluatorDataConfig)], f"{source}: data")
        model = values.get("model", {})
        check_config_keys(model, model_defaults(), f"{source}: model")
        train_config = TrainConfig.from_dict({**train, "output_dir": str(output_dir)}, f"{source}: train")
        data_config = build_config_section(EvaluatorDataConfig, data, f"{source}: data")
        return cls(train=train_config, data=data_config, model=dict(model))

    def model_arguments(self) -> dict:
        """The configurable `TextMotionRetrievalModel` arguments: the config's over the model's defaults."""
        return {**model_defaults(), **self.model}


def model_defaults(
    model_class: type = TextMotionRetrievalModel, derived: tuple[str, ...] = _DERIVED_MODEL_ARGUMENTS
) -> dict:
    """The configurable arguments of `model_class` (the text-motion model by default) and their defaults:
    every `__init__` argument except those in `derived` (set by the data, not by the config)."""
    parameters = inspect.signature(model_class.__init__).parameters
    return {name: parameter.default for name, parameter in parameters.items() if name != "self" and name not in derived}


# ---------------------------------------------------------------------------------------------- data
@dataclass
class TrialFeatures:
    """Per-trial motion features `(T - 1, 145)` and captions of one split."""

    trial_ids: list[str]
    features: list[torch.Tensor]
    texts: list[list[str]]


def load_cmu_trials(data: EvaluatorDataConfig, split: str, fps: float) -> list[CMUTrial]:
    """The `CMUTrial`s of `split` at `fps` lasting at least `window_min_seconds` (the first `max_trials`)."""
    from ..data.cmu import CMUMocap

    cmu = CMUMocap(root=data.cmu_root, split=split, fps=fps, min_frames=round(data.window_min_seconds * fps))
    if data.max_trials is not None:
        cmu = CMUMocap(root=data.cmu_root, split=split, fps=fps, trial_ids=cmu.trial_ids[: data.max_trials])
    return cmu.load_all()


def load_split_features(data: EvaluatorDataConfig, split: str, fps: float, cache_dir: Path) -> TrialFeatures:
    """Features and captions of every captioned trial of `split`, cached in `cache_dir`."""
    name = f"{split}_fps{fps:g}_min{data.window_min_seconds:g}s"
    if data.max_trials is not None:
        name += f"_first{data.max_trials}"
    features_path, texts_path = cache_dir / f"{name}_features.safetensors", cache_dir / f"{name}_texts.json"
    if features_path.is_file() and texts_path.is_file():
        tensors = load_file(features_path)
        texts = json.loads(texts_path.read_text(encoding="utf-8"))
        return TrialFeatures(list(texts), [tensors[t] for t in texts], list(texts.values()))

    tensors, texts = {}, {}
    for trial in load_cmu_trials(data, split, fps):
        if trial.texts:
            tensors[trial.trial_id] = joint_motion_features(trial.motion.joints.float(), fps).contiguous()
            texts[trial.trial_id] = trial.texts
    if not tensors:
        raise InvalidInputError(f"The CMU {split!r} split has no captioned trial of >= {data.window_min_seconds} s.")
    with atomic_write(features_path) as tmp:
        save_file(tensors, str(tmp))
    with atomic_write(texts_path) as tmp:
        tmp.write_text(json.dumps(texts), encoding="utf-8")
    return TrialFeatures(list(texts), [tensors[t] for t in texts], list(texts.values()))


def encode_texts_cached(texts: list[str], text_encoder_name: str, cache_dir: Path) -> dict[str, torch.Tensor]:
    """Pooled sentence embeddings `{text: (D,)}` of the frozen encoder, computed once and cached."""
    path = cache_dir / f"text_embeddings_{text_encoder_name}.safetensors"
    cached: dict[str, torch.Tensor] = {}
    if path.is_file():
        names = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        cached = dict(zip(names, load_file(path)["pooled"], strict=True))
    missing = sorted(set(texts) - set(cached))
    if missing:
        from ..text import load_text_encoder

        encoder = load_text_encoder(text_encoder_name)
        for start in tqdm(range(0, len(missing), 256), desc="encode captions"):
            chunk = missing[start : start + 256]
            cached.update(zip(chunk, encoder.encode(chunk, batch_size=64).pooled.float(), strict=True))
        names = sorted(cached)
        with atomic_write(path) as tmp:
            save_file({"pooled": torch.stack([cached[n] for n in names]).contiguous()}, str(tmp))
        with atomic_write(path.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(names), encoding="utf-8")
    return cached


class RandomWindowDataset(torch.utils.data.Dataset):
    """Random captioned training windows; item `i` is a pure function of `(seed, i)`.

    Each item draws, from a generator seeded by `(seed, i)`: a trial (uniformly), a window length
    (uniform in `[min_frames, max_frames]`, capped by the trial), a start, one of the trial's captions
    and, if `mirror` is set and the caption names no side ("left"/"right"), a coin deciding whether
    the window is mirrored. The dataset has `num_samples` items, typically every sample a run draws,
    so a sequential dataloader gives each step fresh windows and any resume the same data order.

    Args:
        data (`TrialFeatures`): per-trial features `(T_i - 1, 145)` and captions.
        text_embeddings (`dict[str, torch.Tensor]`): pooled sentence embedding `(D,)` of every caption.
        num_samples (`int`): the dataset length.
        min_frames (`int`): shortest window, in feature frames (>= 1).
        max_frames (`int`): longest window, in feature frames (>= `min_frames`).
        mirror (`bool`, defaults to `True`): mirror half of the windows whose caption names no side.
        seed (`int`, defaults to 0): seeds every item.

    Items are dicts:
        motion_features (`torch.Tensor` of shape `(L, 145)`): the window's features, `L <= max_frames`.
        text_embeddings (`torch.Tensor` of shape `(D,)`): the caption's sentence embedding.
    """

    def __init__(
        self,
        data: TrialFeatures,
        text_embeddings: dict[str, torch.Tensor],
        num_samples: int,
        min_frames: int,
        max_frames: int,
        mirror: bool = True,
        seed: int = 0,
    ):
        if not 1 <= min_frames <= max_frames:
            raise InvalidInputError(f"Need 1 <= `min_frames` <= `max_frames`, got {min_frames} and {max_frames}.")
        if not data.features:
            raise InvalidInputError("`data` holds no trial.")
        missing = sorted({text for texts in data.texts for text in texts} - set(text_embeddings))
        if missing:
            raise InvalidInputError(f"`text_embeddings` lacks {len(missing)} caption(s), e.g. {missing[:3]}.")
        self.data = data
        self.text_embeddings = text_embeddings
        self.num_samples = num_samples
        self.min_frames = min_frames
        self.max_frames = max_frames
        self.mirror = mirror
        self.seed = seed
        self.mirror_indices = SMPL24.mirror_indices

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} windows")
        rng = np.random.default_rng((self.seed, index))
        trial = int(rng.integers(len(self.data.features)))
        features = self.data.features[trial]
        length = min(len(features), int(rng.integers(self.min_frames, self.max_frames + 1)))
        start = int(rng.integers(len(features) - length + 1))
        window = features[start : start + length]
        texts = self.data.texts[trial]
        caption = texts[int(rng.integers(len(texts)))]
        if self.mirror and not _SIDE_WORDS.search(caption) and rng.integers(2):
            window = mirror_joint_motion_features(window, self.mirror_indices)
        return {"motion_features": window, "text_embeddings": self.text_embeddings[caption]}


def collate_windows(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Batch `RandomWindowDataset` items: the keyword arguments of `TextMotionRetrievalModel.forward`.

    Returns:
        `dict` with `motion_features` `(B, T, 145)` zero-padded to the longest window, `frame_mask`
        `(B, T)` (True on real frames) and `text_embeddings` `(B, D)`.
    """
    motion_features, frame_mask = pad_feature_sequences([item["motion_features"] for item in items])
    text_embeddings = torch.stack([item["text_embeddings"] for item in items])
    return {"motion_features": motion_features, "frame_mask": frame_mask, "text_embeddings": text_embeddings}


def feature_statistics(data: TrialFeatures) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std `(145,)` over all frames of a split."""
    frames = torch.cat(data.features).double()
    return frames.mean(0).float(), frames.std(0).float()


def contrastive_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`compute_loss` for the Trainer: the model's scalar terms (symmetric InfoNCE as `"loss"`)."""
    return {name: value for name, value in model(**batch).items() if value.ndim == 0}


# ---------------------------------------------------------------------------------------------- validation
@dataclass
class ValidationSet:
    """Val windows and their captions, batched once.

    Args:
        motion_features (`torch.Tensor` of shape `(N, T, 145)`): zero-padded window features.
        frame_mask (`torch.Tensor` of shape `(N, T)`): True on real frames.
        text_embeddings (`torch.Tensor` of shape `(N, D)`): each window's caption embedding.
    """

    motion_features: torch.Tensor
    frame_mask: torch.Tensor
    text_embeddings: torch.Tensor


def build_validation_set(
    clips: list[EvaluationClip], fps: float, text_embeddings: dict[str, torch.Tensor]
) -> ValidationSet:
    """The features of `cut_clips` windows (first caption each), with their caption embeddings."""
    if not clips:
        raise InvalidInputError("The CMU 'val' split gave no validation window.")
    features, frame_mask = pad_feature_sequences([joint_motion_features(c.motion.joints.float(), fps) for c in clips])
    return ValidationSet(features, frame_mask, torch.stack([text_embeddings[c.text] for c in clips]))


@torch.no_grad()
def retrieval_validation_scores(
    model: TextMotionRetrievalModel, validation: ValidationSet, batch_size: int = 128
) -> dict[str, float]:
    """Val R-precision top-1/2/3 (mean of 20 seeded shuffles, batches of 32) and MM-distance."""
    motion = torch.cat(
        [
            model.encode_motion(features, mask)
            for features, mask in zip(
                validation.motion_features.split(batch_size), validation.frame_mask.split(batch_size), strict=True
            )
        ]
    )
    text = model.encode_text(validation.text_embeddings)
    generator = torch.Generator().manual_seed(0)
    group = min(32, len(text))  # smoke runs may have fewer than 32 windows
    precision = torch.stack([r_precision(text, motion, batch_size=group, generator=generator) for _ in range(20)])
    precision = precision.mean(0)
    scores = {f"top{k + 1}": float(precision[k]) for k in range(len(precision))}
    scores["mm_distance"] = mm_distance(text, motion)
    return scores


# ---------------------------------------------------------------------------------------------- recipe
def train_evaluator(config: EvaluatorTrainingConfig) -> Path:
    """Cache features and caption embeddings, train through `Trainer`; returns `<output>/best`."""
    from accelerate import PartialState

    output_dir = Path(config.train.output_dir)
    if config.train.num_threads is not None:
        torch.set_num_threads(config.train.num_threads)
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(output_dir / "evaluator_config.json") as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=2))
    cache_dir = output_dir / "cache"
    data = config.data
    model_arguments = config.model_arguments()
    fps, max_frames = float(model_arguments["fps"]), int(model_arguments["max_frames"])

    train = load_split_features(data, "train", fps, cache_dir)
    min_window = round(data.window_min_seconds * fps)
    val_clips = cut_clips(load_cmu_trials(data, "val", fps), max_frames + 1, max(2, min_window))
    all_texts = sorted({text for texts in train.texts for text in texts} | {clip.text for clip in val_clips})
    text_embeddings = encode_texts_cached(all_texts, model_arguments["text_encoder"], cache_dir)
    validation = build_validation_set(val_clips, fps, text_embeddings)

    torch.manual_seed(config.train.seed)
    text_embedding_dim = len(next(iter(text_embeddings.values())))
    model = TextMotionRetrievalModel(**model_arguments, text_embedding_dim=text_embedding_dim)
    model.set_feature_statistics(*feature_statistics(train))

    # One sample per draw of the whole run (every process, every accumulation step): no window repeats.
    train_config = config.train
    samples_per_step = train_config.batch_size * train_config.gradient_accumulation_steps
    dataset = RandomWindowDataset(
        train,
        text_embeddings,
        num_samples=train_config.max_steps * samples_per_step * PartialState().num_processes,
        # Windows of w motion frames have w - 1 feature frames.
        min_frames=max(2, min_window - 1),
        max_frames=min(max_frames, round(data.window_max_seconds * fps) - 1),
        mirror=data.mirror,
        seed=train_config.seed,
    )
    dataloader = torch.utils.data.DataLoader(
        dataset, batch_size=train_config.batch_size, shuffle=False, drop_last=True, collate_fn=collate_windows
    )
    print(
        f"evaluator: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
        f"{len(train.features)} train trials, {len(validation.text_embeddings)} val windows"
    )
    trainer = Trainer(
        model,
        contrastive_loss,
        dataloader,
        train_config,
        validate=lambda model, step: retrieval_validation_scores(model, validation),
    )
    trainer.fit()
    best_dir = output_dir / BEST_DIR
    if train_config.best_metric is not None and (best_dir / BEST_RECORD).is_file():
        record = json.loads((best_dir / BEST_RECORD).read_text())
        print(f"best model: {best_dir} (step {record['step']}, {record['metric']} = {record['value']:.4f})")
        print("ship it by copying the directory to src/kinevid/eval/assets/evaluator_cmu")
    else:
        print(f"no best model (`train.best_metric` is not set); last model: {output_dir / 'final'}")
    return best_dir


def train_from_cli(args: argparse.Namespace) -> Path:
    """`--config FILE --output DIR [--resume] [--max-steps N] [--max-trials N]` -> `train_evaluator`."""
    config = EvaluatorTrainingConfig.load(args.config, output_dir=args.output)
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise InvalidInputError(f"`--max-steps` must be a positive integer, got {args.max_steps}.")
        config.train.max_steps = args.max_steps
    config.train.resume = args.resume
    if args.max_trials is not None:
        config.data = EvaluatorDataConfig(**{**asdict(config.data), "max_trials": args.max_trials})
    return train_evaluator(config)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="Train the kinevid text-motion evaluator on CMU (train split).")
    parser.add_argument("--config", required=True, help="JSON config (see configs/evaluator_cmu.json)")
    parser.add_argument("--output", default="runs/evaluator_cmu", help="run directory (cache, checkpoints, best)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output")
    parser.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")
    parser.add_argument("--max-trials", type=int, default=None, help="only the first N trials per split (smoke runs)")
    return train_from_cli(parser.parse_args(argv))


if __name__ == "__main__":
    main()
