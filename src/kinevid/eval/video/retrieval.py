"""`TextVideoRetrievalModel`: our contrastive text-video embedding, trained on the synthetic clips (the
video counterpart of `kinevid.eval.retrieval_model.TextMotionRetrievalModel`), and the metrics in its
space: video R-precision and FD-kinevid (a Frechet distance between video embeddings, FVD-style but
ours, not FVD).

Preprocessing (`prepare_video`), from a uint8 video `(T_in, H_in, W_in, 3)` at `fps_in`:

1. time: the frames nearest to `t = k / fps` for `k = 0 .. num_frames - 1` (the evaluator's 8 fps;
   identity for our 17-frame 8 fps clips); a video shorter than `(num_frames - 1) / fps` s is an error;
2. space: the shorter side resized to `frame_size` (area averaging), then the central
   `frame_size` x `frame_size` square;
3. values: `(3, num_frames, frame_size, frame_size)` float32 in [-1, 1] (DESIGN.md's video layout).

The video encoder reads pixels only, never VAE latents, so its scores stay comparable when the VAE
changes. Each frame and its difference to the previous frame (zero for the first) go through a small
2D CNN shared over time (`(6, S, S) -> (C, S / 16, S / 16)` with four stages, optionally average-pooled
to `token_grid` x `token_grid`), flattened to a token that keeps the layout (shirt above trousers, floor
below sky), then a temporal transformer with a learned summary token. The text side is an MLP on frozen
sentence embeddings (MiniLM). Both map to one unit-norm space, trained with the symmetric InfoNCE of the
motion evaluator; texts whose sentence embeddings are near-duplicates are not negatives of each other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from tqdm.auto import tqdm

from ...errors import InvalidInputError, MissingWeightsError
from ...utils.weights import load_pretrained
from .. import metrics
from ..retrieval_model import (
    duplicate_text_mask,
    info_nce_loss,
    pre_norm_transformer,
    sentence_projection,
    sinusoidal_positions,
)
from .videos import center_crop, frames_to_float, resize_shorter_side

#: Where the shipped video evaluator (config.json + diffusion_pytorch_model.safetensors) lives.
DEFAULT_VIDEO_EVALUATOR_DIR = Path(__file__).resolve().parent.parent / "assets" / "video_evaluator"
R_PRECISION_REPEATS = 20


class FrameEncoder(nn.Module):
    """Per-frame 2D CNN: `(N, in_channels, S, S)` -> `(N, channels[-1], S / 2^len(channels), S / 2^len(channels))`.

    Each stage is a stride-2 4x4 convolution, GroupNorm and SiLU (batch-independent, so a clip's
    embedding does not depend on its batch).
    """

    def __init__(self, in_channels: int, channels: Sequence[int], num_groups: int = 8) -> None:
        super().__init__()
        stages = []
        for out_channels in channels:
            stages += [
                nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),
                nn.GroupNorm(min(num_groups, out_channels), out_channels),
                nn.SiLU(),
            ]
            in_channels = out_channels
        self.stages = nn.Sequential(*stages)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.stages(frames)


class TextVideoRetrievalModel(ModelMixin, ConfigMixin):
    """Joint text-video embedding model (contrastive only).

    Args:
        text_embedding_dim (`int`, defaults to 384): size of the frozen sentence embedding (MiniLM).
        num_frames (`int`, defaults to 17): frames the encoder reads (`prepare_video` samples them).
        frame_size (`int`, defaults to 64): side of the square frames (a multiple of `2 ** len(channels)`).
        fps (`float`, defaults to 8.0): frame rate videos are sampled at.
        channels (`tuple[int, ...]`, defaults to `(32, 64, 96, 128)`): CNN stage widths (each halves the side).
        token_grid (`int`, *optional*): average-pool the CNN's last map to `token_grid` x `token_grid` before
            flattening it into the frame token (fewer parameters; coarser layout). `None` keeps the map.
        hidden_dim (`int`, defaults to 128): width of the frame tokens and of the temporal transformer.
        num_layers (`int`, defaults to 2): temporal transformer layers.
        num_heads (`int`, defaults to 4): attention heads.
        ffn_dim (`int`, defaults to 256): feed-forward width.
        latent_dim (`int`, defaults to 32): joint embedding size (small, so that the Frechet distance's
            covariances are estimated from a few hundred videos).
        dropout (`float`, defaults to 0.1): dropout in the transformer and the text MLP.
        temperature (`float`, defaults to 0.1): InfoNCE temperature on cosine similarities.
        duplicate_text_threshold (`float`, defaults to 0.995): text pairs whose sentence embeddings have
            a cosine above this are not negatives of each other (our captions differ by one colour word,
            so only near-identical ones are excluded).
        text_encoder (`str`, defaults to `"minilm"`): the `kinevid.text` encoder of the sentence embeddings.
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        text_embedding_dim: int = 384,
        num_frames: int = 17,
        frame_size: int = 64,
        fps: float = 8.0,
        channels: tuple[int, ...] = (32, 64, 96, 128),
        token_grid: int | None = None,
        hidden_dim: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int = 256,
        latent_dim: int = 32,
        dropout: float = 0.1,
        temperature: float = 0.1,
        duplicate_text_threshold: float = 0.995,
        text_encoder: str = "minilm",
    ):
        super().__init__()
        reduction = 2 ** len(channels)
        if frame_size % reduction != 0:
            raise InvalidInputError(f"`frame_size` ({frame_size}) must be a multiple of {reduction} (2 ** stages).")
        if hidden_dim % num_heads != 0:
            raise InvalidInputError(f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads}).")

        # Video encoder: frame + frame difference -> CNN token -> temporal transformer over a summary token.
        grid = frame_size // reduction
        if token_grid is not None and not (1 <= token_grid <= grid and grid % token_grid == 0):
            raise InvalidInputError(f"`token_grid` ({token_grid}) must divide the CNN's {grid} x {grid} output map.")
        self.frame_encoder = FrameEncoder(6, channels)
        self.token_pool = nn.AvgPool2d(grid // token_grid) if token_grid is not None else nn.Identity()
        self.frame_projection = nn.Linear(channels[-1] * (token_grid or grid) ** 2, hidden_dim)
        self.summary_token = nn.Parameter(torch.randn(1, 1, hidden_dim) * 0.02)
        self.register_buffer("position_table", sinusoidal_positions(num_frames + 1, hidden_dim), persistent=False)
        self.temporal_encoder = pre_norm_transformer(hidden_dim, num_heads, ffn_dim, num_layers, dropout)
        self.video_norm = nn.LayerNorm(hidden_dim)
        self.video_out = nn.Linear(hidden_dim, latent_dim)

        # Text projection over frozen sentence embeddings.
        self.text_projection = sentence_projection(text_embedding_dim, hidden_dim, latent_dim, dropout)

    def check_videos(self, videos: torch.Tensor) -> None:
        """Raise `InvalidInputError` unless `videos` is `(B, 3, num_frames, frame_size, frame_size)`, finite."""
        size, frames = self.config.frame_size, self.config.num_frames
        expected = (3, frames, size, size)
        if not isinstance(videos, torch.Tensor) or videos.ndim != 5 or tuple(videos.shape[1:]) != expected:
            shape = tuple(videos.shape) if hasattr(videos, "shape") else type(videos).__name__
            raise InvalidInputError(
                f"`videos` must have shape (B, 3, {frames}, {size}, {size}) in [-1, 1] (see `prepare_video`), "
                f"got {shape}."
            )
        if not torch.isfinite(videos).all():
            raise InvalidInputError("`videos` contains NaN or infinite values.")

    def encode_video(self, videos: torch.Tensor) -> torch.Tensor:
        """Embed videos.

        Args:
            videos (`torch.Tensor` of shape `(B, 3, num_frames, frame_size, frame_size)`): in [-1, 1]
                (`prepare_video` makes them from any video).

        Returns:
            `torch.Tensor` of shape `(B, latent_dim)`, unit norm.
        """
        self.check_videos(videos)
        batch_size, _, num_frames, height, width = videos.shape
        videos = videos.to(self.dtype)
        differences = F.pad(videos[:, :, 1:] - videos[:, :, :-1], (0, 0, 0, 0, 1, 0))  # (B, 3, T, S, S), 0 at t=0
        frames = torch.cat([videos, differences], dim=1).transpose(1, 2)  # (B, T, 6, S, S)
        feature_maps = self.frame_encoder(frames.reshape(batch_size * num_frames, 6, height, width))
        tokens = self.token_pool(feature_maps).flatten(1)  # (B * T, C * g * g)
        hidden_states = self.frame_projection(tokens).reshape(batch_size, num_frames, -1)  # (B, T, H)
        summary = self.summary_token.expand(batch_size, -1, -1).to(hidden_states)
        hidden_states = torch.cat([summary, hidden_states], dim=1)  # (B, 1 + T, H)
        hidden_states = hidden_states + self.position_table.to(hidden_states)
        hidden_states = self.temporal_encoder(hidden_states)
        embedding = self.video_out(self.video_norm(hidden_states[:, 0]))  # (B, latent_dim)
        return F.normalize(embedding.float(), dim=-1)

    def encode_text(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        """Embed texts.

        Args:
            text_embeddings (`torch.Tensor` of shape `(B, text_embedding_dim)`): pooled sentence
                embeddings of the frozen text encoder (normalised here).

        Returns:
            `torch.Tensor` of shape `(B, latent_dim)`, unit norm.
        """
        if text_embeddings.ndim != 2 or text_embeddings.shape[-1] != self.config.text_embedding_dim:
            raise InvalidInputError(
                f"`text_embeddings` must have shape (B, {self.config.text_embedding_dim}), "
                f"got {tuple(text_embeddings.shape)}."
            )
        text_embeddings = F.normalize(text_embeddings.to(self.dtype), dim=-1)
        return F.normalize(self.text_projection(text_embeddings).float(), dim=-1)

    def forward(self, videos: torch.Tensor, text_embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        """Contrastive loss of a batch of matching (video, text) pairs.

        Args:
            videos (`torch.Tensor` of shape `(B, 3, num_frames, frame_size, frame_size)`): see `encode_video`.
            text_embeddings (`torch.Tensor` of shape `(B, text_embedding_dim)`): pooled sentence embeddings.

        Returns:
            `dict` with `loss` (scalar) and the embeddings `video_latents`, `text_latents` `(B, latent_dim)`.
        """
        if len(videos) != len(text_embeddings):
            raise InvalidInputError(f"Got {len(videos)} `videos` but {len(text_embeddings)} `text_embeddings`.")
        video_latents = self.encode_video(videos)
        text_latents = self.encode_text(text_embeddings)
        loss = info_nce_loss(
            text_latents,
            video_latents,
            temperature=self.config.temperature,
            duplicate_mask=duplicate_text_mask(text_embeddings, self.config.duplicate_text_threshold),
        )
        return {"loss": loss, "video_latents": video_latents, "text_latents": text_latents}


def prepare_video(frames: np.ndarray, fps: float, num_frames: int, frame_size: int, target_fps: float) -> torch.Tensor:
    """A uint8 video `(T_in, H_in, W_in, 3)` at `fps` -> the evaluator's input `(3, num_frames, S, S)` in [-1, 1]
    (steps in the module docstring; `S = frame_size`)."""
    images = frames_to_float(frames)  # (T_in, 3, H_in, W_in) in [0, 1]
    if not fps > 0:
        raise InvalidInputError(f"`fps` must be positive, got {fps}.")
    indices = np.round(np.arange(num_frames) * fps / target_fps).astype(np.int64)
    if indices[-1] >= len(images):
        raise InvalidInputError(
            f"the video has {len(images)} frames at {fps:g} fps; the video evaluator reads {num_frames} frames at "
            f"{target_fps:g} fps ({(num_frames - 1) / target_fps:g} s), which needs at least {indices[-1] + 1}."
        )
    images = images[torch.from_numpy(indices)]
    images = center_crop(resize_shorter_side(images, frame_size, mode="area"), frame_size)
    return images.transpose(0, 1).mul(2.0).sub(1.0).contiguous()  # (3, T, S, S)


class TextVideoEvaluator:
    """Embeds videos and texts with a `TextVideoRetrievalModel` and scores video sets.

    Args:
        model (`TextVideoRetrievalModel`): the trained model (put in eval mode here).
        text_encoder (`kinevid.text.TextEncoder`, *optional*): the frozen sentence encoder the model was
            trained on; loaded from `model.config.text_encoder` when omitted.
        batch_size (`int`, defaults to 32): videos or texts per forward pass.
    """

    def __init__(self, model: TextVideoRetrievalModel, text_encoder=None, batch_size: int = 32) -> None:
        self.model = model.eval()
        self._text_encoder = text_encoder
        self.batch_size = batch_size

    @property
    def text_encoder(self):
        if self._text_encoder is None:
            from ...text import load_text_encoder

            self._text_encoder = load_text_encoder(self.model.config.text_encoder)
        return self._text_encoder

    def prepare(self, frames: np.ndarray, fps: float) -> torch.Tensor:
        """`prepare_video` with this evaluator's frame count, size and fps: `(3, T, S, S)`."""
        config = self.model.config
        return prepare_video(frames, fps, config.num_frames, config.frame_size, config.fps)

    @torch.no_grad()
    def embed_videos(self, videos: torch.Tensor, show_progress: bool = False) -> torch.Tensor:
        """Embeddings `(N, latent_dim)` (unit norm) of prepared videos `(N, 3, T, S, S)`, in order."""
        starts = range(0, len(videos), self.batch_size)
        embeddings = [
            self.model.encode_video(videos[start : start + self.batch_size])
            for start in tqdm(starts, desc="embed videos", disable=not show_progress)
        ]
        if not embeddings:
            raise InvalidInputError("`videos` must hold at least one video.")
        return torch.cat(embeddings)

    def embed_frames(self, videos: Sequence[tuple[np.ndarray, float]], show_progress: bool = False) -> torch.Tensor:
        """Embeddings `(N, latent_dim)` of uint8 videos given as `(frames (T, H, W, 3), fps)` pairs."""
        if len(videos) == 0:
            raise InvalidInputError("`videos` must hold at least one video.")
        embeddings = []
        starts = range(0, len(videos), self.batch_size)
        for start in tqdm(starts, desc="embed videos", disable=not show_progress):
            batch = torch.stack([self.prepare(frames, fps) for frames, fps in videos[start : start + self.batch_size]])
            embeddings.append(self.embed_videos(batch))
        return torch.cat(embeddings)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Text embeddings `(N, latent_dim)` (unit norm), in the order given."""
        if len(texts) == 0:
            raise InvalidInputError("`texts` must hold at least one text.")
        pooled = self.text_encoder.encode(list(texts), batch_size=self.batch_size).pooled.float()
        return torch.cat([self.model.encode_text(p) for p in pooled.split(self.batch_size)])


def load_video_evaluator(path: str | os.PathLike[str] | None = None, batch_size: int = 32) -> TextVideoEvaluator:
    """Load a video evaluator directory (`save_pretrained` layout); the shipped one by default."""
    directory = Path(path) if path is not None else DEFAULT_VIDEO_EVALUATOR_DIR
    weights = list(directory.glob("*.safetensors")) if directory.is_dir() else []
    if not (directory / "config.json").is_file() or not weights:
        raise MissingWeightsError(
            f"Video evaluator directory {directory} must hold config.json and a .safetensors weight file "
            "(train one with `kinevid train video-evaluator --config configs/video_evaluator_synth.json`)."
        )
    model = load_pretrained(TextVideoRetrievalModel, directory, what="video evaluator", torch_dtype=torch.float32)
    return TextVideoEvaluator(model, batch_size=batch_size)


def video_r_precision(
    text_embeddings: torch.Tensor,
    video_embeddings: torch.Tensor,
    repeats: int = R_PRECISION_REPEATS,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, float]]:
    """Video R-precision top-1/2/3 (batches of 32, T2M protocol) over `repeats` seeded shuffles.

    Args:
        text_embeddings (`torch.Tensor` of shape `(N, D)`): each video's prompt, N >= 32.
        video_embeddings (`torch.Tensor` of shape `(N, D)`): the videos, same order.
        repeats (`int`, defaults to 20): shuffles of the pairs into batches.
        seed (`int`, defaults to 0): seeds the shuffles.

    Returns:
        `(means, intervals)` keyed `r_precision_top1/2/3`: the mean over shuffles and its 95% interval.
    """
    generator = torch.Generator().manual_seed(seed)
    runs = []
    for _ in range(repeats):
        precision = metrics.r_precision(text_embeddings, video_embeddings, generator=generator)
        runs.append({f"r_precision_top{k + 1}": float(precision[k]) for k in range(len(precision))})
    return metrics.mean_and_interval(runs)


def fd_kinevid(video_embeddings: torch.Tensor, reference_embeddings: torch.Tensor) -> float:
    """FD-kinevid: the Frechet distance between Gaussians fitted to two sets of our evaluator's video
    embeddings `(N, D)` and `(M, D)` (FVD's formula in our embedding space; not FVD)."""
    return metrics.fid(video_embeddings, reference_embeddings)
