"""Rectified-flow (flow-matching) training objective as Wan2.1 trains and samples it.

With data `x0`, noise `eps` and noise level `s` in [0, 1]:

    x_s = (1 - s) x0 + s eps,    target velocity v = eps - x0,    timestep = 1000 s.

Noise levels are drawn uniformly (or logit-normally) and then shifted, `s' = k s / (1 + (k - 1) s)`,
the same map `FlowMatchEulerDiscreteScheduler(shift=k)` applies when sampling, so training spends
its steps where sampling does (k = 3 for Wan at 480p, 8 for EchoMotion).
"""

from __future__ import annotations

import torch

from ..errors import InvalidInputError

NUM_TRAIN_TIMESTEPS = 1000
"""Timestep scale of Wan's flow matching: `timestep = NUM_TRAIN_TIMESTEPS * sigma`."""

TIMESTEP_DISTRIBUTIONS = ("uniform", "logit_normal")


def shift_sigmas(sigmas: torch.Tensor, shift: float) -> torch.Tensor:
    """Time shift `k s / (1 + (k - 1) s)`: `shift > 1` moves noise levels towards 1 (noisier).

    Args:
        sigmas (`torch.Tensor` of any shape): noise levels in [0, 1].
        shift (`float`): `k > 0`; 1 is the identity.
    """
    if shift <= 0:
        raise InvalidInputError(f"`shift` must be positive; got {shift}")
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def sample_sigmas(
    batch_size: int,
    shift: float = 1.0,
    distribution: str = "uniform",
    logit_mean: float = 0.0,
    logit_std: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Training noise levels, one per sample.

    Args:
        batch_size (`int`): number of samples `B`.
        shift (`float`, defaults to 1.0): time shift `k` applied after drawing.
        distribution (`str`, defaults to `"uniform"`): `"uniform"` on [0, 1) or `"logit_normal"`
            (sigmoid of a normal with `logit_mean`, `logit_std`, as in SD3).
        generator (`torch.Generator`, *optional*): source of randomness (on CPU).
        device: where to put the result.

    Returns:
        `torch.Tensor` of shape `(B,)`, float32, in [0, 1].
    """
    if distribution == "uniform":
        sigmas = torch.rand(batch_size, generator=generator)
    elif distribution == "logit_normal":
        sigmas = torch.sigmoid(logit_mean + logit_std * torch.randn(batch_size, generator=generator))
    else:
        raise InvalidInputError(f"`distribution` must be one of {TIMESTEP_DISTRIBUTIONS}; got {distribution!r}")
    return shift_sigmas(sigmas, shift).to(device)


def _expand(sigmas: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
    """`(B,)` -> `(B, 1, ..., 1)` broadcastable against `sample`."""
    if sigmas.shape != sample.shape[:1]:
        raise InvalidInputError(f"`sigmas` must have shape ({sample.shape[0]},); got {tuple(sigmas.shape)}")
    return sigmas.to(sample).reshape(-1, *([1] * (sample.ndim - 1)))


def add_noise(sample: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """`x_s = (1 - s) x0 + s eps`.

    Args:
        sample (`torch.Tensor` of shape `(B, ...)`): clean data `x0`.
        noise (`torch.Tensor` of the same shape): `eps`.
        sigmas (`torch.Tensor` of shape `(B,)`): noise levels.
    """
    sigmas = _expand(sigmas, sample)
    return (1 - sigmas) * sample + sigmas * noise


def velocity_target(sample: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The flow-matching regression target `eps - x0` (what Wan's transformer predicts)."""
    return noise - sample


def sigmas_to_timesteps(sigmas: torch.Tensor) -> torch.Tensor:
    """Noise levels `(B,)` -> model timesteps `1000 s`."""
    return sigmas * NUM_TRAIN_TIMESTEPS


def per_sample_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per sample, over the real elements only.

    Args:
        prediction (`torch.Tensor` of shape `(B, ...)`), target (same shape).
        mask (`torch.Tensor` of shape `(B, T)`, bool, *optional*): which entries of the second axis
            are real (e.g. motion frames); the rest are ignored.

    Returns:
        `torch.Tensor` of shape `(B,)` (0 for a sample without real entries).
    """
    error = (prediction.float() - target.float()).square()
    if mask is None:
        return error.flatten(1).mean(dim=1)
    if mask.shape != error.shape[:2]:
        raise InvalidInputError(f"`mask` must have shape {tuple(error.shape[:2])}; got {tuple(mask.shape)}")
    weights = mask.to(error).reshape(*mask.shape, *([1] * (error.ndim - 2))).expand_as(error)
    return (error * weights).flatten(1).sum(dim=1) / weights.flatten(1).sum(dim=1).clamp_min(1)


def masked_mean(values: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """Mean of `values` `(B,)` over the `selected` `(B,)` bool samples (0, still differentiable, if none)."""
    selected = selected.to(values.device)
    # `where`, not a product: a non-finite value of an unselected sample must not leak into the mean
    total = torch.where(selected, values, torch.zeros_like(values)).sum()
    return total / selected.sum().clamp_min(1).to(values)
