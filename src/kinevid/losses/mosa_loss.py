"""MoSA's appearance-branch objective: `L = L_d + l_m L_m + l_track L_track + l_cont L_cont`.

The recipe computes the flow-matching loss `L_d` and, on tracking steps, the decoded x0 prediction
(decoding costs, so `track_every` limits it to every n-th step); `MoSALoss` adds the rest:

- `L_m`: `mask_loss` of the HADC mask logits against the person mask on the latent grid;
- `L_track`: `tracking_loss` of the decoded video against the ground-truth tracks;
- `L_cont`: `video_contact_loss`, the ground-truth planted feet tracked in the decoded video
  (the appearance branch's reading of MoSA's 3D contact constraint; `contact_loss` is the 3D form
  the structure branch trains with).

MoSA does not publish its loss weights; the defaults put every term near `L_d`'s scale at 64 px
(`L_m` is a squared fraction, `L_track` and `L_cont` are pixels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..errors import InvalidInputError
from .contact import video_contact_loss
from .mask import mask_loss
from .tracker import DenseTracker
from .tracking import TEMPORAL_SCALE, tracking_loss


@dataclass
class MoSALossConfig:
    """Weights and cost controls of `MoSALoss`.

    Args:
        lambda_mask (`float`, defaults to 1.0): weight of L_m.
        lambda_track (`float`, defaults to 0.1): weight of L_track (pixels).
        lambda_contact (`float`, defaults to 0.1): weight of L_cont (pixels).
        track_every (`int`, defaults to 4): L_track and L_cont on steps `0, n, 2n, ...` (the steps the
            recipe decodes x0 on).
        temporal_weighting (`bool`, defaults to True): MoSA's `exp(|t - t'| / 2)` pair weights;
            False = static weights (the paper's ablation).
        temporal_scale (`float`, defaults to 2.0): the 2 of `exp(|t - t'| / 2)`.
        num_query_frames (`int`, defaults to 2): query frames per tracking step.
        num_track_points (`int`, defaults to 32): most points tracked per query frame and sample;
            pairs per sample = `num_query_frames x (T - 1) x num_track_points`.
        tracker (`dict`): `DenseTracker` arguments.
    """

    lambda_mask: float = 1.0
    lambda_track: float = 0.1
    lambda_contact: float = 0.1
    track_every: int = 4
    temporal_weighting: bool = True
    temporal_scale: float = TEMPORAL_SCALE
    num_query_frames: int = 2
    num_track_points: int = 32
    tracker: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("lambda_mask", "lambda_track", "lambda_contact"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0):
                raise InvalidInputError(f"`{name}` must be a non-negative number, got {value!r}.")
        for name in ("track_every", "num_query_frames", "num_track_points"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise InvalidInputError(f"`{name}` must be a positive integer, got {value!r}.")
        if not self.temporal_scale > 0:
            raise InvalidInputError(f"`temporal_scale` must be positive, got {self.temporal_scale}.")

    def to_dict(self) -> dict:
        return asdict(self)


class MoSALoss:
    """`L = L_d + l_m L_m + l_track L_track + l_cont L_cont` from the pieces the recipe computes.

    Args:
        config (`MoSALossConfig`, *optional*): weights and cost controls.
        tracker (`nn.Module`, *optional*): defaults to `DenseTracker(**config.tracker)` (no parameters).
    """

    def __init__(self, config: MoSALossConfig | None = None, tracker: nn.Module | None = None) -> None:
        self.config = config if config is not None else MoSALossConfig()
        self.tracker = tracker if tracker is not None else DenseTracker(**self.config.tracker)

    def should_track(self, step: int) -> bool:
        """Whether `step` computes L_track and L_cont (so the recipe must decode x0)."""
        weighted = self.config.lambda_track > 0 or self.config.lambda_contact > 0
        return weighted and step % self.config.track_every == 0

    def __call__(
        self,
        flow_matching_loss: torch.Tensor,
        step: int,
        mask_logits: torch.Tensor | None = None,
        mask_latent: torch.Tensor | None = None,
        pred_video: torch.Tensor | None = None,
        gt_tracks: torch.Tensor | None = None,
        track_visibility: torch.Tensor | None = None,
        foot_pixels: torch.Tensor | None = None,
        foot_contacts: torch.Tensor | None = None,
        sample_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Named loss terms of one batch.

        Args:
            flow_matching_loss (`torch.Tensor`): scalar L_d.
            step (`int`): training step (decides whether this is a tracking step).
            mask_logits (`torch.Tensor` of shape `(B, K, T', H', W')`, *optional*): HADC mask logits;
                needed when `lambda_mask > 0`.
            mask_latent (`torch.Tensor` of shape `(B, 1, T', H', W')`, *optional*): the person mask on the
                latent grid (`kinevid.models.vae.pool_to_latent_grid`).
            pred_video (`torch.Tensor` of shape `(B, 3, T, H, W)`, *optional*): decoded x0 prediction in
                [-1, 1]; needed on tracking steps (`should_track(step)`), ignored otherwise.
            gt_tracks (`torch.Tensor` of shape `(B, T, P, 2)`), track_visibility (`(B, T, P)` bool):
                ground-truth tracks; needed on tracking steps when `lambda_track > 0`.
            foot_pixels (`torch.Tensor` of shape `(B, T, 4, 2)`), foot_contacts (`(B, T - 1, 4)` bool):
                `foot_contact_targets` of the ground truth; needed on tracking steps when `lambda_contact > 0`.
            sample_mask (`torch.Tensor` of shape `(B,)`, *optional*): bool, samples every term counts
                (e.g. those that kept their skeleton); all when None.
            generator (`torch.Generator`, *optional*): draws the tracking loss's query frames and points.

        Returns:
            `dict[str, torch.Tensor]`: `"diffusion"`, `"mask"` (when weighted), `"track"` and
            `"contact"` (on tracking steps, when weighted) and `"loss"`, all scalars.
        """
        config = self.config
        terms = {"diffusion": flow_matching_loss}
        loss = flow_matching_loss
        if config.lambda_mask > 0:
            if mask_logits is None or mask_latent is None:
                raise InvalidInputError("`mask_logits` and `mask_latent` are needed when `lambda_mask` > 0.")
            terms["mask"] = mask_loss(mask_logits, mask_latent, sample_mask)
            loss = loss + config.lambda_mask * terms["mask"]
        if self.should_track(step):
            if pred_video is None:
                raise InvalidInputError(
                    f"step {step} is a tracking step (`track_every`={config.track_every}): pass `pred_video`."
                )
            track_terms = self.tracking_terms(
                pred_video, gt_tracks, track_visibility, foot_pixels, foot_contacts, sample_mask, generator
            )
            for name, value in track_terms.items():
                terms[name] = value
                loss = loss + getattr(config, f"lambda_{name}") * value
        terms["loss"] = loss
        return terms

    def tracking_terms(
        self,
        pred_video: torch.Tensor,
        gt_tracks: torch.Tensor | None,
        track_visibility: torch.Tensor | None,
        foot_pixels: torch.Tensor | None,
        foot_contacts: torch.Tensor | None,
        sample_mask: torch.Tensor | None,
        generator: torch.Generator | None,
    ) -> dict[str, torch.Tensor]:
        """`"track"` and `"contact"` (those with a positive weight) on the samples `sample_mask` keeps."""
        config = self.config
        batch_size = pred_video.shape[0]
        if sample_mask is None:
            sample_mask = torch.ones(batch_size, dtype=torch.bool, device=pred_video.device)
        if tuple(sample_mask.shape) != (batch_size,):
            raise InvalidInputError(f"`sample_mask` must have shape ({batch_size},), got {tuple(sample_mask.shape)}.")
        keep = sample_mask.bool()
        terms = {}
        if config.lambda_track > 0:
            if gt_tracks is None or track_visibility is None:
                raise InvalidInputError("`gt_tracks` and `track_visibility` are needed when `lambda_track` > 0.")
            terms["track"] = (
                tracking_loss(
                    pred_video[keep],
                    gt_tracks[keep],
                    track_visibility[keep],
                    self.tracker,
                    temporal_weighting=config.temporal_weighting,
                    num_query_frames=config.num_query_frames,
                    max_points=config.num_track_points,
                    generator=generator,
                    temporal_scale=config.temporal_scale,
                )
                if keep.any()
                else pred_video.sum() * 0.0
            )
        if config.lambda_contact > 0:
            if foot_pixels is None or foot_contacts is None:
                raise InvalidInputError("`foot_pixels` and `foot_contacts` are needed when `lambda_contact` > 0.")
            terms["contact"] = (
                video_contact_loss(pred_video[keep], foot_pixels[keep], foot_contacts[keep], self.tracker)
                if keep.any()
                else pred_video.sum() * 0.0
            )
        return terms
