"""Audio features shared by WaveGlow and Tacotron2: Tacotron2's log-mel spectrogram and a WAV/FLAC loader.

`MelSpectrogram` reproduces NVIDIA's `TacotronSTFT.mel_spectrogram` (tacotron2 @ 185cd24) bit for bit on CPU:

    audio [B, T] in [-1, 1]  (float(int16) / 32768)
      -> reflect-pad by n_fft // 2 on both sides
      -> STFT magnitude (power 1), periodic Hann window, frames = 1 + T // hop_length
      -> Slaney mel filterbank (librosa.filters.mel, norm='slaney', float32)
      -> natural log of max(mel, 1e-5)                                  -> [B, n_mels, frames]

STFT backends (`stft_backend=`):
  * "conv" (default): a strided conv1d with a fixed float32 basis of real and imaginary DFT rows times the window,
    the way NVIDIA's STFT class computes it. Same op order, so identical numbers (max abs difference 0.0 against
    NVIDIA's golden mel on CPU; a batched call may differ from one-clip calls in the last float bits when the
    conv library picks another algorithm for the other shape).
  * "torch": `torch.stft(center=True, pad_mode='reflect')`, an FFT: O(n log n) per frame instead of O(n^2).
    Against NVIDIA's numbers it differs by up to ~8e-4 in near-silent bins next to the 1e-5 floor and ~1.5e-5
    where log-mel > -5. Neither is "wrong": against a float64 reference, conv errs by <= 1.9e-4 overall and
    1.6e-5 above -5, torch.stft by <= 7.7e-4 and 6.3e-6. Fine for training; use "conv" when outputs must match
    NVIDIA-made mels (e.g. mels fed to a published WaveGlow checkpoint, or Tacotron2 training targets).

Windows: both are periodic Hann, but rounded differently. NVIDIA's STFT class builds its window with scipy
(float64, then cast to float32); `torch.hann_window` evaluates the cosine in float32 and differs in the last bit
for ~2/3 of the samples (up to 1.8e-7). The "conv" backend uses the float64 route (needed for bit-exact mels);
the "torch" backend uses `torch.hann_window`, which is what `torch.stft` users (and the golden `mel_torch_stft`)
pair it with, so each backend reproduces its own reference exactly.
"""
from __future__ import annotations

import dataclasses
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import librosa
import numpy as np
import torch
import torch.nn.functional as F

from waveglow.common.config_objects import build_config
from waveglow.common.errors import ConfigError, DataError

MAX_WAV_VALUE = 32768.0  # int16 full scale: NVIDIA feeds float(int16) / 32768 to every model


# --------------------------------------------------------------------------------------------------------------
# log compression (NVIDIA calls the pair spectral_normalize / spectral_de_normalize)


def dynamic_range_compression(magnitudes: torch.Tensor, C: float = 1.0, clip_val: float = 1e-5) -> torch.Tensor:
    """Linear mel magnitudes -> natural-log mel: log(max(x, clip_val) * C). Any shape."""
    return torch.log(torch.clamp(magnitudes, min=clip_val) * C)


def dynamic_range_decompression(log_magnitudes: torch.Tensor, C: float = 1.0) -> torch.Tensor:
    """Inverse of `dynamic_range_compression` (above the clamp floor): exp(x) / C. Any shape."""
    return torch.exp(log_magnitudes) / C


def spectral_normalize(magnitudes: torch.Tensor, clip_val: float = 1e-5) -> torch.Tensor:
    """Tacotron2's name for `dynamic_range_compression` with C = 1."""
    return dynamic_range_compression(magnitudes, C=1.0, clip_val=clip_val)


def spectral_de_normalize(log_magnitudes: torch.Tensor) -> torch.Tensor:
    """Tacotron2's name for `dynamic_range_decompression` with C = 1: log-mel -> linear mel magnitudes."""
    return dynamic_range_decompression(log_magnitudes, C=1.0)


# --------------------------------------------------------------------------------------------------------------
# fixed tensors


def periodic_hann_window(win_length: int, n_fft: int, float64_cosine: bool = True) -> torch.Tensor:
    """Periodic Hann window of `win_length` samples, zero-padded to `n_fft` (centred, librosa's pad_center rule).

    float64_cosine: evaluate in float64 and round (scipy's values, NVIDIA's STFT); False: `torch.hann_window`
    (float32 arithmetic). See the module docstring. Shape [n_fft], float32.
    """
    if not 0 < win_length <= n_fft:
        raise ValueError(f"win_length must be in 1..n_fft={n_fft}, got {win_length}")
    if float64_cosine:
        n = np.arange(win_length, dtype=np.float64)
        window = torch.from_numpy((0.5 - 0.5 * np.cos(2.0 * math.pi * n / win_length)).astype(np.float32))
    else:
        window = torch.hann_window(win_length, periodic=True, dtype=torch.float32)
    left = (n_fft - win_length) // 2
    return F.pad(window, (left, n_fft - win_length - left))


def dft_conv_basis(n_fft: int, window: torch.Tensor) -> torch.Tensor:
    """conv1d weights computing one-sided DFT real and imaginary parts of windowed frames.

    Rows 0..n_fft//2 are cos(2 pi k n / N), rows n_fft//2+1.. are -sin(2 pi k n / N), each cast to float32 and
    then multiplied by the float32 window (that rounding order is what makes the result bit-exact).
    Shape [2 * (n_fft // 2 + 1), 1, n_fft], float32.
    """
    n_bins = n_fft // 2 + 1
    phase = 2.0 * math.pi * np.outer(np.arange(n_bins), np.arange(n_fft)) / n_fft
    rows = np.concatenate([np.cos(phase), -np.sin(phase)]).astype(np.float32)
    return torch.from_numpy(rows)[:, None, :] * window


def mel_filterbank(sampling_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> torch.Tensor:
    """Slaney-scale, area-normalised mel filters (librosa, norm='slaney'). Shape [n_mels, n_fft // 2 + 1], float32."""
    basis = librosa.filters.mel(sr=sampling_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                htk=False, norm="slaney")
    return torch.from_numpy(np.asarray(basis, dtype=np.float32))


# --------------------------------------------------------------------------------------------------------------
# the module


@dataclass(frozen=True)
class MelConfig:
    """The feature contract between audio and a vocoder: which log-mel a model is fed (NVIDIA's TacotronSTFT
    defaults). Written into every exported config.json ("mel") and read back with the model.

    Units: sampling_rate in Hz; n_fft, win_length, hop_length in samples; fmin / fmax in Hz (fmax None: Nyquist);
    log_base "e": natural log of max(mel, 1e-5), the only convention our models use (others: mel_adapter).

    The one owner of these fields and their names: ours (`to_dict`, the exports' "mel"; `spectrogram_settings`,
    MelSpectrogram's arguments) and NVIDIA's (`to_nvidia` / `from_nvidia`: WaveGlow's data_config, Tacotron2's
    hparams.py and our training config's "data" section)."""

    sampling_rate: int = 22050
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = 8000.0
    log_base: str = "e"

    #: our field -> its name in NVIDIA's configs (the same in WaveGlow's data_config and Tacotron2's hparams.py,
    #: in hparams.py's order; WaveGlow keeps n_mel_channels in its model config instead)
    NVIDIA_NAMES = MappingProxyType({"sampling_rate": "sampling_rate", "n_fft": "filter_length",
                                     "hop_length": "hop_length", "win_length": "win_length",
                                     "n_mels": "n_mel_channels", "fmin": "mel_fmin", "fmax": "mel_fmax"})

    def __post_init__(self):
        self._check(dataclasses.asdict(self), {}, "mel ")

    @staticmethod
    def _check(values: dict[str, Any], names: Mapping[str, str], prefix: str) -> None:
        """ConfigError unless `values` (every field, ours names) are a valid contract: positive integer sizes,
        numbers 0 <= fmin < fmax <= sampling_rate / 2, log_base "e". Messages call field f `names.get(f, f)`."""
        names = {field_name: names.get(field_name, field_name) for field_name in values}
        for field_name in ("sampling_rate", "n_fft", "win_length", "hop_length", "n_mels"):
            value = values[field_name]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{prefix}'{names[field_name]}' must be a positive integer, got {value!r}")
        fmin, fmax = values["fmin"], values["fmax"]
        for field_name, value in (("fmin", fmin), ("fmax", fmax)):
            if (value is not None or field_name == "fmin") and (isinstance(value, bool)
                                                                or not isinstance(value, (int, float))):
                raise ConfigError(f"{prefix}'{names[field_name]}' must be a number"
                                  f"{' or null (Nyquist)' if field_name == 'fmax' else ''}, got {value!r}")
        if values["log_base"] != "e":
            raise ConfigError(f"{prefix}'log_base' must be \"e\" (natural log), got {values['log_base']!r}")
        nyquist = values["sampling_rate"] / 2
        if not 0 <= fmin < (nyquist if fmax is None else fmax) or fmax is not None and fmax > nyquist:
            low, high = names["fmin"], names["fmax"]
            raise ConfigError(f"mel needs 0 <= {low} < {high} <= sampling_rate / 2 = {nyquist}, got {low}={fmin}, "
                              f"{high}={fmax}")

    def to_dict(self) -> dict[str, Any]:
        """Ours names, every field (the exports' "mel" object)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str = "mel") -> "MelConfig":
        """From `to_dict`'s object; a missing field takes its default, an unknown one is a ConfigError naming it."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        return build_config(cls, data, source)

    @classmethod
    def nvidia_names(cls, with_n_mels: bool = True) -> tuple[str, ...]:
        """NVIDIA's names of the fields `to_nvidia` writes (hparams.py's order)."""
        return tuple(nvidia for ours, nvidia in cls.NVIDIA_NAMES.items() if with_n_mels or ours != "n_mels")

    def to_nvidia(self, with_n_mels: bool = True) -> dict[str, Any]:
        """These settings under NVIDIA's names (filter_length, n_mel_channels, mel_fmin, ...; no log_base, NVIDIA's
        is always e). with_n_mels False: WaveGlow's data_config, whose n_mel_channels is in the model config."""
        return {nvidia: getattr(self, ours) for ours, nvidia in self.NVIDIA_NAMES.items()
                if with_n_mels or ours != "n_mels"}

    @classmethod
    def from_nvidia(cls, data: Mapping[str, Any], n_mels: int | None = None, source: str = "mel") -> "MelConfig":
        """From NVIDIA-named settings (a data_config, Tacotron2's hparams, our training config's "data"). Keys
        outside `NVIDIA_NAMES` are left to the caller (those configs hold more); a missing one takes its default.
        n_mels: the model's n_mel_channels, for a data_config (which has none). Errors use NVIDIA's names."""
        values = {ours: data[nvidia] for ours, nvidia in cls.NVIDIA_NAMES.items() if nvidia in data}
        if n_mels is not None:
            if "n_mel_channels" in data and data["n_mel_channels"] != n_mels:
                raise ConfigError(f"{source}: n_mel_channels {data['n_mel_channels']!r} differs from the model's "
                                  f"{n_mels}")
            values["n_mels"] = n_mels
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        try:
            cls._check({**defaults, **values}, cls.NVIDIA_NAMES, "")
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        return cls(**values)

    @classmethod
    def from_fields(cls, settings: Any) -> "MelConfig":
        """From an object holding every field but log_base as attributes of ours names (a MelSpectrogram)."""
        return cls(**{name: getattr(settings, name) for name in cls.spectrogram_names()})

    @classmethod
    def spectrogram_names(cls) -> tuple[str, ...]:
        """Ours names of the fields that are `MelSpectrogram` arguments (all but log_base)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "log_base")

    def spectrogram_settings(self) -> dict[str, Any]:
        """`MelSpectrogram` keyword arguments computing these features: {sampling_rate, n_fft, win_length, ...}."""
        return {name: getattr(self, name) for name in self.spectrogram_names()}

    def mel_spectrogram(self, **options) -> "MelSpectrogram":
        """The MelSpectrogram computing these features (options: stft_backend, check_range, ...)."""
        return MelSpectrogram(**self.spectrogram_settings(), **options)


class MelSpectrogram(torch.nn.Module):
    """Tacotron2 / WaveGlow log-mel spectrogram (NVIDIA TacotronSTFT defaults).

    forward(audio): audio [B, T] or [T], float in [-1, 1] -> log-mel [B, n_mels, 1 + T // hop_length]
    (or [n_mels, frames] for 1-D input). Natural log, floor log(clamp_min) = -11.5129 by default.
    The fixed tensors are non-persistent buffers: they follow `.to(device)` but stay out of state_dicts.
    """

    STFT_BACKENDS = ("conv", "torch")

    def __init__(self, sampling_rate: int = 22050, n_fft: int = 1024, hop_length: int = 256,
                 win_length: int | None = 1024, n_mels: int = 80, fmin: float = 0.0, fmax: float | None = 8000.0,
                 clamp_min: float = 1e-5, compression_factor: float = 1.0, stft_backend: str = "conv",
                 check_range: bool = True):
        super().__init__()
        win_length = n_fft if win_length is None else win_length
        if stft_backend not in self.STFT_BACKENDS:
            raise ValueError(f"stft_backend must be one of {self.STFT_BACKENDS}, got {stft_backend!r}")
        if hop_length <= 0 or n_fft <= 0 or n_mels <= 0:
            raise ValueError("n_fft, hop_length and n_mels must be positive")
        nyquist = sampling_rate / 2
        if fmax is not None and not fmin < fmax <= nyquist:
            raise ValueError(f"need fmin < fmax <= sampling_rate / 2 = {nyquist}, got fmin={fmin}, fmax={fmax}")
        if clamp_min <= 0:
            raise ValueError(f"clamp_min must be > 0 (it is the floor inside the log), got {clamp_min}")
        self.sampling_rate = int(sampling_rate)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.win_length = int(win_length)
        self.n_mels = int(n_mels)
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        self.clamp_min = float(clamp_min)
        self.compression_factor = float(compression_factor)
        self.stft_backend = stft_backend
        self.check_range = check_range

        window = periodic_hann_window(self.win_length, self.n_fft, float64_cosine=stft_backend == "conv")
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("mel_basis", mel_filterbank(self.sampling_rate, self.n_fft, self.n_mels,
                                                         self.fmin, self.fmax), persistent=False)
        if stft_backend == "conv":
            self.register_buffer("dft_basis", dft_conv_basis(self.n_fft, window), persistent=False)

    @property
    def config(self) -> MelConfig:
        """The feature contract these settings compute."""
        return MelConfig.from_fields(self)

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    def num_frames(self, n_samples: int) -> int:
        """Frames produced for `n_samples` of audio: 1 + n_samples // hop_length (centred frames)."""
        return 1 + n_samples // self.hop_length

    def extra_repr(self) -> str:
        return (f"sampling_rate={self.sampling_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
                f"win_length={self.win_length}, n_mels={self.n_mels}, fmin={self.fmin}, fmax={self.fmax}, "
                f"clamp_min={self.clamp_min}, stft_backend={self.stft_backend!r}")

    def magnitudes(self, audio: torch.Tensor) -> torch.Tensor:
        """Linear STFT magnitudes. audio [B, T] float -> [B, n_fft // 2 + 1, 1 + T // hop_length]."""
        if self.stft_backend == "torch":
            spec = torch.stft(audio, self.n_fft, hop_length=self.hop_length, win_length=self.n_fft,
                              window=self.window, center=True, pad_mode="reflect", return_complex=True)
            return spec.abs()
        pad = self.n_fft // 2
        padded = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect")  # [B, 1, T + n_fft]
        re_im = F.conv1d(padded, self.dft_basis, stride=self.hop_length)  # [B, 2 * n_freqs, frames]
        real, imag = re_im[:, :self.n_freqs], re_im[:, self.n_freqs:]
        return torch.sqrt(real ** 2 + imag ** 2)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        squeeze = audio.dim() == 1
        if squeeze:
            audio = audio.unsqueeze(0)
        if audio.dim() != 2:
            raise ValueError(f"audio must be [B, T] or [T], got shape {tuple(audio.shape)}")
        if not audio.is_floating_point():
            raise ValueError(f"audio must be float in [-1, 1] (int16 / 32768), got dtype {audio.dtype}")
        if audio.shape[-1] <= self.n_fft // 2:
            # reflect padding needs more samples than the pad width
            raise ValueError(f"audio too short for the STFT: {audio.shape[-1]} samples, need more than "
                             f"n_fft // 2 = {self.n_fft // 2}")
        if self.check_range and audio.numel():
            low, high = torch.aminmax(audio.detach())
            low, high = float(low), float(high)
            if not (-1.0 <= low and high <= 1.0):  # also catches NaN
                raise ValueError(f"audio must lie in [-1, 1] (float(int16) / 32768), got min {low:.6g}, "
                                 f"max {high:.6g}")
        audio = audio.to(self.mel_basis.dtype)
        mel = torch.matmul(self.mel_basis, self.magnitudes(audio))
        log_mel = dynamic_range_compression(mel, C=self.compression_factor, clip_val=self.clamp_min)
        return log_mel.squeeze(0) if squeeze else log_mel


# --------------------------------------------------------------------------------------------------------------
# loading audio files


def _riff_data_shortfall(path: Path) -> int:
    """Bytes missing from a WAV's data chunk (declared size minus bytes present); 0 if complete or not RIFF.

    libsndfile silently returns fewer samples for a WAV cut off inside its data chunk, so check the header.
    Streaming writers that could not seek back declare 0 or 0xFFFFFFFF; those are not called truncated.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return 0
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):
                    return 0
                return max(0, chunk_size - (size - offset - 8))
            offset += 8 + chunk_size + (chunk_size & 1)  # chunks are word aligned
    return 0


def resample_audio(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling (scipy.signal.resample_poly, Kaiser window). float32 [T] -> [T']."""
    from scipy.signal import resample_poly

    g = math.gcd(int(orig_rate), int(target_rate))
    out = resample_poly(audio.astype(np.float64), target_rate // g, orig_rate // g)
    # the low-pass filter can overshoot by a fraction of a percent; the mel asserts [-1, 1]
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def load_wav(path: str | os.PathLike, sampling_rate: int | None = None,
             resample: bool = False) -> tuple[np.ndarray, int]:
    """Read a mono audio file (WAV, FLAC, anything libsndfile reads) as float32 [T] in [-1, 1], and its rate.

    16-bit PCM becomes int16 / 32768 exactly (NVIDIA's scaling); other encodings use libsndfile's float scaling.
    If `sampling_rate` is given and the file differs: resample when `resample` is true, else raise.
    Returns (audio, rate); rate is `sampling_rate` after resampling.
    Raises DataError (naming the file) for a missing, empty, truncated, corrupt, multi-channel or non-finite file
    or a wrong sample rate.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise DataError(f"audio file not found: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"empty audio file (0 bytes): {path}")
    try:
        info = sf.info(str(path))
        dtype = "int16" if info.subtype == "PCM_16" else "float32"
        data, rate = sf.read(str(path), dtype=dtype, always_2d=True)
    except (sf.SoundFileError, RuntimeError) as exc:
        raise DataError(f"corrupt or unreadable audio file {path}: {exc}") from exc
    missing = _riff_data_shortfall(path)
    if missing:
        raise DataError(f"truncated audio file {path}: the WAV header declares {missing} more bytes of audio "
                        f"than the file holds")
    if data.shape[1] != 1:
        raise DataError(f"{path}: expected mono audio, got {data.shape[1]} channels")
    audio = data[:, 0]
    audio = audio.astype(np.float32) / np.float32(MAX_WAV_VALUE) if dtype == "int16" else audio.astype(np.float32)
    if audio.size == 0:
        raise DataError(f"{path}: audio is empty (0 samples)")
    if not np.isfinite(audio).all():
        raise DataError(f"{path}: audio contains NaN or infinite samples")
    peak = float(np.abs(audio).max())
    if peak > 1.0:
        raise DataError(f"{path}: samples exceed [-1, 1] (peak {peak:.4g}); float audio must be normalised")
    if sampling_rate is not None and rate != sampling_rate:
        if not resample:
            raise DataError(f"{path}: sample rate is {rate} Hz, expected {sampling_rate} Hz; convert the file or "
                            f"use --resample (resample=True) to resample on load")
        audio, rate = resample_audio(audio, rate, sampling_rate), sampling_rate
    return audio, int(rate)
