"""A directory of precomputed whole-clip log-mels, one `.npy` per clip.

Layout:
    <dir>/mel_config.json   the MelSpectrogram settings the cache was made with (checked on every open)
    <dir>/<utt_id>.npy      float32 [n_mels, 1 + n_samples // hop_length], the mel of the whole clip

Files are written to a temporary name in the same directory and renamed into place, so a reader (another
DataLoader worker, a crashed run) never sees a half-written file. A cached mel whose frame count does not match
its audio (the clip was replaced) or that cannot be read is recomputed: the cache is derived data.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from waveglow.audio.features import MelSpectrogram
from waveglow.common.atomic import atomic_write
from waveglow.common.errors import DataError

CONFIG_NAME = "mel_config.json"
CACHE_FORMAT = 1


def mel_config(mel: MelSpectrogram) -> dict:
    """Everything that changes the numbers a MelSpectrogram produces (and the cache format version)."""
    return {"format": CACHE_FORMAT, **mel.config.spectrogram_settings(), "clamp_min": mel.clamp_min,
            "compression_factor": mel.compression_factor, "stft_backend": mel.stft_backend}


class MelCache:
    """Whole-clip log-mels on disk, computed on first use with `mel` (a CPU MelSpectrogram)."""

    def __init__(self, directory: str | os.PathLike, mel: MelSpectrogram):
        self.directory = Path(directory)
        self.mel = mel
        self.directory.mkdir(parents=True, exist_ok=True)
        self._check_config()

    def _check_config(self) -> None:
        wanted = mel_config(self.mel)
        config_path = self.directory / CONFIG_NAME
        if not config_path.exists():
            atomic_write(config_path, lambda f: f.write(json.dumps(wanted, indent=1).encode("utf-8")))
            return
        try:
            found = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"unreadable mel cache config {config_path}: {exc}") from exc
        if found != wanted:
            changed = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
            raise DataError(f"mel cache {self.directory} was made with different mel settings "
                            f"({', '.join(changed)}); use another cache directory or delete this one")

    def path(self, utt_id: str) -> Path:
        return self.directory / f"{utt_id}.npy"

    def load(self, utt_id: str, n_samples: int) -> np.ndarray | None:
        """The cached mel (memory-mapped, read-only) if present and matching `n_samples` of audio, else None."""
        path = self.path(utt_id)
        if not path.exists():
            return None
        try:
            cached = np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            return None
        expected = (self.mel.n_mels, self.mel.num_frames(n_samples))
        return cached if cached.shape == expected and cached.dtype == np.float32 else None

    def compute(self, audio: np.ndarray, source: Path | str) -> np.ndarray:
        """Log-mel of a whole clip: float32 [T] in [-1, 1] -> float32 [n_mels, 1 + T // hop]."""
        if audio.shape[0] <= self.mel.n_fft // 2:
            raise DataError(f"{source}: clip too short for a mel ({audio.shape[0]} samples, need more than "
                            f"{self.mel.n_fft // 2})")
        with torch.no_grad():
            return self.mel(torch.from_numpy(np.ascontiguousarray(audio))).numpy()

    def store(self, utt_id: str, mel: np.ndarray) -> Path:
        path = self.path(utt_id)
        atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(mel, dtype=np.float32)))
        return path

    def get(self, utt_id: str, audio: np.ndarray, source: Path | str) -> np.ndarray:
        """Cached mel of this clip, computing and storing it first if needed. [n_mels, 1 + T // hop]."""
        cached = self.load(utt_id, audio.shape[0])
        if cached is not None:
            return cached
        mel = self.compute(audio, source)
        self.store(utt_id, mel)
        return mel
