"""Mel-spectrogram adapter: other front ends' mel conventions -> the vocoder's.

The vocoder (NVIDIA's WaveGlow and ours) expects Tacotron2's mel, which is what `waveglow.audio.MelSpectrogram`
computes:

    STFT magnitude (power 1; n_fft 1024, hop 256, Hann, centred frames: reflect-pad n_fft / 2)
      -> Slaney mel filterbank (librosa, norm='slaney'), 0-8000 Hz, 80 bands at 22050 Hz
      -> natural log of max(mel, 1e-5)                                      -> [n_mels, frames]

Ours, NVIDIA's and DeepLearningExamples' Tacotron2 already output that ("nvidia"). Other conventions:

  hifigan  same filterbank and log, but HiFi-GAN frames with center=False after reflect-padding (n_fft - hop) / 2
           = 384 samples, so its frame i is centred half a hop (128 samples) later than our frame i, and T samples
           give T // hop frames instead of 1 + T // hop. See `HifiGanMel.alignment`.
  db       multiplier * log10(max(mel, amin)) - ref_level_db (20: amplitude dB, 10: power dB, 1: plain log10),
           optionally floored at min_level_db or at max - top_db.
  log10    `db` with multiplier 1 and amin 1e-5.
  coqui    Coqui-TTS AudioProcessor: spec_gain * log_base(max(mel, 1e-5)) - ref_level_db, then normalised to
           [0, max_norm] or (symmetric) [-max_norm, max_norm], optionally clipped, or mean-variance normalised.
  espnet   ESPnet2 TTS LogMelFbank: log10(max(mel, 1e-10)) of an 80-7600 Hz filterbank of the magnitude,
           optionally global mean-variance normalised (GlobalMVN stats).

Conversion: values -> linear mel of the source filterbank -> (if the bands differ) re-projection onto ours
(`FilterbankProjector`) -> framing -> natural log with the 1e-5 floor. Where the source clipped (Coqui's range,
top_db, min_level_db) information is lost: those values convert to the clip level, not to the original.

Layouts: [n_mels, T], [T, n_mels], [1, n_mels, T], [1, T, n_mels]; torch or numpy. The mel axis is the one whose
size equals n_mels; a square [n_mels, n_mels] needs the layout (or an explicit format, whose native layout is used).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from waveglow.common.errors import DataError
from waveglow.common.safe_loading import load_npz, read_json_object

CLAMP_MIN = 1e-5
LOG_FLOOR = math.log(CLAMP_MIN)  # -11.5129: the smallest value a vocoder mel can hold
LAYOUTS = ("auto", "mels-first", "frames-first")
FORMATS = ("auto", "nvidia", "hifigan", "coqui", "espnet", "db", "log10")

# Reference statistics of the vocoder's input, used to warn about mels that look out of domain.
# Measured with `MelSpectrogram()` (80 mels, natural log) on the 4 clips in tests/fixtures/ljspeech: per utterance
# mean, standard deviation and peak over all bins, then min..max over the clips (tests/test_mel_adapter.py
# recomputes them). Cross-checked on the 390 clips of the shared LJSpeech sample: utterance means -5.95..-4.83,
# std 1.89..2.35, peaks 0.03..2.06, per-frame means -9.94..-2.18; the 16-mel golden `infer_mel` has mean -4.51,
# std 1.88, peak -0.42.
LJSPEECH_UTTERANCE_MEAN = (-5.81, -5.15)
LJSPEECH_UTTERANCE_STD = (2.00, 2.17)
LJSPEECH_PEAK = (0.28, 0.93)
LJSPEECH_FRAME_MEAN = (-8.09, -3.29)
# "Far" from the reference: wide margins, so real speech (quiet, loud, other speakers) passes and only a wrong
# convention (log10: mean ~ -2.3, std ~ 0.9; dB: tens; normalised [-4, 4]: mean ~ -1) or a broken mel warns.
DOMAIN_MEAN = (-8.5, -2.5)
DOMAIN_STD = (1.0, 3.5)
DOMAIN_PEAK_MAX = 3.5


class MelFormatError(DataError):
    """A mel that cannot be converted: wrong rank or size, NaN/Inf, empty, ambiguous layout or convention."""


class MelDomainWarning(UserWarning):
    """A mel whose statistics are far from the LJSpeech mels the vocoder was trained on."""


# ---- filterbanks --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MelFilterbank:
    """Which linear mel a convention computes: Slaney filters on |STFT| ** spectrum_power. fmax None = Nyquist."""

    sampling_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = 8000.0
    spectrum_power: float = 1.0  # 1: filters applied to the magnitude (ours), 2: to the power spectrum

    @property
    def upper_hz(self) -> float:
        return self.sampling_rate / 2 if self.fmax is None else float(self.fmax)

    def matrix(self) -> np.ndarray:
        """Filter weights [n_mels, n_fft // 2 + 1], float64 (librosa Slaney filters, as `MelSpectrogram` uses)."""
        import librosa

        return np.asarray(librosa.filters.mel(sr=self.sampling_rate, n_fft=self.n_fft, n_mels=self.n_mels,
                                              fmin=self.fmin, fmax=self.upper_hz, htk=False, norm="slaney"),
                          dtype=np.float64)

    def same_as(self, other: "MelFilterbank") -> bool:
        """Whether both compute the very same linear mel (so no re-projection is needed)."""
        return (self.sampling_rate, self.n_fft, self.hop_length, self.n_mels, float(self.fmin), self.upper_hz,
                float(self.spectrum_power)) == (other.sampling_rate, other.n_fft, other.hop_length, other.n_mels,
                                                float(other.fmin), other.upper_hz, float(other.spectrum_power))


def vocoder_filterbank(n_mels: int = 80, sampling_rate: int = 22050, hop_length: int = 256) -> MelFilterbank:
    """The filterbank of the vocoder's mel (`MelSpectrogram` defaults) for a model with `n_mels` channels."""
    return MelFilterbank(sampling_rate=sampling_rate, hop_length=hop_length, n_mels=n_mels)


class FilterbankProjector:
    """Linear mel of one filterbank [n_src, T] -> linear mel of another [n_dst, T], via an estimated spectrum.

    A mel has far fewer bands than the STFT has bins, so the spectrum is estimated, not recovered:
      1. start from a smooth spectrum: each band's mean magnitude (band value / filter weight sum) placed at its
         centre frequency, log-interpolated over mel frequency; bins outside the source's range (e.g. below 80 Hz
         for ESPnet) take the nearest band's level (constant extrapolation: nothing is known there);
      2. refine with multiplicative non-negative updates (Richardson-Lucy, a non-negative least-KL solve of
         B x = mel) so the estimate reproduces the source mel, staying non-negative and keeping the smooth start
         where the data do not constrain it (a plain NNLS gives a spiky spectrum: 0.28 nats mean error against
         0.10 for this on LJSpeech, ESPnet 80-7600 Hz -> ours);
      3. apply the destination filterbank (to |X| ** its spectrum_power).
    Both must share sampling rate, n_fft and hop (the same STFT grid and frame rate).
    """

    def __init__(self, source: MelFilterbank, destination: MelFilterbank, iterations: int = 10):
        if (source.sampling_rate, source.n_fft, source.hop_length) != (
                destination.sampling_rate, destination.n_fft, destination.hop_length):
            raise MelFormatError(
                f"cannot re-project between different STFT grids: source {source.sampling_rate} Hz, n_fft "
                f"{source.n_fft}, hop {source.hop_length}; vocoder {destination.sampling_rate} Hz, n_fft "
                f"{destination.n_fft}, hop {destination.hop_length} (resample the audio features first)")
        self.source, self.destination, self.iterations = source, destination, iterations
        self.source_basis = source.matrix()  # [n_src, n_freq]
        self.destination_basis = destination.matrix()
        self.covered = self.source_basis.sum(0) > 0  # bins some source filter sees
        self.band_weight = np.maximum(self.source_basis.sum(1), 1e-30)  # [n_src]
        self.interpolation = self._log_interpolation_matrix()  # [n_freq, n_src]

    def _log_interpolation_matrix(self) -> np.ndarray:
        """W [n_freq, n_src]: log spectrum at each bin = W @ log(band mean magnitude), linear in mel frequency."""
        import librosa

        # weighted centre bin of each filter, then in mel frequency; bands with no bins (tiny n_fft) are skipped
        centres = np.array([np.average(np.arange(self.source_basis.shape[1]), weights=row)
                            if row.sum() > 0 else np.nan for row in self.source_basis])
        bin_hz = np.arange(self.source_basis.shape[1]) * self.source.sampling_rate / self.source.n_fft
        bin_mel = librosa.hz_to_mel(bin_hz, htk=False)
        valid = np.flatnonzero(~np.isnan(centres))
        centre_mel = librosa.hz_to_mel(centres[valid] * self.source.sampling_rate / self.source.n_fft, htk=False)
        weights = np.zeros((len(bin_mel), self.source_basis.shape[0]))
        for i, m in enumerate(bin_mel):
            j = np.searchsorted(centre_mel, m)
            if j == 0:
                weights[i, valid[0]] = 1.0
            elif j >= len(valid):
                weights[i, valid[-1]] = 1.0
            else:
                t = (m - centre_mel[j - 1]) / (centre_mel[j] - centre_mel[j - 1])
                weights[i, valid[j - 1]], weights[i, valid[j]] = 1.0 - t, t
        return weights

    def estimate_spectrum(self, source_mel: np.ndarray) -> np.ndarray:
        """source linear mel [n_src, T] -> non-negative estimate of |X| ** source.spectrum_power [n_freq, T]."""
        mel = np.maximum(source_mel, 1e-30)
        start = np.exp(self.interpolation @ np.log(mel / self.band_weight[:, None]))
        spectrum = start
        normaliser = np.maximum(self.source_basis.sum(0), 1e-30)[:, None]  # B^T 1
        for _ in range(self.iterations):
            ratio = mel / np.maximum(self.source_basis @ spectrum, 1e-30)
            spectrum = spectrum * (self.source_basis.T @ ratio) / normaliser
        return np.where(self.covered[:, None], spectrum, start)

    def __call__(self, source_mel: np.ndarray) -> np.ndarray:
        """source linear mel [n_src, T] -> destination linear mel [n_dst, T] (float64)."""
        if self.source.same_as(self.destination):
            return source_mel
        spectrum = self.estimate_spectrum(source_mel)
        magnitude = spectrum ** (1.0 / self.source.spectrum_power)
        return self.destination_basis @ magnitude ** self.destination.spectrum_power


@functools.lru_cache(maxsize=8)
def projector(source: MelFilterbank, destination: MelFilterbank) -> FilterbankProjector:
    """A cached FilterbankProjector (building one costs two filterbanks and an interpolation matrix)."""
    return FilterbankProjector(source, destination)


# ---- conventions --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MelConvention:
    """How a front end turns a linear mel (of `filterbank`) into the values it stores.

    `decode(values [n_mels, T]) -> linear mel [n_mels, T]` inverts the front end's formula (exactly, except where
    that formula clipped).
    """

    filterbank: MelFilterbank = MelFilterbank()
    native_layout = "mels-first"
    name = "?"

    def decode(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                           if f.name != "filterbank" and not isinstance(getattr(self, f.name), (tuple, type(None))))
        fb = self.filterbank
        return (f"{self.name} ({fields}{', ' if fields else ''}{fb.n_mels} mels {fb.fmin:g}-{fb.upper_hz:g} Hz"
                f"{', power spectrum' if fb.spectrum_power == 2 else ''})")


@dataclass(frozen=True)
class NaturalLogMel(MelConvention):
    """Ours / NVIDIA / DLE Tacotron2: ln(max(mel, 1e-5)). The vocoder's own convention."""

    name = "nvidia"

    def decode(self, values):
        return np.exp(values)


@dataclass(frozen=True)
class HifiGanMel(NaturalLogMel):
    """HiFi-GAN (jik876/hifi-gan meldataset): natural log clamp 1e-5, center=False frames after a (n_fft - hop) / 2
    reflect pad, i.e. frame i is centred at sample hop * i + hop / 2 (ours: hop * i).

    alignment "shift" (default): keep the frames (N frames -> N * hop samples, HiFi-GAN's own output length);
    the audio then comes out half a hop (5.8 ms at 22050 Hz) early, which is inaudible and keeps every value.
    "interpolate": resample to our frame centres, frame j = mean of HiFi-GAN frames j - 1 and j in the linear
    domain (edges repeated), N -> N + 1 frames, what `MelSpectrogram` gives for the same audio (slightly smoothed).
    """

    alignment: str = "shift"
    name = "hifigan"

    def __post_init__(self):
        if self.alignment not in ("shift", "interpolate"):
            raise MelFormatError(f"HiFi-GAN alignment must be 'shift' or 'interpolate', got {self.alignment!r}")


@dataclass(frozen=True)
class DecibelMel(MelConvention):
    """multiplier * log10(max(mel, amin)) - ref_level_db, floored at min_level_db and at max - top_db if given.
    amin and the floors clip when the mel is made; decoding maps clipped values to the clip level.

    multiplier 20: amplitude dB (librosa amplitude_to_db with ref = 10 ** (ref_level_db / 20)); 10 with a power
    filterbank (spectrum_power 2): librosa power_to_db; 1: plain log10.
    """

    multiplier: float = 20.0
    ref_level_db: float = 0.0
    min_level_db: float | None = None  # floors only matter when the mel was made; decoding ignores them
    top_db: float | None = None
    name = "db"

    def decode(self, values):
        return 10.0 ** ((values + self.ref_level_db) / self.multiplier)


@dataclass(frozen=True)
class Log10Mel(DecibelMel):
    """log10(max(mel, amin)): a `DecibelMel` with multiplier 1."""

    multiplier: float = 1.0
    name = "log10"


@dataclass(frozen=True)
class CoquiMel(MelConvention):
    """Coqui-TTS `AudioProcessor.melspectrogram` (defaults of its BaseAudioConfig, except fmax 8000 as in its
    LJSpeech recipes; Coqui's own default mel_fmax None means Nyquist).

      S = spec_gain * log_base(max(mel, 1e-5)) - ref_level_db
      signal_norm with mel_mean/mel_std:  (S - mel_mean) / mel_std                  (per band)
      signal_norm, symmetric:  2 max_norm (S - min_level_db) / -min_level_db - max_norm, clipped to +-max_norm
      signal_norm, one-sided:  max_norm (S - min_level_db) / -min_level_db, clipped to [0, max_norm]
    (clipping only with clip_norm). Pre-emphasis cannot be undone on a mel and is refused.
    """

    filterbank: MelFilterbank = MelFilterbank(fmax=8000.0)
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_norm: float = 4.0
    symmetric_norm: bool = True
    clip_norm: bool = True
    signal_norm: bool = True
    spec_gain: float = 20.0
    log_base: float = 10.0  # Coqui's log_func: "np.log10" -> 10, "np.log" -> e
    mel_mean: tuple | None = None  # mean-variance stats per band (Coqui's scale_stats mel_mean / mel_std)
    mel_std: tuple | None = None
    name = "coqui"

    def decode(self, values):
        s = values
        if self.signal_norm:
            if self.mel_mean is not None:
                s = values * np.asarray(self.mel_std)[:, None] + np.asarray(self.mel_mean)[:, None]
            elif self.symmetric_norm:
                v = np.clip(values, -self.max_norm, self.max_norm) if self.clip_norm else values
                s = (v + self.max_norm) * -self.min_level_db / (2 * self.max_norm) + self.min_level_db
            else:
                v = np.clip(values, 0, self.max_norm) if self.clip_norm else values
                s = v * -self.min_level_db / self.max_norm + self.min_level_db
        return self.log_base ** ((s + self.ref_level_db) / self.spec_gain)

    @classmethod
    def from_config(cls, config: dict[str, Any], mel_mean=None, mel_std=None,
                    filterbank: MelFilterbank | None = None) -> "CoquiMel":
        """From a Coqui config.json (its "audio" object, or the whole file holding one), Coqui's key names.
        Keys that do not affect the mel are ignored (Coqui's audio config has many); missing ones take this
        class's defaults (filterbank: `filterbank`, default the vocoder's: 80 mels 0-8000 Hz)."""
        audio = config.get("audio", config)
        if not isinstance(audio, dict):
            raise MelFormatError("Coqui parameters: 'audio' must be a JSON object")
        if float(audio.get("preemphasis") or 0.0) != 0.0:
            raise MelFormatError("Coqui mels made with pre-emphasis cannot be converted (it filters the audio, "
                                 "not the mel)")
        base = cls() if filterbank is None else cls(filterbank=filterbank)
        fb = base.filterbank
        fmax = audio.get("mel_fmax", fb.fmax)
        fb = MelFilterbank(sampling_rate=int(audio.get("sample_rate", fb.sampling_rate)),
                           n_fft=int(audio.get("fft_size", fb.n_fft)),
                           hop_length=int(audio.get("hop_length", fb.hop_length)),
                           n_mels=int(audio.get("num_mels", fb.n_mels)),
                           fmin=float(audio.get("mel_fmin") or 0.0), fmax=None if fmax is None else float(fmax))
        if int(audio.get("win_length") or fb.n_fft) != fb.n_fft:
            raise MelFormatError("Coqui win_length different from fft_size is not supported")
        log_func = str(audio.get("log_func", "np.log10"))
        if mel_mean is not None and mel_std is None or mel_std is not None and mel_mean is None:
            raise MelFormatError("Coqui mean-variance stats need both mel_mean and mel_std")
        return cls(filterbank=fb, ref_level_db=float(audio.get("ref_level_db", base.ref_level_db)),
                   min_level_db=float(audio.get("min_level_db", base.min_level_db)),
                   max_norm=float(audio.get("max_norm", base.max_norm)),
                   symmetric_norm=bool(audio.get("symmetric_norm", base.symmetric_norm)),
                   clip_norm=bool(audio.get("clip_norm", base.clip_norm)),
                   signal_norm=bool(audio.get("signal_norm", base.signal_norm)),
                   spec_gain=float(audio.get("spec_gain", base.spec_gain)),
                   log_base=10.0 if log_func.endswith("log10") else math.e,
                   mel_mean=None if mel_mean is None else tuple(np.asarray(mel_mean, dtype=np.float64).ravel()),
                   mel_std=None if mel_std is None else tuple(np.asarray(mel_std, dtype=np.float64).ravel()))


@dataclass(frozen=True)
class EspnetMel(MelConvention):
    """ESPnet2 TTS `LogMelFbank` (LJSpeech recipes): log10(max(mel, 1e-10)) of Slaney filters 80-7600 Hz on the
    magnitude (n_fft 1024, hop 256, centred frames), optionally GlobalMVN-normalised: (x - mean) / std per band.
    Stored frames-first ([T, 80]). Needs re-projection onto our 0-8000 Hz filters (mean error ~0.1 nats)."""

    filterbank: MelFilterbank = MelFilterbank(fmin=80.0, fmax=7600.0)
    mean: tuple | None = None
    std: tuple | None = None
    name = "espnet"
    native_layout = "frames-first"

    def decode(self, values):
        if self.mean is not None:
            values = values * np.asarray(self.std)[:, None] + np.asarray(self.mean)[:, None]
        return 10.0 ** values

    @staticmethod
    def stats_from_arrays(arrays: dict[str, np.ndarray]) -> tuple[tuple, tuple]:
        """(mean, std) from {'mean', 'std'} or {'mean', 'var'} or ESPnet's feats_stats.npz {'count', 'sum',
        'sum_square'} (mean = sum / count, var = sum_square / count - mean^2, std = sqrt(max(var, 1e-20)))."""
        if "count" in arrays and "sum" in arrays and "sum_square" in arrays:
            count = float(np.asarray(arrays["count"]).reshape(-1)[0])
            mean = np.asarray(arrays["sum"], dtype=np.float64) / count
            var = np.asarray(arrays["sum_square"], dtype=np.float64) / count - mean ** 2
        elif "mean" in arrays and ("std" in arrays or "var" in arrays):
            mean = np.asarray(arrays["mean"], dtype=np.float64)
            var = (np.asarray(arrays["std"], dtype=np.float64) ** 2 if "std" in arrays
                   else np.asarray(arrays["var"], dtype=np.float64))
        else:
            raise MelFormatError(f"stats need 'mean' and 'std' (or 'var'), or ESPnet's 'count', 'sum', "
                                 f"'sum_square'; got keys {sorted(arrays)}")
        return tuple(mean.reshape(-1)), tuple(np.sqrt(np.maximum(var, 1e-20)).reshape(-1))


def make_convention(name: str, target: MelFilterbank | None = None, params: dict[str, Any] | None = None,
                    stats: dict[str, np.ndarray] | None = None) -> MelConvention:
    """Convention by CLI name. Its filterbank defaults to `target` (the vocoder's: 80 mels 0-8000 Hz unless given),
    except espnet (80 mels 80-7600 Hz at target's rate and hop). params: a JSON object of that convention's fields
    (for coqui: a Coqui config or its "audio" object; otherwise filterbank fields sampling_rate, n_fft, hop_length,
    n_mels, fmin, fmax, spectrum_power are accepted flat); stats: mean/std arrays for espnet (or coqui)."""
    target = target or MelFilterbank()
    params = dict(params or {})
    if name == "coqui":
        mean = std = None
        if stats is not None:
            mean = stats.get("mel_mean", stats.get("mean"))
            std = stats.get("mel_std", stats.get("std"))
        return CoquiMel.from_config(params, mel_mean=mean, mel_std=std, filterbank=target)
    classes = {"nvidia": NaturalLogMel, "hifigan": HifiGanMel, "db": DecibelMel, "espnet": EspnetMel,
               "log10": Log10Mel}
    if name not in classes:
        raise MelFormatError(f"unknown mel format {name!r} (known: {', '.join(FORMATS[1:])})")
    cls = classes[name]
    default_fb = target
    if name == "espnet":
        default_fb = dataclasses.replace(EspnetMel().filterbank, sampling_rate=target.sampling_rate,
                                         hop_length=target.hop_length)
    fb_names = {f.name for f in dataclasses.fields(MelFilterbank)}
    try:
        fb = dataclasses.replace(default_fb, **{k: params.pop(k) for k in list(params) if k in fb_names})
    except (TypeError, ValueError) as exc:
        raise MelFormatError(f"bad {name} filterbank parameters: {exc}") from None
    known = {f.name for f in dataclasses.fields(cls)} - {"filterbank"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise MelFormatError(f"unknown {name} parameter(s) {unknown} (known: {sorted(known | fb_names)})")
    if name == "espnet" and stats is not None:
        params["mean"], params["std"] = EspnetMel.stats_from_arrays(stats)
    try:
        return cls(filterbank=fb, **params)
    except TypeError as exc:
        raise MelFormatError(f"bad {name} parameters: {exc}") from None


def load_format_params(path: str | Path) -> dict[str, Any]:
    """A JSON file of convention parameters (e.g. a Coqui config.json)."""

    path = Path(path)
    return read_json_object(path, MelFormatError, "mel parameters must be a JSON object")


def load_stats(path: str | Path) -> dict[str, np.ndarray]:
    """Normalisation stats from an .npz (no pickles): {'mean','std'}, {'mean','var'}, ESPnet feats_stats.npz."""

    return load_npz(path, MelFormatError)


# ---- layout, validation, detection --------------------------------------------------------------------------------
def as_2d_array(mel: Any) -> np.ndarray:
    """torch/numpy mel of rank 2, or rank 3 with a leading batch of 1 -> float64 numpy [a, b] (layout unknown)."""
    if hasattr(mel, "detach"):  # a torch tensor (numpy has no bfloat16: floats go through float64)
        mel = mel.detach().cpu()
        mel = (mel.double() if mel.is_floating_point() else mel).numpy()
    array = np.asarray(mel)
    if array.dtype == object:
        raise MelFormatError("mel holds Python objects, not numbers")
    if not (np.issubdtype(array.dtype, np.floating)):
        raise MelFormatError(f"mel must hold floating-point values, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise MelFormatError(f"expected a 2-D mel ([n_mels, frames], [frames, n_mels] or with a leading batch of 1), "
                             f"got rank {array.ndim} shape {list(array.shape)}")
    if array.size == 0:
        raise MelFormatError(f"mel is empty (shape {list(array.shape)})")
    n_nan, n_inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
    if n_nan or n_inf:
        raise MelFormatError(f"mel contains {n_nan} NaN and {n_inf} infinite values (shape {list(array.shape)})")
    return array.astype(np.float64, copy=False)


def orient(array: np.ndarray, n_mels: int, layout: str = "auto",
           native_layout: str | None = None) -> tuple[np.ndarray, str]:
    """[a, b] -> ([n_mels, frames], the layout used). layout 'auto' finds the axis of size n_mels; a square needs
    `layout` or a native layout (from an explicitly named format)."""
    if layout not in LAYOUTS:
        raise MelFormatError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    rows, cols = array.shape
    if layout == "auto":
        if rows == n_mels and cols == n_mels:
            if native_layout is None:
                raise MelFormatError(f"shape [{rows}, {cols}] is ambiguous: is it [n_mels, frames] or "
                                     f"[frames, n_mels]? Pass the layout (--mel-layout mels-first|frames-first) or "
                                     f"the mel format (--mel-format)")
            layout = native_layout
        elif rows == n_mels:
            layout = "mels-first"
        elif cols == n_mels:
            layout = "frames-first"
        else:
            raise MelFormatError(f"wrong number of mel channels: shape {list(array.shape)} has no axis of size "
                                 f"{n_mels} (the mel channels this vocoder/format expects)")
    mel = array if layout == "mels-first" else array.T
    if mel.shape[0] != n_mels:
        raise MelFormatError(f"wrong number of mel channels: {mel.shape[0]} in layout {layout}, expected {n_mels}")
    return mel, layout


def detect_convention(array: np.ndarray, target: MelFilterbank | None = None) -> MelConvention:
    """Guess the convention from the value range alone (layout-independent). Unambiguous cases only:
      natural log (ours/NVIDIA): min in [ln 1e-5, -4.5), max <= 6   (speech always has bins below e^-4.5)
      Coqui one-sided [0, 1]:    0 <= values <= 1
      Coqui symmetric [-4, 4]:   -4 <= values <= 4 with some below 0
    A log10 mel (ESPnet) also fits the natural-log range and is taken as natural log; the domain warning then
    fires (its mean is ~ -2.3). Anything else (dB values, other ranges) raises and asks for --mel-format.
    The detected convention uses the `target` filterbank (the vocoder's; Coqui's parameters are its defaults).
    """
    target = target or MelFilterbank()
    lo, hi = float(array.min()), float(array.max())
    eps = 1e-4
    if LOG_FLOOR - eps <= lo < -4.5 and hi <= 6.0:
        return NaturalLogMel(filterbank=target)
    if lo >= -eps and hi <= 1.0 + eps:
        return CoquiMel(filterbank=target, symmetric_norm=False, max_norm=1.0)
    if -4.0 - eps <= lo < 0.0 and hi <= 4.0 + eps:
        return CoquiMel(filterbank=target, symmetric_norm=True, max_norm=4.0)
    looks = "decibels" if (lo < -20 or hi > 10) else "an unknown scale"
    raise MelFormatError(f"cannot tell the mel convention: values from {lo:.4g} to {hi:.4g} look like {looks}, not a "
                         f"natural-log mel (>= {LOG_FLOOR:.4f}, <= ~2) nor a normalised [0, 1] / [-4, 4] one; "
                         f"pass --mel-format (db, coqui, espnet, log10, hifigan) and its parameters (--mel-config)")


# ---- domain check -------------------------------------------------------------------------------------------------
def domain_issues(mel: np.ndarray) -> list[str]:
    """Ways a vocoder mel [n_mels, T] (natural log) is far from LJSpeech's; empty when it looks in-domain."""
    mel = np.asarray(mel, dtype=np.float64)
    mean, std, peak, low = float(mel.mean()), float(mel.std()), float(mel.max()), float(mel.min())
    issues = []
    if low < LOG_FLOOR - 1e-3:
        issues.append(f"minimum {low:.3f} is below the log floor ln(1e-5) = {LOG_FLOOR:.3f} (not a natural-log mel "
                      f"clamped at 1e-5?)")
    if not DOMAIN_MEAN[0] <= mean <= DOMAIN_MEAN[1]:
        issues.append(f"mean {mean:.3f} is outside {DOMAIN_MEAN[0]}..{DOMAIN_MEAN[1]} (LJSpeech utterances: "
                      f"{LJSPEECH_UTTERANCE_MEAN[0]}..{LJSPEECH_UTTERANCE_MEAN[1]})")
    if not DOMAIN_STD[0] <= std <= DOMAIN_STD[1] and mel.size > 1:
        issues.append(f"standard deviation {std:.3f} is outside {DOMAIN_STD[0]}..{DOMAIN_STD[1]} (LJSpeech: "
                      f"{LJSPEECH_UTTERANCE_STD[0]}..{LJSPEECH_UTTERANCE_STD[1]})")
    if peak > DOMAIN_PEAK_MAX:
        issues.append(f"peak {peak:.3f} is above {DOMAIN_PEAK_MAX} (LJSpeech peaks: {LJSPEECH_PEAK[0]}.."
                      f"{LJSPEECH_PEAK[1]})")
    return issues


def warn_if_out_of_domain(mel: np.ndarray, what: str = "mel", convention: str = "nvidia") -> list[str]:
    """Issue one MelDomainWarning naming the numbers (and a hint about the convention) if `mel` looks off."""
    issues = domain_issues(mel)
    if issues:
        hint = ""
        if convention == "nvidia":
            hint = ("; if it is not a natural-log mel, pass --mel-format (log10/espnet, db, coqui, hifigan)")
        warnings.warn(MelDomainWarning(f"{what} looks out of the vocoder's domain: {'; '.join(issues)}{hint}"),
                      stacklevel=2)
    return issues


# ---- conversion ---------------------------------------------------------------------------------------------------
@dataclass
class ConvertedMel:
    """A vocoder mel [n_mels, frames] (float32, natural log) and how it was obtained."""

    mel: np.ndarray
    convention: MelConvention
    detected: bool  # convention guessed from the values
    layout: str
    domain_issues: list[str]


def _hifigan_to_centred(linear: np.ndarray) -> np.ndarray:
    """[n, N] HiFi-GAN frames (centres hop*i + hop/2) -> [n, N + 1] at our centres hop*j, linear domain."""
    previous = np.concatenate([linear[:, :1], linear], axis=1)
    following = np.concatenate([linear, linear[:, -1:]], axis=1)
    return 0.5 * (previous + following)


def convert_mel(mel: Any, mel_format: str | MelConvention = "auto", *, n_mels: int = 80,
                target: MelFilterbank | None = None, layout: str = "auto", params: dict | None = None,
                stats: dict | None = None, warn: bool = True, what: str = "mel") -> ConvertedMel:
    """Any supported mel -> the vocoder's mel.

    mel: torch/numpy, [n_mels, T], [T, n_mels] or either with a leading batch of 1.
    mel_format: a name from FORMATS or a MelConvention; params/stats configure a named one (see make_convention).
    target: the vocoder's filterbank (default `vocoder_filterbank(n_mels)`).
    Raises MelFormatError; warns MelDomainWarning (if `warn`) when the result looks out of domain.
    """
    target = target or vocoder_filterbank(n_mels)
    array = as_2d_array(mel)
    detected = False
    if isinstance(mel_format, MelConvention):
        convention, native = mel_format, mel_format.native_layout
    elif mel_format == "auto":
        convention, native, detected = detect_convention(array, target), None, True
    else:
        convention = make_convention(mel_format, target, params=params, stats=stats)
        native = convention.native_layout
    values, used_layout = orient(array, convention.filterbank.n_mels, layout, native)
    if isinstance(convention, NaturalLogMel) and convention.filterbank.same_as(target) and (
            not isinstance(convention, HifiGanMel) or convention.alignment == "shift"):
        out = values  # already the vocoder's convention: no exp/log round trip (and the domain check sees it as is)
    else:
        linear = convention.decode(values)
        if not convention.filterbank.same_as(target):
            linear = projector(convention.filterbank, target)(linear)
        if isinstance(convention, HifiGanMel) and convention.alignment == "interpolate":
            linear = _hifigan_to_centred(linear)
        out = np.log(np.maximum(linear, CLAMP_MIN))
    out = out.astype(np.float32)
    issues = warn_if_out_of_domain(out, what, convention.name) if warn else domain_issues(out)
    return ConvertedMel(out, convention, detected, used_layout, issues)


def to_vocoder_mel(mel: Any, mel_format: str | MelConvention = "auto", **kwargs) -> np.ndarray:
    """`convert_mel(...).mel`: float32 [n_mels, frames], natural log of max(mel, 1e-5) on our filterbank."""
    return convert_mel(mel, mel_format, **kwargs).mel
