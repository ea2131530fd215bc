"""16-bit PCM WAV output: clipping with a count, and atomic writes (temp file in the same folder, then rename)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from waveglow.audio.features import MAX_WAV_VALUE
from waveglow.common.atomic import atomic_path


def to_pcm16(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """float audio [T] (nominally [-1, 1]) -> (int16 [T], number of samples outside [-1, 1] that were clipped).

    Scaling is x * 32768 rounded, the inverse of the loaders' int16 / 32768; +1.0 lands on 32767 (clipped).
    """
    audio = np.asarray(audio, dtype=np.float64)
    n_clipped = int(np.count_nonzero(np.abs(audio) > 1.0))
    scaled = np.rint(np.clip(audio, -1.0, 1.0) * MAX_WAV_VALUE)
    return np.clip(scaled, -MAX_WAV_VALUE, MAX_WAV_VALUE - 1).astype(np.int16), n_clipped


def write_wav_atomic(path: str | os.PathLike, audio: np.ndarray, sampling_rate: int) -> Path:
    """Write mono 16-bit PCM: int16 samples [T] as they are, float [T] in [-1, 1] through `to_pcm16`. Readers
    never see a partial file (waveglow.atomic: temp file, fsync, rename); the folder is created if needed.
    Write failures (a full disk included) raise OSError; nothing is left behind."""
    import soundfile as sf

    if not 1 <= int(sampling_rate) < 2 ** 31:  # the WAV header field is 32 bits
        raise ValueError(f"{path}: sampling rate {sampling_rate} cannot be written to a WAV file")
    audio = np.asarray(audio)
    pcm16 = audio if audio.dtype == np.int16 else to_pcm16(audio)[0]
    with atomic_path(path) as tmp:
        try:
            sf.write(str(tmp), pcm16, int(sampling_rate), subtype="PCM_16", format="WAV")
        except sf.SoundFileError as exc:  # libsndfile reports a full disk as a "System error"
            raise OSError(f"cannot write {path}: {str(exc).splitlines()[0]}") from None
    return Path(path)
