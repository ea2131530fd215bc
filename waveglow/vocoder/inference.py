"""Mel -> audio with a WaveGlow checkpoint: device and precision, seeding, long-form chunking, denoising.

    import waveglow
    audio = waveglow.vocode(mel, checkpoint="waveglow.pt", sigma=0.666, denoise=0.01, seed=0)  # float32 numpy

Vocoder choice (`select_vocoder` decides for `waveglow vocode`, `vocode()` and `tts`; `choose_vocoder` loads it): a
checkpoint path or WaveGlow; "griffin-lim"; or None: the built-in voice (`waveglow/assets/waveglow_default`) when
installed, else the Griffin-Lim fallback, which is logged as a warning and says so in `describe()`.

Seeding: with `seed=S` the latent is drawn on a CPU `torch.Generator().manual_seed(S)` in NVIDIA's order, so
`vocode(mel, seed=S)` equals `model.infer(mel, sigma, generator=torch.Generator().manual_seed(S))` on any device;
seed None draws from a freshly seeded generator (never touching torch's global RNG).
"""
from __future__ import annotations

import copy
import importlib.util
import logging
import os
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from waveglow.audio.griffin_lim import (FALLBACK_REASON, GRIFFIN_LIM_MELS, GriffinLimVocoder, REQUESTED_REASON,
                                        is_griffin_lim_name)
from waveglow.audio.mel_adapter import convert_mel
from waveglow.common.errors import ToolkitError
from waveglow.common.precision import CHOICES as PRECISION_CHOICES, DTYPES, resolve_precision
from waveglow.audio.features import MelConfig
from waveglow.vocoder.checkpoint import default_mel
from waveglow.vocoder.config import DEFAULT_SIGMA
from waveglow.vocoder.denoiser import Denoiser
from waveglow.vocoder.long_form import infer_chunked
from waveglow.vocoder.model import load_waveglow

logger = logging.getLogger(__name__)

DEFAULT_VOCODER_DIR = "waveglow_default"  # the built-in voice: waveglow/assets/waveglow_default/


class VocodeSetupError(ToolkitError, ValueError):
    """A device or precision that cannot be used here (the message says what to use instead)."""


def default_vocoder_path(assets_dir: str | os.PathLike | None = None) -> Path | None:
    """`waveglow/assets/waveglow_default/` when a WaveGlow is shipped there (it holds config.json), else None.

    assets_dir: look in this folder instead of the installed package's `waveglow/assets/`."""
    if assets_dir is not None:
        folders = [Path(assets_dir)]
    else:
        spec = importlib.util.find_spec("waveglow")
        locations = spec.submodule_search_locations if spec is not None else None
        folders = [Path(location) / "assets" for location in (locations or [])]
    for folder in folders:
        candidate = folder / DEFAULT_VOCODER_DIR
        if (candidate / "config.json").is_file():
            return candidate
    return None


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; 'cpu', 'cuda', 'cuda:i' are checked against this machine."""
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise VocodeSetupError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise VocodeSetupError(f"device {device!r} requested but CUDA is not available on this machine "
                                   f"(use --device cpu or auto)")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise VocodeSetupError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    elif resolved.type != "cpu":
        raise VocodeSetupError(f"unsupported device {device!r} (use auto, cpu, cuda or cuda:N)")
    return resolved


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """auto | fp32 | bf16 | fp16 -> torch dtype ('auto': waveglow.common.precision.resolve_precision). fp16 needs CUDA:
    CPU half-precision kernels are slow emulations and not every PyTorch build has them; bf16 is the CPU reduced
    precision."""
    if precision not in PRECISION_CHOICES:
        raise VocodeSetupError(f"unknown precision {precision!r} (use {', '.join(PRECISION_CHOICES)})")
    precision = resolve_precision(precision, device)
    if precision == "fp16" and device.type == "cpu":
        raise VocodeSetupError("--precision fp16 needs a CUDA device; on the CPU use bf16 (reduced precision) or "
                               "fp32")
    return DTYPES[precision]


class Vocoder:
    """A WaveGlow on one device in one precision (+ its denoiser, built on first use): mels -> float32 audio.

    The weights stay fp32: a reduced precision applies to the WN networks only (`infer(precision=)`),
    while the affine couplings, the 1x1-conv inverses and the upsampler keep fp32 accuracy.
    """

    is_fallback = False

    def __init__(self, model, device: torch.device, dtype: torch.dtype, source: str = "in-memory model",
                 mel: MelConfig | None = None):
        self.model = model.to(device=device, dtype=torch.float32).eval()
        self.device, self.dtype = device, dtype
        self.precision = next(name for name, d in DTYPES.items() if d == dtype)
        self.config = model.config
        #: the features the model is fed (its file's "mel"; for an in-memory model, `default_mel` of its config)
        self.mel = default_mel(model.config) if mel is None else mel
        self.source = source
        self._denoiser = None

    def describe(self) -> str:
        """Which vocoder speaks, in words: 'WaveGlow (SOURCE, fp32 WN on cpu)'."""
        return f"WaveGlow ({self.source}, {self.precision} WN on {self.device})"

    @property
    def denoiser(self):
        if self._denoiser is None:
            self._denoiser = Denoiser(self.model, precision=self.precision)
        return self._denoiser

    def latent(self, n_frames: int, generator: torch.Generator | None, batch: int = 1) -> torch.Tensor:
        """z [batch, n_group, n_frames * hop / n_group] on the CPU: what `model.infer(generator=...)` would draw."""
        return self.model.draw_latent(batch, n_frames * self.config.hop_length // self.config.n_group, generator)

    @torch.no_grad()
    def synthesize(self, mels: torch.Tensor, latents: torch.Tensor, sigma: float = DEFAULT_SIGMA,
                   denoise: float = 0.0, chunk_frames: int | None = None,
                   overlap_frames: int | None = None) -> torch.Tensor:
        """mels [B, n_mel, F] (natural-log vocoder mels), latents [B, n_group, F * hop / n_group]
        -> audio [B, F * hop] float32 on the CPU. Mels longer than chunk_frames go through `infer_chunked`."""
        mels = mels.to(self.device, torch.float32)
        try:
            if chunk_frames and mels.shape[2] > chunk_frames:
                audio = infer_chunked(self.model, mels, sigma, z=latents, chunk_frames=chunk_frames,
                                      overlap_frames=overlap_frames, precision=self.precision)
            else:
                audio = self.model.infer(mels, sigma=sigma, z=latents, precision=self.precision)
            if denoise > 0:
                audio = self.denoiser(audio, denoise)
        except RuntimeError as exc:
            if "not implemented for" in str(exc):  # a kernel missing for this dtype on this device
                raise VocodeSetupError(f"{self.dtype} inference is not supported on {self.device} by this PyTorch "
                                       f"build ({exc}); use --precision fp32") from None
            raise
        return audio.float().cpu()


class GriffinLimEngine:
    """The Griffin-Lim fallback behind the `Vocoder` interface (config, latent, synthesize, describe), so
    `waveglow vocode` and `vocode()` run without a WaveGlow. It reads Tacotron2's mels (80 channels, 22050 Hz, hop
    256: `waveglow.audio.griffin_lim.GRIFFIN_LIM_MELS`); sigma, denoise, chunking and precision do not apply to it, and its
    output is deterministic (a fixed initial phase)."""

    is_fallback = True
    precision = "fp32"

    def __init__(self, n_iter: int = 60, reason: str | None = None):
        self.config = SimpleNamespace(**GRIFFIN_LIM_MELS)
        self.device = torch.device("cpu")
        self.engine = GriffinLimVocoder(sampling_rate=self.config.sampling_rate, hop_length=self.config.hop_length,
                                        n_iter=n_iter, reason=reason or FALLBACK_REASON)

    def describe(self) -> str:
        return self.engine.describe()

    def latent(self, n_frames: int, generator: torch.Generator | None, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, 0)  # Griffin-Lim draws no latent

    def synthesize(self, mels: torch.Tensor, latents: torch.Tensor | None = None, sigma: float = DEFAULT_SIGMA,
                   denoise: float = 0.0, chunk_frames: int | None = None,
                   overlap_frames: int | None = None) -> torch.Tensor:
        """mels [B, n_mel, F] -> audio [B, F * hop] float32 (the other arguments are the Vocoder's; unused)."""
        return torch.stack([torch.from_numpy(self.engine.mel_to_audio(mel.float().cpu())) for mel in mels])


class UnknownVocoderError(VocodeSetupError, TypeError):
    """A vocoder argument that is none of a checkpoint path, a WaveGlow, 'griffin-lim' or None."""


@dataclass(frozen=True)
class VocoderSelection:
    """Which vocoder a `checkpoint` / `vocoder=` argument means (`select_vocoder`); nothing is loaded yet.

    checkpoint: the WaveGlow to load, a path (as given) or a WaveGlow instance; None for Griffin-Lim.
    built_in: the checkpoint is the shipped voice (`default_vocoder_path`), chosen for None.
    griffin_lim_reason: why Griffin-Lim speaks (REQUESTED_REASON, or FALLBACK_REASON when None found no voice);
    None when a WaveGlow does."""

    checkpoint: Any = None
    built_in: bool = False
    griffin_lim_reason: str | None = None

    @property
    def is_griffin_lim(self) -> bool:
        return self.griffin_lim_reason is not None

    @property
    def is_unrequested_fallback(self) -> bool:
        """Griffin-Lim because no WaveGlow was found (worth a warning), not because it was asked for."""
        return self.griffin_lim_reason == FALLBACK_REASON


def select_vocoder(checkpoint=None) -> VocoderSelection:
    """The one decision of which vocoder an argument means (`waveglow vocode`, `vocode()`, `tts`): 'griffin-lim'
    (any of `waveglow.audio.griffin_lim.GRIFFIN_LIM_NAMES`) -> Griffin-Lim, as requested; None -> the built-in
    voice when installed, else the Griffin-Lim fallback; a path (str or os.PathLike) or a WaveGlow -> that one.
    Anything else raises UnknownVocoderError."""
    if is_griffin_lim_name(checkpoint):
        return VocoderSelection(griffin_lim_reason=REQUESTED_REASON)
    if checkpoint is None:
        shipped = default_vocoder_path()
        if shipped is None:
            return VocoderSelection(griffin_lim_reason=FALLBACK_REASON)
        return VocoderSelection(shipped, built_in=True)
    if isinstance(checkpoint, (str, os.PathLike)) or _is_waveglow(checkpoint):
        return VocoderSelection(checkpoint)
    raise UnknownVocoderError(f"vocoder must be a WaveGlow, a checkpoint path, 'griffin-lim' or None, "
                              f"got {type(checkpoint).__name__}")


def _is_waveglow(candidate: Any) -> bool:
    """A WaveGlow instance (or any module with its `infer`), as `get_vocoder` takes."""
    return isinstance(candidate, torch.nn.Module) and hasattr(candidate, "infer")


def choose_vocoder(checkpoint=None, device: str | torch.device = "auto", precision: str = "auto",
                   griffin_lim_iters: int = 60):
    """What speaks for `checkpoint` (see `select_vocoder`), ready to run: a WaveGlow -> `get_vocoder` (the built-in
    voice described as such); Griffin-Lim -> `GriffinLimEngine`, the unrequested fallback logged as a warning.
    The device is checked in every case; the precision applies to a WaveGlow only."""
    if griffin_lim_iters < 1:
        raise VocodeSetupError(f"Griffin-Lim iterations must be >= 1, got {griffin_lim_iters}")
    selection = select_vocoder(checkpoint)
    if selection.is_griffin_lim:
        resolve_device(device)
        engine = GriffinLimEngine(griffin_lim_iters, reason=selection.griffin_lim_reason)
        if selection.is_unrequested_fallback:
            logger.warning("vocoder: %s", engine.describe())
        return engine
    vocoder = get_vocoder(selection.checkpoint, device, precision)
    if selection.built_in:
        vocoder.source = f"built-in voice {Path(selection.checkpoint).name}"
    return vocoder


# ---- cache of loaded models -----------------------------------------------------------------------------------------
_PATH_CACHE: "OrderedDict[tuple, Vocoder]" = OrderedDict()
_INSTANCE_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
_CACHE_SIZE = 2  # checkpoints kept loaded (an NVIDIA model is ~350 MB in fp32)
_LOCK = threading.Lock()


def get_vocoder(checkpoint, device: str | torch.device = "auto", precision: str = "auto") -> Vocoder:
    """A cached Vocoder for a checkpoint path (keyed by path, size and mtime, so a rewritten file reloads) or a
    WaveGlow instance (used as is when already on that device/dtype, else a moved copy; the caller's model is
    never modified)."""
    device = resolve_device(device)
    dtype = resolve_dtype(precision, device)
    with _LOCK:
        if isinstance(checkpoint, (str, os.PathLike)):
            path = Path(checkpoint)
            try:
                stat = path.stat()
            except OSError:
                stat = None  # let the loader report it
            key = (str(path.resolve()), stat and stat.st_size, stat and stat.st_mtime_ns, str(device), dtype)
            if key in _PATH_CACHE:
                _PATH_CACHE.move_to_end(key)
                return _PATH_CACHE[key]
            model, info = load_waveglow(path)
            vocoder = Vocoder(model, device, dtype, source=str(path), mel=info.mel)
            _PATH_CACHE[key] = vocoder
            while len(_PATH_CACHE) > _CACHE_SIZE:
                _PATH_CACHE.popitem(last=False)
            return vocoder
        if not _is_waveglow(checkpoint):
            raise TypeError(f"checkpoint must be a path or a WaveGlow, got {type(checkpoint).__name__}")
        per_model = _INSTANCE_CACHE.setdefault(checkpoint, {})
        key = (str(device), dtype)
        if key not in per_model:
            parameter = next(checkpoint.parameters())
            here = parameter.device.type == device.type and device.index in (None, parameter.device.index)
            usable_as_is = here and parameter.dtype == torch.float32 and not checkpoint.training
            model = checkpoint if usable_as_is else copy.deepcopy(checkpoint)
            per_model[key] = Vocoder(model, device, dtype)
        return per_model[key]


def clear_cache() -> None:
    """Forget every loaded model (frees their memory once no one else holds them)."""
    with _LOCK:
        _PATH_CACHE.clear()
        _INSTANCE_CACHE.clear()


def make_generator(seed: int | None) -> torch.Generator:
    """CPU generator: seeded with `seed`, or with fresh entropy when None (torch's global RNG is left alone)."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


def vocode(mel, checkpoint=None, sigma: float = DEFAULT_SIGMA, denoise: float = 0.0, seed: int | None = None,
           device: str | torch.device = "auto", precision: str = "auto", mel_format="auto",
           chunk_frames: int | None = None, overlap_frames: int | None = None) -> np.ndarray:
    """Mel -> audio, float32 numpy: [T] for one mel ([n_mel, F], [F, n_mel], [1, n_mel, F]), [B, T] for a batch
    [B, n_mel, F] (B > 1), T = F * hop_length. Not clipped (clip to [-1, 1] before writing PCM).

    checkpoint: path (any format `WaveGlow.from_pretrained` reads; loaded models are cached), a WaveGlow,
    "griffin-lim", or None: the built-in voice, else the Griffin-Lim fallback (see `choose_vocoder`; Griffin-Lim
    reads 80-channel 22050 Hz mels and ignores sigma, denoise, seed and chunking).
    mel: torch or numpy; converted with `waveglow.audio.mel_adapter.convert_mel(mel, mel_format)` (default "auto": layout and
    convention detected, natural-log mels pass unchanged; warns MelDomainWarning when out of domain).
    seed: see the module docstring; a batch draws its latent [B, ...] from one generator, like `model.infer`.
    denoise: denoiser strength (NVIDIA's inference uses 0.0 by default, their notebooks 0.01..0.1).
    chunk_frames / overlap_frames: vocode mels longer than chunk_frames in chunks (see `long_form`).
    """

    if sigma < 0 or denoise < 0:
        raise ValueError(f"sigma and denoise must be >= 0, got sigma={sigma}, denoise={denoise}")
    vocoder = choose_vocoder(checkpoint, device, precision)
    c = vocoder.config
    batch_input = getattr(mel, "ndim", 0) == 3 and mel.shape[0] > 1
    items = list(mel) if batch_input else [mel]
    mels = [torch.from_numpy(convert_mel(item, mel_format, n_mels=c.n_mel_channels, what="mel").mel)
            for item in items]
    if len({m.shape[1] for m in mels}) != 1:
        raise ValueError("all mels of a batch must have the same number of frames")
    stacked = torch.stack(mels)
    latents = vocoder.latent(stacked.shape[2], make_generator(seed), batch=stacked.shape[0])
    audio = vocoder.synthesize(stacked, latents, sigma, denoise, chunk_frames, overlap_frames).numpy()
    return audio if batch_input else audio[0]
