"""Training configuration as JSON: {"model": WaveGlowConfig dict, "train": {...}, "data": {...}}.

Keys starting with "_" are comments and ignored in every section. An unknown key is an error naming it, so a typo
never silently trains with a default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waveglow.audio.features import MelConfig
from waveglow.common.config_objects import build_config, check_known_keys
from waveglow.common.errors import ConfigError
from waveglow.common.safe_loading import read_json
from waveglow.vocoder.config import DEFAULT_SIGMA, WaveGlowConfig

PRECISIONS = ("fp32", "bf16", "fp16")
SCHEDULES = ("constant", "exponential", "step")


def _strip_comments(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("_"))}


def _section_from_dict(cls, data: Any, source: str):
    """Build dataclass `cls` from a JSON object, rejecting unknown keys and wrong basic types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
    data = _strip_comments(data)
    check_known_keys(data, (f.name for f in dataclasses.fields(cls)), source)
    values = {}
    for key, value in data.items():
        nested = _NESTED.get((cls.__name__, key))
        values[key] = _section_from_dict(nested, value, f"{source}.{key}") if nested else value
    return build_config(cls, values, source)


def _check_number(name: str, value: Any, minimum: float | None = None, integer: bool = False,
                  allow_none: bool = False, exclusive: bool = False) -> None:
    if value is None and allow_none:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ConfigError(f"'{name}' must be {'an integer' if integer else 'a number'}, got {value!r}")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        raise ConfigError(f"'{name}' must be {'>' if exclusive else '>='} {minimum}, got {value!r}")


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning rate = lr * warmup factor * decay factor at iteration i (0-based, counted in optimizer steps).

    warmup: linear ramp from lr / warmup to lr over the first `warmup` iterations (0: none).
    kind "constant": no decay (NVIDIA). "exponential": gamma ** ((i - warmup) / decay_every).
    "step": gamma ** floor((i - warmup) / decay_every). min_lr floors the decayed rate.
    """

    kind: str = "constant"
    warmup: int = 0
    gamma: float = 0.5
    decay_every: int = 100000
    min_lr: float = 0.0

    def __post_init__(self):
        if self.kind not in SCHEDULES:
            raise ConfigError(f"'schedule.kind' must be one of {SCHEDULES}, got {self.kind!r}")
        _check_number("schedule.warmup", self.warmup, 0, integer=True)
        _check_number("schedule.gamma", self.gamma, 0, exclusive=True)
        _check_number("schedule.decay_every", self.decay_every, 1, integer=True)
        _check_number("schedule.min_lr", self.min_lr, 0)


@dataclass(frozen=True)
class SpectralLossConfig:
    """Losses on audio sampled through the inverse flow (WG-WaveNet's recipe), added to the likelihood: every
    `every`-th step the batch's mels are vocoded from z ~ N(0, sigma^2) with gradients, and weight * MR-STFT
    distance(sample, recording) + mel_weight * mean |log-mel(sample) - log-mel(recording)| (the model's own mel
    features, HiFi-GAN's mel term) + periodicity_weight * mean |r(sample) - r(recording)| over voiced frames
    (waveglow.audio.periodicity, the correlation one F0 period back; needs an excitation) join the loss. All weights
    0: off (likelihood only, NVIDIA)."""

    weight: float = 0.0
    every: int = 1
    sigma: float = DEFAULT_SIGMA
    mel_weight: float = 0.0
    periodicity_weight: float = 0.0

    def __post_init__(self):
        _check_number("spectral_loss.weight", self.weight, 0)
        _check_number("spectral_loss.mel_weight", self.mel_weight, 0)
        _check_number("spectral_loss.periodicity_weight", self.periodicity_weight, 0)
        _check_number("spectral_loss.every", self.every, 1, integer=True)
        _check_number("spectral_loss.sigma", self.sigma, 0, exclusive=True)

    @property
    def enabled(self) -> bool:
        return self.weight > 0 or self.mel_weight > 0 or self.periodicity_weight > 0


@dataclass(frozen=True)
class AdversarialConfig:
    """A least-squares GAN term on the spectral steps' inverse-flow samples (training.adversarial, HiFi-GAN's
    discriminators sized down): weight * (generator loss + feature_matching * L1 feature matching) joins the loss;
    the discriminators train with AdamW(lr, betas 0.8 / 0.99). weight 0: off. Needs spectral_loss on."""

    weight: float = 0.0
    feature_matching: float = 2.0
    lr: float = 2e-4

    def __post_init__(self):
        _check_number("adversarial.weight", self.weight, 0)
        _check_number("adversarial.feature_matching", self.feature_matching, 0)
        _check_number("adversarial.lr", self.lr, 0, exclusive=True)

    @property
    def enabled(self) -> bool:
        return self.weight > 0


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. batch_size is per process (per GPU), as in NVIDIA's train.py."""

    iterations: int = 580000
    lr: float = 1e-4
    batch_size: int = 12
    segment_length: int = 16000  # audio samples per training item
    sigma: float = 1.0  # std of the Gaussian prior the flow maps audio to
    seed: int = 1234
    grad_clip: float | None = None  # max global grad norm; None: no clipping (NVIDIA), the norm is still logged
    weight_decay: float = 0.0
    ema_decay: float | None = None  # keep an exponential moving average of the weights (0.999: ~1000 steps); None: off
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    spectral_loss: SpectralLossConfig = field(default_factory=SpectralLossConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    precision: str = "fp32"
    memory_efficient: bool = False  # per-flow activation checkpointing
    micro_batches: int = 1  # split each batch into this many chunks, accumulating gradients (same loss)
    checkpoint_every: int = 2000
    keep_checkpoints: int = 5
    eval_every: int = 2000
    log_every: int = 10

    def __post_init__(self):
        for name in ("iterations", "batch_size", "checkpoint_every", "keep_checkpoints", "eval_every", "log_every",
                     "micro_batches"):
            _check_number(name, getattr(self, name), 1, integer=True)
        _check_number("segment_length", self.segment_length, 1, integer=True)
        _check_number("seed", self.seed, 0, integer=True)
        _check_number("lr", self.lr, 0, exclusive=True)
        _check_number("sigma", self.sigma, 0, exclusive=True)
        _check_number("weight_decay", self.weight_decay, 0)
        _check_number("grad_clip", self.grad_clip, 0, exclusive=True, allow_none=True)
        _check_number("ema_decay", self.ema_decay, 0, exclusive=True, allow_none=True)
        if self.ema_decay is not None and self.ema_decay >= 1:
            raise ConfigError(f"'ema_decay' must be < 1, got {self.ema_decay!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"'precision' must be one of {PRECISIONS}, got {self.precision!r}")
        if self.batch_size % self.micro_batches:
            raise ConfigError(f"'batch_size' ({self.batch_size}) must be a multiple of 'micro_batches' "
                              f"({self.micro_batches})")
        if self.adversarial.enabled and not self.spectral_loss.enabled:
            raise ConfigError("'adversarial' judges the spectral steps' samples: it needs 'spectral_loss.weight' > 0")
        if not isinstance(self.memory_efficient, bool):
            raise ConfigError(f"'memory_efficient' must be true or false, got {self.memory_efficient!r}")


@dataclass(frozen=True)
class DataConfig:
    """The "data" section: the features the run trains on and how the held-out set is evaluated during training.

    mel: the whole feature contract; its n_mels is the model's n_mel_channels. In JSON its fields are NVIDIA's
    data_config names (sampling_rate, filter_length, hop_length, win_length, mel_fmin, mel_fmax: `MelConfig.to_nvidia`
    without n_mel_channels, which the model section holds), flat beside the other fields."""

    mel: MelConfig = field(default_factory=MelConfig)
    num_workers: int = 0
    cache_dir: str | None = None  # whole-clip mel cache (hop-aligned segments); None: mel of each segment
    eval_max_seconds: float | None = 60.0  # held-out audio scored at each eval (full clips, in list order)
    eval_audio_samples: int = 2  # held-out clips vocoded into TensorBoard at each eval
    eval_audio_sigma: float = DEFAULT_SIGMA  # NVIDIA's inference sigma for those samples

    def __post_init__(self):
        if not isinstance(self.mel, MelConfig):
            raise ConfigError(f"'mel' must be a MelConfig, got {type(self.mel).__name__}")
        for name in ("num_workers", "eval_audio_samples"):
            _check_number(name, getattr(self, name), 0, integer=True)
        _check_number("eval_max_seconds", self.eval_max_seconds, 0, exclusive=True, allow_none=True)
        _check_number("eval_audio_sigma", self.eval_audio_sigma, 0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON section: the mel under NVIDIA's data_config names, then the other fields."""
        others = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "mel"}
        return {**self.mel.to_nvidia(with_n_mels=False), **others}

    @classmethod
    def from_dict(cls, data: Any, n_mels: int, source: str = "data") -> "DataConfig":
        """From the JSON section (None: all defaults); n_mels: the model's n_mel_channels. An unknown key is an error
        naming it; keys starting with "_" are comments."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        data = _strip_comments(data)
        mel_keys = MelConfig.nvidia_names(with_n_mels=False)
        check_known_keys(data, [*mel_keys, *(f.name for f in dataclasses.fields(cls) if f.name != "mel")], source)
        mel = MelConfig.from_nvidia({k: v for k, v in data.items() if k in mel_keys}, n_mels=n_mels, source=source)
        return build_config(cls, {"mel": mel, **{k: v for k, v in data.items() if k not in mel_keys}}, source)


_NESTED = {("TrainConfig", "schedule"): ScheduleConfig, ("TrainConfig", "spectral_loss"): SpectralLossConfig,
           ("TrainConfig", "adversarial"): AdversarialConfig}  # sub-objects built from nested JSON objects


@dataclass(frozen=True)
class TrainingConfig:
    model: WaveGlowConfig = field(default_factory=WaveGlowConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self):
        m, mel, t = self.model, self.data.mel, self.train
        if m.n_mel_channels != mel.n_mels:
            raise ConfigError(f"model.n_mel_channels ({m.n_mel_channels}) must equal the data's mel channels "
                              f"({mel.n_mels})")
        if m.hop_length != mel.hop_length:
            raise ConfigError(f"model.hop_length ({m.hop_length}) must equal data.hop_length ({mel.hop_length})")
        if m.sampling_rate != mel.sampling_rate:
            raise ConfigError(f"model.sampling_rate ({m.sampling_rate}) must equal data.sampling_rate "
                              f"({mel.sampling_rate})")
        if t.segment_length % m.n_group:
            raise ConfigError(f"train.segment_length ({t.segment_length}) must be a multiple of model.n_group "
                              f"({m.n_group})")
        if t.segment_length <= mel.n_fft // 2:
            raise ConfigError(f"train.segment_length must exceed data.filter_length // 2 = {mel.n_fft // 2}")
        if t.spectral_loss.periodicity_weight and not m.excitation_channels:
            raise ConfigError("train.spectral_loss.periodicity_weight reads F0 from the excitation: it needs "
                              "model.excitation_channels 2")

    @property
    def mel(self) -> MelConfig:
        """The features the run trains on (the data section's, n_mels the model's)."""
        return self.data.mel

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "train": dataclasses.asdict(self.train), "data": self.data.to_dict()}

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> "TrainingConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object with 'model', 'train' and 'data'")
        data = _strip_comments(data)
        unknown = set(data) - {"model", "train", "data"}
        if unknown:
            raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)} (known: model, train, data)")
        model = WaveGlowConfig.from_dict(_strip_comments(data.get("model") or {}), source=f"{source}: model")
        train = _section_from_dict(TrainConfig, data.get("train"), f"{source}: train")
        data_config = DataConfig.from_dict(data.get("data"), model.n_mel_channels, f"{source}: data")
        try:
            return cls(model=model, train=train, data=data_config)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, path: str | Path) -> "TrainingConfig":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        return cls.from_dict(read_json(path, ConfigError), source=str(path))

    def replace_train(self, **changes) -> "TrainingConfig":
        """A copy with some `train` fields changed (command-line overrides); validated like the file."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))
