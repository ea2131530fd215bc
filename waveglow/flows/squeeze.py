"""Reshaping flows (log-det 0): grouping audio samples into channels, space-to-depth for images, channel splits."""
from __future__ import annotations

import torch

from waveglow.flows.flow import Flow, zero_logdet


def group_samples(audio: torch.Tensor, n_group: int) -> torch.Tensor:
    """[B, T] -> [B, n_group, T / n_group]: channel j at step t holds sample t * n_group + j (WaveGlow's squeeze)."""
    if audio.shape[-1] % n_group:
        raise ValueError(f"audio length {audio.shape[-1]} is not a multiple of n_group={n_group}")
    return audio.unfold(-1, n_group, n_group).transpose(-1, -2)


def ungroup_samples(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `group_samples`: [B, n_group, T / n_group] -> [B, T]."""
    return x.transpose(1, 2).reshape(x.shape[0], -1)


def group_frames(cond: torch.Tensor, n_group: int) -> torch.Tensor:
    """Upsampled conditioning [B, C, T] -> [B, C * n_group, T / n_group], channel c * n_group + j = cond[c, t*n_group+j]."""
    batch, channels, length = cond.shape
    steps = length // n_group
    grouped = cond[..., : steps * n_group].reshape(batch, channels, steps, n_group)
    return grouped.permute(0, 1, 3, 2).reshape(batch, channels * n_group, steps)


class GroupSamples(Flow):
    """Flow layer wrapping `group_samples`: [B, T] <-> [B, n_group, T / n_group]."""

    def __init__(self, n_group: int):
        super().__init__()
        self.n_group = n_group

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        return group_samples(x, self.n_group), zero_logdet(x)

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return ungroup_samples(y)


def squeeze2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Space to depth: [B, C, H, W] -> [B, C * f * f, H / f, W / f]."""
    b, c, h, w = x.shape
    if h % factor or w % factor:
        raise ValueError(f"image size {h}x{w} is not divisible by the squeeze factor {factor}")
    x = x.reshape(b, c, h // factor, factor, w // factor, factor)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(b, c * factor * factor, h // factor, w // factor)


def unsqueeze2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Depth to space, the inverse of `squeeze2d`."""
    b, c, h, w = x.shape
    x = x.reshape(b, c // (factor * factor), factor, factor, h, w)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(b, c // (factor * factor), h * factor, w * factor)


class Squeeze2d(Flow):
    """Flow layer wrapping `squeeze2d`."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        return squeeze2d(x, self.factor), zero_logdet(x)

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return unsqueeze2d(y, self.factor)


def split_channels(x: torch.Tensor, n_first: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, C, ...] -> ([B, n_first, ...], [B, C - n_first, ...]): what a multi-scale flow factors out early."""
    return x[:, :n_first], x[:, n_first:]
