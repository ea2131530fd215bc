"""Mel-envelope projection: rescale a waveform's STFT so that its mel matches a target mel, keeping its phase and
its fine structure inside each band.

One iteration: STFT (Hann, centred) -> the mel of its magnitudes -> per band, gain = target / present (clamped) ->
per bin, the filter-weighted geometric mean of its bands' gains (bins no filter covers keep gain 1: the mel says
nothing about them) -> inverse STFT. Repeated, the output's mel converges on the target while the phase, and the
harmonic structure the mel averages away, stay the waveform's own. A vocoder whose samples carry the right phase
and harmonics but a rough envelope (an under-trained flow) gets the envelope the mel asks for.
"""
from __future__ import annotations

import torch

from waveglow.audio.features import MelConfig, mel_filterbank

MAX_GAIN = 30.0  # per band and iteration (about 30 dB): silence in the sample is not blown up into noise at once
FLOOR = 1e-5  # the mel's own clamp inside the log (Tacotron2's dynamic_range_compression)


class MelEnvelopeProjection:
    """project(audio [B, T] or [T] float, log_mel [B, n_mels, F] or [n_mels, F] natural-log, iterations) -> audio of
    the same shape whose mel approaches log_mel. STFT settings: those the mel was made with (defaults Tacotron2's
    22050 Hz, n_fft 1024, hop 256, 0-8000 Hz, Slaney filterbank)."""

    def __init__(self, sampling_rate: int = 22050, n_fft: int = 1024, hop_length: int = 256, fmin: float = 0.0,
                 fmax: float = 8000.0):
        self.sampling_rate, self.n_fft, self.hop_length = int(sampling_rate), int(n_fft), int(hop_length)
        self.fmin, self.fmax = float(fmin), float(fmax)
        self._filterbanks: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def for_mel(cls, mel: MelConfig) -> "MelEnvelopeProjection":
        """The projection onto the features `mel` describes (its rate, n_fft, hop, fmin, fmax; None: Nyquist)."""
        fmax = mel.sampling_rate / 2 if mel.fmax is None else mel.fmax
        return cls(mel.sampling_rate, mel.n_fft, mel.hop_length, mel.fmin, fmax)

    def _filters(self, n_mels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(filterbank [n_mels, n_fft // 2 + 1], bin <- band weights [n_fft // 2 + 1, n_mels], rows sum to 1 or 0)."""
        if n_mels not in self._filterbanks:
            bank = mel_filterbank(self.sampling_rate, self.n_fft, n_mels, self.fmin, self.fmax).float()
            weights = (bank / bank.sum(0, keepdim=True).clamp_min(1e-12)).T.contiguous()
            self._filterbanks[n_mels] = bank, weights
        return self._filterbanks[n_mels]

    @torch.no_grad()
    def project(self, audio: torch.Tensor, log_mel: torch.Tensor, iterations: int) -> torch.Tensor:
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        squeeze = audio.dim() == 1
        audio, log_mel = (audio[None], log_mel[None]) if squeeze else (audio, log_mel)
        if audio.dim() != 2 or log_mel.dim() != 3 or log_mel.shape[0] != audio.shape[0]:
            raise ValueError(f"audio [B, T] and log_mel [B, n_mels, F] expected, got {list(audio.shape)} and "
                             f"{list(log_mel.shape)}")
        if iterations == 0:
            return audio[0] if squeeze else audio
        bank, weights = (t.to(audio.device) for t in self._filters(log_mel.shape[1]))
        window = torch.hann_window(self.n_fft, device=audio.device)
        x = audio.float()
        target = log_mel.float().exp().clamp_min(FLOOR)
        for _ in range(iterations):
            spec = torch.stft(x, self.n_fft, self.hop_length, window=window, center=True, pad_mode="reflect",
                              return_complex=True)  # [B, bins, frames]
            frames = min(spec.shape[2], target.shape[2])
            present = torch.matmul(bank, spec.abs()[..., :frames]).clamp_min(FLOOR)
            log_gain = (target[..., :frames] / present).clamp(1 / MAX_GAIN, MAX_GAIN).log()
            gain = torch.matmul(weights, log_gain).exp()  # bins outside every filter: exp(0) = 1
            spec = torch.cat([spec[..., :frames] * gain, spec[..., frames:]], dim=2)
            x = torch.istft(spec, self.n_fft, self.hop_length, window=window, center=True, length=x.shape[1])
        x = x.to(audio.dtype)
        return x[0] if squeeze else x
