"""Where EchoMotion's motion tokens look in the video: the temporal alignment MVS-RoPE is built for.

EchoMotion's paper shows that with MVS-RoPE the attention between motion tokens (one frame of 51 tokens per
video frame) and video tokens (one latent frame per `r = 4` video frames) forms a 4:1 diagonal, and that
without it the attention scatters. Here that is a number: the joint attention of every dual block is recorded
(`MotionToVideoAttentionRecorder`), reduced to `A[t, k]`, the share of motion frame `t`'s attention to video
tokens that falls on latent frame `k` (mean over heads, blocks and the frame's 51 tokens), and summarised by
`temporal_alignment`:

- `aligned_mass`: the mean over `t` of `A[t, k(t)]`, `k(t) = ceil(t / r)` being the latent frame that encodes
  frame `t` (Wan's causal VAE: latent 0 is frame 0, latent `k` frames `r(k-1)+1 .. rk`); `1 / F` by chance;
- `slope`: the least-squares slope of the attended latent frame `E_A[k | t]` against `t`; a 4:1 diagonal has
  slope about `1 / r`, scattered attention about 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from ...diffusion.echomotion_training import V2M
from ...diffusion.flow_matching import add_noise, sigmas_to_timesteps
from ...models.appearance.transformer_echomotion import (
    EchoMotionDualBlock,
    EchoMotionJointAttnProcessor,
    EchoMotionTransformer3DModel,
)
from ...motion.codecs.echomotion import TOKENS_PER_FRAME


def frame_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    attention_mask: torch.Tensor | None,
    num_video_tokens: int,
    num_latent_frames: int,
    tokens_per_frame: int = TOKENS_PER_FRAME,
) -> torch.Tensor:
    """Motion frame -> latent frame attention of one joint attention call.

    Args:
        query, key (`torch.Tensor` of shape `(B, S_v + S_m, heads, head_dim)`): the joint sequence `[video;
            motion]` after norms and RoPE, as `EchoMotionJointAttnProcessor.attend` receives it.
        attention_mask (`torch.Tensor` of shape `(B, 1, 1, S_v + S_m)`, bool, *optional*): visible keys.
        num_video_tokens (`int`): `S_v = F * H * W`, frame-major.
        num_latent_frames (`int`): `F`.
        tokens_per_frame (`int`): motion tokens per motion frame (`S_m = T * tokens_per_frame`).

    Returns:
        `torch.Tensor` of shape `(B, T, F)`: per motion frame, the share of its attention to video tokens that
        goes to each latent frame (rows sum to 1), mean over heads and the frame's tokens.
    """
    motion_queries = query[:, num_video_tokens:].transpose(1, 2).float()  # (B, heads, S_m, d)
    keys = key.transpose(1, 2).float()  # (B, heads, S, d)
    logits = motion_queries @ keys.transpose(-1, -2) * query.shape[-1] ** -0.5  # (B, heads, S_m, S)
    if attention_mask is not None:
        logits = logits.masked_fill(~attention_mask, float("-inf"))
    to_video = logits.softmax(dim=-1)[..., :num_video_tokens]  # (B, heads, S_m, S_v)
    per_frame = to_video.unflatten(-1, (num_latent_frames, -1)).sum(dim=-1)  # (B, heads, S_m, F)
    per_frame = per_frame / per_frame.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return per_frame.mean(dim=1).unflatten(1, (-1, tokens_per_frame)).mean(dim=2)  # (B, T, F)


class MotionToVideoAttentionRecorder(EchoMotionJointAttnProcessor):
    """`EchoMotionJointAttnProcessor` that also keeps `frame_attention` of every call with video tokens.

    The model's outputs are unchanged (the attention itself runs as before); `maps` gets one `(B, T, F)`
    tensor per dual block and forward pass.
    """

    def __init__(self, num_latent_frames: int) -> None:
        self.num_latent_frames = num_latent_frames
        self.maps: list[torch.Tensor] = []
        self._num_video_tokens = 0

    def __call__(self, attn, motion_attn, hidden_states, motion_hidden_states, *args, **kwargs):
        self._num_video_tokens = 0 if hidden_states is None else hidden_states.shape[1]
        return super().__call__(attn, motion_attn, hidden_states, motion_hidden_states, *args, **kwargs)

    def attend(self, attn, query, key, value, attention_mask):
        if self._num_video_tokens:
            self.maps.append(
                frame_attention(query, key, attention_mask, self._num_video_tokens, self.num_latent_frames).detach()
            )
        return super().attend(attn, query, key, value, attention_mask)


@contextmanager
def recording_motion_attention(
    model: EchoMotionTransformer3DModel, num_latent_frames: int
) -> Iterator[MotionToVideoAttentionRecorder]:
    """Within the block, every dual block of `model` records its motion -> video attention into the yielded
    recorder; the original processors are restored afterwards."""
    blocks = [block for block in model.blocks if isinstance(block, EchoMotionDualBlock)]
    originals = [block.joint_attn_processor for block in blocks]
    recorder = MotionToVideoAttentionRecorder(num_latent_frames)
    for block in blocks:
        block.joint_attn_processor = recorder
    try:
        yield recorder
    finally:
        for block, processor in zip(blocks, originals, strict=True):
            block.joint_attn_processor = processor


@dataclass
class TemporalAlignment:
    """How well motion frames attend to the latent frame that encodes them.

    Args:
        attention (`torch.Tensor` of shape `(T, F)`): `A[t, k]`, rows sum to 1.
        aligned_mass (`float`): mean over `t` of `A[t, ceil(t / r)]`.
        chance (`float`): `1 / F`, the aligned mass of uniform attention.
        slope (`float`): least-squares slope of `sum_k k A[t, k]` against `t`.
        diagonal_slope (`float`): the same slope for attention that is exactly on the aligned frame (about
            `1 / r`).
    """

    attention: torch.Tensor
    aligned_mass: float
    chance: float
    slope: float
    diagonal_slope: float


def aligned_latent_frames(num_motion_frames: int, temporal_compression: int, num_latent_frames: int) -> torch.Tensor:
    """`ceil(t / r)` for `t = 0 .. T-1` (clamped to the last latent frame): `(T,)` long."""
    frames = torch.arange(num_motion_frames)
    return ((frames + temporal_compression - 1) // temporal_compression).clamp(max=num_latent_frames - 1)


def _slope(values: torch.Tensor) -> float:
    t = torch.arange(values.shape[0], dtype=torch.float64)
    t = t - t.mean()
    return float((t * (values.double() - values.double().mean())).sum() / (t * t).sum())


def temporal_alignment(attention: torch.Tensor, temporal_compression: int) -> TemporalAlignment:
    """Summarise a motion -> latent frame attention `(T, F)` (see the module docstring)."""
    num_motion_frames, num_latent_frames = attention.shape
    aligned = aligned_latent_frames(num_motion_frames, temporal_compression, num_latent_frames)
    attended = (attention.double() * torch.arange(num_latent_frames, dtype=torch.float64)).sum(dim=-1)
    return TemporalAlignment(
        attention=attention,
        aligned_mass=float(attention[torch.arange(num_motion_frames), aligned].double().mean()),
        chance=1.0 / num_latent_frames,
        slope=_slope(attended),
        diagonal_slope=_slope(aligned.double()),
    )


@torch.no_grad()
def measure_temporal_alignment(
    model: EchoMotionTransformer3DModel,
    latents: torch.Tensor,
    motion: torch.Tensor,
    null_text: torch.Tensor,
    motion_sigma: float = 0.5,
    generator: torch.Generator | None = None,
) -> list[TemporalAlignment]:
    """The v2m setting (clean video, noisy motion, no text: the motion tokens must read the video): one forward
    pass with every dual block recorded, one `TemporalAlignment` per sample.

    Args:
        model (`EchoMotionTransformer3DModel`): a trained model.
        latents (`torch.Tensor` of shape `(B, C, F, H, W)`): normalised video latents.
        motion (`torch.Tensor` of shape `(B, T, 235)`): normalised motion features, `T = r (F - 1) + 1`.
        null_text (`torch.Tensor` of shape `(L, D)`): the text encoder's encoding of "".
        motion_sigma (`float`): the motion's noise level.
        generator (`torch.Generator`, *optional*): CPU generator of the motion noise.
    """
    batch_size, num_latent_frames = latents.shape[0], latents.shape[2]
    parameter = next(model.parameters())
    noise = torch.randn(motion.shape, generator=generator)
    sigmas = torch.full((batch_size,), float(motion_sigma))
    with recording_motion_attention(model, num_latent_frames) as recorder:
        model(
            latents.to(parameter),
            torch.zeros(batch_size, device=parameter.device),
            null_text.to(parameter).expand(batch_size, *null_text.shape),
            motion_hidden_states=add_noise(motion, noise, sigmas).to(parameter),
            motion_timestep=sigmas_to_timesteps(sigmas).to(parameter.device),
            task=torch.full((batch_size,), V2M, device=parameter.device),
        )
    attention = torch.stack(recorder.maps).mean(dim=0)  # (B, T, F), mean over dual blocks
    compression = int(model.config.vae_temporal_compression)
    return [temporal_alignment(sample.cpu(), compression) for sample in attention]


def plot_frame_attention(maps: dict[str, torch.Tensor], path: str | Path, temporal_compression: int = 4) -> None:
    """Heat maps of motion frame -> latent frame attention `(T, F)`, one panel per name, with the aligned latent
    frame `ceil(t / r)` marked; written to `path` (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps = {name: torch.as_tensor(attention, dtype=torch.float32) for name, attention in maps.items()}
    top = max(float(attention.max()) for attention in maps.values())  # one colour scale for every panel
    figure, axes = plt.subplots(
        1, len(maps), figsize=(2.8 * len(maps) + 1.0, 3.8), squeeze=False, sharey=True, layout="constrained"
    )
    for axis, (name, attention) in zip(axes[0], maps.items(), strict=True):
        image = axis.imshow(attention.numpy(), aspect="auto", cmap="viridis", vmin=0.0, vmax=top)
        aligned = aligned_latent_frames(attention.shape[0], temporal_compression, attention.shape[1])
        axis.plot(aligned.numpy(), range(attention.shape[0]), "w.", markersize=4, label="ceil(t / r)")
        axis.set(title=name, xlabel="latent frame k")
    axes[0][0].set_ylabel("motion frame t")
    figure.colorbar(image, ax=axes[0].tolist(), label="share of the frame's video attention")
    axes[0][0].legend(loc="lower right", fontsize=7)
    figure.savefig(path, dpi=100)
    plt.close(figure)
