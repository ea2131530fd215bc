"""Mel-cepstral distortion (MCD) between a reference recording and a time-aligned resynthesis of it.

Pinned analysis (recorded in every results file as `MCD_ANALYSIS`):
  * audio at its own rate (22050 Hz for LJSpeech), clipped to [-1, 1], both signals cut to the shorter length;
  * log-mel: waveglow.audio.MelSpectrogram with n_fft 1024, win 1024, hop 256, periodic Hann, 80 Slaney mel bands
    0..8000 Hz (capped at Nyquist), natural log of max(magnitude, 1e-5), torch.stft backend;
  * cepstrum: DCT-II (orthonormal) over the mel axis of each frame; coefficients c1..c13 kept, c0 (energy) dropped;
  * frames paired one to one (no DTW: copy-synthesis is time-aligned with its reference), all frames counted;
  * MCD per frame = (10 / ln 10) * sqrt(2 * sum_d (c_d - c'_d)^2) dB, averaged over frames.

This is the standard MCD formula on MFCC-style cepstra of the natural-log mel magnitude, not SPTK mel-generalised
cepstra, so absolute values are comparable between rows of one results file, not with published MCD figures.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from waveglow.audio.features import MelSpectrogram

N_FFT = 1024
HOP_LENGTH = 256
N_MELS = 80
FMAX_HZ = 8000.0
FIRST_COEFFICIENT, LAST_COEFFICIENT = 1, 13  # c1..c13 inclusive; c0 excluded
MCD_SCALE_DB = 10.0 / math.log(10.0) * math.sqrt(2.0)

MCD_ANALYSIS = {
    "features": "DCT-II (ortho) of natural-log Slaney mel magnitude, c1..c13 (c0 excluded)",
    "n_fft": N_FFT, "win_length": N_FFT, "hop_length": HOP_LENGTH, "n_mels": N_MELS, "fmin_hz": 0.0,
    "fmax_hz": FMAX_HZ, "log_floor": 1e-5, "alignment": "one-to-one frames after cutting to the shorter signal",
    "formula": "(10/ln10) * sqrt(2 * sum_d (c_d - c'_d)^2), mean over all frames, dB",
}

_ANALYSERS: dict[int, torch.nn.Module] = {}


def _log_mel_analyser(rate: int):
    if rate not in _ANALYSERS:
        _ANALYSERS[rate] = MelSpectrogram(sampling_rate=rate, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=N_FFT,
                                          n_mels=N_MELS, fmin=0.0, fmax=min(FMAX_HZ, rate / 2),
                                          stft_backend="torch")
    return _ANALYSERS[rate]


def dct_ii_orthonormal(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix [n, n] (float64): cepstrum = matrix @ log_mel."""
    k = np.arange(n)[:, None]
    m = np.arange(n)[None, :]
    matrix = np.cos(np.pi * k * (2 * m + 1) / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix


def mel_cepstrum(audio: np.ndarray, rate: int) -> np.ndarray:
    """float audio [T] -> cepstra [frames, 13] (c1..c13 of the pinned analysis above), float64."""
    clipped = torch.from_numpy(np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0))
    with torch.no_grad():
        log_mel = _log_mel_analyser(rate)(clipped).double().numpy()  # [n_mels, frames]
    cepstra = dct_ii_orthonormal(N_MELS) @ log_mel
    return cepstra[FIRST_COEFFICIENT:LAST_COEFFICIENT + 1].T


def mel_cepstral_distortion(reference: np.ndarray, synthesized: np.ndarray, rate: int) -> float:
    """Mean MCD in dB between two time-aligned signals at `rate` Hz (0 for identical signals)."""
    n = min(len(reference), len(synthesized))
    if n == 0:
        raise ValueError("MCD of an empty signal")
    ref, syn = mel_cepstrum(reference[:n], rate), mel_cepstrum(synthesized[:n], rate)
    per_frame = MCD_SCALE_DB * np.sqrt(((ref - syn) ** 2).sum(axis=1))
    return float(per_frame.mean())
