"""Text -> speech: sentence splitting, a text -> mel front end, a mel -> audio vocoder, pauses, WAV output.

    >>> from tts import Synthesizer
    >>> synth = Synthesizer(frontend="festival")            # no weights needed anywhere
    >>> audio, rate = synth.synthesize("Hello there. How are you?")
    >>> synth.synthesize_to_file("Hello there.", "hello.wav")

Front ends: "festival" (`tts.festival.FestivalFrontend`), "tacotron2" (needs `tacotron2=CKPT`), or any object with
`text_to_mel(text) -> mel [n_mels, frames]` and `n_mel_channels`. Vocoders: a `WaveGlow`, a checkpoint path,
"griffin-lim", any object with `mel_to_audio(mel)` (and `mel`, a MelConfig, for Festival to match it), or None:
the WaveGlow shipped in `waveglow/assets/waveglow_default/` when there is one, otherwise the Griffin-Lim fallback,
which is labelled as such in `vocoder_label` and in the log.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from waveglow.audio.griffin_lim import GriffinLimVocoder
from waveglow.audio.wav_writer import write_wav_atomic
from waveglow.common.errors import ToolkitError
from waveglow.vocoder.config import DEFAULT_SIGMA
from waveglow.vocoder.inference import VocodeSetupError, get_vocoder, make_generator, resolve_device, select_vocoder
from tts.festival import FestivalFrontend
from tts.limits import MAX_TEXT_CHARS
from tts.tacotron2 import Tacotron2
from tts.text import text_to_sequence

logger = logging.getLogger(__name__)

DEFAULT_PAUSE_SECONDS = 0.25


class SynthesisError(ToolkitError, ValueError):
    """Input or configuration the pipeline cannot synthesise (empty or too long text, mismatched models)."""


# --------------------------------------------------------------------------------------------------------------
# sentences

# Words whose trailing period does not end a sentence (compared lowercased, without the period).
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "messrs", "dr", "st", "jr", "sr", "prof", "rev", "hon", "gen", "col", "capt", "lt",
    "sgt", "maj", "gov", "sen", "rep", "mt", "ft", "vs", "cf", "approx", "dept", "fig", "inc", "ltd", "co",
    "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})
# Sentence-ending punctuation (with closing quotes / brackets) followed by whitespace or the end of the line.
# A period inside a number ("3.14") is never followed by whitespace, so decimals are not boundaries.
_BOUNDARY = re.compile(r"[.!?;]+[\"')\]]*(?=\s|$)")
# "J." (an initial) and "U.S." / "e.g." (dotted initialisms) do not end a sentence either.
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)*[A-Za-z]$")
_SPEAKABLE = re.compile(r"[A-Za-z0-9]")


def _ends_with_abbreviation(before: str) -> bool:
    """Whether the text up to a lone period ends with an abbreviation or initial ("Mr", "J", "U.S")."""
    words = before.split()
    if not words:
        return False
    word = words[-1].lstrip("\"'([")
    return word.lower() in ABBREVIATIONS or bool(_INITIALISM.match(word))


def split_sentences(text: str) -> list[str]:
    """Split text into sentences at . ! ? ; and line breaks; punctuation stays with its sentence.

    A period after an abbreviation ("Mr.", "Dr.", "St."), an initial ("J.") or inside a number ("3.14") is not a
    boundary. Pieces with nothing speakable (no letter or digit) are dropped; whitespace inside a sentence is
    collapsed.
    """
    sentences: list[str] = []
    for line in text.splitlines():
        start = 0
        for match in _BOUNDARY.finditer(line):
            if match.group().rstrip("\"')]") == "." and _ends_with_abbreviation(line[start:match.start()]):
                continue
            sentences.append(line[start:match.end()])
            start = match.end()
        sentences.append(line[start:])
    cleaned = (" ".join(s.split()) for s in sentences)
    return [s for s in cleaned if _SPEAKABLE.search(s)]


def check_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """The text with outer whitespace stripped; SynthesisError when it is empty or longer than `max_chars`."""
    if not isinstance(text, str):
        raise SynthesisError(f"text must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise SynthesisError("text is empty: nothing to synthesise")
    if len(stripped) > max_chars:
        raise SynthesisError(f"text is {len(stripped)} characters long; the limit is {max_chars} "
                             "(split it, or raise it with --max-chars / max_chars=)")
    if not _SPEAKABLE.search(stripped):
        raise SynthesisError("text has no letters or digits: nothing to synthesise")
    return stripped


# --------------------------------------------------------------------------------------------------------------
# front ends and vocoders


class Tacotron2Frontend:
    """Text -> log-mel [n_mel_channels, frames] with a Tacotron2 checkpoint (NVIDIA's english_cleaners, no CMUdict).

    prenet_dropout: NVIDIA keeps p = 0.5 at inference (its published model sounds better with the noise);
    0 makes the output deterministic. It applies when loading a checkpoint; a `Tacotron2` passed in is used as
    it is (moved to `device`), its own prenet_dropout included.
    """

    name = "tacotron2"
    sampling_rate = None  # Tacotron2 files do not record it; NVIDIA's models are 22050 Hz

    def __init__(self, model_or_path, prenet_dropout: float = 0.5, device: Any = "auto",
                 cleaners: tuple[str, ...] = ("english_cleaners",)):


        self.device = resolve_device(device)
        if isinstance(model_or_path, Tacotron2):
            self.model, self.source = model_or_path.to(self.device).eval(), "in-memory model"
        else:
            self.model = Tacotron2.from_pretrained(model_or_path, prenet_dropout=prenet_dropout,
                                                   map_location=self.device)
            self.source = str(model_or_path)
        self.cleaners = list(cleaners)

    @property
    def n_mel_channels(self) -> int:
        return self.model.config.n_mel_channels

    def describe(self) -> str:
        return f"Tacotron2 ({self.source}, prenet dropout {self.model.prenet_dropout:g})"

    def text_to_mel(self, text: str):
        """Text -> log-mel torch.Tensor [n_mel_channels, frames] (postnet output)."""

        ids = text_to_sequence(text, self.cleaners)
        if not ids:
            raise SynthesisError(f"no Tacotron2 symbols left after cleaning {text!r}")
        return self.model.infer(ids).mel_outputs_postnet[0]


class WaveGlowVocoder:
    """Log-mel [n_mel_channels, F] -> audio [F * hop_length] with a WaveGlow, optionally denoised.

    Runs through `waveglow.vocode.get_vocoder` (loaded checkpoints are cached, the denoiser is built on first use).
    sigma: latent scale (NVIDIA's default 0.666); denoise: strength of the bias-spectrum Denoiser (0 = off).
    """

    name = "waveglow"
    is_fallback = False

    def __init__(self, model_or_path, sigma: float = DEFAULT_SIGMA, denoise: float = 0.0, device: Any = "auto",
                 precision: str = "auto"):

        if sigma < 0:
            raise SynthesisError(f"sigma must be >= 0, got {sigma}")
        if denoise < 0:
            raise SynthesisError(f"denoise strength must be >= 0, got {denoise}")
        try:
            self.engine = get_vocoder(model_or_path, device=device, precision=precision)
        except VocodeSetupError as exc:
            raise SynthesisError(str(exc)) from None
        self.precision = self.engine.precision  # 'auto' resolved for this device
        self.source = "in-memory model" if hasattr(model_or_path, "infer") else str(model_or_path)
        self.sigma = float(sigma)
        self.denoise = float(denoise)
        self.generator = None  # a torch.Generator set by `reseed`; None: torch's global RNG

    @property
    def mel(self):
        """The features the model is fed (a MelConfig: its file's "mel", else Tacotron2's at its rate and hop)."""
        return self.engine.mel

    @property
    def n_mel_channels(self) -> int:
        return self.engine.config.n_mel_channels

    @property
    def sampling_rate(self) -> int:
        return self.engine.config.sampling_rate

    @property
    def hop_length(self) -> int:
        return self.engine.config.hop_length

    def describe(self) -> str:
        denoise = f", denoise {self.denoise:g}" if self.denoise > 0 else ""
        precision = f", {self.precision} WN" if self.precision != "fp32" else ""
        return f"WaveGlow ({self.source}, sigma {self.sigma:g}{denoise}{precision})"

    def reseed(self, seed: int) -> None:
        """Draw latents from a CPU generator seeded with `seed` (same seed, same audio on every device)."""

        self.generator = make_generator(seed)

    def mel_to_audio(self, mel) -> np.ndarray:
        """Log-mel [n_mels, F] (torch or numpy) -> float32 numpy audio [F * hop_length]."""
        import torch

        mel = torch.as_tensor(mel, dtype=torch.float32)
        if mel.dim() != 2:
            raise ValueError(f"mel must be [n_mels, frames], got shape {list(mel.shape)}")
        latent = self.engine.latent(mel.shape[1], self.generator)
        audio = self.engine.synthesize(mel.unsqueeze(0), latent, sigma=self.sigma, denoise=self.denoise)
        return audio[0].numpy()


# --------------------------------------------------------------------------------------------------------------
# the pipeline


class Synthesizer:
    """Text -> (audio float32 [T], sampling_rate): split into sentences, each through front end and vocoder,
    joined with `pause_seconds` of silence.

    frontend: "festival" | "tacotron2" | an object with text_to_mel(text) and n_mel_channels.
    vocoder: a WaveGlow | a checkpoint path | "griffin-lim" | None (shipped WaveGlow, else Griffin-Lim fallback)
             | an object with mel_to_audio(mel) and n_mel_channels.
    sigma, denoise: WaveGlow settings; tacotron2: checkpoint for frontend="tacotron2"; device: torch device for
    the models ("auto": CUDA when available).
    seed: makes Tacotron2's prenet dropout and WaveGlow's latent reproducible (the global torch RNG is reseeded
    on every synthesize call). max_chars: longest text accepted per call.
    Raises SynthesisError for inconsistent settings (e.g. a 80-mel front end with a 16-mel WaveGlow).
    """

    def __init__(self, frontend: Any = "festival", vocoder: Any = None, denoise: float = 0.0,
                 sigma: float = DEFAULT_SIGMA, tacotron2: Any = None, device: Any = "auto", *,
                 prenet_dropout: float = 0.5, pause_seconds: float = DEFAULT_PAUSE_SECONDS,
                 max_chars: int = MAX_TEXT_CHARS, seed: int | None = None, griffin_lim_iters: int = 60,
                 festival_timeout_s: float = 60.0, precision: str = "auto"):
        if pause_seconds < 0:
            raise SynthesisError(f"pause_seconds must be >= 0, got {pause_seconds}")
        if max_chars < 1:
            raise SynthesisError(f"max_chars must be >= 1, got {max_chars}")
        if griffin_lim_iters < 1:
            raise SynthesisError(f"griffin_lim_iters must be >= 1, got {griffin_lim_iters}")
        self.device = _resolve_device(device)
        self.pause_seconds = float(pause_seconds)
        self.max_chars = int(max_chars)
        self.seed = seed
        self.precision = precision
        self.vocoder = self._build_vocoder(vocoder, sigma, denoise, griffin_lim_iters)
        self.frontend = self._build_frontend(frontend, tacotron2, prenet_dropout, festival_timeout_s)
        self._check_compatible()
        logger.info("%s", self.frontend_label)
        if self.is_fallback:
            logger.warning("%s", self.vocoder_label)
        else:
            logger.info("%s", self.vocoder_label)

    # ------------------------------------------------------------------ construction
    def _build_vocoder(self, vocoder: Any, sigma: float, denoise: float, griffin_lim_iters: int):
        """An object with mel_to_audio as given; anything else means what `select_vocoder` says it means (as for
        `waveglow vocode`), made into a mel_to_audio vocoder: `GriffinLimVocoder` or `WaveGlowVocoder`."""
        if hasattr(vocoder, "mel_to_audio"):
            return vocoder
        try:
            selection = select_vocoder(vocoder)
        except VocodeSetupError as exc:
            raise SynthesisError(str(exc)) from None
        if selection.is_griffin_lim:
            return GriffinLimVocoder(n_iter=griffin_lim_iters, reason=selection.griffin_lim_reason)
        return WaveGlowVocoder(selection.checkpoint, sigma=sigma, denoise=denoise, device=self.device,
                               precision=self.precision)

    def _build_frontend(self, frontend: Any, tacotron2: Any, prenet_dropout: float, timeout_s: float):
        if isinstance(frontend, str):
            if frontend == "festival":
                # Festival's mel is computed from audio: in whatever features the vocoder was trained on
                return FestivalFrontend(timeout_s=timeout_s, mel=getattr(self.vocoder, "mel", None))
            if frontend == "tacotron2":
                if tacotron2 is None:
                    raise SynthesisError("frontend 'tacotron2' needs a Tacotron2 checkpoint (tacotron2=PATH, "
                                         "--tacotron2 CKPT on the command line)")
                return Tacotron2Frontend(tacotron2, prenet_dropout=prenet_dropout, device=self.device)
            raise SynthesisError(f"unknown frontend {frontend!r} (choose 'festival' or 'tacotron2')")
        if not hasattr(frontend, "text_to_mel"):
            raise SynthesisError(f"frontend must be 'festival', 'tacotron2' or an object with text_to_mel(text), "
                                 f"got {type(frontend).__name__}")
        return frontend

    def _check_compatible(self) -> None:
        made = getattr(self.frontend, "n_mel_channels", None)
        expected = getattr(self.vocoder, "n_mel_channels", None)
        if made is not None and expected is not None and made != expected:
            raise SynthesisError(
                f"mel channel mismatch: the {getattr(self.frontend, 'name', 'given')} front end makes {made}-channel "
                f"mels but the vocoder {_describe(self.vocoder)} expects {expected}; use a vocoder trained on "
                f"{made}-channel mels (or the griffin-lim fallback)")
        made_rate = getattr(self.frontend, "sampling_rate", None)
        vocoder_rate = getattr(self.vocoder, "sampling_rate", None)
        if made_rate is not None and vocoder_rate is not None and made_rate != vocoder_rate:
            raise SynthesisError(f"sampling rate mismatch: the front end's mels are for {made_rate} Hz but the "
                                 f"vocoder makes {vocoder_rate} Hz audio")

    # ------------------------------------------------------------------ labels
    @property
    def is_fallback(self) -> bool:
        """True when the vocoder is the Griffin-Lim fallback rather than a trained model."""
        return bool(getattr(self.vocoder, "is_fallback", False))

    @property
    def frontend_label(self) -> str:
        return f"frontend: {_describe(self.frontend)}"

    @property
    def vocoder_label(self) -> str:
        return f"vocoder: {_describe(self.vocoder)}"

    @property
    def sampling_rate(self) -> int:
        for part in (self.vocoder, self.frontend):
            rate = getattr(part, "sampling_rate", None)
            if rate is not None:
                return int(rate)
        return 22050  # Tacotron2 + Griffin-Lim: NVIDIA's LJSpeech rate

    # ------------------------------------------------------------------ synthesis
    def synthesize(self, text: str, progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, int]:
        """Text -> (float32 audio [T] in [-1, 1], sampling rate in Hz). Raises SynthesisError for bad text.
        progress(done, total) is called after each sentence (e.g. to drive a progress bar)."""
        sentences = split_sentences(check_text(text, self.max_chars))
        if not sentences:
            raise SynthesisError("text has nothing speakable after splitting into sentences")
        self._reseed()
        rate = self.sampling_rate
        pause = np.zeros(int(round(self.pause_seconds * rate)), dtype=np.float32)
        pieces: list[np.ndarray] = []
        for i, sentence in enumerate(sentences):
            logger.debug("sentence %d/%d: %s", i + 1, len(sentences), sentence)
            if i:
                pieces.append(pause)
            mel = self.frontend.text_to_mel(sentence)
            pieces.append(np.asarray(self.vocoder.mel_to_audio(mel), dtype=np.float32).reshape(-1))
            if progress is not None:
                progress(i + 1, len(sentences))
        return _limit_peak(np.concatenate(pieces)), rate

    def _reseed(self) -> None:
        if self.seed is None:
            return
        import torch

        torch.manual_seed(self.seed)  # Tacotron2's prenet dropout draws from the global RNG
        if hasattr(self.vocoder, "reseed"):
            self.vocoder.reseed(self.seed)

    def synthesize_to_file(self, text: str, path: str | os.PathLike) -> Path:
        """Synthesise `text` into a 16-bit PCM WAV at `path`, written atomically (temp file + rename)."""
        audio, rate = self.synthesize(text)
        return write_wav_atomic(path, audio, rate)


def _limit_peak(audio: np.ndarray, ceiling: float = 0.999) -> np.ndarray:
    """Scale audio down when it would clip in PCM16 (WaveGlow can overshoot 1.0); quieter audio is untouched."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > ceiling:
        logger.info("audio peak %.3f scaled down to %.3f to avoid clipping", peak, ceiling)
        return (audio * (ceiling / peak)).astype(np.float32)
    return audio


def _resolve_device(device: Any):
    try:
        return resolve_device("auto" if device is None else device)
    except VocodeSetupError as exc:
        raise SynthesisError(str(exc)) from None


def _describe(part: Any) -> str:
    describe = getattr(part, "describe", None)
    return describe() if callable(describe) else type(part).__name__

