"""Griffin-Lim: the fallback vocoder used when no trained WaveGlow is available. Needs no weights; sounds buzzy.

    log-mel [n_mels, F] (natural log, Tacotron2's Slaney filterbank)
      -> exp                                            -> linear mel magnitudes
      -> non-negative least squares against the filterbank -> linear STFT magnitudes [n_fft // 2 + 1, F]
      -> Griffin-Lim phase reconstruction (librosa, Hann window, centred frames)  -> audio [F * hop] float32

`random_phase_audio` stops after the magnitude step (uniform random phase, one inverse STFT): the floor row of
`waveglow evaluate`, what a vocoder that learnt the envelope and no phase sounds like.
"""
from __future__ import annotations

import numpy as np
from waveglow.audio.features import MelConfig, mel_filterbank

FALLBACK_REASON = "no trained WaveGlow available"
FALLBACK_LABEL = f"Griffin-Lim fallback ({FALLBACK_REASON})"
REQUESTED_REASON = "requested instead of a WaveGlow"
#: what `--checkpoint` / `vocoder=` accept to mean Griffin-Lim (tts, vocode, the demo, `waveglow.vocode`)
GRIFFIN_LIM_NAMES = ("griffin-lim", "griffinlim", "griffin_lim")
#: the mels the fallback reads when nothing else fixes them (`waveglow vocode`): Tacotron2's LJSpeech mels
GRIFFIN_LIM_MELS = dict(n_mel_channels=80, sampling_rate=22050, hop_length=256)


def is_griffin_lim_name(value) -> bool:
    """Whether a checkpoint argument names Griffin-Lim rather than a file ('griffin-lim', any case)."""
    return isinstance(value, str) and value.strip().lower() in GRIFFIN_LIM_NAMES


class GriffinLimVocoder:
    """Mel -> audio by phase reconstruction. Any n_mels works: the filterbank is built for the mel it is given.

    The STFT settings must be those the mel was computed with (defaults: Tacotron2's 22050 Hz, n_fft 1024,
    hop 256, 0-8000 Hz). n_iter: Griffin-Lim iterations (more is cleaner and slower; 32-60 is the useful range);
    momentum: librosa's fast Griffin-Lim acceleration; seed: the random initial phase, so output is reproducible.
    reason: why the fallback is in use, shown by `describe` (labels and logs must never pass it off as WaveGlow).
    """

    name = "griffin-lim"
    is_fallback = True
    n_mel_channels = None  # accepts any number of mel channels

    def __init__(self, sampling_rate: int = 22050, n_fft: int = 1024, hop_length: int = 256,
                 fmin: float = 0.0, fmax: float = 8000.0, n_iter: int = 60, momentum: float = 0.99, seed: int = 0,
                 reason: str = FALLBACK_REASON):
        if n_iter < 1:
            raise ValueError(f"n_iter must be >= 1, got {n_iter}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.sampling_rate = int(sampling_rate)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.fmin = float(fmin)
        self.fmax = float(fmax)
        self.n_iter = int(n_iter)
        self.momentum = float(momentum)
        self.seed = int(seed)
        self.reason = reason
        self._filterbanks: dict[int, np.ndarray] = {}

    @classmethod
    def for_mel(cls, mel: MelConfig, **options) -> "GriffinLimVocoder":
        """The Griffin-Lim inverting the features `mel` describes (its rate, n_fft, hop, fmin, fmax; None: Nyquist).
        options: n_iter, momentum, seed, reason."""
        fmax = mel.sampling_rate / 2 if mel.fmax is None else mel.fmax
        return cls(sampling_rate=mel.sampling_rate, n_fft=mel.n_fft, hop_length=mel.hop_length, fmin=mel.fmin,
                   fmax=fmax, **options)

    def describe(self) -> str:
        return f"Griffin-Lim fallback ({self.reason}); {self.n_iter} iterations"

    def filterbank(self, n_mels: int) -> np.ndarray:
        """The Slaney mel filterbank the mel was made with: [n_mels, n_fft // 2 + 1], float32."""
        if n_mels not in self._filterbanks:
            self._filterbanks[n_mels] = mel_filterbank(self.sampling_rate, self.n_fft, n_mels, self.fmin,
                                                       self.fmax).numpy()
        return self._filterbanks[n_mels]

    def mel_to_magnitude(self, log_mel: np.ndarray) -> np.ndarray:
        """Natural-log mel [n_mels, F] -> non-negative linear STFT magnitudes [n_fft // 2 + 1, F] (float32).

        The filterbank has fewer rows than frequency bins, so the inverse is a least-squares fit with
        magnitudes >= 0 (see `nonnegative_least_squares`).
        """
        log_mel = np.asarray(log_mel, dtype=np.float32)
        if log_mel.ndim != 2 or log_mel.shape[1] < 1:
            raise ValueError(f"mel must be [n_mels, frames], got shape {list(log_mel.shape)}")
        return nonnegative_least_squares(self.filterbank(log_mel.shape[0]), np.exp(log_mel))

    def mel_to_audio(self, log_mel) -> np.ndarray:
        """Log-mel [n_mels, F] (numpy or torch) -> float32 audio [F * hop_length], the length WaveGlow gives."""
        import librosa

        magnitude = self.mel_to_magnitude(_as_numpy(log_mel))
        # Centred frames: F frames come from (F - 1) * hop samples; pad to F * hop like WaveGlow's output.
        audio = librosa.griffinlim(magnitude, n_iter=self.n_iter, hop_length=self.hop_length,
                                   win_length=self.n_fft, n_fft=self.n_fft, window="hann", center=True,
                                   momentum=self.momentum, init="random",
                                   random_state=np.random.default_rng(self.seed),
                                   length=(magnitude.shape[1] - 1) * self.hop_length)
        return np.pad(audio, (0, self.hop_length)).astype(np.float32)

    def random_phase_audio(self, log_mel) -> np.ndarray:
        """The mel's envelope with random phase, the evaluation floor: log-mel [n_mels, F] (numpy or torch) ->
        float32 audio [F * hop_length]. The magnitude of `mel_to_magnitude` (what Griffin-Lim starts from) with
        phases drawn uniformly in [0, 2 pi) (seeded by `seed`), one inverse STFT, no phase iterations."""
        import librosa

        magnitude = self.mel_to_magnitude(_as_numpy(log_mel))
        phase = np.random.default_rng(self.seed).uniform(0.0, 2.0 * np.pi, size=magnitude.shape)
        audio = librosa.istft(magnitude * np.exp(1j * phase), hop_length=self.hop_length, win_length=self.n_fft,
                              n_fft=self.n_fft, window="hann", center=True,
                              length=(magnitude.shape[1] - 1) * self.hop_length)
        return np.pad(audio, (0, self.hop_length)).astype(np.float32)


def _as_numpy(log_mel) -> np.ndarray:
    if hasattr(log_mel, "detach"):  # a torch tensor
        return log_mel.detach().cpu().float().numpy()
    return log_mel


def nonnegative_least_squares(basis: np.ndarray, target: np.ndarray, n_iter: int = 50) -> np.ndarray:
    """x >= 0 minimising ||basis @ x - target||^2, column by column. basis [M, N] >= 0, target [M, F] >= 0 ->
    x [N, F] float32.

    Starts from the clipped pseudo-inverse and refines it with Lee & Seung's multiplicative updates, which keep x
    non-negative and never increase the error. Unlike an exact active-set NNLS (which puts most bins at 0, i.e.
    -inf dB), this keeps the smooth spectra a mel was made from; all frames are solved at once, in matrix form.
    """
    basis = np.asarray(basis, dtype=np.float32)
    target = np.asarray(target, dtype=np.float32)
    x = np.linalg.pinv(basis) @ target
    # strictly positive start: multiplicative updates never move an entry away from 0
    x = np.maximum(x, 1e-6 * max(float(x.max()), 1e-12))
    gram, projected = basis.T @ basis, basis.T @ target
    tiny = np.float32(1e-12)
    for _ in range(n_iter):
        x *= projected / (gram @ x + tiny)
    return x.astype(np.float32)
