"""Exact negative log-likelihood of whole utterances under a WaveGlow, in bits per audio sample.

The model is a density on audio x in [-1, 1] (int16 / 32768), continuous. For one utterance of N samples
(trimmed to a multiple of n_group, at most n_group - 1 samples dropped) with z, logdet = model(x, mel(x)):

    NLL(x) = sum_i z_i^2 / (2 sigma^2) + N * 0.5 * log(2 pi sigma^2) - logdet        [nats]

i.e. -log N(z; 0, sigma^2 I) - log|det dz/dx| (`waveglow.flows.gaussian.StandardNormal.nll`), the constant
included (NVIDIA's training loss leaves it out).
Reported: bits per sample = sum over utterances of NLL / (sum of N) / ln 2, a sample-weighted mean.

16-bit view: an int16 value k covers a bin of width 2^-15 in the [-1, 1] scaling, so
    P(k) ~= p(k / 32768) * 2^-15   ->   bits per 16-bit sample = bits per sample + 15.
That is exact only as the density-times-bin-width approximation; with `dequantize=True` uniform noise in
[0, 2^-15) is added to each sample first, which makes it an upper bound (in expectation) on the discrete NLL.
A negative value in continuous bits is normal: a density may exceed 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from waveglow.audio.features import MelSpectrogram, load_wav
from waveglow.flows.gaussian import LN2, StandardNormal
from waveglow.vocoder.model import WaveGlow
from waveglow_data.ljspeech import Utterance

INT16_BIN_BITS = 15.0  # -log2(2^-15): the width of one int16 step in [-1, 1] scaling


@torch.no_grad()
def utterance_nll(model: WaveGlow, audio: torch.Tensor, mel: torch.Tensor, sigma: float) -> tuple[float, int]:
    """(NLL in nats of the whole utterance, samples scored). audio [T] in [-1, 1], mel [n_mel, >= T // hop + 1]."""
    n = audio.shape[-1] - audio.shape[-1] % model.config.n_group
    if n <= 0:
        raise ValueError(f"utterance of {audio.shape[-1]} samples is shorter than n_group={model.config.n_group}")
    z, logdet = model(audio[:n].unsqueeze(0), mel.unsqueeze(0))
    # Reduce in float64: sums over ~10^5 samples of terms of similar size lose digits in float32.
    return float(StandardNormal(sigma).nll(z, logdet, dtype=torch.float64)), n


@dataclass
class NLLResult:
    """Held-out likelihood: bits per sample (continuous density, audio in [-1, 1]) and per 16-bit sample."""

    bits_per_sample: float
    n_samples: int
    n_utterances: int
    sigma: float
    per_utterance: dict[str, float] = field(default_factory=dict)  # utt_id -> bits per sample

    @property
    def bits_per_16bit_sample(self) -> float:
        return self.bits_per_sample + INT16_BIN_BITS

    @property
    def nats_per_sample(self) -> float:
        return self.bits_per_sample * LN2

    def to_dict(self) -> dict:
        return {"bits_per_sample": self.bits_per_sample, "bits_per_16bit_sample": self.bits_per_16bit_sample,
                "nats_per_sample": self.nats_per_sample, "n_samples": self.n_samples,
                "n_utterances": self.n_utterances, "sigma": self.sigma, "per_utterance": self.per_utterance}


@dataclass
class ScoredUtterance:
    utt_id: str
    audio: torch.Tensor  # [T] float32 in [-1, 1]
    mel: torch.Tensor  # [n_mel, 1 + T // hop] of the whole clip


class HeldOutSet:
    """Whole held-out clips with their mels, loaded once (kept in memory: a minute of audio is ~5 MB)."""

    def __init__(self, items: Sequence[ScoredUtterance], sampling_rate: int):
        self.items = list(items)
        self.sampling_rate = sampling_rate

    @classmethod
    def load(cls, utterances: Sequence[Utterance], mel: MelSpectrogram, max_seconds: float | None = None,
             resample: bool = False) -> "HeldOutSet":
        """Clips in list order while their total stays within `max_seconds` (at least one clip)."""
        items, total = [], 0.0
        for utt in utterances:
            audio, _ = load_wav(utt.audio_path, sampling_rate=mel.sampling_rate, resample=resample)
            seconds = audio.shape[0] / mel.sampling_rate
            if items and max_seconds is not None and total + seconds > max_seconds:
                break
            tensor = torch.from_numpy(audio)
            with torch.no_grad():
                items.append(ScoredUtterance(utt.utt_id, tensor, mel(tensor)))
            total += seconds
        return cls(items, mel.sampling_rate)

    @property
    def seconds(self) -> float:
        return sum(item.audio.shape[0] for item in self.items) / self.sampling_rate

    def __len__(self) -> int:
        return len(self.items)

    @torch.no_grad()
    def evaluate(self, model: WaveGlow, sigma: float, dequantize: bool = False, seed: int = 0) -> NLLResult:
        """Exact NLL of every clip (see module docstring). Model weights stay as they are (fp32 or fp64)."""
        was_training = model.training
        model.eval()
        device, dtype = model.upsample.weight.device, model.upsample.weight.dtype
        generator = torch.Generator().manual_seed(seed)
        total_nats, total_n, per_utt = 0.0, 0, {}
        try:
            for item in self.items:
                audio = item.audio
                if dequantize:
                    audio = audio + torch.rand(audio.shape, generator=generator) * 2.0**-INT16_BIN_BITS
                nats, n = utterance_nll(model, audio.to(device, dtype), item.mel.to(device, dtype), sigma)
                total_nats += nats
                total_n += n
                per_utt[item.utt_id] = nats / n / LN2
        finally:
            model.train(was_training)
        return NLLResult(bits_per_sample=total_nats / total_n / LN2, n_samples=total_n,
                         n_utterances=len(self.items), sigma=sigma, per_utterance=per_utt)
