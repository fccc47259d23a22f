"""Train the text-motion retrieval evaluator on the CMU train split (by subject).

    python -m kinevid.eval.train_evaluator --config configs/evaluator_cmu.json [--output-dir DIR] [--max-minutes M]

Steps: (1) retarget the train and val trials, compute their per-frame motion features and cache
them (safetensors) under `<output_dir>/cache`; (2) encode every caption once with the frozen
sentence encoder (cached too); (3) train on random windows (2-10 s) with mirroring when the
caption names no side, validating R-precision on val windows; the best validation top-3
checkpoint is kept in `<output_dir>/best` (`save_pretrained` layout), the resumable state in
`<output_dir>/checkpoint`. Training stops at `max_steps` or after `max_minutes` of wall clock.

The loop is `train_contrastive` below: a minimal accelerate loop (prepare, backward, clipping,
warmup + cosine schedule, save_state/load_state for resume).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..body.skeleton import SMPL24
from ..errors import InvalidInputError
from ..utils.io import atomic_write
from .clips import cut_clips
from .motion_features import joint_motion_features, mirror_joint_motion_features, pad_feature_sequences
from .retrieval_model import TextMotionRetrievalModel

_SIDE_WORDS = re.compile(r"\b(left|right)\b", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- config
@dataclass
class EvaluatorModelConfig:
    """Constructor arguments of `TextMotionRetrievalModel` (see its docstring)."""

    hidden_dim: int = 128
    num_layers: int = 3
    num_heads: int = 4
    ffn_dim: int = 256
    latent_dim: int = 64
    max_frames: int = 120
    frames_per_token: int = 2
    fps: float = 12.0
    dropout: float = 0.1
    temperature: float = 0.1
    duplicate_text_threshold: float = 0.95
    text_encoder: str = "minilm"


@dataclass
class EvaluatorTrainConfig:
    """Everything one evaluator training run needs.

    Args:
        output_dir (`str`): run directory (cache, checkpoint, best, log).
        cmu_root (`str`, *optional*): CMU data directory (see `kinevid.data.cmu.find_cmu_root`).
        window_min_seconds / window_max_seconds (`float`): random training window lengths.
        mirror (`bool`): mirror motions (x -> -x) whose captions name no side.
        batch_size, learning_rate, weight_decay, warmup_steps, max_steps, max_grad_norm: optimisation.
        max_minutes (`float`): wall-clock budget of the training loop.
        validate_every (`int`): steps between validations (and checkpoints).
        num_threads (`int`): torch CPU threads.
        seed (`int`): seeds initialisation and sampling.
        max_trials (`int`, *optional*): use only the first N trials of each split (smoke runs).
    """

    output_dir: str = "runs/evaluator_cmu"
    cmu_root: str | None = None
    model: EvaluatorModelConfig = field(default_factory=EvaluatorModelConfig)
    window_min_seconds: float = 2.0
    window_max_seconds: float = 10.0
    mirror: bool = True
    batch_size: int = 64
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    max_steps: int = 6000
    max_grad_norm: float = 1.0
    max_minutes: float = 75.0
    validate_every: int = 250
    num_threads: int = 1
    seed: int = 0
    max_trials: int | None = None

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> EvaluatorTrainConfig:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InvalidInputError(f"{path}: unknown config keys {unknown}; expected some of {sorted(known)}.")
        model = raw.pop("model", {})
        model_known = set(EvaluatorModelConfig.__dataclass_fields__)
        if set(model) - model_known:
            raise InvalidInputError(
                f"{path}: unknown `model` keys {sorted(set(model) - model_known)}; "
                f"expected some of {sorted(model_known)}."
            )
        return cls(model=EvaluatorModelConfig(**model), **raw)


# ---------------------------------------------------------------------------------------------- data
@dataclass
class TrialFeatures:
    """Per-trial motion features `(T - 1, 145)` and captions of one split."""

    trial_ids: list[str]
    features: list[torch.Tensor]
    texts: list[list[str]]


def cmu_split(config: EvaluatorTrainConfig, split: str):
    """`CMUMocap` of `split` at the evaluator's fps, trials of at least `window_min_seconds`."""
    from ..data.cmu import CMUMocap

    fps = config.model.fps
    dataset = CMUMocap(root=config.cmu_root, split=split, fps=fps, min_frames=round(config.window_min_seconds * fps))
    if config.max_trials is not None:
        dataset.trial_ids = dataset.trial_ids[: config.max_trials]
    return dataset


def load_split_features(config: EvaluatorTrainConfig, split: str) -> TrialFeatures:
    """Features and captions of every captioned trial of `split`, cached in `<output_dir>/cache`."""
    cache = Path(config.output_dir) / "cache"
    name = split if config.max_trials is None else f"{split}_first{config.max_trials}"
    features_path, texts_path = cache / f"{name}_features.safetensors", cache / f"{name}_texts.json"
    if features_path.is_file() and texts_path.is_file():
        tensors = load_file(features_path)
        with open(texts_path, encoding="utf-8") as handle:
            texts = json.load(handle)
        trial_ids = list(texts)
        return TrialFeatures(trial_ids, [tensors[t] for t in trial_ids], [texts[t] for t in trial_ids])

    fps = config.model.fps
    tensors, texts = {}, {}
    for trial in cmu_split(config, split).load_all():
        if trial.texts:
            tensors[trial.trial_id] = joint_motion_features(trial.motion.joints.float(), fps).contiguous()
            texts[trial.trial_id] = trial.texts
    with atomic_write(features_path) as tmp:
        save_file(tensors, str(tmp))
    with atomic_write(texts_path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(texts, handle)
    return TrialFeatures(list(texts), [tensors[t] for t in texts], list(texts.values()))


def encode_texts_cached(texts: list[str], text_encoder_name: str, cache_dir: Path) -> dict[str, torch.Tensor]:
    """Pooled sentence embeddings `{text: (D,)}` of the frozen encoder, computed once and cached."""
    path = cache_dir / f"text_embeddings_{text_encoder_name}.safetensors"
    cached: dict[str, torch.Tensor] = {}
    if path.is_file():
        tensors = load_file(path)
        with open(path.with_suffix(".json"), encoding="utf-8") as handle:
            names = json.load(handle)
        cached = dict(zip(names, tensors["pooled"], strict=True))
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
        with atomic_write(path.with_suffix(".json")) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            json.dump(names, handle)
    return cached


class WindowSampler:
    """Random training batches: a uniform trial, a caption, a window of 2-10 s, optional mirroring."""

    def __init__(self, data: TrialFeatures, text_embeddings: dict[str, torch.Tensor], config: EvaluatorTrainConfig):
        fps = config.model.fps
        self.data = data
        self.text_embeddings = text_embeddings
        self.min_frames = max(2, round(config.window_min_seconds * fps) - 1)
        self.max_frames = min(config.model.max_frames, round(config.window_max_seconds * fps) - 1)
        self.mirror = config.mirror
        self.mirror_indices = SMPL24.mirror_indices
        self.generator = torch.Generator().manual_seed(config.seed)

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator))

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        windows, captions = [], []
        for _ in range(batch_size):
            item = self._randint(len(self.data.features))
            features = self.data.features[item]
            length = min(len(features), self.min_frames + self._randint(self.max_frames - self.min_frames + 1))
            start = self._randint(len(features) - length + 1)
            window = features[start : start + length]
            caption = self.data.texts[item][self._randint(len(self.data.texts[item]))]
            if self.mirror and not _SIDE_WORDS.search(caption) and self._randint(2):
                window = mirror_joint_motion_features(window, self.mirror_indices)
            windows.append(window)
            captions.append(caption)
        motion_features, frame_mask = pad_feature_sequences(windows)
        text_embeddings = torch.stack([self.text_embeddings[c] for c in captions])
        return {"motion_features": motion_features, "frame_mask": frame_mask, "text_embeddings": text_embeddings}


def feature_statistics(data: TrialFeatures) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std `(145,)` over all frames of a split."""
    frames = torch.cat(data.features).double()
    return frames.mean(0).float(), frames.std(0).float()


# ---------------------------------------------------------------------------------------------- validation
@dataclass
class ValidationSet:
    motion_features: torch.Tensor  # (N, T, 145)
    frame_mask: torch.Tensor  # (N, T)
    text_embeddings: torch.Tensor  # (N, 384)


def build_validation_set(config: EvaluatorTrainConfig, text_embeddings: dict[str, torch.Tensor]) -> ValidationSet:
    """Val trials cut into non-overlapping windows (as the evaluation uses), first caption each."""
    fps = config.model.fps
    clips = cut_clips(
        cmu_split(config, "val").load_all(), config.model.max_frames + 1, round(config.window_min_seconds * fps)
    )
    features, frame_mask = pad_feature_sequences([joint_motion_features(c.motion.joints.float(), fps) for c in clips])
    missing = sorted({c.text for c in clips} - set(text_embeddings))
    if missing:
        raise InvalidInputError(f"Validation captions without cached embeddings: {missing[:3]} ...")
    return ValidationSet(features, frame_mask, torch.stack([text_embeddings[c.text] for c in clips]))


@torch.no_grad()
def validate(model: TextMotionRetrievalModel, validation: ValidationSet, batch_size: int = 128) -> dict[str, float]:
    """Val R-precision top-1/2/3 (20 seeded shuffles of batches of 32) and MM-distance."""
    from .metrics import mm_distance, r_precision

    was_training = model.training
    model.eval()
    motion = torch.cat(
        [
            model.encode_motion(f, m)
            for f, m in zip(
                validation.motion_features.split(batch_size), validation.frame_mask.split(batch_size), strict=True
            )
        ]
    )
    text = model.encode_text(validation.text_embeddings)
    model.train(was_training)
    generator = torch.Generator().manual_seed(0)
    group = min(32, len(text))  # smoke runs may have fewer than 32 windows
    precision = torch.stack([r_precision(text, motion, batch_size=group, generator=generator) for _ in range(20)]).mean(
        0
    )
    return {
        "val/top1": float(precision[0]),
        "val/top2": float(precision[1]),
        "val/top3": float(precision[2]),
        "val/mm_distance": mm_distance(text, motion),
    }


# ---------------------------------------------------------------------------------------------- loop
def train_contrastive(
    model: TextMotionRetrievalModel,
    sampler: WindowSampler,
    validation: ValidationSet,
    config: EvaluatorTrainConfig,
    resume: bool = False,
) -> dict[str, float]:
    """Minimal accelerate loop; keeps the best val top-3 model in `<output_dir>/best`."""
    from accelerate import Accelerator

    output_dir = Path(config.output_dir)
    accelerator = Accelerator(cpu=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)

    def learning_rate_factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_factor)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    state_path = output_dir / "checkpoint"
    progress_path = output_dir / "progress.json"
    step, best = 0, {"val/top3": -1.0}
    if resume and state_path.is_dir() and progress_path.is_file():
        accelerator.load_state(str(state_path))
        with open(progress_path, encoding="utf-8") as handle:
            saved = json.load(handle)
        step, best = saved["step"], saved["best"]
        sampler.generator.manual_seed(config.seed + step)  # fresh, reproducible windows after a resume

    log_path = output_dir / "train_log.jsonl"
    started = time.monotonic()
    running_loss, logged = 0.0, 0
    progress = tqdm(total=config.max_steps, initial=step, desc="evaluator", mininterval=10)
    model.train()
    while step < config.max_steps and (time.monotonic() - started) < config.max_minutes * 60:
        batch = sampler.sample(config.batch_size)
        loss = model(**batch)["loss"]
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        running_loss, logged = running_loss + loss.item(), logged + 1
        progress.update(1)
        if step % config.validate_every == 0 or step == config.max_steps:
            scores = validate(accelerator.unwrap_model(model), validation)
            record = {"step": step, "loss": running_loss / logged, "lr": scheduler.get_last_lr()[0], **scores}
            record["minutes"] = (time.monotonic() - started) / 60
            running_loss, logged = 0.0, 0
            progress.set_postfix(loss=f"{record['loss']:.3f}", top3=f"{scores['val/top3']:.3f}")
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            if scores["val/top3"] > best["val/top3"]:
                best = {"step": step, **scores}
                accelerator.unwrap_model(model).save_pretrained(output_dir / "best")
            accelerator.save_state(str(state_path))
            with atomic_write(progress_path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
                json.dump({"step": step, "best": best}, handle)
    progress.close()
    return best


def train_evaluator(config: EvaluatorTrainConfig, resume: bool = False) -> dict[str, float]:
    """Cache features and caption embeddings, train, and return the best validation scores."""
    torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(output_dir / "train_config.json") as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(asdict(config), handle, indent=2)

    train = load_split_features(config, "train")
    val_texts = load_split_features(config, "val").texts
    all_texts = sorted({t for texts in train.texts + val_texts for t in texts})
    text_embeddings = encode_texts_cached(all_texts, config.model.text_encoder, output_dir / "cache")
    validation = build_validation_set(config, text_embeddings)

    model = TextMotionRetrievalModel(
        text_embedding_dim=len(next(iter(text_embeddings.values()))), **asdict(config.model)
    )
    model.set_feature_statistics(*feature_statistics(train))
    print(f"evaluator: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
          f"{len(train.features)} train trials, {len(validation.text_embeddings)} val windows")  # fmt: skip
    best = train_contrastive(model, WindowSampler(train, text_embeddings, config), validation, config, resume)
    print(f"best validation: {best}")
    print(f"best model: {output_dir / 'best'} (copy it to kinevid/eval/assets/evaluator_cmu to ship it)")
    return best


def config_from_args(args: argparse.Namespace) -> EvaluatorTrainConfig:
    """The JSON config of `args.config` with the command-line overrides applied."""
    config = EvaluatorTrainConfig.from_json(args.config)
    for name in ("output_dir", "max_minutes", "max_steps", "max_trials"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(config, name, str(value) if name == "output_dir" else value)
    return config


def train_from_cli(args: argparse.Namespace) -> int:
    """`kinevid train evaluator --config FILE --output DIR [--resume] [--max-steps N] [--max-trials N]`."""
    args.output_dir = getattr(args, "output", None)
    train_evaluator(config_from_args(args), resume=args.resume)
    return 0


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description="Train the kinevid text-motion evaluator on CMU (train split).")
    parser.add_argument("--config", required=True, help="JSON config (see configs/evaluator_cmu.json)")
    parser.add_argument("--output-dir", default=None, help="override `output_dir` of the config")
    parser.add_argument("--max-minutes", type=float, default=None, help="override the wall-clock budget")
    parser.add_argument("--max-steps", type=int, default=None, help="override `max_steps`")
    parser.add_argument("--max-trials", type=int, default=None, help="only the first N trials per split (smoke runs)")
    parser.add_argument("--resume", action="store_true", help="continue from <output_dir>/checkpoint")
    args = parser.parse_args(argv)
    return train_evaluator(config_from_args(args), resume=args.resume)


if __name__ == "__main__":
    main()
