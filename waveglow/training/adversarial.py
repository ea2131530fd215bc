"""Discriminators for an adversarial term on inverse-flow samples (HiFi-GAN's recipe, Kong et al. 2020, sized down).

Multi-period sub-discriminators look at the audio folded into [T / p, p] columns (periods 2, 3, 5, 7, 11: the
pitch-period structure a flow trained on likelihood alone lacks); multi-scale ones at the waveform and its 2x / 4x
average-pooled versions. Least-squares GAN losses and L1 feature matching, as HiFi-GAN uses them. They exist only
during training: the exported vocoder is the WaveGlow alone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEAK = 0.1


def _scores_and_features(convs: nn.ModuleList, post: nn.Module, x: torch.Tensor):
    """Leaky-ReLU conv stack then the scoring conv: (scores [B, N], every layer's output)."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LEAK)
        features.append(x)
    x = post(x)
    features.append(x)
    return x.flatten(1), features


class PeriodDiscriminator(nn.Module):
    """audio [B, T] -> (scores [B, N], features): 2-D convs over the [T / period, period] folding."""

    def __init__(self, period: int, channels=(16, 64, 128, 128)):
        super().__init__()
        self.period = period
        sizes = (1, *channels)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, (5, 1), (3, 1), padding=(2, 0)) for a, b in zip(sizes, sizes[1:]))
        self.convs.append(nn.Conv2d(channels[-1], channels[-1], (5, 1), 1, padding=(2, 0)))
        self.post = nn.Conv2d(channels[-1], 1, (3, 1), 1, padding=(1, 0))

    def forward(self, audio: torch.Tensor):
        batch, samples = audio.shape
        if samples % self.period:
            audio = F.pad(audio, (0, self.period - samples % self.period), mode="reflect")
        return _scores_and_features(self.convs, self.post, audio.reshape(batch, 1, -1, self.period))


class ScaleDiscriminator(nn.Module):
    """audio [B, T] -> (scores [B, N], features): strided, grouped 1-D convs (MelGAN / HiFi-GAN MSD, narrower)."""

    def __init__(self, channels: int = 64):
        super().__init__()
        c = channels
        self.convs = nn.ModuleList([
            nn.Conv1d(1, c // 4, 15, 1, padding=7),
            nn.Conv1d(c // 4, c, 41, 4, groups=4, padding=20),
            nn.Conv1d(c, 2 * c, 41, 4, groups=16, padding=20),
            nn.Conv1d(2 * c, 2 * c, 41, 4, groups=16, padding=20),
            nn.Conv1d(2 * c, 2 * c, 5, 1, padding=2),
        ])
        self.post = nn.Conv1d(2 * c, 1, 3, 1, padding=1)

    def forward(self, audio: torch.Tensor):
        return _scores_and_features(self.convs, self.post, audio.unsqueeze(1))


class Discriminators(nn.Module):
    """All sub-discriminators: forward(audio [B, T]) -> list of (scores, features), one per sub-discriminator."""

    def __init__(self, periods=(2, 3, 5, 7, 11), n_scales: int = 3):
        super().__init__()
        self.period_discriminators = nn.ModuleList(PeriodDiscriminator(p) for p in periods)
        self.scale_discriminators = nn.ModuleList(ScaleDiscriminator() for _ in range(n_scales))

    def forward(self, audio: torch.Tensor):
        outputs = [d(audio) for d in self.period_discriminators]
        for i, d in enumerate(self.scale_discriminators):
            scaled = audio if i == 0 else F.avg_pool1d(audio.unsqueeze(1), 2**i, 2**i, padding=2 ** (i - 1)).squeeze(1)
            outputs.append(d(scaled))
        return outputs


def discriminator_loss(real, fake) -> torch.Tensor:
    """Least squares: real scores towards 1, fake towards 0 (summed over sub-discriminators)."""
    return sum(((1 - r.float()) ** 2).mean() + (f.float() ** 2).mean() for (r, _), (f, _) in zip(real, fake))


def generator_loss(fake) -> torch.Tensor:
    """Least squares: fake scores towards 1."""
    return sum(((1 - f.float()) ** 2).mean() for f, _ in fake)


def feature_matching_loss(real, fake) -> torch.Tensor:
    """Mean L1 between the discriminators' features of the recording (held fixed) and of the sample."""
    return sum((a.detach().float() - b.float()).abs().mean()
               for (_, real_features), (_, fake_features) in zip(real, fake)
               for a, b in zip(real_features, fake_features))
