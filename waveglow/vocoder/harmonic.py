"""A harmonic source as a flow layer: audio x <-> x - mean, the mean a sum of harmonics of the sine excitation.

mean[t] = sum_k a_k(t) cos(k phi(t)) + b_k(t) sin(k phi(t)), k = 1..K, with phi the excitation's phase (its
channels are sin phi and cos phi, 0 where unvoiced) and the 2K amplitudes predicted from the grouped mel
conditioning by a small convolutional network, interpolated linearly from the grouped rate to the audio rate. The
shift depends on the conditioning only, so the layer is exactly invertible with log-det 0; trained by the
likelihood it learns the voiced part of the waveform, and the flow after it models what is left.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def harmonic_basis(excitation: torch.Tensor, harmonics: int) -> torch.Tensor:
    """excitation [B, 2, T] (sin phi, cos phi) -> [B, 2K, T]: cos(k phi) for k = 1..K, then sin(k phi); 0 where the
    excitation is 0 (by the angle-addition recurrence, which keeps that zero). An excitation of [B, 2K, T] carries
    each harmonic's own phase (rows 2k, 2k + 1: sin, cos of harmonic k + 1; see waveglow.audio.excitation): used as
    it is."""
    if excitation.shape[1] == 2 * harmonics:
        return torch.cat([excitation[:, 1::2], excitation[:, 0::2]], 1).float()
    s1, c1 = excitation[:, 0].float(), excitation[:, 1].float()
    cosines, sines = [c1], [s1]
    for _ in range(harmonics - 1):
        c, s = cosines[-1], sines[-1]
        cosines.append(c * c1 - s * s1)
        sines.append(s * c1 + c * s1)
    return torch.stack(cosines + sines, 1)


class HarmonicShift(nn.Module):
    """mean(mel_cond [B, C, S], excitation [B, 2, S * n_group]) -> [B, S * n_group]; starts at 0 (last conv zero)."""

    #: amplitudes are this times the last conv's output. Speech's harmonics are ~0.01-0.1 of full scale; unscaled,
    #: one Adam step (lr 1e-3 on each of `hidden` weights) could move them by ~0.1 and the flow after this layer,
    #: whose gain is large on quiet audio, turned that into a likelihood several bits/sample worse (measured).
    amplitude_scale = 0.01

    def __init__(self, cond_channels: int, harmonics: int, n_group: int, hidden: int = 128):
        super().__init__()
        self.harmonics = harmonics
        self.n_group = n_group
        self.hidden = nn.Conv1d(cond_channels, hidden, 3, padding=1)
        self.amplitudes = nn.Conv1d(hidden, 2 * harmonics, 1)
        nn.init.zeros_(self.amplitudes.weight)
        nn.init.zeros_(self.amplitudes.bias)

    def forward(self, mel_cond: torch.Tensor, excitation: torch.Tensor) -> torch.Tensor:
        # fp32 whatever the networks' precision: forward and inverse must compute the same shift
        with torch.autocast(mel_cond.device.type, enabled=False):
            weight = self.amplitudes.weight
            h = torch.tanh(self.hidden(mel_cond.to(weight.dtype)))
            amplitudes = self.amplitude_scale * self.amplitudes(h)  # [B, 2K, S]
            amplitudes = F.interpolate(amplitudes, scale_factor=self.n_group, mode="linear", align_corners=False)
            basis = harmonic_basis(excitation, self.harmonics).to(weight.dtype)
            return (amplitudes * basis).sum(1)
