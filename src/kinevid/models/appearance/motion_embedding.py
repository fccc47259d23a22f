"""EchoMotion's motion tokenizer: three group MLP encoders into the DiT width and three decoders back.

A motion frame is 235 features in the `kinevid.motion.codecs.echomotion` layout, split into 25
position tokens (root translation, 24 joints; 3 features each), 25 rotation tokens (24 local 6D
rotations, the global orientation's frame-to-frame change; 6 each) and 1 shape token (10 betas).
Each group has its own MLP, shared by the tokens of the group; a learned per-token embedding tells
the tokens of a group apart (their MVS-RoPE positions differ too, but RoPE only acts inside
attention, not in the MLPs and FFNs).
"""

from __future__ import annotations

import functools

import torch
from diffusers.models.normalization import FP32LayerNorm
from torch import nn

from ...motion.codecs.echomotion import MOTION_FEATURE_DIM, TOKENS_PER_FRAME, merge_motion_tokens, split_motion_tokens

MOTION_TOKEN_GROUPS = ("position", "rotation", "shape")


class MotionGroupMLP(nn.Module):
    """Two-layer MLP `Linear -> GELU(tanh) -> Linear`, applied per token."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU(approximate="tanh")
        self.linear_2 = nn.Linear(hidden_features, out_features)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(hidden_states)))


@functools.cache
def motion_group_layout() -> dict[str, tuple[int, int]]:
    """`(tokens per frame, features per token)` of each group, read from the codec.

    Returns:
        `dict[str, tuple[int, int]]`: `{"position": (25, 3), "rotation": (25, 6), "shape": (1, 10)}`.
    """
    groups = split_motion_tokens(torch.zeros(1, MOTION_FEATURE_DIM))
    return {name: tuple(groups[name].shape[-2:]) for name in MOTION_TOKEN_GROUPS}


class EchoMotionMotionEmbedding(nn.Module):
    r"""Motion features -> motion tokens (51 per frame, frame-major).

    Args:
        dim (`int`): transformer width.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        layout = motion_group_layout()
        self.position_embedder = MotionGroupMLP(layout["position"][1], dim, dim)
        self.rotation_embedder = MotionGroupMLP(layout["rotation"][1], dim, dim)
        self.shape_embedder = MotionGroupMLP(layout["shape"][1], dim, dim)
        self.token_embedding = nn.Parameter(torch.empty(TOKENS_PER_FRAME, dim))
        self.reset_motion_parameters()

    @torch.no_grad()
    def reset_motion_parameters(self) -> None:
        """Initialise the module's own parameter (the MLPs initialise themselves)."""
        nn.init.normal_(self.token_embedding, std=0.02)

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        """
        Args:
            motion (`torch.Tensor` of shape `(B, T, 235)`): normalised motion features.

        Returns:
            `torch.Tensor` of shape `(B, T * 51, dim)`: tokens of frame 0 first, inside a frame the
            position, rotation and shape tokens in the codec's order.
        """
        groups = split_motion_tokens(motion)
        tokens = torch.cat(
            [
                self.position_embedder(groups["position"]),  # (B, T, 25, D)
                self.rotation_embedder(groups["rotation"]),  # (B, T, 25, D)
                self.shape_embedder(groups["shape"]),  # (B, T, 1, D)
            ],
            dim=2,
        )
        tokens = tokens + self.token_embedding.to(tokens.dtype)  # (B, T, 51, D)
        return tokens.flatten(1, 2)  # (B, T * 51, D)


class EchoMotionMotionHead(nn.Module):
    r"""Motion tokens -> motion features: Wan-style modulated output norm, then the three group decoders.

    Args:
        dim (`int`): transformer width.
        eps (`float`): epsilon of the output LayerNorm.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        layout = motion_group_layout()
        self.norm_out = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.scale_shift_table = nn.Parameter(torch.empty(1, 2, dim))
        self.position_decoder = MotionGroupMLP(dim, dim, layout["position"][1])
        self.rotation_decoder = MotionGroupMLP(dim, dim, layout["rotation"][1])
        self.shape_decoder = MotionGroupMLP(dim, dim, layout["shape"][1])
        self.reset_motion_parameters()

    @torch.no_grad()
    def reset_motion_parameters(self) -> None:
        """Initialise the module's own parameter like Wan's output modulation table."""
        dim = self.scale_shift_table.shape[-1]
        self.scale_shift_table.copy_(torch.randn_like(self.scale_shift_table) / dim**0.5)

    def forward(self, hidden_states: torch.Tensor, temb: torch.Tensor, num_frames: int) -> torch.Tensor:
        """
        Args:
            hidden_states (`torch.Tensor` of shape `(B, T * 51, D)`): motion tokens.
            temb (`torch.Tensor` of shape `(B, D)`): the motion modality's time (+ task) embedding.
            num_frames (`int`): `T`.

        Returns:
            `torch.Tensor` of shape `(B, T, 235)`.
        """
        shift, scale = (self.scale_shift_table + temb.float()[:, None]).chunk(2, dim=1)  # (B, 1, D) each
        hidden_states = (self.norm_out(hidden_states.float()) * (1 + scale) + shift).type_as(hidden_states)
        hidden_states = hidden_states.unflatten(1, (num_frames, TOKENS_PER_FRAME))  # (B, T, 51, D)
        sizes = [motion_group_layout()[name][0] for name in MOTION_TOKEN_GROUPS]
        position, rotation, shape = hidden_states.split(sizes, dim=2)
        groups = {
            "position": self.position_decoder(position),  # (B, T, 25, 3)
            "rotation": self.rotation_decoder(rotation),  # (B, T, 25, 6)
            "shape": self.shape_decoder(shape),  # (B, T, 1, 10)
        }
        return merge_motion_tokens(groups)  # (B, T, 235)
