"""F0 tracking and the sine excitation a WaveGlow may take as extra conditioning (the source of a source-filter model).

The excitation of an utterance is [EXCITATION_CHANNELS = 2, T] float32: sin and cos of the fundamental's phase where
the speech is voiced, 0 where it is not. Its F0 comes from librosa's pYIN (`f0_track`, one frame per hop, centred
frames like the mel's):
  * training (`excitation(f0, n, hop, rate, audio=recording)`): the phase integrated from F0 is corrected to the
    recording's own fundamental (the recording times exp(-j phase), low-passed by a 23 ms Hann window, gives the
    phase offset), so the conditioning is sample-aligned with the waveform the likelihood scores;
  * inference (`excitation_of_mel`): a vocoder is given nothing but the mel, so its Griffin-Lim audio stands in
    for the recording: F0 is tracked on it, and the phase is integrated from that F0 alone, or, with K aligned
    harmonics, each harmonic's phase is aligned to the Griffin-Lim audio as training aligns it to the recording
    (Griffin-Lim's phases are consistent with the mel's magnitudes, k times the fundamental's are not).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import fftconvolve

from waveglow.audio.griffin_lim import GriffinLimVocoder

EXCITATION_CHANNELS = 2  # sin, cos of the fundamental's phase
FMIN_HZ, FMAX_HZ = 65.0, 400.0
FRAME_SECONDS, HOP_SECONDS = 1024 / 22050, 256 / 22050
ALIGN_WINDOW_SECONDS = 512 / 22050  # Hann low-pass of the demodulated recording: rejects components >= ~86 Hz away


def alignment_reach(rate: int) -> int:
    """Samples on each side that the aligned phase at a sample depends on (half the low-pass window): an excitation
    computed on a stretch this much wider than a segment equals, on the segment, the whole clip's."""
    return max(3, round(ALIGN_WINDOW_SECONDS * rate)) // 2 + 1


def f0_track(audio: np.ndarray, rate: int, hop_length: int | None = None) -> np.ndarray:
    """float audio [T] at `rate` Hz -> F0 [frames] in Hz (float64), 0 where unvoiced: librosa.pyin with Viterbi
    voicing, 65-400 Hz, frame 46 ms, centred frames every `hop_length` samples (default 11.6 ms)."""
    import librosa  # a core dependency, but slow to import (numba): only the callers that track pitch pay for it

    frame = 2 ** round(math.log2(FRAME_SECONDS * rate))
    hop = hop_length or round(HOP_SECONDS * rate)
    f0, voiced, _ = librosa.pyin(np.asarray(audio, dtype=np.float32), fmin=FMIN_HZ, fmax=FMAX_HZ, sr=rate,
                                 frame_length=frame, hop_length=hop, center=True)
    return np.where(voiced, np.nan_to_num(f0), 0.0).astype(np.float64)


def f0_per_sample(f0: np.ndarray, n_samples: int, hop_length: int,
                  first_sample: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """F0 frames [F] (Hz, 0 = unvoiced; frame i centred on sample i * hop) -> (F0 [n_samples] interpolated across
    voiced frames and held beyond them, voiced [n_samples] bool from the nearest frame), for the samples
    first_sample .. first_sample + n_samples - 1."""
    f0 = np.asarray(f0, dtype=np.float64)
    positions = (first_sample + np.arange(n_samples)) / hop_length
    nearest = np.clip(np.rint(positions).astype(np.int64), 0, max(len(f0) - 1, 0))
    voiced_frames = np.flatnonzero(f0 > 0)
    if len(f0) == 0 or len(voiced_frames) == 0:
        return np.zeros(n_samples), np.zeros(n_samples, dtype=bool)
    contour = np.interp(positions, voiced_frames, f0[voiced_frames])
    return contour, f0[nearest] > 0


def excitation(f0: np.ndarray, n_samples: int, hop_length: int, rate: int,
               audio: np.ndarray | None = None, first_sample: int = 0, harmonics: int = 1) -> np.ndarray:
    """F0 frames [F] -> excitation [2, n_samples] float32 (sin, cos of the phase; 0 where unvoiced) of the samples
    from first_sample on. With the recording `audio` [>= n_samples] of those samples the phase is aligned to its
    fundamental (training); without, it starts at 0. With the recording and harmonics K > 1: [2K, n_samples], rows
    2k, 2k + 1 the sin and cos of harmonic k + 1's own phase, each aligned to the recording like the fundamental (the
    relative phases of a voice's harmonics wander; this is the training-side view of them). A harmonic is 0 at the
    samples where k * F0 reaches the Nyquist frequency (it would alias)."""
    contour, voiced = f0_per_sample(f0, n_samples, hop_length, first_sample)
    phase = 2 * np.pi * np.cumsum(contour) / rate
    rows = [phase]
    if audio is not None:
        audio = np.asarray(audio, dtype=np.float64)[:n_samples]
        if len(audio) < n_samples:
            audio = np.pad(audio, (0, n_samples - len(audio)))
        window = np.hanning(max(3, round(ALIGN_WINDOW_SECONDS * rate)))
        rows = [phase * k + np.angle(fftconvolve(audio * np.exp(-1j * k * phase), window, mode="same"))
                for k in range(1, max(1, harmonics) + 1)]
    return np.concatenate([np.stack([np.sin(p), np.cos(p)]) * (voiced & (k * contour < rate / 2))
                           for k, p in enumerate(rows, 1)]).astype(np.float32)


def excitation_of_mel(log_mel: np.ndarray, rate: int, hop_length: int, aligned_harmonics: int = 0) -> np.ndarray:
    """A log-mel [n_mels, F] (Tacotron2's convention) -> excitation [2, F * hop] from its Griffin-Lim audio's F0 (phase
    integrated from 0), or with aligned_harmonics K > 1 [2K, F * hop], each harmonic aligned to that audio."""
    n_samples = log_mel.shape[-1] * hop_length
    audio = GriffinLimVocoder(sampling_rate=rate, hop_length=hop_length).mel_to_audio(np.asarray(log_mel))
    audio = np.pad(audio, (0, max(0, n_samples - len(audio))))[:n_samples]
    f0 = f0_track(audio, rate, hop_length)[: log_mel.shape[-1]]
    if aligned_harmonics > 1:
        return excitation(f0, n_samples, hop_length, rate, audio=audio, harmonics=aligned_harmonics)
    return excitation(f0, n_samples, hop_length, rate)
