"""Recipe: train the text-video retrieval evaluator (`kinevid.eval.video.retrieval`) on synthetic clips.

    kinevid train video-evaluator --config configs/video_evaluator_synth.json --output runs/video_evaluator

Steps: (1) read the train and val `kinevid data synth` datasets and bring every clip to the evaluator's
input with `prepare_video` (`(3, num_frames, S, S)` in [-1, 1], held in memory as float16); (2) encode
every caption once with the frozen sentence encoder (cached under `<output>/cache`); (3) train
`TextVideoRetrievalModel` through `kinevid.train.Trainer` with symmetric InfoNCE, each sample a clip
drawn with replacement and shifted by a few pixels, and val R-precision every `validate_every` steps.
The Trainer keeps the model of the best val top-3 (`train.best_metric`) in `<output>/best`, the
directory to ship (`src/kinevid/eval/assets/video_evaluator`).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..eval.metrics import r_precision
from ..eval.video.retrieval import TextVideoRetrievalModel, prepare_video, video_r_precision
from ..train.engine import (
    BEST_DIR,
    BEST_RECORD,
    RecipeConfig,
    TrainConfig,
    Trainer,
    build_config_section,
    check_config_keys,
)
from .common import apply_cli_overrides, write_run_config
from .evaluator import contrastive_loss, encode_texts_cached, model_defaults

_DERIVED_MODEL_ARGUMENTS = ("text_embedding_dim",)


# ---------------------------------------------------------------------------------------------- config
@dataclass
class VideoEvaluatorDataConfig:
    """Which clips, and how training samples are drawn.

    Args:
        train_dir (`str`): the train split's `kinevid data synth` directory.
        val_dir (`str`): the val split's directory (model selection).
        max_shift (`int`, defaults to 2): training clips are shifted by up to this many pixels in x and y
            (edge pixels repeated), a different shift per sample.
        max_clips (`int`, *optional*): use only the first N clips of each split (smoke runs).
    """

    train_dir: str = "data/synth128v2_train"
    val_dir: str = "data/synth128v2_val"
    max_shift: int = 2
    max_clips: int | None = None

    def __post_init__(self) -> None:
        if self.max_shift < 0:
            raise InvalidInputError(f"data: `max_shift` must be >= 0, got {self.max_shift}.")
        if self.max_clips is not None and self.max_clips < 1:
            raise InvalidInputError(f"data: `max_clips` must be a positive integer, got {self.max_clips!r}.")


@dataclass
class VideoEvaluatorTrainingConfig(RecipeConfig):
    """Everything `configs/video_evaluator_synth.json` holds: one section per dataclass.

    Args:
        train (`TrainConfig`): optimisation, checkpoints, validation and best-model selection.
        data (`VideoEvaluatorDataConfig`):
        model (`dict`): `TextVideoRetrievalModel` arguments except `text_embedding_dim` (set by the text
            encoder); the model's defaults fill the rest.
    """

    train: TrainConfig
    data: VideoEvaluatorDataConfig = field(default_factory=VideoEvaluatorDataConfig)
    model: dict = field(default_factory=dict)

    @classmethod
    def from_dict(
        cls, values: dict, output_dir: str | os.PathLike[str], source: str = "config"
    ) -> VideoEvaluatorTrainingConfig:
        check_config_keys(values, [f.name for f in fields(cls)], source)
        train = values.get("train", {})
        check_config_keys(train, [f.name for f in fields(TrainConfig) if f.name != "output_dir"], f"{source}: train")
        data = values.get("data", {})
        check_config_keys(data, [f.name for f in fields(VideoEvaluatorDataConfig)], f"{source}: data")
        model = values.get("model", {})
        check_config_keys(model, model_defaults(TextVideoRetrievalModel, _DERIVED_MODEL_ARGUMENTS), f"{source}: model")
        train_config = TrainConfig.from_dict({**train, "output_dir": str(output_dir)}, f"{source}: train")
        data_config = build_config_section(VideoEvaluatorDataConfig, data, f"{source}: data")
        return cls(train=train_config, data=data_config, model=dict(model))

    def model_arguments(self) -> dict:
        """The configurable `TextVideoRetrievalModel` arguments: the config's over the model's defaults."""
        return {**model_defaults(TextVideoRetrievalModel, _DERIVED_MODEL_ARGUMENTS), **self.model}


# ---------------------------------------------------------------------------------------------- data
@dataclass
class PreparedClips:
    """A split's clips as evaluator inputs.

    Args:
        videos (`torch.Tensor` of shape `(N, 3, T, S, S)`): float16 in [-1, 1] (`prepare_video`).
        captions (`list[str]`): each clip's caption (action and scene).
    """

    videos: torch.Tensor
    captions: list[str]


def load_prepared_clips(
    root: str | os.PathLike[str], model_arguments: dict, max_clips: int | None = None, show_progress: bool = True
) -> PreparedClips:
    """Every clip (or the first `max_clips`) of a `kinevid data synth` directory through `prepare_video`."""
    from ..data.paired import SyntheticPairedDataset
    from .vae import SyntheticClipFrames

    clips = SyntheticClipFrames(root)
    captions_source = SyntheticPairedDataset(root)
    count = len(clips) if max_clips is None else min(max_clips, len(clips))
    videos, captions = [], []
    for index in tqdm(range(count), desc=f"prepare {Path(root).name}", disable=not show_progress):
        frames = clips.frames(index)
        video = prepare_video(
            frames,
            captions_source.fps,
            model_arguments["num_frames"],
            model_arguments["frame_size"],
            model_arguments["fps"],
        )
        videos.append(video.to(torch.float16))
        captions.append(captions_source.info(index)["caption"])
    if not videos:
        raise InvalidInputError(f"{root}: the dataset holds no clip.")
    return PreparedClips(torch.stack(videos), captions)


def shift_video(video: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Translate `(C, T, H, W)` by `dx`, `dy` pixels (positive: right, down), repeating edge pixels."""
    height, width = video.shape[-2:]
    padded = F.pad(video, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)), mode="replicate")
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top : top + height, left : left + width]


class RandomClipDataset(torch.utils.data.Dataset):
    """Training samples: item `i` is a pure function of `(seed, i)` (a clip drawn uniformly, a shift).

    Args:
        clips (`PreparedClips`): the train split.
        text_embeddings (`dict[str, torch.Tensor]`): pooled sentence embedding `(D,)` of every caption.
        num_samples (`int`): the dataset length (every sample a run draws, so resumes see the same data).
        max_shift (`int`): largest shift in pixels.
        seed (`int`, defaults to 0):

    Items are the keyword arguments of `TextVideoRetrievalModel.forward` for one pair:
        videos (`torch.Tensor` of shape `(3, T, S, S)`) float32, text_embeddings (`torch.Tensor` of shape `(D,)`).
    """

    def __init__(
        self,
        clips: PreparedClips,
        text_embeddings: dict[str, torch.Tensor],
        num_samples: int,
        max_shift: int,
        seed: int = 0,
    ):
        missing = sorted(set(clips.captions) - set(text_embeddings))
        if missing:
            raise InvalidInputError(f"`text_embeddings` lacks {len(missing)} caption(s), e.g. {missing[:3]}.")
        self.clips = clips
        self.text_embeddings = text_embeddings
        self.num_samples = num_samples
        self.max_shift = max_shift
        self.seed = seed

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        rng = np.random.default_rng((self.seed, index))
        clip = int(rng.integers(len(self.clips.captions)))
        dx, dy = (int(v) for v in rng.integers(-self.max_shift, self.max_shift + 1, size=2))
        video = shift_video(self.clips.videos[clip].float(), dx, dy)
        return {"videos": video, "text_embeddings": self.text_embeddings[self.clips.captions[clip]]}


# ---------------------------------------------------------------------------------------------- validation
@torch.no_grad()
def video_validation_scores(
    model: TextVideoRetrievalModel, videos: torch.Tensor, text_embeddings: torch.Tensor, batch_size: int = 32
) -> dict[str, float]:
    """Val R-precision top-1/2/3 (mean of 20 seeded shuffles, batches of 32) and the val InfoNCE loss.

    Args:
        videos (`torch.Tensor` of shape `(N, 3, T, S, S)`): prepared val clips.
        text_embeddings (`torch.Tensor` of shape `(N, D)`): their captions' sentence embeddings.
    """
    outputs = [
        model(v.float(), t) for v, t in zip(videos.split(batch_size), text_embeddings.split(batch_size), strict=True)
    ]
    video_latents = torch.cat([output["video_latents"] for output in outputs])
    text_latents = torch.cat([output["text_latents"] for output in outputs])
    if len(video_latents) < 32:  # smoke runs: rank all there are
        means = _rank_all(text_latents, video_latents)
    else:
        means, _ = video_r_precision(text_latents, video_latents)
    scores = {name.removeprefix("r_precision_"): value for name, value in means.items()}
    losses = [float(output["loss"]) for output in outputs]
    scores["loss"] = float(np.mean(losses))
    return scores


def _rank_all(text_latents: torch.Tensor, video_latents: torch.Tensor) -> dict[str, float]:
    """R-precision top-1/2/3 with all (fewer than 32) pairs in one batch."""
    precision = r_precision(text_latents, video_latents, batch_size=len(text_latents))
    return {f"r_precision_top{k + 1}": float(precision[k]) for k in range(len(precision))}


# ---------------------------------------------------------------------------------------------- recipe
def train_video_evaluator(config: VideoEvaluatorTrainingConfig) -> Path:
    """Prepare the clips and caption embeddings, train through `Trainer`; returns `<output>/best`."""
    output_dir = Path(config.train.output_dir)
    if config.train.num_threads is not None:
        torch.set_num_threads(config.train.num_threads)
    write_run_config(output_dir, "video_evaluator_config.json", config.to_dict())
    model_arguments = config.model_arguments()
    data = config.data

    train = load_prepared_clips(data.train_dir, model_arguments, data.max_clips)
    val = load_prepared_clips(data.val_dir, model_arguments, data.max_clips)
    text_embeddings = encode_texts_cached(
        sorted(set(train.captions) | set(val.captions)), model_arguments["text_encoder"], output_dir / "cache"
    )
    val_text_embeddings = torch.stack([text_embeddings[c] for c in val.captions])

    torch.manual_seed(config.train.seed)
    model = TextVideoRetrievalModel(**model_arguments, text_embedding_dim=val_text_embeddings.shape[-1])
    train_config = config.train
    samples = train_config.max_steps * train_config.batch_size * train_config.gradient_accumulation_steps
    dataset = RandomClipDataset(train, text_embeddings, samples, data.max_shift, seed=train_config.seed)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=train_config.batch_size, shuffle=False, drop_last=True)
    print(
        f"video evaluator: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
        f"{len(train.captions)} train clips, {len(val.captions)} val clips"
    )
    trainer = Trainer(
        model,
        contrastive_loss,
        dataloader,
        train_config,
        validate=lambda model, step: video_validation_scores(model, val.videos, val_text_embeddings),
    )
    trainer.fit()
    best_dir = output_dir / BEST_DIR
    if train_config.best_metric is not None and (best_dir / BEST_RECORD).is_file():
        record = json.loads((best_dir / BEST_RECORD).read_text())
        print(f"best model: {best_dir} (step {record['step']}, {record['metric']} = {record['value']:.4f})")
    return best_dir


def train_from_cli(args: argparse.Namespace) -> int:
    """`kinevid train video-evaluator --config FILE --output DIR [--resume] [--max-steps N] [--max-trials N]`;
    `--max-trials N` keeps the first N clips of each split (smoke runs)."""
    config = VideoEvaluatorTrainingConfig.load(args.config, output_dir=args.output)
    apply_cli_overrides(config.train, args)
    if args.max_trials is not None:
        config.data = replace(config.data, max_clips=args.max_trials)  # re-runs the section's checks
    best_dir = train_video_evaluator(config)
    print(f"ship it by copying {best_dir} to src/kinevid/eval/assets/video_evaluator")
    return 0
