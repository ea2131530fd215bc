"""Festival text -> mel front end: needs no model weights, only the system packages named in `INSTALL_COMMAND`.

    text -> Festival `text2wave` with the CMU SLT HTS voice (a subprocess, text passed in a temp file)
         -> wav (32 kHz for this voice) -> edge silence trimmed -> resampled to the mel's rate (22050 Hz)
         -> `MelSpectrogram` (Tacotron2's log-mel)                                        -> mel [n_mels, frames]

The mel settings default to Tacotron2's (80 mels, hop 256, 0-8000 Hz) but can follow any vocoder, since the mel is
computed from audio rather than predicted.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from waveglow.audio.features import MelConfig, load_wav, resample_audio
from waveglow.common.errors import ToolkitError

INSTALL_COMMAND = "apt-get install festival festvox-us-slt-hts"
DEFAULT_VOICE = "cmu_us_slt_arctic_hts"
TEXT2WAVE = "text2wave"  # Festival's batch synthesis script (ships in the `festival` package)

# A voice name becomes Scheme code "(voice_NAME)" on Festival's command line: allow identifiers only.
_VOICE_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class FrontendError(ToolkitError, RuntimeError):
    """The text front end cannot run (missing program or voice, failure, timeout); the message says how to fix it."""


def find_text2wave() -> str:
    """Absolute path of Festival's `text2wave`; FrontendError with the install command when it is not on PATH."""
    path = shutil.which(TEXT2WAVE)
    if path is None:
        raise FrontendError(f"Festival is not installed (no '{TEXT2WAVE}' on PATH); install it with: "
                            f"{INSTALL_COMMAND}")
    return path


def trim_edge_silence(audio: np.ndarray, sampling_rate: int, top_db: float = 40.0,
                      margin_s: float = 0.05) -> np.ndarray:
    """Drop leading / trailing audio quieter than `top_db` below the peak, keeping `margin_s` seconds of it.

    Festival starts every utterance with ~0.25 s of silence; trimming lets the pipeline control the pauses.
    audio float32 [T] -> float32 [T'] (unchanged when it is all silence).
    """
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak == 0.0:
        return audio
    loud = np.flatnonzero(np.abs(audio) > peak * 10.0 ** (-top_db / 20.0))
    margin = int(round(margin_s * sampling_rate))
    return audio[max(0, loud[0] - margin): loud[-1] + 1 + margin]


def _ascii_text(text: str) -> str:
    """Festival reads its text file as 8-bit characters: transliterate to ASCII so UTF-8 never becomes noise."""
    from unidecode import unidecode

    return unidecode(text)


class FestivalFrontend:
    """Text -> log-mel [n_mel_channels, frames] through Festival speech (`synthesize_audio` gives the audio itself).

    voice: Festival voice name (selected with `(voice_NAME)`); timeout_s: limit per call of text2wave.
    mel: the features to compute from Festival's audio (a `MelConfig`, the vocoder's; default Tacotron2's).
    """

    name = "festival"

    def __init__(self, voice: str = DEFAULT_VOICE, timeout_s: float = 60.0, mel: MelConfig | None = None,
                 trim_silence: bool = True):
        if not _VOICE_NAME.match(voice):
            raise ValueError(f"voice must be a Festival voice name (letters, digits, '_'), got {voice!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if mel is not None and not isinstance(mel, MelConfig):
            raise TypeError(f"mel must be a MelConfig, got {type(mel).__name__}")
        self.voice = voice
        self.timeout_s = float(timeout_s)
        self.trim_silence = trim_silence
        self.mel = MelConfig() if mel is None else mel  # the vocoder's features (default: Tacotron2's)
        self._spectrogram = None  # the MelSpectrogram of `mel`, built on first use

    @property
    def n_mel_channels(self) -> int:
        return self.mel.n_mels

    @property
    def sampling_rate(self) -> int:
        return self.mel.sampling_rate

    def describe(self) -> str:
        return f"Festival (voice {self.voice}, no model weights)"

    def with_mel_settings(self, **settings) -> "FestivalFrontend":
        """A copy computing its mels with other `MelConfig` fields (e.g. n_mels=16 for a 16-channel vocoder;
        win_length follows n_fft)."""
        if "n_fft" in settings:
            settings.setdefault("win_length", settings["n_fft"])
        return FestivalFrontend(self.voice, self.timeout_s, mel=dataclasses.replace(self.mel, **settings),
                                trim_silence=self.trim_silence)

    # ------------------------------------------------------------------ audio
    def synthesize_audio(self, text: str) -> tuple[np.ndarray, int]:
        """Festival's own speech for `text`: (float32 [T] in [-1, 1], Festival's rate in Hz, 32000 for SLT HTS).

        Raises FrontendError when Festival or the voice is missing, fails, times out or writes no audio.
        """

        text2wave = find_text2wave()
        with tempfile.TemporaryDirectory(prefix="festival-") as tmp:
            text_path, wav_path = Path(tmp) / "text.txt", Path(tmp) / "speech.wav"
            text_path.write_text(_ascii_text(text) + "\n", encoding="ascii")
            # An argument list, never a shell: the text only ever reaches Festival as a file's contents.
            command = [text2wave, "-eval", f"(voice_{self.voice})", str(text_path), "-o", str(wav_path)]
            try:
                done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                      errors="replace", timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                raise FrontendError(f"Festival took longer than {self.timeout_s:g} s for {len(text)} characters "
                                    "of text (raise timeout_s or split the text)") from None
            except OSError as exc:
                raise FrontendError(f"cannot run {text2wave}: {exc}; reinstall with: {INSTALL_COMMAND}") from None
            self._check_run(done, wav_path)
            audio, rate = load_wav(wav_path)
        if self.trim_silence:
            audio = trim_edge_silence(audio, rate)
        return audio, rate

    def _check_run(self, done: subprocess.CompletedProcess, wav_path: Path) -> None:
        # Festival's Scheme errors ("SIOD ERROR: unbound variable : voice_x") exit with status 0 and no file.
        output = f"{done.stdout}\n{done.stderr}"
        if f"unbound variable : voice_{self.voice}" in output:
            raise FrontendError(f"the Festival voice '{self.voice}' is not installed; install it with: "
                                f"{INSTALL_COMMAND}")
        failed = done.returncode != 0 or "SIOD ERROR" in output
        if failed or not wav_path.is_file() or wav_path.stat().st_size == 0:
            detail = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "no output")
            raise FrontendError(f"Festival failed (exit status {done.returncode}): {detail}")

    # ------------------------------------------------------------------ mel
    def _mel_transform(self):
        if self._spectrogram is None:
            self._spectrogram = self.mel.mel_spectrogram()
        return self._spectrogram

    def audio_to_mel(self, audio: np.ndarray, rate: int):
        """float32 audio [T] at `rate` Hz -> log-mel torch.Tensor [n_mel_channels, 1 + T' // hop] at our rate."""
        import torch

        if rate != self.sampling_rate:
            audio = resample_audio(audio, rate, self.sampling_rate)
        with torch.no_grad():
            return self._mel_transform()(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))

    def text_to_mel(self, text: str):
        """Text -> log-mel torch.Tensor [n_mel_channels, frames] (natural log, floor log(1e-5))."""
        audio, rate = self.synthesize_audio(text)
        return self.audio_to_mel(audio, rate)
