"""WaveGlow hyper-parameters as JSON data (NVIDIA's constructor arguments plus what they hard-code)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waveglow.common.config_objects import build_config
from waveglow.common.errors import ConfigError
from waveglow.common.safe_loading import read_json

WN_KEYS = ("n_layers", "n_channels", "kernel_size")
DEFAULT_SIGMA = 0.666  # the latent scale of synthesis (NVIDIA's inference default): the one owner of this number


@dataclass(frozen=True)
class WaveGlowConfig:
    """Defaults are NVIDIA's official LJSpeech WaveGlow (12 flows, 8 WN layers of 256 channels, 80 mels)."""

    n_mel_channels: int = 80
    n_flows: int = 12
    n_group: int = 8
    n_early_every: int = 4
    n_early_size: int = 2
    n_layers: int = 8  # WN_config
    n_channels: int = 256  # WN_config
    kernel_size: int = 3  # WN_config
    upsample_kernel_size: int = 1024  # NVIDIA hard-codes ConvTranspose1d(n_mel, n_mel, 1024, stride=256)
    hop_length: int = 256  # the upsampler's stride: audio samples per mel frame
    sampling_rate: int = 22050
    permutation: str = "conv1x1"  # "conv1x1" (NVIDIA) or "lu" (LU-parameterised)
    # "audio" (NVIDIA): the mel is upsampled to the audio rate, then grouped: n_mel * n_group conditioning channels.
    # "group": the mel is upsampled straight to the grouped rate (stride hop / n_group): n_mel channels, n_group
    # times cheaper conditioning convs; the window is centred on the step (see WaveGlow.condition).
    conditioning: str = "audio"
    # A WaveNet post-filter on infer's output (waveglow.postfilter; 0 layers: none, as NVIDIA's WaveGlow).
    post_filter_layers: int = 0
    post_filter_channels: int = 32
    # A sine excitation at the speech's F0 (waveglow.audio.excitation: sin and cos of the fundamental's phase, 0 where
    # unvoiced) as extra conditioning, grouped like the audio: 0 (NVIDIA) or 2 channels.
    excitation_channels: int = 0
    # A harmonic source before the flow (waveglow.vocoder.harmonic): audio minus K harmonics of the excitation with
    # amplitudes from the mel (needs the excitation and 'group' conditioning); 0: none.
    harmonics: int = 0
    # The shapes are the same either way: the excitation derived from a recording (excitation_of_audio, the training
    # data) carries each of the K harmonics' own phase aligned to it, so the harmonic source can learn their
    # amplitudes rather than an average over their wandering phases; at inference the mel's Griffin-Lim audio
    # stands in for the recording (excitation_of_mel). False: the harmonics run at k times the fundamental's phase.
    aligned_harmonics: bool = False
    # Inference side only: `infer` projects its output's mel envelope onto the mel it was given this many times
    # (waveglow.audio.envelope, on checkpoint.default_mel: Tacotron2's STFT at this rate and hop); 0: the flow's
    # output as it is (NVIDIA). The likelihood, `forward` and `reverse` are the flow's alone.
    envelope_iterations: int = 0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (not isinstance(value, int) or isinstance(value, bool)):
                raise ConfigError(f"config field '{f.name}' must be an integer, got {value!r}")
        positive = ("n_mel_channels", "n_flows", "n_group", "n_early_every", "n_layers", "n_channels",
                    "kernel_size", "upsample_kernel_size", "hop_length", "sampling_rate", "post_filter_channels")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"config field '{name}' must be >= 1, got {getattr(self, name)}")
        if self.envelope_iterations < 0:
            raise ConfigError(f"config field 'envelope_iterations' must be >= 0, got {self.envelope_iterations}")
        if self.post_filter_layers < 0:
            raise ConfigError(f"config field 'post_filter_layers' must be >= 0, got {self.post_filter_layers}")
        if self.excitation_channels not in (0, 2):
            raise ConfigError(f"config field 'excitation_channels' must be 0 or 2, got {self.excitation_channels}")
        if self.harmonics < 0:
            raise ConfigError(f"config field 'harmonics' must be >= 0, got {self.harmonics}")
        if self.harmonics and (self.excitation_channels == 0 or self.conditioning != "group"):
            raise ConfigError("config field 'harmonics' needs excitation_channels 2 and conditioning 'group'")
        if not isinstance(self.aligned_harmonics, bool):
            raise ConfigError(f"config field 'aligned_harmonics' must be true or false, got {self.aligned_harmonics!r}")
        if self.aligned_harmonics and self.harmonics < 2:
            raise ConfigError("config field 'aligned_harmonics' needs harmonics >= 2")
        if self.n_early_size < 0:
            raise ConfigError(f"config field 'n_early_size' must be >= 0, got {self.n_early_size}")
        if self.kernel_size % 2 != 1:
            raise ConfigError(f"config field 'kernel_size' must be odd, got {self.kernel_size}")
        if self.hop_length % self.n_group:
            raise ConfigError(f"config field 'hop_length' ({self.hop_length}) must be a multiple of "
                              f"n_group ({self.n_group})")
        if self.conditioning not in ("audio", "group"):
            raise ConfigError(f"config field 'conditioning' must be 'audio' or 'group', got {self.conditioning!r}")
        if self.conditioning == "audio" and self.upsample_kernel_size < self.hop_length:
            raise ConfigError("config field 'upsample_kernel_size' must be >= hop_length")
        if self.conditioning == "group" and self.upsample_kernel_size < 2 * self.upsample_stride:
            raise ConfigError(f"config field 'upsample_kernel_size' must be >= 2 * hop_length / n_group "
                              f"({2 * self.upsample_stride}) with conditioning 'group'")
        if self.permutation not in ("conv1x1", "lu"):
            raise ConfigError(f"config field 'permutation' must be 'conv1x1' or 'lu', got {self.permutation!r}")
        if min(self.channels_per_flow()) < 2:
            raise ConfigError(f"n_group={self.n_group} leaves fewer than 2 channels after the early outputs "
                              f"(n_early_every={self.n_early_every}, n_early_size={self.n_early_size})")

    @property
    def upsample_stride(self) -> int:
        """The upsampler's stride: hop_length (audio rate) or hop_length / n_group (grouped rate)."""
        return self.hop_length if self.conditioning == "audio" else self.hop_length // self.n_group

    @property
    def excitation_harmonics(self) -> int:
        """Harmonics whose own phases an excitation derived from a recording carries (K with aligned_harmonics,
        else 1: the fundamental's alone)."""
        return self.harmonics if self.aligned_harmonics else 1

    @property
    def mel_cond_channels(self) -> int:
        """Channels of the grouped mel conditioning (without the excitation's)."""
        return self.n_mel_channels * (self.n_group if self.conditioning == "audio" else 1)

    @property
    def cond_channels(self) -> int:
        """Channels of the grouped conditioning the WN networks read: the mel's, then the excitation's."""
        return self.mel_cond_channels + self.excitation_channels * self.n_group

    def is_early_output(self, flow: int) -> bool:
        """Whether n_early_size channels leave the flow before flow `flow` (NVIDIA: every n_early_every, not at 0)."""
        return flow > 0 and flow % self.n_early_every == 0 and self.n_early_size > 0

    def channels_per_flow(self) -> list[int]:
        """Channels entering each flow's 1x1 conv, e.g. [8, 8, 8, 8, 6, 6, 6, 6, 4, 4, 4, 4] for the default."""
        channels, remaining = [], self.n_group
        for k in range(self.n_flows):
            if self.is_early_output(k):
                remaining -= self.n_early_size
            channels.append(remaining)
        return channels

    def to_dict(self) -> dict[str, Any]:
        """NVIDIA's layout (WN_config nested) plus our extra fields."""
        d = dataclasses.asdict(self)
        wn = {k: d.pop(k) for k in WN_KEYS}
        out = {k: d[k] for k in ("n_mel_channels", "n_flows", "n_group", "n_early_every", "n_early_size")}
        out["WN_config"] = wn
        out.update({k: v for k, v in d.items() if k not in out})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "WaveGlowConfig":
        """Accepts NVIDIA's nested `WN_config` or flat keys; an unknown key is an error naming it."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        flat = dict(data)
        wn = flat.pop("WN_config", {})
        if not isinstance(wn, dict):
            raise ConfigError(f"{source}: 'WN_config' must be an object")
        for key, value in wn.items():
            if key not in WN_KEYS:
                raise ConfigError(f"{source}: unknown field 'WN_config.{key}'")
            flat[key] = value
        return build_config(cls, flat, source)

    @classmethod
    def from_json(cls, path: str | Path) -> "WaveGlowConfig":
        return cls.from_dict(read_json(Path(path), ConfigError), source=str(path))
