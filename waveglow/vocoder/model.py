"""WaveGlow (Prenger, Valle & Catanzaro 2019): a flow from audio to Gaussian noise, conditioned on a mel spectrogram.

Built from the shared flow layers: `InvertibleConv1x1` (or its LU form) then `AffineCoupling(WN)` per flow, with
n_early_size channels leaving every n_early_every flows. Numerically it follows NVIDIA's reference, including the
order in which `infer` draws its noise, so the same seed or the same latent gives NVIDIA's audio.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from waveglow.audio import excitation as source
from waveglow.audio.envelope import MelEnvelopeProjection
from waveglow.audio.features import MelConfig
from waveglow.common.precision import network_dtype, resolve_precision
from waveglow.flows.coupling import AffineCoupling
from waveglow.flows.flow import zero_logdet
from waveglow.flows.gaussian import StandardNormal
from waveglow.flows.invertible_conv import InvertibleConv1x1, LUInvertibleConv1x1
from waveglow.flows.squeeze import group_frames, group_samples, ungroup_samples
from waveglow.vocoder.checkpoint import CheckpointInfo, default_mel, read_waveglow, save_waveglow
from waveglow.vocoder.config import DEFAULT_SIGMA, WaveGlowConfig
from waveglow.vocoder.harmonic import HarmonicShift
from waveglow.vocoder.postfilter import PostFilter
from waveglow.vocoder.wavenet import WN

class WaveGlow(nn.Module):
    """mel [B, n_mel, F] <-> audio [B, F * hop_length]; the latent z is in forward layout [B, n_group, T / n_group].
    With config.post_filter_layers, `infer` / `reverse` pass the flow's audio through a PostFilter (forward and the
    likelihood are the flow's alone). With config.excitation_channels, every method also reads a sine excitation
    [B, 2, >= T] (waveglow.audio.excitation); when none is given, forward derives it from the audio, infer from the mel.

    Convolutions carry plain weights: NVIDIA's weight norm is folded when checkpoints load
    (see `apply_weight_norm` to train under it again).
    """

    def __init__(self, config: WaveGlowConfig | None = None, **overrides):
        super().__init__()
        if config is None:
            config = WaveGlowConfig.from_dict(overrides)
        elif overrides:
            raise TypeError("pass either a WaveGlowConfig or keyword overrides, not both")
        self.config = config
        c = config
        self.upsample = nn.ConvTranspose1d(c.n_mel_channels, c.n_mel_channels, c.upsample_kernel_size,
                                           stride=c.upsample_stride)
        conv_class = LUInvertibleConv1x1 if c.permutation == "lu" else InvertibleConv1x1
        self.convinv = nn.ModuleList()
        self.couplings = nn.ModuleList()
        for channels in c.channels_per_flow():
            n_a = channels // 2
            self.convinv.append(conv_class(channels))
            net = WN(n_a, c.cond_channels, 2 * (channels - n_a), c.n_layers, c.n_channels, c.kernel_size)
            self.couplings.append(AffineCoupling(net, scale="exp"))
        self.n_remaining_channels = c.channels_per_flow()[-1]
        self.post_filter = PostFilter(c.post_filter_layers, c.post_filter_channels) if c.post_filter_layers else None
        self.harmonic = HarmonicShift(c.mel_cond_channels, c.harmonics, c.n_group) if c.harmonics else None
        self.envelope = MelEnvelopeProjection.for_mel(default_mel(c)) if c.envelope_iterations else None

    # ---- conditioning -------------------------------------------------------------------------------------------
    def _check_mel(self, mel: torch.Tensor) -> torch.Tensor:
        if not isinstance(mel, torch.Tensor):
            raise TypeError(f"mel must be a torch.Tensor, got {type(mel).__name__}")
        if mel.dim() == 2:
            mel = mel.unsqueeze(0)
        if mel.dim() != 3 or mel.shape[1] != self.config.n_mel_channels:
            raise ValueError(f"mel must be [B, {self.config.n_mel_channels}, frames] or "
                             f"[{self.config.n_mel_channels}, frames], got {list(mel.shape)}")
        if mel.shape[2] < 1:
            raise ValueError("mel has no frames")
        return mel

    def condition(self, mel: torch.Tensor, n_samples: int, excitation: torch.Tensor | None = None) -> torch.Tensor:
        """mel [B, n_mel, F] (and excitation [B, 2, >= n_samples] when configured) -> grouped conditioning
        [B, cond_channels, n_samples / n_group]: the mel's channels, then the excitation's (grouped like the audio).

        'audio' (NVIDIA): upsampled sample s sees frames f with hop * f <= s < hop * f + K (its frame and the
        K / hop - 1 before it), then n_group samples are stacked. 'group': step t is upsampled directly, its output
        cropped by K // 2 on the left so that it sees the frames within K / 2 samples on either side."""
        return self._with_excitation(self._mel_condition(mel, n_samples), excitation, n_samples)

    def _mel_condition(self, mel: torch.Tensor, n_samples: int) -> torch.Tensor:
        """The mel's part of `condition`: [B, cond_channels - 2 * n_group (with an excitation), n_samples / n_group]."""
        c = self.config
        cond = self.upsample(mel.to(self.upsample.weight.dtype))
        if c.conditioning == "group":
            cond = cond[..., c.upsample_kernel_size // 2:]
            n_samples_covered = cond.shape[2] * c.n_group
        else:
            n_samples_covered = cond.shape[2]
        if n_samples_covered < n_samples:
            raise ValueError(f"{mel.shape[2]} mel frames cover {n_samples_covered} samples, fewer than the "
                             f"{n_samples} audio samples given")
        if c.conditioning == "group":
            return cond[..., : n_samples // c.n_group]
        return group_frames(cond[..., :n_samples], c.n_group)

    def _with_excitation(self, cond: torch.Tensor, excitation: torch.Tensor | None, n_samples: int) -> torch.Tensor:
        """Append the grouped excitation's channels to grouped mel conditioning (nothing when not configured)."""
        c = self.config
        if not c.excitation_channels:
            if excitation is not None:
                raise ValueError("this WaveGlow takes no excitation (config.excitation_channels is 0)")
            return cond
        if excitation is None:
            raise ValueError("this WaveGlow needs an excitation [B, 2, T] (waveglow.audio.excitation)")
        channels = (c.excitation_channels,) + ((2 * c.harmonics,) if c.harmonics > 1 else ())
        if excitation.dim() != 3 or excitation.shape[0] != cond.shape[0] or excitation.shape[1] not in channels:
            raise ValueError(f"excitation must be [{cond.shape[0]}, {' or '.join(map(str, channels))}, T], "
                             f"got {list(excitation.shape)}")
        # the WN networks read the fundamental's channels; per-harmonic phases are the harmonic source's alone
        excitation = self._fit(excitation[:, : c.excitation_channels], n_samples).to(device=cond.device,
                                                                                   dtype=cond.dtype)
        return torch.cat([cond, group_frames(excitation, c.n_group)], 1)

    @staticmethod
    def _fit(excitation: torch.Tensor, n_samples: int) -> torch.Tensor:
        """Cropped or zero-padded to n_samples (the mel's last frame may reach past a training segment)."""
        excitation = excitation[..., :n_samples]
        return F.pad(excitation, (0, n_samples - excitation.shape[2])) if excitation.shape[2] < n_samples else excitation

    def source_mean(self, cond: torch.Tensor, excitation: torch.Tensor | None, n_samples: int) -> torch.Tensor | None:
        """The harmonic source's waveform [B, n_samples] (None without one), from grouped conditioning."""
        if self.harmonic is None:
            return None
        return self.harmonic(cond[:, : self.config.mel_cond_channels], self._fit(excitation, n_samples).to(cond.device))

    def excitation_of_audio(self, audio: torch.Tensor) -> torch.Tensor | None:
        """audio [B, T] -> its phase-aligned excitation [B, 2, T] (pYIN on each item), or None when not configured."""
        c = self.config
        if not c.excitation_channels:
            return None
        items = []
        for item in audio.detach().float().cpu().numpy():
            f0 = source.f0_track(item, c.sampling_rate, c.hop_length)
            items.append(source.excitation(f0, item.shape[0], c.hop_length, c.sampling_rate, audio=item,
                                           harmonics=c.excitation_harmonics))
        return torch.from_numpy(np.stack(items)).to(audio.device)

    def excitation_of_mel(self, mel: torch.Tensor) -> torch.Tensor | None:
        """mel [B, n_mel, F] -> an excitation from its Griffin-Lim audio (waveglow.audio.excitation.excitation_of_mel):
        [B, 2, F * hop], or [B, 2K, F * hop] with K aligned harmonics; None when not configured."""
        c = self.config
        if not c.excitation_channels:
            return None
        harmonics = c.harmonics if c.aligned_harmonics else 0
        items = [source.excitation_of_mel(item, c.sampling_rate, c.hop_length, harmonics)
                 for item in mel.detach().float().cpu().numpy()]
        return torch.from_numpy(np.stack(items)).to(mel.device)

    def condition_in_pieces(self, mel: torch.Tensor, dtype: torch.dtype, piece_frames: int = 512,
                            excitation: torch.Tensor | None = None) -> torch.Tensor:
        """`condition(mel, F * hop)` cast to `dtype`, built piece by piece (no grad): the fp32 upsampled mel never
        exists for the whole utterance, only [B, cond_channels, steps] in `dtype` (half of it in bf16). Each
        piece upsamples its frames plus ceil(K / stride) frames of context on each side, which covers every frame
        the upsampler lets reach a step, so the values are those of `condition`."""
        c = self.config
        frames = mel.shape[2]
        n_samples = frames * c.hop_length
        mel_channels = c.cond_channels - c.excitation_channels * c.n_group
        if frames <= piece_frames:
            cond = self._mel_condition(mel, n_samples).to(dtype)
            return self._with_excitation(cond, excitation, n_samples)
        per_frame = c.hop_length // c.n_group  # grouped steps per mel frame
        margin = -(-c.upsample_kernel_size // c.upsample_stride)
        out = torch.empty(mel.shape[0], mel_channels, frames * per_frame, dtype=dtype, device=mel.device)
        with torch.no_grad():
            for start in range(0, frames, piece_frames):
                stop = min(frames, start + piece_frames)
                lo, hi = max(0, start - margin), min(frames, stop + margin)
                piece = self._mel_condition(mel[..., lo:hi], (hi - lo) * c.hop_length)  # step 0 = frame lo
                out[..., start * per_frame: stop * per_frame] = piece[..., (start - lo) * per_frame:
                                                                     (stop - lo) * per_frame]
        return self._with_excitation(out, excitation, n_samples)

    # ---- training direction ---------------------------------------------------------------------------------------
    def flow_step(self, k: int, x: torch.Tensor, cond: torch.Tensor):
        """Flow k of the training direction: x [B, C_k, S] -> (y, 1x1-conv logdet [B], coupling logdet [B])."""
        x, conv_logdet = self.convinv[k](x)
        x, coupling_logdet = self.couplings[k](x, cond)
        return x, conv_logdet, coupling_logdet

    def forward(self, audio: torch.Tensor, mel: torch.Tensor, excitation: torch.Tensor | None = None, step=None):
        """audio [B, T] (T a multiple of n_group), mel [B, n_mel, >= T / hop + 1] -> (z [B, n_group, T / n_group],
        logdet [B]): per item, the sum over flows of log s (couplings) and (T / n_group) log|det W| (1x1 convs).
        excitation: [B, 2, T] when configured (default: `excitation_of_audio(audio)`).
        step: runs flow k like `flow_step(k, x, cond)` (default; training passes an activation-checkpointed one)."""
        step = self.flow_step if step is None else step
        mel = self._check_mel(mel)
        if excitation is None:
            excitation = self.excitation_of_audio(audio)
        cond = self.condition(mel, audio.shape[-1], excitation)
        mean = self.source_mean(cond, excitation, audio.shape[-1])
        x = group_samples(audio if mean is None else audio - mean, self.config.n_group)
        logdet = zero_logdet(x)
        early = []
        for k in range(self.config.n_flows):
            if self.config.is_early_output(k):
                early.append(x[:, : self.config.n_early_size])
                x = x[:, self.config.n_early_size:]
            x, conv_logdet, coupling_logdet = step(k, x, cond)
            logdet = logdet + conv_logdet + coupling_logdet
        early.append(x)
        return torch.cat(early, 1), logdet

    @staticmethod
    def loss(z: torch.Tensor, logdet: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
        """NVIDIA's WaveGlowLoss: (sum z^2 / (2 sigma^2) - sum logdet) / z.numel(), a mean negative log-likelihood
        per sample under the prior N(0, sigma^2) without its constant 0.5 log(2 pi sigma^2) (`StandardNormal.nll`,
        z reduced in float32 as NVIDIA does). Unlike NVIDIA's, nothing is modified in place."""
        return StandardNormal(sigma).nll(z, logdet, constant=False, dtype=torch.float32) / z.numel()

    # ---- inference --------------------------------------------------------------------------------------------------
    def _early_slices(self) -> dict[int, slice]:
        """flow index -> channels of the forward-layout z that leave before that flow."""
        size, slices, start = self.config.n_early_size, {}, 0
        for k in range(self.config.n_flows):
            if self.config.is_early_output(k):
                slices[k] = slice(start, start + size)
                start += size
        return slices

    def draw_latent(self, batch: int, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard normal z [batch, n_group, steps] drawn in NVIDIA's order (final channels first, then the early
        ones from the last flow backwards), on the CPU generator so a seed gives the same audio on every device."""
        prior = StandardNormal()
        z = torch.empty(batch, self.config.n_group, steps)
        z[:, self.config.n_group - self.n_remaining_channels:] = prior.sample(
            (batch, self.n_remaining_channels, steps), generator=generator)
        for k, channels in sorted(self._early_slices().items(), reverse=True):
            z[:, channels] = prior.sample((batch, channels.stop - channels.start, steps), generator=generator)
        return z

    @torch.no_grad()
    def infer(self, mel: torch.Tensor, sigma: float = DEFAULT_SIGMA, z: torch.Tensor | None = None,
              generator: torch.Generator | None = None, precision: str | None = None,
              excitation: torch.Tensor | None = None) -> torch.Tensor:
        """mel [B, n_mel, F] or [n_mel, F] -> audio [B, F * hop_length] in [-1, 1]-ish float.

        z: latent [B, n_group, F * hop_length / n_group] in forward layout (default: drawn with `draw_latent`,
        using `generator` or the global CPU RNG); it is scaled by sigma, as NVIDIA does.
        precision: 'fp32' (or None), 'bf16' / 'fp16' for the WN networks only, or 'auto' (bf16 where the mel's
        device has native bf16, see waveglow.common.precision). An argument of this call only: the model keeps
        no precision state, so threads sharing one model may infer in different precisions.
        excitation: [B, 2, F * hop] when configured (default: `excitation_of_mel(mel)`).
        With config.envelope_iterations, the flow's audio is then projected onto the mel's envelope (its phase kept).
        """
        if precision == "auto":
            precision = resolve_precision("auto", mel.device)
        mel = self._check_mel(mel)
        if excitation is None:
            excitation = self.excitation_of_mel(mel)
        audio = self._infer(mel, sigma, z, generator, network_dtype(precision), excitation)
        if self.envelope is None:
            return audio
        return self.envelope.project(audio, mel, self.config.envelope_iterations)

    def reverse(self, mel: torch.Tensor, z: torch.Tensor, sigma: float = 1.0,
                excitation: torch.Tensor | None = None) -> torch.Tensor:
        """`infer` with gradients (training on inverse-flow samples): mel [B, n_mel, F], z [B, n_group, F * hop /
        n_group] (and excitation [B, 2, <= F * hop], zero-padded, when configured) -> audio [B, F * hop]. Under
        autocast the WN networks run in its dtype, the flow path in fp32."""
        return self._infer(mel, sigma, z, None, None, excitation)

    def _infer(self, mel, sigma, z, generator, net_dtype, excitation=None) -> torch.Tensor:
        mel = self._check_mel(mel)
        c = self.config
        n_samples = mel.shape[2] * c.hop_length
        # cast once (not in each of the n_flows * n_layers conditioning GEMMs), piece by piece for long mels
        cond = self.condition_in_pieces(mel, net_dtype or self.upsample.weight.dtype, excitation=excitation)
        steps = n_samples // c.n_group
        if z is None:
            z = self.draw_latent(mel.shape[0], steps, generator)
        elif tuple(z.shape) != (mel.shape[0], c.n_group, steps):
            raise ValueError(f"z must be [{mel.shape[0]}, {c.n_group}, {steps}] for this mel, got {list(z.shape)}")
        z = z.to(device=cond.device, dtype=self.upsample.weight.dtype)
        slices = self._early_slices()
        x = sigma * z[:, c.n_group - self.n_remaining_channels:]
        for k in reversed(range(c.n_flows)):
            x = self.couplings[k].inverse(x, cond, network_dtype=net_dtype)
            x = self.convinv[k].inverse(x)
            if k in slices:
                x = torch.cat([sigma * z[:, slices[k]], x], 1)
        audio = ungroup_samples(x)
        mean = self.source_mean(cond, excitation, n_samples)
        if mean is not None:
            audio = audio + mean.to(audio.dtype)
        return audio if self.post_filter is None else self.post_filter(audio)

    # ---- weight norm (training) -------------------------------------------------------------------------------------
    def apply_weight_norm(self) -> "WaveGlow":
        """Re-parameterise the WN convolutions as g * v / ||v|| (as NVIDIA trains); `remove_weight_norm` folds back."""
        for coupling in self.couplings:
            for conv in coupling.net.weight_normed_convs():
                nn.utils.parametrizations.weight_norm(conv, name="weight", dim=0)
        return self

    def remove_weight_norm(self) -> "WaveGlow":
        for coupling in self.couplings:
            for conv in coupling.net.weight_normed_convs():
                if nn.utils.parametrize.is_parametrized(conv, "weight"):
                    nn.utils.parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)
        return self

    # ---- files ------------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, map_location="cpu") -> "WaveGlow":
        """Load our format (directory with config.json + model.safetensors), an NVIDIA/waveglow release or train.py
        file, a DeepLearningExamples checkpoint or one of our training runs. Config comes from tensor shapes;
        nothing is unpickled unsafely."""
        return read_waveglow(path, cls, map_location=map_location)[0]

    def save_pretrained(self, directory: str | Path, dtype: str = "fp32", mel: MelConfig | None = None) -> Path:
        """Write `config.json` + `model.safetensors` (weight norm folded) to `directory`, atomically per file;
        dtype 'fp16' / 'bf16' stores the weights at half the size (they load back as fp32); mel: the features the
        model is fed, stored in config.json (default: NVIDIA's at the model's rate, hop and n_mels)."""
        return save_waveglow(self, directory, dtype=dtype, mel=mel)

    def with_config(self, **changes) -> "WaveGlow":
        """A copy whose config has `changes` (inference choices such as envelope_iterations; shapes must stay), with
        these weights copied, in eval mode if this model is."""
        model = WaveGlow(dataclasses.replace(self.config, **changes)).to(self.upsample.weight.device)
        model.load_state_dict(self.state_dict())
        return model.train(self.training)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class WaveGlowLoss(nn.Module):
    """Module form of `WaveGlow.loss` taking forward's output: `WaveGlowLoss(sigma)((z, logdet))`."""

    def __init__(self, sigma: float = 1.0):
        super().__init__()
        self.sigma = sigma

    def forward(self, model_output) -> torch.Tensor:
        z, logdet = model_output
        return WaveGlow.loss(z, logdet, self.sigma)


def load_waveglow(path: str | Path, map_location="cpu", raw: bool = False) -> tuple[WaveGlow, CheckpointInfo]:
    """(WaveGlow in eval mode, what was read) from any supported checkpoint (see `WaveGlow.from_pretrained`);
    `raw`: a training run's optimizer weights instead of their moving average. Raises CheckpointError."""
    return read_waveglow(path, WaveGlow, map_location=map_location, raw=raw)
