"""What the demo's buttons do, without any gradio: vocoder choice, safe mel / audio loading, vocoding, latent tricks.

Every function raises `DemoError` (a UserError, and a ValueError) with a message fit for the page when the user's
input is at fault. Which vocoder a choice means is `waveglow.vocoder.inference.select_vocoder`'s decision, the
features a vocoder is fed are its `MelConfig`, and every WaveGlow comes from the one cache (`get_vocoder`).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from waveglow.audio import mel_adapter, mel_files
from waveglow.audio.features import MelConfig, load_wav
from waveglow.audio.griffin_lim import FALLBACK_LABEL, GRIFFIN_LIM_NAMES, GriffinLimVocoder, is_griffin_lim_name
from waveglow.audio.mel_files import MelFileError
from waveglow.audio.wav_writer import write_wav_atomic
from waveglow.common.errors import CheckpointError, ConfigError, DataError, UserError
from waveglow.vocoder import inference
from tts.festival import FrontendError
from tts.pipeline import SynthesisError, Synthesizer
from tts.limits import MAX_TEXT_CHARS  # noqa: F401  (one limit for the CLI, the API and the demo)
import waveglow

MAX_AUDIO_SECONDS = 30.0
MAX_MEL_FRAMES = 4000  # ~46 s at 22050 Hz / hop 256
# The vocoder dropdown's values. The dropdown decides what speaks; the checkpoint path box is read only when it is
# set to CHECKPOINT (typing a path switches it there, in the page), and a path beside another choice is reported as
# not used, never silently preferred.
DEFAULT_VOCODER = "default"
GRIFFIN_LIM = "griffin-lim"
CHECKPOINT = "checkpoint"
VOCODER_CHOICES = (DEFAULT_VOCODER, GRIFFIN_LIM, CHECKPOINT)
NEURAL = "the neural voice"
NOT_NEURAL = "phase reconstruction, not the neural voice"
NATIVE_MEL_FORMAT = "nvidia"  # natural-log Tacotron2 mel, as our MelSpectrogram computes it


class DemoError(UserError, ValueError):
    """A problem with the user's input or choice; the message is shown in the page as is."""


# ---- vocoder choice -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VocoderChoice:
    """What the dropdown and path box select (`selection`, see `inference.select_vocoder`): a WaveGlow checkpoint
    path or Griffin-Lim; `label` says which, in words; `notice` says what of the user's input was not used (a
    checkpoint path beside another dropdown choice)."""

    selection: inference.VocoderSelection
    label: str
    notice: str = ""

    @property
    def checkpoint(self) -> str | None:
        """The WaveGlow checkpoint path, or None for Griffin-Lim."""
        return None if self.selection.is_griffin_lim else str(self.selection.checkpoint)

    @property
    def is_griffin_lim(self) -> bool:
        return self.selection.is_griffin_lim


def default_checkpoint() -> str | None:
    """The built-in WaveGlow shipped with the toolkit (waveglow.vocoder.inference.default_vocoder_path), or None."""
    path = inference.default_vocoder_path()
    return str(path) if path else None


def griffin_lim_label() -> str:
    return FALLBACK_LABEL


def default_vocoder_label() -> str:
    """What the dropdown's 'built-in default' is on this installation, in words."""
    checkpoint = default_checkpoint()
    if checkpoint is None:
        return f"{griffin_lim_label()} — {NOT_NEURAL}"
    return f"built-in WaveGlow {Path(checkpoint).name} — {NEURAL}"


def choice_name(choice: str) -> str:
    return {DEFAULT_VOCODER: "built-in default", GRIFFIN_LIM: "Griffin-Lim",
            CHECKPOINT: "WaveGlow checkpoint"}.get(choice, str(choice))


def resolve_vocoder(choice: str, custom_path: str = "") -> VocoderChoice:
    """Dropdown choice + checkpoint path box -> VocoderChoice. The dropdown decides: the path is used only with
    choice CHECKPOINT ('griffin-lim' typed there means Griffin-Lim); with another choice a typed path is not used,
    and `notice` says so."""
    custom_path = (custom_path or "").strip()
    notice = ""
    if custom_path and choice != CHECKPOINT:
        notice = (f"the checkpoint path was not used: the vocoder is set to '{choice_name(choice)}' (choose "
                  f"'{choice_name(CHECKPOINT)}' to use it)")
    if choice == CHECKPOINT:
        if not custom_path:
            raise DemoError("vocoder: 'WaveGlow checkpoint' is chosen but the checkpoint path box is empty; type a "
                            "path (a directory or .pt) or choose another vocoder")
        if is_griffin_lim_name(custom_path):
            return VocoderChoice(inference.select_vocoder(custom_path), f"Griffin-Lim (requested) — {NOT_NEURAL}")
        path = Path(custom_path).expanduser()
        if not path.exists():
            raise DemoError(f"vocoder checkpoint not found: {custom_path}")
        return VocoderChoice(inference.select_vocoder(str(path)), f"WaveGlow {path.name} — {NEURAL}")
    if choice == GRIFFIN_LIM:
        return VocoderChoice(inference.select_vocoder(GRIFFIN_LIM_NAMES[0]), f"Griffin-Lim (chosen) — {NOT_NEURAL}",
                             notice)
    if choice != DEFAULT_VOCODER:
        raise DemoError(f"vocoder: unknown choice {choice!r}; expected one of {', '.join(VOCODER_CHOICES)}")
    return VocoderChoice(inference.select_vocoder(None), default_vocoder_label(), notice)


def describe_vocoder(choice: str, custom_path: str = "") -> str:
    """The page's 'speaking' line for the current vocoder inputs (never raises: a problem is described)."""
    try:
        vocoder = resolve_vocoder(choice, custom_path)
    except DemoError as exc:
        return f"Speaking: nothing yet ({public_message(str(exc))})"
    return f"Speaking: {vocoder.label}" + (f". Note: {vocoder.notice}" if vocoder.notice else "")


def load_waveglow(checkpoint: str) -> inference.Vocoder:
    """The WaveGlow of any supported checkpoint (model, mel, denoiser) from the one cache of loaded models
    (`waveglow.vocoder.inference.get_vocoder`, which vocoding here uses too: each file is loaded once)."""
    try:
        return inference.get_vocoder(checkpoint, device="cpu", precision=PRECISION)
    except (CheckpointError, ConfigError, inference.VocodeSetupError, OSError) as exc:
        detail = str(exc)
        raise DemoError(detail if detail.startswith(str(checkpoint)) else
                        f"cannot load WaveGlow checkpoint {checkpoint}: {detail}") from None


def vocoder_mel(vocoder: VocoderChoice) -> MelConfig:
    """The features the vocoder is fed: a WaveGlow's own `MelConfig`; Tacotron2's for Griffin-Lim."""
    return MelConfig() if vocoder.is_griffin_lim else load_waveglow(vocoder.checkpoint).mel


@functools.lru_cache(maxsize=4)
def _spectrogram(mel: MelConfig):
    return mel.mel_spectrogram()


def audio_to_mel(audio: np.ndarray, mel: MelConfig) -> torch.Tensor:
    """float32 audio [T] in [-1, 1] at mel.sampling_rate -> log-mel [n_mels, 1 + T // hop]."""
    with torch.no_grad():
        return _spectrogram(mel)(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))


# ---- vocoding -------------------------------------------------------------------------------------------------------
@dataclass
class Result:
    """Audio plus what to show beside it."""

    audio: np.ndarray
    sampling_rate: int
    mel: torch.Tensor | None
    note: str


def _griffin_lim(mel: torch.Tensor, features: MelConfig) -> np.ndarray:
    return GriffinLimVocoder.for_mel(features, n_iter=32).mel_to_audio(mel)


#: precision of the WaveGlow WN networks for every tab (`waveglow demo --precision`)
PRECISION = "fp32"


def _waveglow_audio(checkpoint: str, mel: torch.Tensor, sigma: float, denoise: float, seed: int) -> np.ndarray:
    """WaveGlow audio of a mel through waveglow.vocoder.inference (it owns the cache and the denoiser)."""
    audio = inference.vocode(mel, checkpoint=checkpoint, sigma=sigma, denoise=denoise, seed=seed, device="cpu",
                             precision=PRECISION)
    return np.asarray(audio, dtype=np.float32).reshape(-1)


def vocode(mel: torch.Tensor, vocoder: VocoderChoice, sigma: float, denoise: float, seed: int = 0) -> Result:
    """Log-mel [n_mels, F] -> Result with the vocoder's audio."""
    check_mel_size(mel)
    features = vocoder_mel(vocoder)
    if mel.shape[0] != features.n_mels:
        raise DemoError(f"the mel has {mel.shape[0]} channels but {vocoder.label} expects {features.n_mels}")
    if vocoder.is_griffin_lim:
        audio, note = _griffin_lim(mel, features), vocoder.label
    else:
        audio = _waveglow_audio(vocoder.checkpoint, mel, sigma, denoise, seed)
        note = f"{vocoder.label}, sigma {sigma:g}, denoiser {denoise:g}"
    return Result(clip_audio(audio), features.sampling_rate, mel, with_notice(note, vocoder))


def with_notice(note: str, vocoder: VocoderChoice) -> str:
    return f"{note}. Note: {vocoder.notice}" if vocoder.notice else note


KEEP_OUTPUTS = 32  # the newest answers stay playable / downloadable; older ones are deleted
KEEP_SECONDS = 3600.0
_written: list[Path] = []


def prune_outputs(folder: Path, keep: int | None = None, max_age: float | None = None) -> int:
    """Delete the demo's wavs in `folder` beyond the newest `keep` (KEEP_OUTPUTS) and any older than `max_age`
    seconds (KEEP_SECONDS); returns how many were deleted."""
    import time

    keep = KEEP_OUTPUTS if keep is None else keep
    max_age = KEEP_SECONDS if max_age is None else max_age
    try:
        wavs = sorted(folder.glob("waveglow-*.wav"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return 0
    now, removed = time.time(), 0
    for i, wav in enumerate(wavs):
        try:
            if i >= keep or now - wav.stat().st_mtime > max_age:
                wav.unlink()
                removed += 1
        except OSError:  # already gone (another request pruned it)
            pass
    return removed


def write_output_wav(audio: np.ndarray, sampling_rate: int, folder: Path) -> Path:
    """A request's answer as a 16-bit WAV in `folder` (written atomically); prunes the folder, and the wavs this
    process wrote are removed when it exits."""
    import atexit
    import uuid


    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"waveglow-{uuid.uuid4().hex[:12]}.wav"
    write_wav_atomic(path, np.asarray(audio, dtype=np.float32), sampling_rate)
    if not _written:
        atexit.register(remove_written)
    _written.append(path)
    prune_outputs(folder)
    return path


def remove_written() -> None:
    """Delete every wav this process wrote (registered with atexit by the first write)."""
    while _written:
        _written.pop().unlink(missing_ok=True)


def clip_audio(audio: np.ndarray) -> np.ndarray:
    """Float audio clipped to [-1, 1] (an untrained vocoder can produce anything) with NaN set to 0."""
    return np.clip(np.nan_to_num(audio.astype(np.float32)), -1.0, 1.0)


# ---- text to speech -------------------------------------------------------------------------------------------------
def check_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise DemoError("Please type some text to speak.")
    if len(text) > MAX_TEXT_CHARS:
        raise DemoError(f"Text is too long ({len(text)} characters); the limit is {MAX_TEXT_CHARS}.")
    return text


def resolve_tacotron2(frontend: str, path: str = "") -> tuple[str | None, str]:
    """(Tacotron2 checkpoint for the frontend or None, notice): the tacotron2 frontend needs an existing one; the
    festival frontend does not use one (a typed path is then reported as not used)."""
    path = (path or "").strip()
    if frontend != "tacotron2":
        return None, (f"the Tacotron2 checkpoint was not used by the {frontend} frontend" if path else "")
    if not path:
        raise DemoError("Tacotron2 checkpoint: the tacotron2 frontend needs one; type its path in the 'Tacotron2 "
                        "checkpoint' box (or start the demo with waveglow demo --tacotron2 CKPT)")
    if not Path(path).expanduser().is_file():
        raise DemoError(f"Tacotron2 checkpoint not found: {path} (expected a Tacotron2 .pt file)")
    return str(Path(path).expanduser()), ""


@functools.lru_cache(maxsize=4)
def _synthesizer(frontend: str, vocoder_arg: str, denoise: float, sigma: float, tacotron2: str | None = None):
    return Synthesizer(frontend=frontend, vocoder=vocoder_arg, denoise=denoise, sigma=sigma, tacotron2=tacotron2,
                       precision=PRECISION)


def text_to_speech(text: str, frontend: str, vocoder: VocoderChoice, sigma: float, denoise: float,
                   tacotron2: str = "") -> Result:
    """Text -> speech with the chosen frontend (tacotron2: the checkpoint `tacotron2`) and vocoder."""
    text = check_text(text)
    if frontend not in ("festival", "tacotron2"):
        raise DemoError(f"text frontend: unknown {frontend!r}; expected festival or tacotron2")
    tacotron2_path, frontend_notice = resolve_tacotron2(frontend, tacotron2)
    vocoder_arg = vocoder.checkpoint or GRIFFIN_LIM
    try:
        synth = _synthesizer(frontend, vocoder_arg, float(denoise), float(sigma), tacotron2_path)
        audio, rate = synth.synthesize(text)
    except (SynthesisError, FrontendError) as exc:
        raise DemoError(str(exc)) from None
    except (CheckpointError, ConfigError, OSError) as exc:  # the Tacotron2 file (the vocoder's was loaded)
        raise DemoError(f"Tacotron2 checkpoint: {exc}") from None
    audio = clip_audio(np.asarray(audio).reshape(-1))
    mel = audio_to_mel(audio, dataclasses.replace(vocoder_mel(vocoder), sampling_rate=int(rate)))
    note = with_notice(f"{frontend} frontend, {vocoder.label}", vocoder)
    return Result(audio, int(rate), mel, f"{note}. Note: {frontend_notice}" if frontend_notice else note)


# ---- messages fit for the page ---------------------------------------------------------------------------------------
# Sentences of library messages that advise loading a file unsafely; they never reach the page.
_UNSAFE_ADVICE = re.compile(r"allow_pickle|weights_only\s*=\s*False|pickle\.load|trust the file|fully trust",
                            re.IGNORECASE)


def _server_folders() -> list[tuple[str, str]]:
    """(server folder, what to show instead), longest first: gradio's upload cache (uploads are kept as
    CACHE/<hash>/<original name>, so the original name remains), the demo's output folder, the toolkit's own
    checkout, the system's temp folder."""
    import os

    temp = Path(tempfile.gettempdir())
    cache = Path(os.environ.get("GRADIO_TEMP_DIR") or temp / "gradio")
    folders = [(re.escape(str(cache)) + r"/[^/\s]+/", ""), (re.escape(str(temp / "waveglow-demo")) + "/", ""),
               (re.escape(str(Path(__file__).resolve().parents[1])) + "/", "")]

    folders.append((re.escape(str(Path(waveglow.__file__).resolve().parents[1])) + "/", ""))
    folders.append((re.escape(str(temp)) + r"/(?:[^/\s]+/)*", ""))
    return folders


def _drop_unsafe_groups(message: str) -> str:
    """The message without the (outermost, possibly nested) parenthesised groups that advise unsafe loading."""
    out, depth, start = [], 0, 0
    for i, char in enumerate(message):
        if char == "(":
            if depth == 0:
                out.append(message[start:i])
                start = i
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                group = message[start:i + 1]
                out.append("" if _UNSAFE_ADVICE.search(group) else group)
                start = i + 1
    out.append(message[start:])
    return re.sub(r"\s+([.,;:])(?=\s|$)", r"\1", re.sub(r"  +", " ", "".join(out))).strip()


def public_message(message: str) -> str:
    """A message fit for the page: server folders cut from paths (an upload shows its original file name) and
    any advice to load a file unsafely dropped (numpy's "allow_pickle", torch's "weights_only=False")."""
    for pattern, replacement in _server_folders():
        message = re.sub(pattern, replacement, message)
    if _UNSAFE_ADVICE.search(message):
        message = _drop_unsafe_groups(message)
        pieces = re.split(r"(?<=[.!?])\s+|\n+", message)
        message = " ".join(p for p in pieces if p and not _UNSAFE_ADVICE.search(p)).strip()
        message = message or "the file cannot be read safely"
    return message


# ---- mel files ------------------------------------------------------------------------------------------------------
def mel_format_choices() -> list[str]:
    """Mel conventions an upload can be in (waveglow.audio.mel_adapter's FORMATS)."""
    return list(mel_adapter.FORMATS)


def _tensor_from_loaded(obj) -> torch.Tensor:
    """A loaded .pt object -> its mel tensor: a tensor, or a dict holding 'mel' or exactly one tensor."""
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(v, (torch.Tensor, np.ndarray))}
        obj = tensors.get("mel") if "mel" in tensors else (next(iter(tensors.values())) if len(tensors) == 1 else None)
    if isinstance(obj, np.ndarray):
        obj = torch.from_numpy(obj)
    if not isinstance(obj, torch.Tensor):
        raise DemoError("the .pt file must hold a mel tensor (or a dict with a 'mel' tensor)")
    return obj


def load_mel_file(path: str) -> torch.Tensor:
    """An uploaded .npy / .pt file -> float32 mel [n_mels, F] or [F, n_mels]; read through the loading gate
    (`waveglow.audio.mel_files`): nothing in the file is executed, sizes are checked before anything is allocated."""

    suffix = Path(path).suffix.lower()
    if suffix not in (".npy", ".pt"):
        raise DemoError(f"unsupported mel file type '{suffix}': upload a .npy or .pt file")
    try:
        loaded = mel_files.load_mel_file(path)
        mel = torch.from_numpy(np.array(loaded)) if isinstance(loaded, np.ndarray) else _tensor_from_loaded(loaded)
    except DemoError:
        raise
    except MelFileError as exc:
        raise DemoError(f"cannot read the mel file: {str(exc).replace(str(path), Path(path).name)}") from None
    if mel.dim() == 3 and mel.shape[0] == 1:
        mel = mel[0]
    if mel.dim() != 2 or not mel.is_floating_point():
        raise DemoError(f"{Path(path).name}: the mel must be a float array [n_mels, frames], got {mel.dtype} "
                        f"{list(mel.shape)}")
    if not torch.isfinite(mel).all():
        raise DemoError(f"{Path(path).name}: the mel contains NaN or infinite values")
    return mel.float()


def convert_mel(mel: torch.Tensor, mel_format: str, n_mels: int) -> torch.Tensor:
    """A mel in `mel_format` -> our convention with the vocoder's n_mels (waveglow.audio.mel_adapter)."""
    if mel_format not in mel_adapter.FORMATS:
        raise DemoError(f"unknown mel format {mel_format!r}; choose one of {', '.join(mel_adapter.FORMATS)}")
    try:
        converted = mel_adapter.to_vocoder_mel(mel.numpy(), mel_format, n_mels=n_mels, warn=False)
    except mel_adapter.MelFormatError as exc:
        raise DemoError(f"cannot convert the mel: {exc}") from None
    return torch.from_numpy(np.ascontiguousarray(converted, dtype=np.float32))


def check_mel_size(mel: torch.Tensor) -> None:
    if mel.dim() != 2 or mel.shape[1] < 2:
        raise DemoError(f"the mel must be [n_mels, frames] with at least 2 frames, got {list(mel.shape)}")
    if mel.shape[1] > MAX_MEL_FRAMES:
        raise DemoError(f"the mel has {mel.shape[1]} frames; the demo's limit is {MAX_MEL_FRAMES}")


# ---- recordings -----------------------------------------------------------------------------------------------------
def load_recording(path: str | None, sampling_rate: int) -> np.ndarray:
    """An uploaded audio file -> float32 mono [T] at `sampling_rate` (resampled), at most MAX_AUDIO_SECONDS."""

    if not path:
        raise DemoError("Please upload a recording first.")
    try:
        audio, _ = load_wav(path, sampling_rate=sampling_rate, resample=True)
    except DataError as exc:
        raise DemoError(f"cannot use this recording: {str(exc).replace(str(path), Path(path).name)}") from None
    if audio.size > MAX_AUDIO_SECONDS * sampling_rate:
        raise DemoError(f"the recording is {audio.size / sampling_rate:.1f} s long; the limit is "
                        f"{MAX_AUDIO_SECONDS:g} s")
    if audio.size < 2048:
        raise DemoError("the recording is too short (under 0.1 s)")
    return audio


def resynthesise(path: str | None, vocoder: VocoderChoice, sigma: float, denoise: float) -> tuple[Result, torch.Tensor]:
    """Recording -> our mel -> vocoder. Returns the result and the recording's own mel."""
    features = vocoder_mel(vocoder)
    mel = audio_to_mel(load_recording(path, features.sampling_rate), features)
    result = vocode(mel, vocoder, sigma, denoise)
    return result, mel


# ---- latent space (needs a WaveGlow) --------------------------------------------------------------------------------
def require_waveglow(vocoder: VocoderChoice) -> inference.Vocoder:
    if vocoder.is_griffin_lim:
        raise DemoError("the latent-space tools need a WaveGlow checkpoint: type its path in the vocoder box")
    return load_waveglow(vocoder.checkpoint)


@torch.no_grad()
def encode(waveglow: inference.Vocoder, audio: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Exact latent of a recording: (z [1, n_group, T / n_group], mel [n_mel, T / hop], the recording's excitation
    [1, 2 or 2K, T] or None) with `decode(waveglow, mel, z, 1, excitation)` giving the recording back (T cropped to
    whole mel frames)."""
    hop = waveglow.mel.hop_length
    n_samples = (audio.size // hop) * hop
    audio = torch.from_numpy(audio[:n_samples])[None]
    # the frames the decoder is given, cropped before the forward pass: the upsampler's edge sees the same context
    mel = audio_to_mel(audio[0].numpy(), waveglow.mel)[:, : n_samples // hop]
    excitation = waveglow.model.excitation_of_audio(audio)
    z, _ = waveglow.model(audio, mel[None], excitation)
    return z, mel, excitation


@torch.no_grad()
def decode(waveglow: inference.Vocoder, mel: torch.Tensor, z: torch.Tensor, sigma: float,
           excitation: torch.Tensor | None) -> np.ndarray:
    """The flow's exact inverse of a latent (scaled by sigma) under mel [n_mel, F] and a recording's excitation:
    no envelope projection and no Griffin-Lim excitation, so an encoded recording decodes back to itself."""
    return waveglow.model.reverse(mel[None], z, sigma, excitation)[0].numpy()


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of two latents seen as vectors (keeps the norm a Gaussian sample has)."""
    a_flat, b_flat = a.flatten().double(), b.flatten().double()
    cos = torch.dot(a_flat, b_flat) / (a_flat.norm() * b_flat.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:
        return torch.lerp(a, b, t)
    mix = (torch.sin((1 - t) * omega) * a_flat + torch.sin(t * omega) * b_flat) / torch.sin(omega)
    return mix.reshape(a.shape).to(a.dtype)


def interpolate(path_a: str | None, path_b: str | None, t: float, method: str, vocoder: VocoderChoice) -> Result:
    """Decode a mix of two recordings' exact latents with recording A's mel (both cropped to the shorter).

    t = 0 gives recording A back exactly; t = 1 gives B's fine structure (its noise) under A's spectrogram."""
    waveglow = require_waveglow(vocoder)
    rate = waveglow.mel.sampling_rate
    audio_a, audio_b = load_recording(path_a, rate), load_recording(path_b, rate)
    n_samples = min(audio_a.size, audio_b.size)  # crop the audio, not z: the flow is not local in time
    z_a, mel, excitation = encode(waveglow, audio_a[:n_samples])
    z_b, _, _ = encode(waveglow, audio_b[:n_samples])
    z = slerp(z_a, z_b, t) if method == "slerp" else torch.lerp(z_a, z_b, float(t))
    audio = decode(waveglow, mel, z, 1.0, excitation)
    return Result(clip_audio(audio), rate, mel, f"{method} t={t:g} of A's and B's latents, decoded with A's mel")


def sigma_values(text: str) -> list[float]:
    """'0, 0.5, 1' -> [0.0, 0.5, 1.0]; 1 to 8 values in [0, 2]."""
    try:
        values = [float(v) for v in (text or "").replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise DemoError(f"sigmas must be numbers separated by commas, got {text!r}") from None
    if not 1 <= len(values) <= 8 or not all(0.0 <= v <= 2.0 and math.isfinite(v) for v in values):
        raise DemoError("give 1 to 8 sigmas between 0 and 2, e.g. 0, 0.4, 0.8, 1.0")
    return values


def sweep_sigma(path: str | None, sigmas_text: str, own_latent: bool, vocoder: VocoderChoice,
                gap_s: float = 0.3) -> tuple[Result, list[np.ndarray]]:
    """One recording's mel decoded at several sigmas, joined with short silences.

    own_latent: scale the recording's exact latent (sigma 1 = the recording itself) instead of a seeded draw."""
    waveglow = require_waveglow(vocoder)
    sigmas = sigma_values(sigmas_text)
    model, rate, hop = waveglow.model, waveglow.mel.sampling_rate, waveglow.mel.hop_length
    audio = load_recording(path, rate)
    if own_latent:  # the recording's own latent and excitation: sigma 1 is the recording itself
        z, mel, excitation = encode(waveglow, audio)
        pieces = [clip_audio(decode(waveglow, mel, z, s, excitation)) for s in sigmas]
    else:  # a seeded draw, voiced as the vocoder voices a mel (no forward pass, no pitch tracking of the recording)
        n_frames = audio.size // hop
        mel = audio_to_mel(audio[: n_frames * hop], waveglow.mel)[:, :n_frames]
        z = model.draw_latent(1, n_frames * hop // model.config.n_group, torch.Generator().manual_seed(0))
        pieces = [clip_audio(model.infer(mel, sigma=s, z=z, precision=PRECISION)[0].numpy()) for s in sigmas]
    gap = np.zeros(int(gap_s * rate), dtype=np.float32)
    joined = np.concatenate([x for piece in pieces for x in (piece, gap)][:-1])
    source = "the recording's own latent" if own_latent else "a seeded random latent"
    return Result(joined, rate, mel, f"sigmas {', '.join(f'{s:g}' for s in sigmas)} applied to {source}"), pieces
