"""Per-feature normalisation statistics for motion features."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ...errors import InvalidInputError, MissingWeightsError
from ...utils.io import atomic_write
from .echomotion import MOTION_FEATURE_DIM

DEFAULT_MIN_STD = 1e-4


class MotionNormalizer(torch.nn.Module):
    """Per-feature mean and standard deviation: `normalize(x) = (x - mean) / std`.

    The statistics are buffers, so the normaliser moves with `.to(device)` and can sit inside a
    model. The standard deviation is floored at `min_std`, so constant channels (betas of a
    dataset without shapes, the orientation change at frame 0) normalise to 0 instead of dividing
    by zero.

    Args:
        mean (`torch.Tensor` of shape `(D,)`, *optional*): defaults to zeros of `feature_dim`.
        std (`torch.Tensor` of shape `(D,)`, *optional*): defaults to ones of `feature_dim`.
        feature_dim (`int`, defaults to 235): `D` when `mean` and `std` are not given.
    """

    def __init__(
        self,
        mean: torch.Tensor | None = None,
        std: torch.Tensor | None = None,
        feature_dim: int = MOTION_FEATURE_DIM,
    ) -> None:
        super().__init__()
        mean = torch.zeros(feature_dim) if mean is None else mean.detach().clone().float()
        std = torch.ones_like(mean) if std is None else std.detach().clone().float()
        if mean.ndim != 1 or std.shape != mean.shape:
            raise InvalidInputError(
                f"`mean` and `std` must both have shape (D,), got {tuple(mean.shape)} and {tuple(std.shape)}."
            )
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()) or (std <= 0).any():
            raise InvalidInputError("`mean` must be finite and `std` finite and positive.")
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    @property
    def feature_dim(self) -> int:
        return self.mean.shape[0]

    @classmethod
    def fit(
        cls,
        features: Iterable[torch.Tensor],
        feature_dim: int = MOTION_FEATURE_DIM,
        min_std: float = DEFAULT_MIN_STD,
    ) -> MotionNormalizer:
        """Statistics over all frames of all sequences, accumulated in float64 running sums.

        Args:
            features (iterable of `torch.Tensor` of shape `(T, D)`): sequences, e.g. from a dataset;
                consumed once, so a generator works.
            feature_dim (`int`, defaults to 235): `D`.
            min_std (`float`, defaults to 1e-4): floor of the standard deviation.

        Returns:
            `MotionNormalizer` with the population mean and standard deviation (floored).
        """
        total = torch.zeros(feature_dim, dtype=torch.float64)
        total_squares = torch.zeros(feature_dim, dtype=torch.float64)
        shift: torch.Tensor | None = None
        count = 0
        for index, sequence in enumerate(features):
            if not isinstance(sequence, torch.Tensor) or sequence.ndim != 2 or sequence.shape[1] != feature_dim:
                shape = tuple(sequence.shape) if isinstance(sequence, torch.Tensor) else type(sequence).__name__
                raise InvalidInputError(
                    f"sequence {index}: expected a tensor of shape (T, {feature_dim}), got {shape}."
                )
            if not torch.isfinite(sequence).all():
                raise InvalidInputError(f"sequence {index}: contains NaN or infinite values.")
            sequence = sequence.detach().to("cpu", torch.float64)
            if sequence.shape[0] == 0:
                continue
            # Sums of deviations from the first frame seen stay well conditioned far from the origin.
            shift = sequence[0].clone() if shift is None else shift
            total += (sequence - shift).sum(0)
            total_squares += (sequence - shift).square().sum(0)
            count += sequence.shape[0]
        if shift is None:
            raise InvalidInputError("`features` is empty; at least one frame is needed to fit a normaliser.")
        mean_deviation = total / count
        variance = (total_squares / count - mean_deviation.square()).clamp_min(0.0)
        mean = shift + mean_deviation
        std = variance.sqrt().clamp_min(min_std)
        return cls(mean.float(), std.float())

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        """`(..., D)` -> `(..., D)`: `(features - mean) / std`."""
        self._check(features)
        return (features - self.mean.to(features)) / self.std.to(features)

    def denormalize(self, features: torch.Tensor) -> torch.Tensor:
        """`(..., D)` -> `(..., D)`: `features * std + mean`."""
        self._check(features)
        return features * self.std.to(features) + self.mean.to(features)

    def _check(self, features: torch.Tensor) -> None:
        if features.shape[-1] != self.feature_dim:
            raise InvalidInputError(
                f"features must have shape (..., {self.feature_dim}) for this normaliser, got {tuple(features.shape)}."
            )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write `mean` and `std` to a safetensors file, atomically."""
        with atomic_write(path) as tmp:
            save_file({"mean": self.mean.detach().cpu().contiguous(), "std": self.std.detach().cpu().contiguous()}, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike[str], feature_dim: int | None = MOTION_FEATURE_DIM) -> MotionNormalizer:
        """Read statistics written by `save`.

        Args:
            path (`str` or `os.PathLike`): the safetensors file.
            feature_dim (`int`, *optional*, defaults to 235): expected `D`; `None` accepts any.
        """
        path = Path(path)
        if not path.is_file():
            raise MissingWeightsError(
                f"{path}: normalisation statistics not found (a safetensors file with `mean`, `std`)."
            )
        try:
            tensors = load_file(path)
        except (SafetensorError, OSError, ValueError) as error:
            raise InvalidInputError(f"{path}: not a readable safetensors file ({error}).") from error
        missing = sorted({"mean", "std"} - set(tensors))
        if missing:
            raise InvalidInputError(f"{path}: missing tensor(s) {missing}; expected `mean` and `std` of shape (D,).")
        mean, std = tensors["mean"], tensors["std"]
        if feature_dim is not None and (tuple(mean.shape) != (feature_dim,) or tuple(std.shape) != (feature_dim,)):
            raise InvalidInputError(
                f"{path}: `mean` and `std` must have shape ({feature_dim},), "
                f"got {tuple(mean.shape)} and {tuple(std.shape)}."
            )
        try:
            return cls(mean, std)
        except InvalidInputError as error:
            raise InvalidInputError(f"{path}: {error}") from None

    def extra_repr(self) -> str:
        return f"feature_dim={self.feature_dim}"
