"""`TextMotionRetrievalModel`: a TMR-like contrastive text-motion embedding, the evaluator behind
R-precision, FID, diversity and MM-distance.

A motion encoder (a small transformer over per-frame motion features with a learned summary token)
and a text projection (an MLP on top of frozen sentence embeddings, MiniLM by default) map both
modalities into one unit-norm embedding space, trained with a symmetric InfoNCE loss. As in TMR,
pairs whose texts are near-duplicates ("walk" / "walking") are not used as negatives of each other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import get_1d_sincos_pos_embed_from_grid
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ..errors import InvalidInputError
from .motion_features import MOTION_FEATURE_DIM


def sinusoidal_positions(num_positions: int, dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Fixed sinusoidal position table `(num_positions, dim)`, sine and cosine of each frequency
    interleaved (channels 2k, 2k + 1); diffusers' table lists all sines, then all cosines."""
    positions = torch.arange(num_positions, dtype=torch.float64)
    table = get_1d_sincos_pos_embed_from_grid(dim, positions, output_type="pt")  # (N, dim): [sin | cos]
    return table.reshape(num_positions, 2, dim // 2).transpose(1, 2).reshape(num_positions, dim).to(dtype)


def pre_norm_transformer(
    hidden_dim: int, num_heads: int, ffn_dim: int, num_layers: int, dropout: float
) -> nn.TransformerEncoder:
    """The evaluators' sequence encoder: `num_layers` pre-norm GELU transformer layers over `(B, N, hidden_dim)`."""
    layer = nn.TransformerEncoderLayer(
        d_model=hidden_dim,
        nhead=num_heads,
        dim_feedforward=ffn_dim,
        dropout=dropout,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    return nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False)


def sentence_projection(text_embedding_dim: int, hidden_dim: int, latent_dim: int, dropout: float) -> nn.Sequential:
    """The evaluators' text side: an MLP, frozen sentence embeddings `(B, text_embedding_dim)` -> `(B, latent_dim)`."""
    return nn.Sequential(
        nn.Linear(text_embedding_dim, hidden_dim * 2),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_dim * 2, hidden_dim),
        nn.GELU(),
        nn.Linear(hidden_dim, latent_dim),
    )


class TextMotionRetrievalModel(ModelMixin, ConfigMixin):
    """Joint text-motion embedding model (TMR-like, contrastive only).

    Args:
        motion_feature_dim (`int`, defaults to 145): per-frame motion feature size
            (`kinevid.eval.motion_features.MOTION_FEATURE_DIM`).
        text_embedding_dim (`int`, defaults to 384): size of the frozen sentence embedding (MiniLM).
        hidden_dim (`int`, defaults to 256): width of the motion transformer.
        num_layers (`int`, defaults to 4): transformer encoder layers.
        num_heads (`int`, defaults to 4): attention heads.
        ffn_dim (`int`, defaults to 512): feed-forward width.
        latent_dim (`int`, defaults to 64): joint embedding size (kept small so that FID statistics
            are well estimated from a few hundred held-out clips).
        max_frames (`int`, defaults to 120): longest feature sequence the encoder reads; longer
            inputs must be cropped by the caller.
        frames_per_token (`int`, defaults to 2): consecutive feature frames merged into one
            transformer token (a temporal patch; halves the sequence at 2, which matters on a CPU).
        fps (`float`, defaults to 12.0): frame rate motions are resampled to before featurisation.
        dropout (`float`, defaults to 0.1): dropout in the transformer and the text MLP.
        temperature (`float`, defaults to 0.1): InfoNCE temperature on cosine similarities.
        duplicate_text_threshold (`float`, defaults to 0.95): text pairs whose sentence embeddings
            have a cosine above this are not negatives of each other.
        text_encoder (`str`, defaults to `"minilm"`): which `kinevid.text` encoder produced the
            sentence embeddings (recorded so evaluation uses the same one).
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        motion_feature_dim: int = MOTION_FEATURE_DIM,
        text_embedding_dim: int = 384,
        hidden_dim: int = 256,
        num_layers: int = 4,
        num_heads: int = 4,
        ffn_dim: int = 512,
        latent_dim: int = 64,
        max_frames: int = 120,
        frames_per_token: int = 2,
        fps: float = 12.0,
        dropout: float = 0.1,
        temperature: float = 0.1,
        duplicate_text_threshold: float = 0.95,
        text_encoder: str = "minilm",
    ):
        super().__init__()
        if hidden_dim % num_heads != 0:
            raise InvalidInputError(f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads}).")
        # Feature normalisation statistics, fitted on the training split and saved with the weights.
        self.register_buffer("feature_mean", torch.zeros(motion_feature_dim))
        self.register_buffer("feature_std", torch.ones(motion_feature_dim))

        # Motion encoder.
        self.motion_in = nn.Linear(motion_feature_dim * frames_per_token, hidden_dim)
        self.summary_token = nn.Parameter(torch.randn(1, 1, hidden_dim) * 0.02)
        max_tokens = -(-max_frames // frames_per_token)
        self.register_buffer("position_table", sinusoidal_positions(max_tokens + 1, hidden_dim), persistent=False)
        self.motion_encoder = pre_norm_transformer(hidden_dim, num_heads, ffn_dim, num_layers, dropout)
        self.motion_norm = nn.LayerNorm(hidden_dim)
        self.motion_out = nn.Linear(hidden_dim, latent_dim)

        # Text projection over frozen sentence embeddings.
        self.text_projection = sentence_projection(text_embedding_dim, hidden_dim, latent_dim, dropout)

    def set_feature_statistics(self, mean: torch.Tensor, std: torch.Tensor, min_std: float = 1e-2) -> None:
        """Store per-feature normalisation statistics `(motion_feature_dim,)` (std floored at `min_std`)."""
        self.feature_mean.copy_(mean.to(self.feature_mean))
        self.feature_std.copy_(std.to(self.feature_std).clamp_min(min_std))

    def encode_motion(self, motion_features: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Embed motions.

        Args:
            motion_features (`torch.Tensor` of shape `(B, T, motion_feature_dim)`): raw (unnormalised)
                per-frame features, `T <= max_frames`, zero-padded after each sequence's end.
            frame_mask (`torch.Tensor` of shape `(B, T)`, *optional*): True for real frames.

        Returns:
            `torch.Tensor` of shape `(B, latent_dim)`, unit norm.
        """
        batch_size, num_frames, num_features = motion_features.shape
        if num_features != self.config.motion_feature_dim:
            raise InvalidInputError(
                f"`motion_features` must have {self.config.motion_feature_dim} features per frame, got {num_features}."
            )
        if num_frames > self.config.max_frames:
            raise InvalidInputError(
                f"`motion_features` has {num_frames} frames; the evaluator reads at most {self.config.max_frames}."
            )
        if frame_mask is None:
            frame_mask = torch.ones(batch_size, num_frames, dtype=torch.bool, device=motion_features.device)
        frame_mask = frame_mask.bool()
        hidden_states = (motion_features - self.feature_mean) / self.feature_std
        hidden_states = hidden_states * frame_mask[..., None]  # padded frames are exactly zero

        # Temporal patches: (B, T, F) -> (B, N, p * F) with N = ceil(T / p); a token is real if any frame is.
        patch = self.config.frames_per_token
        num_tokens = -(-num_frames // patch)
        padding = num_tokens * patch - num_frames
        hidden_states = F.pad(hidden_states, (0, 0, 0, padding)).reshape(batch_size, num_tokens, patch * num_features)
        token_mask = F.pad(frame_mask, (0, padding)).reshape(batch_size, num_tokens, patch).any(dim=-1)

        hidden_states = self.motion_in(hidden_states)  # (B, N, H)
        summary = self.summary_token.expand(batch_size, -1, -1)
        hidden_states = torch.cat([summary, hidden_states], dim=1)  # (B, 1 + N, H)
        hidden_states = hidden_states + self.position_table[: num_tokens + 1].to(hidden_states)
        padding_mask = torch.cat([token_mask.new_ones(batch_size, 1), token_mask], dim=1).logical_not()
        hidden_states = self.motion_encoder(hidden_states, src_key_padding_mask=padding_mask)
        embedding = self.motion_out(self.motion_norm(hidden_states[:, 0]))  # (B, latent_dim)
        return F.normalize(embedding, dim=-1)

    def encode_text(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        """Embed texts.

        Args:
            text_embeddings (`torch.Tensor` of shape `(B, text_embedding_dim)`): pooled sentence
                embeddings of the frozen text encoder (normalised here, so mean-pooled and
                normalised variants give the same result).

        Returns:
            `torch.Tensor` of shape `(B, latent_dim)`, unit norm.
        """
        if text_embeddings.ndim != 2 or text_embeddings.shape[-1] != self.config.text_embedding_dim:
            raise InvalidInputError(
                f"`text_embeddings` must have shape (B, {self.config.text_embedding_dim}), "
                f"got {tuple(text_embeddings.shape)}."
            )
        return F.normalize(self.text_projection(F.normalize(text_embeddings, dim=-1)), dim=-1)

    def forward(
        self,
        motion_features: torch.Tensor,
        frame_mask: torch.Tensor,
        text_embeddings: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Contrastive loss of a batch of matching (motion, text) pairs.

        Args:
            motion_features (`torch.Tensor` of shape `(B, T, motion_feature_dim)`): see `encode_motion`.
            frame_mask (`torch.Tensor` of shape `(B, T)`): True for real frames.
            text_embeddings (`torch.Tensor` of shape `(B, text_embedding_dim)`): pooled sentence embeddings.

        Returns:
            `dict` with `loss` (scalar) and the embeddings `motion_latents`, `text_latents` `(B, latent_dim)`.
        """
        motion_latents = self.encode_motion(motion_features, frame_mask)
        text_latents = self.encode_text(text_embeddings)
        loss = info_nce_loss(
            text_latents,
            motion_latents,
            temperature=self.config.temperature,
            duplicate_mask=duplicate_text_mask(text_embeddings, self.config.duplicate_text_threshold),
        )
        return {"loss": loss, "motion_latents": motion_latents, "text_latents": text_latents}


def duplicate_text_mask(text_embeddings: torch.Tensor, threshold: float) -> torch.Tensor:
    """`(B, B)` True where two pooled sentence embeddings `(B, D)` have a cosine above `threshold`
    (near-duplicate texts, which `info_nce_loss` does not use as each other's negatives)."""
    normalized = F.normalize(text_embeddings, dim=-1)
    return normalized @ normalized.T > threshold


def info_nce_loss(
    text_latents: torch.Tensor,
    motion_latents: torch.Tensor,
    temperature: float,
    duplicate_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE over cosine similarities; pair i's positive is column i.

    Args:
        text_latents (`torch.Tensor` of shape `(B, D)`): unit-norm text embeddings.
        motion_latents (`torch.Tensor` of shape `(B, D)`): unit-norm embeddings of the other modality
            (motions; videos for the video evaluator).
        temperature (`float`): softmax temperature.
        duplicate_mask (`torch.Tensor` of shape `(B, B)`, *optional*): True where two pairs share
            (nearly) the same text; those off-diagonal entries are removed from the negatives.

    Returns:
        Scalar tensor: mean of the text->motion and motion->text cross-entropies.
    """
    logits = text_latents @ motion_latents.T / temperature  # (B, B)
    if duplicate_mask is not None:
        off_diagonal = duplicate_mask & ~torch.eye(len(logits), dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(off_diagonal, float("-inf"))
    targets = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))
