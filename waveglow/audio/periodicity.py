"""Periodicity at the pitch period: how much a voiced stretch of audio repeats itself one F0 period later.

r(frame) = sum x(n) x(n - P(n)) / sqrt(sum x(n)^2 * sum x(n - P(n))^2) over the frame's samples, P(n) = rate / F0(n)
samples (fractional: read through an 8-tap Hann-windowed sinc), for frames voiced throughout. It is 1 for a
periodic waveform, about 0 for noise, and does not depend on the frame's level: a quiet voiced frame counts as
much as a loud one. This is the quantity a YIN-style tracker thresholds (its difference function at the period
is 2 * energy * (1 - r)), so a vocoder whose voiced frames are too aperiodic is one a pitch tracker calls unvoiced.

`PeriodicityDistance` compares a sample with its recording frame by frame, with F0 and voicing from the
recording's excitation (waveglow.audio.excitation: its first two rows are the fundamental's sin and cos).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SINC_TAPS = 8  # enough below ~9 kHz; sample and recording are read alike
EPS = 1e-12  # on the product of two frame energies: a -60 dB frame of 512 samples still has ~1e-5 each


def f0_of_excitation(excitation: torch.Tensor, rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """excitation [B, C >= 2, T] (rows 0, 1: sin, cos of the fundamental's phase; 0 where unvoiced) ->
    (F0 [B, T] Hz, voiced [B, T] bool) from the phase advance between neighbouring samples."""
    s, c = excitation[:, 0].float(), excitation[:, 1].float()
    voiced = (s * s + c * c) > 0.25
    advance = torch.atan2(s[:, 1:] * c[:, :-1] - c[:, 1:] * s[:, :-1], c[:, 1:] * c[:, :-1] + s[:, 1:] * s[:, :-1])
    f0 = F.pad(advance, (1, 0), mode="replicate") * (rate / (2 * math.pi))
    voiced = voiced & F.pad(voiced[:, 1:] & voiced[:, :-1], (1, 0), value=False)
    return f0.clamp_min(0.0) * voiced, voiced & (f0 > 0)


def read_at(audio: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """audio [B, T] read at fractional sample positions [B, T] (windowed sinc; 0 outside the signal); differentiable
    in audio."""
    base = torch.floor(positions)
    frac = positions - base
    offsets = torch.arange(-SINC_TAPS // 2 + 1, SINC_TAPS // 2 + 1, device=audio.device, dtype=positions.dtype)
    distance = offsets - frac[..., None]  # [B, T, taps]
    weights = torch.sinc(distance) * (0.5 + 0.5 * torch.cos(math.pi * distance / (SINC_TAPS / 2 + 0.5)))
    index = base.long()[..., None] + offsets.long()
    inside = (index >= 0) & (index < audio.shape[1])
    values = audio.gather(1, index.clamp(0, audio.shape[1] - 1).flatten(1)).view_as(weights)
    return (values * weights * inside).sum(-1)


def periodicity(audio: torch.Tensor, f0: torch.Tensor, voiced: torch.Tensor, rate: int, frame: int = 512,
                hop: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """audio [B, T] float, f0 / voiced [B, T] (Hz, bool) -> (r [B, frames] in [-1, 1], frame voiced throughout
    [B, frames] bool); frames of `frame` samples every `hop`."""
    audio = audio.float()
    n = torch.arange(audio.shape[1], device=audio.device, dtype=torch.float32)
    earlier = n - rate / f0.float().clamp_min(1.0)  # one period back
    delayed = read_at(audio, earlier) * voiced
    current = audio * voiced

    def frame_sum(x):
        return F.avg_pool1d(x[:, None], frame, hop)[:, 0] * frame

    cross = frame_sum(current * delayed)
    energy = frame_sum(current * current) * frame_sum(delayed * delayed)
    # voiced throughout, and one period earlier too (the first period of a voiced run reads before it)
    early = voiced.gather(1, earlier.round().long().clamp(0, audio.shape[1] - 1)) & (earlier >= 0)
    all_voiced = frame_sum((voiced & early).float()) > frame - 0.5
    return cross / torch.sqrt(energy + EPS), all_voiced


class PeriodicityDistance(nn.Module):
    """(sample [B, T], recording [B, T], excitation [B, C, T] of the recording) -> mean |r(sample) - r(recording)|
    over the frames voiced throughout (0 when there are none); float32 whatever the autocast."""

    def __init__(self, sampling_rate: int, frame: int = 512, hop: int = 256):
        super().__init__()
        self.sampling_rate, self.frame, self.hop = int(sampling_rate), int(frame), int(hop)

    def forward(self, sample: torch.Tensor, recording: torch.Tensor, excitation: torch.Tensor) -> torch.Tensor:
        n = min(sample.shape[1], recording.shape[1], excitation.shape[2])
        with torch.autocast(sample.device.type, enabled=False):
            f0, voiced = f0_of_excitation(excitation[..., :n], self.sampling_rate)
            # one pass reads both (the recording without a graph): the same periods, the same interpolation
            both = torch.cat([sample[:, :n].float(), recording[:, :n].float().detach()])
            r, frames = periodicity(both, f0.repeat(2, 1), voiced.repeat(2, 1), self.sampling_rate, self.frame,
                                    self.hop)
            r_sample, r_recording = r.chunk(2)
            frames = frames[: sample.shape[0]]
            difference = (r_sample - r_recording).abs() * frames
            return difference.sum() / frames.sum().clamp_min(1)
