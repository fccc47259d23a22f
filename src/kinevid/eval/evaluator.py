"""`TextMotionEvaluator`: runs motions and texts through the retrieval model and computes the
text-to-motion metrics (R-precision, FID, diversity, MM-distance, multimodality) plus the
physical metrics of `kinevid.motion.metrics`.

Example:
    ```python
    from kinevid.eval import TextMotionEvaluator

    evaluator = TextMotionEvaluator.from_pretrained()  # the shipped CMU evaluator
    scores = evaluator.evaluate(motions, texts, reference_motion_embeddings=real_embeddings)
    ```
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..errors import InvalidInputError, MissingWeightsError
from ..motion.motion import Motion
from ..utils.weights import load_pretrained
from . import metrics
from .motion_features import joint_motion_features, pad_feature_sequences
from .retrieval_model import TextMotionRetrievalModel

#: Where the shipped evaluator (config.json + diffusion_pytorch_model.safetensors) lives.
DEFAULT_EVALUATOR_DIR = Path(__file__).resolve().parent / "assets" / "evaluator_cmu"


class TextMotionEvaluator:
    """Embeds motions and texts with a `TextMotionRetrievalModel` and scores motion sets.

    Args:
        model (`TextMotionRetrievalModel`): the trained retrieval model (put in eval mode here).
        text_encoder (`kinevid.text.TextEncoder`, *optional*): the frozen sentence encoder the model
            was trained on; loaded from `model.config.text_encoder` when omitted.
        batch_size (`int`, defaults to 64): motions or texts per forward pass.
    """

    def __init__(self, model: TextMotionRetrievalModel, text_encoder=None, batch_size: int = 64) -> None:
        self.model = model.eval()
        self._text_encoder = text_encoder
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str] | None = None, batch_size: int = 64) -> TextMotionEvaluator:
        """Load an evaluator directory (`save_pretrained` layout); the shipped one by default."""
        directory = Path(path) if path is not None else DEFAULT_EVALUATOR_DIR
        weights = list(directory.glob("*.safetensors")) if directory.is_dir() else []
        if not (directory / "config.json").is_file() or not weights:
            raise MissingWeightsError(
                f"Evaluator directory {directory} must hold config.json and a .safetensors weight file "
                "(train one with `kinevid train evaluator --config configs/evaluator_cmu.json`)."
            )
        model = load_pretrained(TextMotionRetrievalModel, directory, what="evaluator")
        return cls(model, batch_size=batch_size)

    @property
    def text_encoder(self):
        if self._text_encoder is None:
            from ..text import load_text_encoder

            self._text_encoder = load_text_encoder(self.model.config.text_encoder)
        return self._text_encoder

    @property
    def fps(self) -> float:
        return float(self.model.config.fps)

    @property
    def max_motion_frames(self) -> int:
        """Longest motion (in frames at `fps`) the evaluator reads; longer ones are cropped to their start."""
        return int(self.model.config.max_frames) + 1

    # ------------------------------------------------------------------ embeddings
    def motion_features(self, motion: Motion) -> torch.Tensor:
        """Features `(T', 145)` of `motion` resampled to the evaluator's fps and cropped to `max_motion_frames`."""
        if motion.fps != self.fps:
            motion = motion.resample(self.fps)
        if motion.num_frames > self.max_motion_frames:
            motion = motion.slice(0, self.max_motion_frames)
        return joint_motion_features(motion.joints.float(), self.fps)

    @torch.no_grad()
    def embed_motions(self, motions: Sequence[Motion], show_progress: bool = False) -> torch.Tensor:
        """Motion embeddings `(N, latent_dim)` (unit norm), in the order given."""
        if len(motions) == 0:
            raise InvalidInputError("`motions` must hold at least one motion.")
        embeddings = []
        starts = range(0, len(motions), self.batch_size)
        for start in tqdm(starts, desc="embed motions", disable=not show_progress):
            batch = [self.motion_features(m) for m in motions[start : start + self.batch_size]]
            features, frame_mask = pad_feature_sequences(batch)
            embeddings.append(self.model.encode_motion(features, frame_mask))
        return torch.cat(embeddings)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Text embeddings `(N, latent_dim)` (unit norm), in the order given."""
        if len(texts) == 0:
            raise InvalidInputError("`texts` must hold at least one text.")
        pooled = self.text_encoder.encode(list(texts), batch_size=self.batch_size).pooled.float()
        return torch.cat([self.model.encode_text(p) for p in pooled.split(self.batch_size)])

    # ------------------------------------------------------------------ scores
    def retrieval_scores(
        self,
        text_embeddings: torch.Tensor,
        motion_embeddings: torch.Tensor,
        reference_motion_embeddings: torch.Tensor | None = None,
        seed: int = 0,
        r_precision_repeats: int = 20,
        texts: Sequence[str] | None = None,
    ) -> dict[str, float]:
        """Text-to-motion metrics of matching (text, motion) embeddings `(N, D)`.

        R-precision is averaged over `r_precision_repeats` seeded shuffles (T2M repeats its
        evaluation 20 times); diversity uses 300 seeded pairs; FID is measured against
        `reference_motion_embeddings` when given. With the captions `texts`, R-precision is also
        computed over one random pair per distinct caption in each repeat
        (`r_precision_distinct_top1/2/3`, when there are at least 32 distinct captions).

        Returns:
            `dict` with `r_precision_top1/2/3`, `mm_distance`, `diversity` and, with a reference, `fid`.
        """
        generator = torch.Generator().manual_seed(seed)
        precision = torch.stack(
            [
                metrics.r_precision(text_embeddings, motion_embeddings, generator=generator)
                for _ in range(r_precision_repeats)
            ]
        ).mean(0)
        scores = {f"r_precision_top{k + 1}": float(precision[k]) for k in range(len(precision))}
        if texts is not None and len(metrics.one_pair_per_caption(list(texts))) >= metrics.R_PRECISION_BATCH_SIZE:
            distinct = []
            for _ in range(r_precision_repeats):
                index = metrics.one_pair_per_caption(list(texts), generator)
                distinct.append(
                    metrics.r_precision(text_embeddings[index], motion_embeddings[index], generator=generator)
                )
            distinct = torch.stack(distinct).mean(0)
            scores.update({f"r_precision_distinct_top{k + 1}": float(distinct[k]) for k in range(len(distinct))})
        scores["mm_distance"] = metrics.mm_distance(text_embeddings, motion_embeddings)
        scores["diversity"] = metrics.diversity(motion_embeddings, generator=torch.Generator().manual_seed(seed))
        if reference_motion_embeddings is not None:
            scores["fid"] = metrics.fid(reference_motion_embeddings, motion_embeddings)
        return scores

    def evaluate(
        self,
        motions: Sequence[Motion],
        texts: Sequence[str],
        reference_motion_embeddings: torch.Tensor | None = None,
        seed: int = 0,
        physical: bool = True,
        show_progress: bool = False,
    ) -> dict[str, float]:
        """Score a set of motions against their texts (pair i = `motions[i]`, `texts[i]`).

        Args:
            motions (sequence of `Motion`): N >= 32 motions (R-precision batches of 32).
            texts (sequence of `str`): their N captions.
            reference_motion_embeddings (`torch.Tensor` of shape `(M, D)`, *optional*): real-data
                embeddings for FID.
            seed (`int`, defaults to 0): seeds the R-precision shuffles and diversity pairs.
            physical (`bool`, defaults to `True`): also average `physical_metrics` over the motions.
            show_progress (`bool`, defaults to `False`): progress bars.

        Returns:
            `dict[str, float]` of metric name to value (physical ones prefixed `physical/`).
        """
        if len(motions) != len(texts):
            raise InvalidInputError(f"Got {len(motions)} motions but {len(texts)} texts; they must pair up.")
        motion_embeddings = self.embed_motions(motions, show_progress=show_progress)
        text_embeddings = self.embed_texts(texts)
        scores = self.retrieval_scores(
            text_embeddings, motion_embeddings, reference_motion_embeddings, seed=seed, texts=texts
        )
        if physical:
            scores.update({f"physical/{k}": v for k, v in mean_physical_metrics(motions, show_progress).items()})
        return scores


def mean_physical_metrics(motions: Sequence[Motion], show_progress: bool = False) -> dict[str, float]:
    """`kinevid.motion.metrics.physical_metrics` averaged over motions (NaN-valued entries skipped)."""
    from ..motion.metrics import physical_metrics

    totals: dict[str, list[float]] = {}
    for motion in tqdm(motions, desc="physical metrics", disable=not show_progress):
        for name, value in physical_metrics(motion).items():
            totals.setdefault(name, []).append(float(value))
    return {
        name: sum(v for v in values if math.isfinite(v)) / max(1, sum(math.isfinite(v) for v in values))
        for name, values in totals.items()
    }
